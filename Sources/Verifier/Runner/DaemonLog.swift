import Foundation

/// The source host's libvirt daemon log, marked before a migration so that the errors it
/// logs during the migration can be read afterwards.
///
/// libvirt's API does not always return the error that ended a peer-to-peer migration: over a
/// qemu+ssh destination URI the source daemon closes its connection to the destination after
/// it has put the original error back, and when that close reads the ssh transport's end of
/// file, "End of file while reading data" is what the caller gets (always after a refused
/// Prepare on the lab, about 1 run in 9 after a failed connect). The daemon logs the original
/// error first, so the faults' judgements read it there.
public struct DaemonLogMark: Sendable {
    /// Where the log is read.
    public var host: any HostShell
    /// The log file.
    public var path: String
    /// Its size at the mark, in bytes; `nil` when it could not be read then.
    public var offsetBytes: UInt64?

    /// Marks `path` on `host` at its current size.
    public init(host: any HostShell, path: String) {
        self.host = host
        self.path = path
        offsetBytes = host.fileSize(path)
    }

    /// Where the log is, for evidence: the path and the host.
    public var location: String { "\(path) on \(host.hostName)" }

    /// The errors logged since the mark; why not, when the log cannot be read.
    public func errorsSinceMark() -> Result<DaemonLogErrors, DaemonLogUnavailable> {
        guard let offsetBytes else { return .failure(DaemonLogUnavailable(reason: "\(location) could not be read before the migration")) }
        // A log rotated or cut since the mark would read as "nothing logged": not a reading.
        guard let size = host.fileSize(path), size >= offsetBytes else {
            return .failure(DaemonLogUnavailable(reason: "\(location) was rotated, truncated or removed during the migration"))
        }
        guard let text = host.readFile(path, fromOffset: offsetBytes) else { return .failure(DaemonLogUnavailable(reason: "\(location) could not be read after the migration")) }
        return .success(DaemonLogErrors(location: location, messages: DaemonLogErrors.messages(inLog: text)))
    }
}

/// Why a daemon log could not be read.
public struct DaemonLogUnavailable: Error, Sendable, Equatable, Codable {
    /// One line: which log, and what went wrong.
    public var reason: String
}

/// The error messages a libvirt daemon logged, in order.
public struct DaemonLogErrors: Sendable, Equatable, Codable {
    /// Where they were read (path and host).
    public var location: String
    /// Each error's message, without time, thread and function.
    public var messages: [String]

    /// Creates a set of logged errors.
    public init(location: String, messages: [String]) {
        self.location = location
        self.messages = messages
    }

    /// The messages of the `error` lines of a libvirt file log, whose lines read
    /// `2026-11-27 09:31:01.401+0000: 13199: error : virNetClientProgramDispatchError:170 : MESSAGE`.
    public static func messages(inLog text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            guard let level = line.range(of: ": error : ") else { return nil }
            let afterLevel = line[level.upperBound...]
            // `function:line : message`; a line without the function part keeps all of it.
            guard let separator = afterLevel.range(of: " : ") else { return String(afterLevel) }
            return String(afterLevel[separator.upperBound...])
        }
    }
}

extension MigrationEnding {
    /// libvirt's message when a remote connection's transport (the ssh of a qemu+ssh URI)
    /// reached end of file.
    static let transportEndOfFile = "End of file while reading data"

    /// Whether libvirt's error is a remote connection's end of file, which over qemu+ssh can
    /// stand in for the error that really ended the migration (see ``DaemonLogMark``).
    public var isTransportEndOfFile: Bool {
        libvirtMessage?.contains(Self.transportEndOfFile) ?? false
    }
}
