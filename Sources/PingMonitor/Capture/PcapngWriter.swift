import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a pcapng file's one Interface Description Block says about the capture.
public struct PcapngInterface: Sendable, Equatable {
    /// The link type as stored in files (a `LINKTYPE_` value, not a `DLT_` one: they differ for
    /// raw IP, see ``CaptureSession/fileLinkType(dataLinkType:)``).
    public var linkType: UInt16
    /// The snapshot length: no captured packet is longer; 0 means no limit.
    public var snapshotLength: UInt32
    /// The timestamp unit written: `.nano` (if_tsresol 9) or `.micro` (if_tsresol 6).
    public var resolution: TimestampPrecision
    /// The interface captured on (if_name), when there is one.
    public var name: String?

    public init(linkType: UInt16, snapshotLength: UInt32, resolution: TimestampPrecision, name: String? = nil) {
        self.linkType = linkType
        self.snapshotLength = snapshotLength
        self.resolution = resolution == .micro ? .micro : .nano
        self.name = name
    }
}

/// The blocks of a pcapng file, built in memory in the host's byte order, as the format asks
/// (the Section Header Block's byte-order magic tells readers which order that is).
///
/// Layout from the pcapng specification (IETF draft-ietf-opsawg-pcapng, sections "General Block
/// Structure", "Options", "Section Header Block", "Interface Description Block" and "Enhanced
/// Packet Block"): every block is type, total length, body, total length again, and a multiple
/// of 4 bytes long; option values and packet data are padded with zeros to 32 bits. libpcap's
/// reader (`sf-pcapng.c`, `read_block`) refuses a block whose length is not a multiple of 4 or
/// whose trailing length differs from the leading one.
enum PcapngBlocks {
    static let sectionHeaderType: UInt32 = 0x0A0D_0D0A
    static let interfaceDescriptionType: UInt32 = 0x0000_0001
    static let enhancedPacketType: UInt32 = 0x0000_0006
    static let byteOrderMagic: UInt32 = 0x1A2B_3C4D
    /// Option codes.
    static let endOfOptions: UInt16 = 0
    static let shbUserApplication: UInt16 = 4
    static let ifName: UInt16 = 2
    static let ifTimestampResolution: UInt16 = 9
    /// Type, length and trailing length.
    static let blockOverheadBytes = 12
    /// The fixed part of an Enhanced Packet Block's body: interface, timestamp high and low,
    /// captured and original length.
    static let enhancedPacketFixedBytes = 20

    /// Bytes of zero padding after `count` bytes to reach a multiple of 4.
    static func padding(_ count: Int) -> Int { (4 - count % 4) % 4 }

    /// The Section Header Block: version 1.0, section length -1 (not given: the file is
    /// written as packets arrive), and shb_userappl.
    static func sectionHeader(userApplication: String) -> [UInt8] {
        var body: [UInt8] = []
        append32(byteOrderMagic, to: &body)
        append16(1, to: &body)  // major version
        append16(0, to: &body)  // minor version
        append64(UInt64.max, to: &body)  // section length -1
        appendOption(shbUserApplication, Array(userApplication.utf8), to: &body)
        append16(endOfOptions, to: &body)
        append16(0, to: &body)
        return block(type: sectionHeaderType, body: body)
    }

    /// The Interface Description Block of interface 0.
    static func interfaceDescription(_ interface: PcapngInterface) -> [UInt8] {
        var body: [UInt8] = []
        append16(interface.linkType, to: &body)
        append16(0, to: &body)  // reserved
        append32(interface.snapshotLength, to: &body)
        if let name = interface.name, !name.isEmpty {
            appendOption(ifName, Array(name.utf8), to: &body)
        }
        appendOption(ifTimestampResolution, [interface.resolution == .micro ? 6 : 9], to: &body)
        append16(endOfOptions, to: &body)
        append16(0, to: &body)
        return block(type: interfaceDescriptionType, body: body)
    }

    /// Appends an Enhanced Packet Block for interface 0 to `buffer`. `timestamp` is in the
    /// interface's units since the epoch.
    static func appendEnhancedPacket(timestamp: UInt64, data: UnsafeRawBufferPointer, originalLength: UInt32,
                                     to buffer: inout [UInt8]) {
        let captured = data.count
        let total = UInt32(truncatingIfNeeded: blockOverheadBytes + enhancedPacketFixedBytes + captured + padding(captured))
        append32(enhancedPacketType, to: &buffer)
        append32(total, to: &buffer)
        append32(0, to: &buffer)  // interface ID
        append32(UInt32(truncatingIfNeeded: timestamp >> 32), to: &buffer)
        append32(UInt32(truncatingIfNeeded: timestamp), to: &buffer)
        append32(UInt32(truncatingIfNeeded: captured), to: &buffer)
        append32(originalLength, to: &buffer)
        buffer.append(contentsOf: data)
        buffer.append(contentsOf: repeatElement(0, count: padding(captured)))
        append32(total, to: &buffer)
    }

    /// The longest packet an Enhanced Packet Block can hold: its total length must fit 32 bits.
    static let maximumPacketBytes = Int(UInt32.max) - blockOverheadBytes - enhancedPacketFixedBytes - 3

