import XCTest
@testable import PingMonitor

/// Frame decoding, probe building, addresses, the capture filter and the collector, on
/// hand-built frames.
final class PacketTests: XCTestCase {
    func testDecodesPingmonEchoRequestAndReply() throws {
        let request = Synthetic.decode(Synthetic.echoFrame(request: true, sequence: 70_000, intervalMicroseconds: 100))
        guard case .echo(let echo)? = request else { return XCTFail("not decoded as echo: \(String(describing: request))") }
        XCTAssertTrue(echo.isRequest)
        XCTAssertEqual(echo.source, .v4(Synthetic.prober))
        XCTAssertEqual(echo.destination, .v4(Synthetic.target))
        XCTAssertEqual(echo.identifier, Synthetic.identifier)
        XCTAssertEqual(echo.sequence16, UInt16(70_000 & 0xFFFF))
        XCTAssertEqual(echo.probe?.sequence, 70_000)
        XCTAssertEqual(echo.probe?.intervalMicroseconds, 100)
        XCTAssertEqual(echo.linkSource, Synthetic.proberMAC)

        guard case .echo(let reply)? = Synthetic.decode(Synthetic.echoFrame(request: false, sequence: 5)) else { return XCTFail("reply") }
        XCTAssertFalse(reply.isRequest)
        XCTAssertEqual(reply.linkSource, Synthetic.targetMAC)
    }

    func testDecodesVLANTaggedAndForeignEcho() {
        guard case .echo(let tagged)? = Synthetic.decode(Synthetic.echoFrame(request: true, sequence: 1, vlan: 42)) else { return XCTFail("vlan") }
        XCTAssertEqual(tagged.probe?.sequence, 1)
        guard case .echo(let foreign)? = Synthetic.decode(Synthetic.echoFrame(request: true, sequence: 9, pingmonPayload: false)) else {
            return XCTFail("foreign")
        }
        XCTAssertNil(foreign.probe)
        XCTAssertEqual(foreign.sequence16, 9)
    }

    func testDecodesLinuxCookedAndRawIP() {
        let frame = Synthetic.echoFrame(request: true, sequence: 3)
        let ip = Array(frame[14...])
        guard case .echo(let raw)? = Synthetic.decode(ip, linkLayer: .rawIP) else { return XCTFail("raw") }
        XCTAssertEqual(raw.probe?.sequence, 3)
        // SLL: packet type, ARPHRD_ETHER, address length 6, address (8 bytes), protocol.
        let cooked: [UInt8] = [0, 4, 0, 1, 0, 6] + Synthetic.mac(Synthetic.proberMAC) + [0, 0] + [0x08, 0x00] + ip
        guard case .echo(let sll)? = Synthetic.decode(cooked, linkLayer: .linuxCooked) else { return XCTFail("sll") }
        XCTAssertEqual(sll.linkSource, Synthetic.proberMAC)
        XCTAssertEqual(sll.probe?.sequence, 3)
    }

    func testDecodesARPAndRARP() {
        guard case .arp(let rarp)? = Synthetic.decode(Synthetic.qemuRARP()) else { return XCTFail("rarp") }
        XCTAssertTrue(rarp.isReverse)
        XCTAssertEqual(rarp.operation, 3)
        XCTAssertEqual(rarp.senderHardware, Synthetic.targetMAC)
        guard case .arp(let garp)? = Synthetic.decode(Synthetic.gratuitousARP()) else { return XCTFail("garp") }
        XCTAssertFalse(garp.isReverse)
        XCTAssertEqual(garp.senderAddress, Synthetic.target)
        XCTAssertEqual(garp.targetAddress, Synthetic.target)
    }

    func testTruncatedAndGarbageFramesAreIgnoredWithoutCrashing() {
        let frame = Synthetic.echoFrame(request: true, sequence: 77)
        for length in 0..<frame.count {
            let decoded = Synthetic.decode(Array(frame.prefix(length)))
            if case .echo(let echo)? = decoded {
                // Cut inside the payload: still an echo, with the 64-bit sequence only if it survived.
                XCTAssertGreaterThanOrEqual(length, 14 + 20 + 8)
                if let probe = echo.probe { XCTAssertEqual(probe.sequence, 77) }
            } else {
                XCTAssertNil(decoded, "length \(length)")
            }
        }
        var generator = SplitMix(seed: 3)
        for _ in 0..<2_000 {
            let length = Int.random(in: 0..<120, using: &generator)
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            for layer in [LinkLayer.ethernet, .linuxCooked, .linuxCooked2, .rawIP, .null] {
                _ = Synthetic.decode(bytes, linkLayer: layer)
            }
        }
    }

