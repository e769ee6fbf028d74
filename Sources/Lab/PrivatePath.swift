import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A file or directory that someone other than the user running the tool could have written.
public struct UntrustedPathError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file or directory at fault (the file itself, its directory, or an ancestor).
    public var path: String
    /// What is wrong with it, e.g. `is writable by group and others (mode 0777)`.
    public var problem: String

    public var description: String { "\(path) \(problem)" }
}

/// Checks for files whose contents the tool acts on as root (the fault journal), in the way
/// OpenSSH's StrictModes checks a user's keys: the file and its directory must belong to the
/// user running the tool and be writable by nobody else, and no directory above may let
/// another user swap them (each owned by that user or root, writable by nobody else unless it
/// is sticky, as /tmp is).
public enum PrivatePath {
    /// Throws unless the existing directory `path` (symbolic links resolved) is the user's and
    /// writable by nobody else, and every directory above it is safe. The corresponding C
    /// calls are `realpath` and `stat`.
    public static func checkDirectory(_ path: String) throws(UntrustedPathError) {
        guard let resolved = realpath(path, nil) else {
            throw UntrustedPathError(path: path, problem: "cannot be resolved: \(String(cString: strerror(errno)))")
        }
        let real = String(cString: resolved)
        free(resolved)
        let user = geteuid()
        let status = try status(of: real, follow: true)
        guard status.st_mode & S_IFMT == S_IFDIR else { throw UntrustedPathError(path: real, problem: "is not a directory") }
        try requireOwner(status, path: real, allowingRoot: false, user: user)
        try requireNotWritableByOthers(status, path: real, allowingSticky: false)
        var ancestor = (real as NSString).deletingLastPathComponent
        while true {
            let above = try Self.status(of: ancestor, follow: true)
            try requireOwner(above, path: ancestor, allowingRoot: true, user: user)
            try requireNotWritableByOthers(above, path: ancestor, allowingSticky: true)
            if ancestor == "/" { break }
            ancestor = (ancestor as NSString).deletingLastPathComponent
        }
    }

    /// Throws unless `path`, if it exists, is a regular file (not a symbolic link) of the user
    /// running the tool that nobody else can write; returns whether it exists.
    @discardableResult
    public static func checkFile(_ path: String) throws(UntrustedPathError) -> Bool {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT { return false }
            throw UntrustedPathError(path: path, problem: "cannot be looked at: \(String(cString: strerror(errno)))")
        }
        try checkFile(status, path: path)
        return true
    }

    /// The contents of `path` after ``checkFile(_:)``'s checks on the opened file itself
    /// (`O_NOFOLLOW`, `fstat`), so that the file checked is the file read; `nil` when there
    /// is none. At most `maximumBytes` are read; a longer file throws.
    public static func read(_ path: String, maximumBytes: Int) throws(UntrustedPathError) -> Data? {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            let problem = errno == ELOOP ? "is a symbolic link" : "cannot be opened: \(String(cString: strerror(errno)))"
            throw UntrustedPathError(path: path, problem: problem)
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw UntrustedPathError(path: path, problem: "cannot be looked at: \(String(cString: strerror(errno)))")
        }
        try checkFile(status, path: path)
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw UntrustedPathError(path: path, problem: "cannot be read: \(String(cString: strerror(errno)))") }
            if count == 0 { return data }
            data.append(contentsOf: buffer[0..<count])
            guard data.count <= maximumBytes else { throw UntrustedPathError(path: path, problem: "is larger than \(maximumBytes) bytes") }
        }
    }

    private static func checkFile(_ status: stat, path: String) throws(UntrustedPathError) {
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFLNK: throw UntrustedPathError(path: path, problem: "is a symbolic link")
        default: throw UntrustedPathError(path: path, problem: "is not a regular file")
        }
        try requireOwner(status, path: path, allowingRoot: false, user: geteuid())
        try requireNotWritableByOthers(status, path: path, allowingSticky: false)
    }

    private static func status(of path: String, follow: Bool) throws(UntrustedPathError) -> stat {
        var status = stat()
        guard (follow ? stat(path, &status) : lstat(path, &status)) == 0 else {
            throw UntrustedPathError(path: path, problem: "cannot be looked at: \(String(cString: strerror(errno)))")
        }
        return status
    }

    private static func requireOwner(_ status: stat, path: String, allowingRoot: Bool, user: uid_t) throws(UntrustedPathError) {
        guard status.st_uid == user || (allowingRoot && status.st_uid == 0) else {
            throw UntrustedPathError(path: path, problem: "is owned by uid \(status.st_uid), not by uid \(user) who runs this"
                                     + (allowingRoot ? " (nor by root)" : ""))
        }
    }

    private static func requireNotWritableByOthers(_ status: stat, path: String, allowingSticky: Bool) throws(UntrustedPathError) {
        let writable = status.st_mode & (S_IWGRP | S_IWOTH)
        guard writable != 0, !(allowingSticky && status.st_mode & S_ISVTX != 0) else { return }
        let who = writable == S_IWGRP ? "group" : writable == S_IWOTH ? "others" : "group and others"
        throw UntrustedPathError(path: path, problem: "is writable by \(who) (mode 0\(String(status.st_mode & 0o7777, radix: 8)))")
    }
}