    private static func block(type: UInt32, body: [UInt8]) -> [UInt8] {
        let total = UInt32(truncatingIfNeeded: blockOverheadBytes + body.count)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(total))
        append32(type, to: &bytes)
        append32(total, to: &bytes)
        bytes += body
        append32(total, to: &bytes)
        return bytes
    }

    /// An option whose value is at most 65535 bytes (longer values are cut there).
    private static func appendOption(_ code: UInt16, _ value: [UInt8], to body: inout [UInt8]) {
        let kept = value.prefix(Int(UInt16.max) - 3)
        append16(code, to: &body)
        append16(UInt16(kept.count), to: &body)
        body += kept
        body.append(contentsOf: repeatElement(0, count: padding(kept.count)))
    }

    private static func append16(_ value: UInt16, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    private static func append32(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    private static func append64(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }
}

/// Writes a pcapng file to an open stream: the Section Header Block and one Interface
/// Description Block at once, then one Enhanced Packet Block per ``write(timeNanoseconds:bytes:originalLength:)``.
/// Owns the stream: ``close(sync:)`` flushes and closes it, `deinit` closes it if that was not done.
/// Failures are `PingMonitorError.captureFileWriteFailed` naming the file and the call.
public final class PcapngWriter {
    /// The file written, for messages.
    public let path: String
    public let interface: PcapngInterface
    /// Packets written so far.
    public private(set) var packetsWritten = 0
    private var file: UnsafeMutablePointer<FILE>?
    /// Reused for every block, so that a packet costs no allocation.
    private var buffer: [UInt8] = []
    /// The first write that failed: a block may be cut short there, so nothing more is written.
    private var failure: PingMonitorError?

    /// Takes ownership of `file` (an empty stream opened for writing) and writes the file's
    /// header blocks. The stream is closed when this throws.
    public init(file: UnsafeMutablePointer<FILE>, path: String, interface: PcapngInterface,
                userApplication: String = "pingmon") throws(PingMonitorError) {
        self.file = file
        self.path = path
        self.interface = interface
        buffer.reserveCapacity(512)
        buffer += PcapngBlocks.sectionHeader(userApplication: userApplication)
        buffer += PcapngBlocks.interfaceDescription(interface)
        do {
            try flushBuffer(what: "the file header")
        } catch {
            fclose(file)
            self.file = nil
            throw error
        }
    }

    deinit {
        if let file { fclose(file) }
    }

    /// Appends one packet captured at `timeNanoseconds` since the epoch; `bytes` is what was
    /// captured, `originalLength` the packet's length on the wire (at least `bytes.count`).
    public func write(timeNanoseconds: Int64, bytes: UnsafeRawBufferPointer, originalLength: Int) throws(PingMonitorError) {
        let number = packetsWritten + 1
        if let failure { throw failure }
        guard file != nil else { throw .captureFileWriteFailed(path: path, message: "packet \(number): the file is already closed") }
        guard timeNanoseconds >= 0 else {
            throw .captureFileWriteFailed(path: path, message: "packet \(number) has timestamp \(timeNanoseconds) ns, before 1970")
        }
        guard bytes.count <= PcapngBlocks.maximumPacketBytes else {
            throw .captureFileWriteFailed(path: path, message: "packet \(number) has \(bytes.count) bytes, more than a pcapng block holds")
        }
        let units = interface.resolution == .micro ? timeNanoseconds / 1_000 : timeNanoseconds
        // The spec: the captured length is at most the original one.
        let original = UInt32(clamping: max(originalLength, bytes.count))
        buffer.removeAll(keepingCapacity: true)
        PcapngBlocks.appendEnhancedPacket(timestamp: UInt64(units), data: bytes, originalLength: original, to: &buffer)
        try flushBuffer(what: "packet \(number)")
        packetsWritten = number
    }

    /// Flushes the stream, then (with `sync`) makes the file durable with `fsync`, and closes
    /// it; the stream is closed even when this throws. Throws the first failed write again: the
    /// file is not whole then.
    public func close(sync: Bool = true) throws(PingMonitorError) {
        guard let file else { return }
        self.file = nil
        var problem: String?
        if fflush(file) != 0 {
            problem = "fflush: \(errnoDescription(errno))"
        } else if sync, fsync(fileno(file)) != 0 {
            problem = "fsync: \(errnoDescription(errno))"
        }
        if fclose(file) != 0, problem == nil { problem = "fclose: \(errnoDescription(errno))" }
        if let failure { throw failure }
        if let problem { throw .captureFileWriteFailed(path: path, message: "after \(packetsWritten) packets: \(problem)") }
    }

    /// Hands the buffer to the stream (which writes it out when its own buffer fills).
    private func flushBuffer(what: String) throws(PingMonitorError) {
        guard let file else { return }
        let written = buffer.withUnsafeBytes { bytes in
            bytes.baseAddress.map { fwrite($0, 1, bytes.count, file) } ?? 0
        }
        guard written == buffer.count else {
            let error = PingMonitorError.captureFileWriteFailed(path: path, message: "fwrite of \(what): \(errnoDescription(errno))")
            failure = error
            throw error
        }
    }
}