    /// The pingmon request frame with bytes of its IPv4 header (offsets from the IP start) changed.
    private func echoFrame(ipHeaderPatch patch: [Int: UInt8]) -> [UInt8] {
        var frame = Synthetic.echoFrame(request: true, sequence: 77)
        for (offset, value) in patch { frame[14 + offset] = value }
        return frame
    }

    func testAnIPTotalLengthTooShortForAnICMPHeaderIsNotAnEcho() {
        // 20 + 7 bytes: the ICMP header does not fit into what the IP packet says it holds.
        XCTAssertNil(Synthetic.decode(echoFrame(ipHeaderPatch: [2: 0, 3: 27])))
        XCTAssertNil(Synthetic.decode(echoFrame(ipHeaderPatch: [2: 0, 3: 0])))
        guard case .echo? = Synthetic.decode(echoFrame(ipHeaderPatch: [2: 0, 3: 28])) else {
            return XCTFail("20 + 8 bytes hold an echo header")
        }
    }

    func testThePayloadEndsWhereTheIPPacketEndsNotAtTheFramesEnd() {
        // The IP packet holds only the ICMP header; what follows in the frame (Ethernet padding,
        // here bytes that look like a pingmon payload) is not the probe's payload.
        guard case .echo(let echo)? = Synthetic.decode(echoFrame(ipHeaderPatch: [2: 0, 3: 28])) else {
            return XCTFail("not decoded as echo")
        }
        XCTAssertNil(echo.probe, "payload read past the IP packet's end")
        XCTAssertEqual(echo.sequence16, 77)
    }

    func testLaterFragmentsAndOtherProtocolsAreNotEchoes() {
        // Fragment offset 1 (8 bytes in): the bytes where an ICMP header would be are data.
        XCTAssertNil(Synthetic.decode(echoFrame(ipHeaderPatch: [6: 0x00, 7: 0x01])))
        XCTAssertNil(Synthetic.decode(echoFrame(ipHeaderPatch: [6: 0x1F, 7: 0xFF])))
        // UDP and TCP packets whose first bytes happen to look like an echo.
        XCTAssertNil(Synthetic.decode(echoFrame(ipHeaderPatch: [9: 17])))
        XCTAssertNil(Synthetic.decode(echoFrame(ipHeaderPatch: [9: 6])))
    }

    func testBuiltEchoRequestDecodesAndHasAValidChecksum() {
        var packet = [UInt8](repeating: 0, count: ProbePacket.size)
        packet.withUnsafeMutableBytes { buffer in
            ProbePacket.writeEchoRequest(into: buffer, identifier: 0x1234, sequence: 0x1_0002, intervalMicroseconds: 250,
                                         sendTimeNanoseconds: 42)
        }
        XCTAssertEqual(packet.withUnsafeBytes { ProbePacket.internetChecksum($0) }, 0, "a valid checksum sums to zero")
        var ip: [UInt8] = [0x45, 0] + Synthetic.be16(UInt16(20 + packet.count)) + [0, 0, 0, 0, 64, 1, 0, 0]
        ip += Synthetic.be32(Synthetic.prober.value) + Synthetic.be32(Synthetic.target.value)
        guard case .echo(let echo)? = Synthetic.decode(ip + packet, linkLayer: .rawIP) else { return XCTFail("not decoded") }
        XCTAssertEqual(echo.identifier, 0x1234)
        XCTAssertEqual(echo.sequence16, 2)
        XCTAssertEqual(echo.probe, ProbePayload(intervalMicroseconds: 250, sequence: 0x1_0002, sendTimeNanoseconds: 42))
    }

    func testAddressParsing() {
        XCTAssertEqual(IPv4Address("198.18.10.2")?.value, 0xC612_0A02)
        XCTAssertEqual(IPv4Address("198.18.10.2")?.description, "198.18.10.2")
        for bad in ["", "198.18.10", "198.18.10.256", "a.b.c.d", "1.2.3.4.5", "+1.2.3.4", "1..2.3", "example.invalid"] {
            XCTAssertNil(IPv4Address(bad), bad)
        }
        XCTAssertEqual(MACAddress("52:54:00:12:34:56")?.description, "52:54:00:12:34:56")
        XCTAssertNil(MACAddress("52:54:00:12:34"))
        let lab = IPv4Network("198.18.0.0/15")
        XCTAssertEqual(lab?.contains(IPv4Address(198, 19, 255, 255)), true)
        XCTAssertEqual(lab?.contains(IPv4Address(198, 20, 0, 1)), false)
        XCTAssertNil(IPv4Network("198.18.0.0/33"))
        XCTAssertEqual(IPv4Network("0.0.0.0/0")?.contains(IPv4Address(8, 8, 8, 8)), true)
    }

