#if canImport(Glibc)
import Glibc
#endif

/// The shared secret a client of `memeater serve` presents (`{"command":"auth","token":…}`)
/// before memeater obeys any other request.
///
/// Its text is printable ASCII without spaces (it travels in a JSON string, a file, and on
/// the lab's kernel command line), at least ``minimumLength`` characters. ``description``
/// never shows the secret, so a token that ends up in a message or a log says only its length.
public struct ControlToken: Sendable, CustomStringConvertible {
    /// The secret as sent on the wire.
    public let text: String

    /// Fewer characters than this are refused: 16 hex digits are 64 bits, the least worth calling a secret.
    public static let minimumLength = 16
    /// More characters than this are refused (a request line stays far below the server's limit).
    public static let maximumLength = 1024
    /// Random bytes in a generated token (64 hex digits).
    public static let generatedByteCount = 32

    /// Checks and wraps a token's text.
    public init(_ text: String) throws(MemeaterError) {
        let length = text.utf8.count
        guard length >= Self.minimumLength else {
            throw .tokenInvalid(reason: "\(length) characters, at least \(Self.minimumLength) needed (e.g. 32 random bytes in hex)")
        }
        guard length <= Self.maximumLength else {
            throw .tokenInvalid(reason: "\(length) characters, at most \(Self.maximumLength) allowed")
        }
        guard text.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else {
            throw .tokenInvalid(reason: "only printable ASCII without spaces is allowed")
        }
        self.text = text
    }

    /// A new token: ``generatedByteCount`` bytes from /dev/urandom (the kernel's
    /// cryptographic random source), in lowercase hex.
    public static func generate() throws(MemeaterError) -> ControlToken {
        let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .randomBytesUnavailable(errno: errno) }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: generatedByteCount)
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress.map { $0 + filled }, $0.count - filled) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw .randomBytesUnavailable(errno: count == 0 ? EIO : errno) }
            filled += count
        }
        let digits = Array("0123456789abcdef".utf8)
        let hex = bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0f)]] }
        return try ControlToken(String(decoding: hex, as: UTF8.self))
    }

    /// Reads a token from a file: its first line, trailing whitespace removed. The file must be
    /// a regular file that only its owner can read (mode 0600 or stricter), as ssh demands of a
    /// private key: a token others can read guards nothing.
    public static func read(fromFile path: String) throws(MemeaterError) -> ControlToken {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .tokenFileUnreadable(path: path, reason: errnoDescription(errno)) }
        defer { close(descriptor) }
        // fstat on the opened file: the file checked is the file read.
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .tokenFileUnreadable(path: path, reason: errnoDescription(errno)) }
        guard status.st_mode & S_IFMT == S_IFREG else { throw .tokenFileUnreadable(path: path, reason: "not a regular file") }
        guard status.st_mode & 0o077 == 0 else { throw .tokenFileNotPrivate(path: path, mode: status.st_mode) }
        var contents: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while contents.count <= maximumLength + 2 {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw .tokenFileUnreadable(path: path, reason: errnoDescription(errno)) }
            if count == 0 { break }
            contents += buffer[0..<count]
        }
        let firstLine = contents.prefix { $0 != UInt8(ascii: "\n") }
        let trimmed = firstLine.reversed().drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }.reversed()
        do {
            return try ControlToken(String(decoding: Array(trimmed), as: UTF8.self))
        } catch {
            throw .tokenFileUnreadable(path: path, reason: error.description)
        }
    }

    /// Writes the token and a newline to `path`, readable by its owner only (created 0600; an
    /// existing file is truncated and set to 0600 before the secret goes in).
    public func write(toFile path: String) throws(MemeaterError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw .tokenFileUnwritable(path: path, errno: errno) }
        defer { close(descriptor) }
        guard fchmod(descriptor, 0o600) == 0 else { throw .tokenFileUnwritable(path: path, errno: errno) }
        var bytes = Array((text + "\n").utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw .tokenFileUnwritable(path: path, errno: errno) }
            bytes = bytes.dropFirst(written)
        }
    }

    /// Whether `candidate` is this token, in time that depends only on this token's length
    /// (not on where the first differing byte is), so that timing the replies does not reveal
    /// the secret byte by byte.
    public func matches(_ candidate: String) -> Bool {
        let expected = Array(text.utf8)
        let given = Array(candidate.utf8)
        var difference = UInt(bitPattern: expected.count ^ given.count)
        for index in expected.indices {
            let byte = index < given.count ? given[index] : 0
            difference |= UInt(expected[index] ^ byte)
        }
        return difference == 0
    }

    public var description: String { "control token (\(text.utf8.count) characters)" }
}
