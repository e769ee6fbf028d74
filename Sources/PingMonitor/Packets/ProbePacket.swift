/// What pingmon writes into the payload of each echo request (the target echoes it back).
///
/// Layout, big-endian: magic "PMON" (4 bytes), interval in microseconds (4), sequence (8),
/// sender's send time in nanoseconds since the epoch (8), zero padding (8). The 64-bit sequence
/// never wraps (the 16-bit ICMP sequence wraps after 6.5 s at 10 kHz); the interval lets an
/// offline analysis use the same nominal interval as the live one.
public struct ProbePayload: Sendable, Equatable {
    /// "PMON" in ASCII.
    public static let magic: UInt32 = 0x504D_4F4E
    /// Bytes pingmon puts after the ICMP header.
    public static let size = 32
    /// Bytes a capture must keep of the payload to recover the sequence and interval.
    static let minimumDecodable = 16

    /// The interval the sender was keeping, in microseconds.
    public var intervalMicroseconds: UInt32
    /// The probe's 64-bit sequence number.
    public var sequence: UInt64
    /// When the sender handed the probe to the kernel, from its own clock (informational: the
    /// analysis uses capture timestamps), in nanoseconds since the epoch; nil when not captured.
    public var sendTimeNanoseconds: Int64?

    public init(intervalMicroseconds: UInt32, sequence: UInt64, sendTimeNanoseconds: Int64?) {
        self.intervalMicroseconds = intervalMicroseconds
        self.sequence = sequence
        self.sendTimeNanoseconds = sendTimeNanoseconds
    }

    static func decode(_ bytes: ByteReader, at start: Int, end: Int) -> ProbePayload? {
        guard end - start >= minimumDecodable, bytes.u32(at: start) == magic,
              let interval = bytes.u32(at: start + 4), let sequence = bytes.u64(at: start + 8) else { return nil }
        let sendTime = end - start >= 24 ? bytes.u64(at: start + 16).map { Int64(bitPattern: $0) } : nil
        return ProbePayload(intervalMicroseconds: interval, sequence: sequence, sendTimeNanoseconds: sendTime)
    }
}

/// Builds ICMP and ICMPv6 echo requests (header and payload; the kernel adds the IP header).
/// Both families carry the same header layout and the same payload, so one analysis serves both.
public enum ProbePacket {
    /// Bytes of one echo request: 8 of ICMP header and the payload.
    public static let size = 8 + ProbePayload.size

    /// Writes an echo request for probe `sequence` into `buffer` (at least `size` bytes): ICMP
    /// type 8 with its checksum for IPv4; ICMPv6 type 128 with a zero checksum for IPv6, which
    /// the kernel fills in on a raw ICMPv6 socket (it covers a pseudo-header with the addresses
    /// the kernel chooses; RFC 3542 section 3.1, Linux raw(7)).
    public static func writeEchoRequest(into buffer: UnsafeMutableRawBufferPointer, identifier: UInt16, sequence: UInt64,
                                        intervalMicroseconds: UInt32, sendTimeNanoseconds: Int64, family: IPFamily = .ipv4) {
        precondition(buffer.count >= size, "echo request buffer too small")
        func put16(_ value: UInt16, _ offset: Int) {
            buffer[offset] = UInt8(value >> 8)
            buffer[offset + 1] = UInt8(truncatingIfNeeded: value)
        }
        func put32(_ value: UInt32, _ offset: Int) {
            for index in 0..<4 { buffer[offset + index] = UInt8(truncatingIfNeeded: value >> UInt32(24 - 8 * index)) }
        }
        func put64(_ value: UInt64, _ offset: Int) {
            for index in 0..<8 { buffer[offset + index] = UInt8(truncatingIfNeeded: value >> UInt64(56 - 8 * index)) }
        }
        buffer[0] = family == .ipv4 ? 8 : 128  // echo request
        buffer[1] = 0
        put16(0, 2)
        put16(identifier, 4)
        put16(UInt16(truncatingIfNeeded: sequence), 6)
        put32(ProbePayload.magic, 8)
        put32(intervalMicroseconds, 12)
        put64(sequence, 16)
        put64(UInt64(bitPattern: sendTimeNanoseconds), 24)
        put64(0, 32)
        if family == .ipv4 { put16(internetChecksum(UnsafeRawBufferPointer(rebasing: buffer[0..<size])), 2) }
    }

    /// The RFC 1071 checksum of `bytes`.
    public static func internetChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