    func testCaptureFilterNamesTheStreamAndTheAnnouncements() {
        let generic = CaptureFilter.expression(target: .v4(Synthetic.target), identifier: 7, targetMAC: nil, linkLayer: .ethernet)
        XCTAssertTrue(generic.contains("icmp and host 198.18.13.2"))
        XCTAssertTrue(generic.contains("icmp[4:2] = 7"))
        XCTAssertTrue(generic.contains("arp[14:4] = 0xc6120d02"))
        XCTAssertTrue(generic.contains("rarp"))
        let withMAC = CaptureFilter.expression(target: .v4(Synthetic.target), identifier: 7, targetMAC: Synthetic.targetMAC, linkLayer: .ethernet)
        XCTAssertTrue(withMAC.contains("ether src 52:54:00:12:34:56"))
        XCTAssertFalse(CaptureFilter.expression(target: .v4(Synthetic.target), identifier: 7, targetMAC: nil, linkLayer: .rawIP).contains("arp"))
    }

    func testCollectorLocksOntoPingmonStreamAndClassifiesAnnouncements() {
        var collector = ProbeCollector(target: .v4(Synthetic.target), identifier: nil, targetMAC: nil)
        let frames: [[UInt8]] = [
            Synthetic.echoFrame(request: true, sequence: 500, identifier: 9, pingmonPayload: false),  // someone else's ping
            Synthetic.echoFrame(request: true, sequence: 0),
            Synthetic.echoFrame(request: false, sequence: 500, identifier: 9, pingmonPayload: false),
            Synthetic.echoFrame(request: false, sequence: 0),
            Synthetic.qemuRARP(),
            Synthetic.qemuRARP(mac: MACAddress(value: 0x52_54_00_99_99_99)),  // another guest's
            Synthetic.gratuitousARP(),
            Synthetic.arpFrame(reverse: false, operation: 2, senderMAC: Synthetic.targetMAC, senderAddress: Synthetic.target,
                               targetMAC: Synthetic.proberMAC, targetAddress: Synthetic.prober),  // ordinary ARP reply
        ]
        for (index, frame) in frames.enumerated() {
            collector.ingest(Synthetic.decode(frame), timeNanoseconds: Int64(index) * 1_000)
        }
        let log = collector.finish()
        XCTAssertEqual(collector.identifier, Synthetic.identifier)
        XCTAssertEqual(log.events, [.request(0, at: 1_000), .reply(0, at: 3_000)])
        XCTAssertEqual(log.announces.map(\.kind), [.rarp, .gratuitousARP])
        XCTAssertEqual(log.announces.map(\.timeNanoseconds), [4_000, 6_000])
        XCTAssertEqual(log.nominalIntervalNanoseconds, 1_000_000)
        XCTAssertEqual(collector.packetsIgnored, 4)
    }

    func testCollectorUnwrapsSixteenBitSequencesOfForeignPings() {
        var collector = ProbeCollector(target: .v4(Synthetic.target), identifier: nil, targetMAC: nil)
        let count = 70_000
        for sequence in 0..<count {
            let time = Int64(sequence) * 1_000_000
            collector.ingest(Synthetic.decode(Synthetic.echoFrame(request: true, sequence: UInt64(sequence), pingmonPayload: false)), timeNanoseconds: time)
            if sequence != 65_540 {
                collector.ingest(Synthetic.decode(Synthetic.echoFrame(request: false, sequence: UInt64(sequence), pingmonPayload: false)),
                                 timeNanoseconds: time + 1_000)
            }
        }
        let result = PingAnalyzer.analyze(collector.finish())
        XCTAssertEqual(result.sent, count)
        XCTAssertEqual(result.lost, 1)
        XCTAssertEqual(result.lossRuns.first?.firstSequence, 65_540)
        XCTAssertEqual(result.intervalSource, "measured")
        XCTAssertEqual(result.intervalMicroseconds, 1_000)
    }
}
