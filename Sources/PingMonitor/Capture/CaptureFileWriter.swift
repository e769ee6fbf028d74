import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Owns a pcapng capture file being written. Packets are written as they are captured to a new
/// temporary file beside ``path`` (created exclusively with `mkstemp`, so never through a
/// symbolic link); ``close()`` flushes it to the disk and renames it to ``path``. Until then a
/// previous file at ``path`` stays whole; a writer dropped without ``close()`` (the run failed)
/// removes its temporary file in `deinit` and leaves the previous one.
public final class CaptureFileWriter: @unchecked Sendable {
    /// Where the capture ends up.
    public let path: String
    /// Where it is written until ``close()``.
    public let temporaryPath: String
    private var writer: PcapngWriter?
    /// The first packet that could not be written; reported by ``close()``, and nothing more is
    /// written after it (the capture and its analysis go on).
    private var failure: PingMonitorError?

    /// Creates the temporary file and writes the pcapng header for `interface`. Throws
    /// `PingMonitorError.captureFileWriteFailed` naming `path` and the failed call.
    public init(path: String, interface: PcapngInterface, userApplication: String = "pingmon") throws {
        try Self.checkDestination(path)
        let url = URL(fileURLWithPath: path)
        var template = Array("\(url.deletingLastPathComponent().path)/.\(url.lastPathComponent).XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard descriptor >= 0 else {
            throw PingMonitorError.captureFileWriteFailed(path: path, message: "mkstemp: \(errnoDescription(errno))")
        }
        let temporary = String(cString: template)
        fchmod(descriptor, 0o644)  // what a plain create would give, not mkstemp's 0600
        guard let file = fdopen(descriptor, "wb") else {
            let failure = errno
            Glibc.close(descriptor)
            unlink(temporary)
            throw PingMonitorError.captureFileWriteFailed(path: path, message: "fdopen: \(errnoDescription(failure))")
        }
        do {
            // The writer names the final path in its messages: that is the file the user asked for.
            writer = try PcapngWriter(file: file, path: path, interface: interface, userApplication: userApplication)
        } catch {
            unlink(temporary)
            throw error
        }
        self.path = path
        temporaryPath = temporary
    }

    deinit {
        // Never closed: the run did not finish, so the previous file stays and the partial one goes.
        if let writer {
            try? writer.close(sync: false)
            unlink(temporaryPath)
        }
    }

    /// Throws unless `path` can receive a capture: not a symbolic link (it would redirect
    /// the write to another file), not a directory; a missing file or a regular one is fine.
    public static func checkDestination(_ path: String) throws(PingMonitorError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        switch info.st_mode & S_IFMT {
        case S_IFLNK: throw .captureFileWriteFailed(path: path, message: "it is a symbolic link; give the file itself")
        case S_IFREG: return
        default: throw .captureFileWriteFailed(path: path, message: "it is not a regular file")
        }
    }

    /// Appends a packet as captured.
    public func write(_ packet: CapturedPacket) {
        write(timeNanoseconds: packet.timeNanoseconds, bytes: packet.bytes, originalLength: packet.originalLength)
    }

    /// Appends a packet captured at `timeNanoseconds` since the epoch. A failure is kept for
    /// ``close()`` to report.
    public func write(timeNanoseconds: Int64, bytes: UnsafeRawBufferPointer, originalLength: Int) {
        guard let writer, failure == nil else { return }
        do {
            try writer.write(timeNanoseconds: timeNanoseconds, bytes: bytes, originalLength: originalLength)
        } catch {
            failure = error
        }
    }

    /// Flushes the capture to the disk and renames it to ``path``. Throws (and removes the
    /// temporary file, keeping any previous file at ``path``) when a packet could not be written
    /// or the flush, `fsync` or rename failed.
    public func close() throws {
        guard let writer else { return }
        self.writer = nil
        var error: PingMonitorError? = failure
        do {
            try writer.close()
        } catch let closeError {
            error = error ?? closeError
        }
        if error == nil, rename(temporaryPath, path) != 0 {
            error = .captureFileWriteFailed(path: path, message: "rename from \(temporaryPath): \(errnoDescription(errno))")
        }
        if let error {
            unlink(temporaryPath)
            throw error
        }
    }
}
