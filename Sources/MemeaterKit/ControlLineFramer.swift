/// Splits the bytes of one control connection into request lines, as ``ControlServer``
/// reads them: a line ends at `\n` (a `\r` before it is dropped), blank lines are skipped,
/// and no line may be longer than ``maximumLineBytes``. Pure, so that tests and the fuzzer
/// feed it bytes without a socket.
public struct ControlLineFramer: Sendable {
    /// A line longer than this is not a request of ours; the client is told and dropped.
    public static let maximumLineBytes = 64 * 1024

    /// What the bytes so far hold next.
    public enum Next: Equatable, Sendable {
        /// A whole line, without its newline (invalid UTF-8 replaced by U+FFFD).
        case line(Substring)
        /// A line longer than ``maximumLineBytes``, complete or not: the connection ends.
        case tooLong
        /// No whole line yet.
        case needMore
    }

    /// Bytes received, the lines already taken included up to ``consumed``.
    private var buffer: [UInt8] = []
    /// Bytes of ``buffer`` already taken as lines: dropped in bulk, not line by line, so that
    /// many short lines cost linear time, not a move of the rest for each.
    private var consumed = 0
    private let maximumLineBytes: Int

    /// Bytes received after the last whole line.
    public var pending: ArraySlice<UInt8> { buffer[consumed...] }

    /// A framer for lines of at most `maximumLineBytes`.
    public init(maximumLineBytes: Int = ControlLineFramer.maximumLineBytes) {
        self.maximumLineBytes = maximumLineBytes
    }

    /// Adds bytes as they arrived.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if consumed > 0 {
            buffer.removeSubrange(..<consumed)
            consumed = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next line, ``Next/tooLong`` or ``Next/needMore``.
    public mutating func next() -> Next {
        while let newline = buffer[consumed...].firstIndex(of: UInt8(ascii: "\n")) {
            guard newline - consumed <= maximumLineBytes else { return .tooLong }
            var line = String(decoding: buffer[consumed..<newline], as: UTF8.self)[...]
            consumed = newline + 1
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.allSatisfy(\.isWhitespace) { continue }
            return .line(line)
        }
        // Known too long before its newline comes: a 100 MB line is not waited for.
        return buffer.count - consumed > maximumLineBytes ? .tooLong : .needMore
    }

    /// Whether a request without its newline is left: at the end of the stream it is not run,
    /// since it may be cut short (the client is told).
    public var hasUnterminatedRequest: Bool {
        !pending.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0d }
    }
}
