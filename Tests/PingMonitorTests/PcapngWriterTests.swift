import CPcap
import Foundation
@testable import PingMonitor
import XCTest

/// The pcapng writer: its files are read back by libpcap itself (not by pingmon's reader) with
/// every packet, length and nanosecond unchanged, and their blocks are checked byte by byte
/// against the format (lengths, padding, trailers) by a walker written here from the spec.
final class PcapngWriterTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pingmon-pcapng-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Packets of every length from 1 to 70 bytes and a full Ethernet frame, some cut short
    /// (original longer than captured), at times that only nanoseconds hold.
    private var packets: [LibpcapFile.Packet] {
        var packets: [LibpcapFile.Packet] = []
        var time: Int64 = 1_700_000_000_123_456_789
        for length in Array(1...70) + [1_514] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ length) }
            packets.append(LibpcapFile.Packet(timeNanoseconds: time, bytes: bytes, originalLength: length % 7 == 0 ? length + 100 : length))
            time += 1_000_003  // crosses second boundaries, sub-microsecond digits vary
        }
        packets.append(LibpcapFile.Packet(timeNanoseconds: 4_102_444_799_999_999_999, bytes: [0xAB], originalLength: 1))  // the last nanosecond accepted, in 2099
        return packets
    }

    private func writeFile(_ packets: [LibpcapFile.Packet], interface: PcapngInterface, name: String) throws -> String {
        let path = "\(directory)/\(name)"
        let file = try XCTUnwrap(fopen(path, "wb"))
        let writer = try PcapngWriter(file: file, path: path, interface: interface)
        for packet in packets {
            try packet.bytes.withUnsafeBytes {
                try writer.write(timeNanoseconds: packet.timeNanoseconds, bytes: $0, originalLength: packet.originalLength)
            }
        }
        XCTAssertEqual(writer.packetsWritten, packets.count)
        try writer.close()
        return path
    }

    func testLibpcapReadsBackEveryPacketWithItsExactNanosecondTime() throws {
        let packets = packets
        let path = try writeFile(packets, interface: PcapngInterface(linkType: 1, snapshotLength: 2_048, resolution: .nano, name: "eth0"),
                                 name: "ns.pcapng")
        let read = try LibpcapFile.read(path)
        XCTAssertEqual(read.dataLinkType, DLT_EN10MB)
        XCTAssertEqual(read.snapshotLength, 2_048)
        XCTAssertEqual(read.packets.count, packets.count)
        for (got, wrote) in zip(read.packets, packets) {
            XCTAssertEqual(got, wrote, "packet of \(wrote.bytes.count) bytes at \(wrote.timeNanoseconds)")
        }
    }

    func testMicrosecondInterfaceKeepsMicroseconds() throws {
        let packets = packets
        let path = try writeFile(packets, interface: PcapngInterface(linkType: 1, snapshotLength: 2_048, resolution: .micro), name: "us.pcapng")
        let read = try LibpcapFile.read(path)
        XCTAssertEqual(read.packets.map(\.timeNanoseconds), packets.map { $0.timeNanoseconds / 1_000 * 1_000 })
        XCTAssertEqual(read.packets.map(\.bytes), packets.map(\.bytes))
        let layout = try PcapngLayout(bytes: try readBytes(path))
        XCTAssertEqual(layout.interfaceOptions[9], [6], "if_tsresol 6")
        XCTAssertNil(layout.interfaceOptions[2], "no if_name when none is known")
    }

    /// Every block's length is a multiple of 4 and repeated at its end, packet data is padded
    /// with zeros to 32 bits and followed directly by the trailer: for lengths 1, 2, 3 and 0
    /// mod 4 alike. A wrong length or padding fails here and in libpcap's reader.
    func testBlocksAreWholeAndPaddedForEveryLengthModFour() throws {
        let lengths = [1, 2, 3, 4, 5, 6, 7, 8, 61, 62, 63, 64]
        let packets = lengths.enumerated().map { index, length in
            LibpcapFile.Packet(timeNanoseconds: 1_000_000_000 * Int64(index + 1) + 1, bytes: [UInt8](repeating: 0xFF, count: length),
                               originalLength: length)
        }
        let path = try writeFile(packets, interface: PcapngInterface(linkType: 1, snapshotLength: 262_144, resolution: .nano, name: "veth-c"),
                                 name: "odd.pcapng")
        let bytes = try readBytes(path)
        let layout = try PcapngLayout(bytes: bytes)
        XCTAssertEqual(layout.blocks.map(\.type), [0x0A0D_0D0A, 1] + [UInt32](repeating: 6, count: lengths.count))
        for (block, length) in zip(layout.blocks.dropFirst(2), lengths) {
            XCTAssertEqual(block.totalLength, 32 + (length + 3) / 4 * 4, "EPB of a \(length)-byte packet")
            XCTAssertEqual(Array(block.body[12..<16]), [UInt8(length), 0, 0, 0], "captured length")
            XCTAssertEqual(Array(block.body[20..<(20 + length)]), [UInt8](repeating: 0xFF, count: length))
            XCTAssertEqual(Array(block.body[(20 + length)...]), [UInt8](repeating: 0, count: (4 - length % 4) % 4), "zero padding, then the trailer")
        }
        // The section header: byte-order magic, version 1.0, section length -1, shb_userappl.
        let section = layout.blocks[0].body
        XCTAssertEqual(Array(section[0..<4]), [0x4D, 0x3C, 0x2B, 0x1A], "little-endian magic on this host")
        XCTAssertEqual(Array(section[4..<8]), [1, 0, 0, 0], "version 1.0")
        XCTAssertEqual(Array(section[8..<16]), [UInt8](repeating: 0xFF, count: 8), "section length -1")
        XCTAssertEqual(layout.sectionOptions[4].map { String(decoding: $0, as: UTF8.self) }, "pingmon")
        // The interface: link type, snapshot length, if_name, if_tsresol 9.
        let interface = layout.blocks[1].body
        XCTAssertEqual(Array(interface[0..<8]), [1, 0, 0, 0, 0x00, 0x00, 0x04, 0x00])
        XCTAssertEqual(layout.interfaceOptions[2].map { String(decoding: $0, as: UTF8.self) }, "veth-c")
        XCTAssertEqual(layout.interfaceOptions[9], [9])
        XCTAssertEqual(try LibpcapFile.read(path).packets, packets)
    }

    /// A failed write is a typed error naming the file: /dev/full refuses every byte.
    func testAFullDiskIsATypedErrorNamingTheFile() throws {
        let file = try XCTUnwrap(fopen("/dev/full", "wb"))
        let writer = try PcapngWriter(file: file, path: "/dev/full", interface: PcapngInterface(linkType: 1, snapshotLength: 100, resolution: .nano))
        try [UInt8](repeating: 1, count: 60).withUnsafeBytes { try writer.write(timeNanoseconds: 1, bytes: $0, originalLength: 60) }
        XCTAssertThrowsError(try writer.close()) { error in
            guard case PingMonitorError.captureFileWriteFailed(let path, let message) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "/dev/full")
            XCTAssertTrue(message.contains("No space left on device"), message)
        }
        XCTAssertThrowsError(try [UInt8(1)].withUnsafeBytes { try writer.write(timeNanoseconds: 1, bytes: $0, originalLength: 1) },
                             "writing after close")
    }

    func testATimeBefore1970IsRefused() throws {
        let path = "\(directory)/negative.pcapng"
        let writer = try PcapngWriter(file: try XCTUnwrap(fopen(path, "wb")), path: path,
                                      interface: PcapngInterface(linkType: 1, snapshotLength: 100, resolution: .nano))
        XCTAssertThrowsError(try [UInt8(1)].withUnsafeBytes { try writer.write(timeNanoseconds: -1, bytes: $0, originalLength: 1) }) { error in
            XCTAssertEqual(error as? PingMonitorError, .captureFileWriteFailed(path: path, message: "packet 1 has timestamp -1 ns, before 1970"))
        }
        try writer.close()
        XCTAssertEqual(try LibpcapFile.read(path).packets, [], "header only: still a valid file")
    }

    private func readBytes(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// A capture file as libpcap itself reads it (`pcap_open_offline_with_tstamp_precision`, nanoseconds).
enum LibpcapFile {
    struct Packet: Equatable {
        var timeNanoseconds: Int64
        var bytes: [UInt8]
        var originalLength: Int
    }

    struct Contents {
        var dataLinkType: Int32
        var snapshotLength: Int32
        var packets: [Packet]
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func read(_ path: String) throws -> Contents {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer) else {
            throw Failure(description: "pcap_open_offline \(path): \(String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        defer { pcap_close(handle) }
        var contents = Contents(dataLinkType: pcap_datalink(handle), snapshotLength: pcap_snapshot(handle), packets: [])
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while true {
            let status = pcap_next_ex(handle, &header, &data)
            if status == PCAP_ERROR_BREAK { return contents }
            guard status == 1, let header, let data else {
                throw Failure(description: "pcap_next_ex \(path) after \(contents.packets.count) packets: \(String(cString: pcap_geterr(handle)))")
            }
            let time = Int64(header.pointee.ts.tv_sec) * 1_000_000_000 + Int64(header.pointee.ts.tv_usec)
            contents.packets.append(Packet(timeNanoseconds: time, bytes: Array(UnsafeBufferPointer(start: data, count: Int(header.pointee.caplen))),
                                           originalLength: Int(header.pointee.len)))
        }
    }
}

/// The blocks of a little-endian pcapng file, walked from the spec (type, total length, body,
/// total length again; lengths multiples of 4; the file ends with the last block), and the
/// options of its section header and first interface. Throws at the first violation.
struct PcapngLayout {
    struct Block {
        var type: UInt32
        var totalLength: Int
        /// Between the leading length and the trailing one.
        var body: [UInt8]
    }

    struct Violation: Error, CustomStringConvertible {
        var description: String
    }

    var blocks: [Block] = []
    var sectionOptions: [UInt16: [UInt8]] = [:]
    var interfaceOptions: [UInt16: [UInt8]] = [:]

    init(bytes: [UInt8]) throws {
        func le32(_ offset: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) } }
        var offset = 0
        while offset < bytes.count {
            guard offset + 12 <= bytes.count else { throw Violation(description: "\(bytes.count - offset) stray bytes at \(offset)") }
            let type = le32(offset)
            let length = Int(le32(offset + 4))
            guard length >= 12, length % 4 == 0 else { throw Violation(description: "block at \(offset) has length \(length)") }
            guard offset + length <= bytes.count else { throw Violation(description: "block at \(offset) runs past the end") }
            guard Int(le32(offset + length - 4)) == length else { throw Violation(description: "block at \(offset): trailing length differs") }
            blocks.append(Block(type: type, totalLength: length, body: Array(bytes[(offset + 8)..<(offset + length - 4)])))
            offset += length
        }
        guard blocks.count >= 2, blocks[0].type == 0x0A0D_0D0A, blocks[1].type == 1 else {
            throw Violation(description: "does not start with a section header and an interface description")
        }
        sectionOptions = try Self.options(Array(blocks[0].body.dropFirst(16)))
        interfaceOptions = try Self.options(Array(blocks[1].body.dropFirst(8)))
    }

    /// Options until opt_endofopt, which must end the body exactly; values padded with zeros.
    private static func options(_ bytes: [UInt8]) throws -> [UInt16: [UInt8]] {
        var options: [UInt16: [UInt8]] = [:]
        var offset = 0
        while offset + 4 <= bytes.count {
            let code = UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
            let length = Int(UInt16(bytes[offset + 2]) | UInt16(bytes[offset + 3]) << 8)
            if code == 0 {
                guard length == 0, offset + 4 == bytes.count else { throw Violation(description: "opt_endofopt is not last or not empty") }
                return options
            }
            let padded = (length + 3) / 4 * 4
            guard offset + 4 + padded <= bytes.count else { throw Violation(description: "option \(code) runs past its block") }
            guard bytes[(offset + 4 + length)..<(offset + 4 + padded)].allSatisfy({ $0 == 0 }) else {
                throw Violation(description: "option \(code) is not padded with zeros")
            }
            options[code] = Array(bytes[(offset + 4)..<(offset + 4 + length)])
            offset += 4 + padded
        }
        throw Violation(description: "options end without opt_endofopt")
    }
}
