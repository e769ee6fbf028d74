import Foundation

/// One thing the lab created and `lab down` must remove.
public enum LabResource: Equatable, Sendable, CustomStringConvertible {
    /// A network namespace (`ip netns add NAME`).
    case namespace(String)
    /// A process the lab started, identified by PID and kernel start time (so that a reused
    /// PID is never killed), with a label such as `libvirtd-src`.
    case process(pid: Int32, startTime: UInt64, label: String)
    /// A directory the lab created outside its state directory (removed when empty).
    case directory(String)

    public var description: String {
        switch self {
        case .namespace(let name): return "namespace \(name)"
        case .process(let pid, _, let label): return "process \(label) (pid \(pid))"
        case .directory(let path): return "directory \(path)"
        }
    }

    var line: String {
        switch self {
        case .namespace(let name): return "namespace \(name)"
        case .process(let pid, let startTime, let label): return "process \(pid) \(startTime) \(label)"
        case .directory(let path): return "directory \(path)"
        }
    }

    init?(line: Substring) {
        let words = line.split(separator: " ", maxSplits: 3).map(String.init)
        switch words.first {
        case "namespace" where words.count == 2: self = .namespace(words[1])
        case "process" where words.count == 4:
            guard let pid = Int32(words[1]), let start = UInt64(words[2]) else { return nil }
            self = .process(pid: pid, startTime: start, label: words[3])
        case "directory" where words.count >= 2: self = .directory(words.dropFirst().joined(separator: " "))
        default: return nil
        }
    }
}

/// An append-only record of what the lab created, written *before* each creation so that
/// a crash or SIGKILL at any point still leaves `lab down` enough to clean up.
public struct LabJournal: Sendable {
    /// The journal file.
    public let path: String

    /// A journal at `path`.
    public init(path: String) { self.path = path }

    /// Appends one record (creating the file and its directory when needed).
    public func record(_ resource: LabResource) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let line = resource.line + "\n"
        guard let handle = FileHandle(forWritingAtPath: path) else {
            guard FileManager.default.createFile(atPath: path, contents: Data(line.utf8)) else {
                throw LabError(step: "record \(resource)", reason: "cannot create \(path)")
            }
            return
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(line.utf8))
        try handle.synchronize()
    }

    /// Every record, oldest first; unreadable lines are skipped.
    public func resources() -> [LabResource] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isNewline).compactMap(LabResource.init(line:))
    }
}
