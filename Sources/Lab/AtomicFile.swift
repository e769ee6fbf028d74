import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A file write that failed: which file, which call, and why.
public struct FileWriteError: Error, CustomStringConvertible, Sendable {
    /// The file that was to be written.
    public var path: String
    /// The system call that failed (`mkstemp`, `write`, `fsync`, `rename`).
    public var call: String
    /// The system's reason (`strerror`).
    public var reason: String

    public var description: String { "cannot write \(path): \(call): \(reason)" }
}

/// Writes whole files so that a reader sees the old contents or the new, never a mix: the
/// data goes to a temporary file in the same directory, is flushed to the disk and then
/// renamed over the target. A full disk or a crash half-way leaves the previous file as it
/// was (and at worst a stray `.NAME.XXXXXX` beside it).
public enum AtomicFile {
    /// Replaces `path` with `data`, the new file with `mode` whatever the old one had (a mode
    /// loosened by someone else is not carried over; the umask does not narrow it).
    /// The corresponding C calls are `mkstemp`, `fchmod`, `write`, `fsync` and `rename`.
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o644) throws(FileWriteError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var template = Array("\(directory)/.\(url.lastPathComponent).XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard descriptor >= 0 else { throw failure(path, "mkstemp") }
        let temporary = String(cString: template)
        var renamed = false
        defer {
            if !renamed { unlink(temporary) }
        }
        do {
            defer { close(descriptor) }
            // Before the data goes in: a reader never sees it under a wider mode.
            guard fchmod(descriptor, mode & 0o7777) == 0 else { throw failure(path, "fchmod") }
            let complete = data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Bool in
                var offset = 0
                while offset < bytes.count {
                    let written = Glibc.write(descriptor, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
                    if written < 0, errno == EINTR { continue }
                    guard written > 0 else { return false }
                    offset += written
                }
                return true
            }
            guard complete else { throw failure(path, "write") }
            guard fsync(descriptor) == 0 else { throw failure(path, "fsync") }
        }
        guard rename(temporary, path) == 0 else { throw failure(path, "rename") }
        renamed = true
        // The rename itself survives a crash only once the directory is on the disk too.
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// Replaces `path` with `text` in UTF-8, the new file with `mode`.
    public static func write(_ text: String, to path: String, mode: mode_t = 0o644) throws(FileWriteError) {
        try write(Data(text.utf8), to: path, mode: mode)
    }

    private static func failure(_ path: String, _ call: String) -> FileWriteError {
        FileWriteError(path: path, call: call, reason: String(cString: strerror(errno)))
    }
}
