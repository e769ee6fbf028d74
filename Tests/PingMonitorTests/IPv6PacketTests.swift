import CPcap
import Foundation
@testable import PingMonitor
import XCTest

/// IPv6: decoding of ICMPv6 echo and Neighbor Advertisements over every link layer, damaged
/// packets, the capture filter compiled and run by libpcap itself, announce detection, and the
/// analysis of an IPv6 stream against the same stream over IPv4. Pure: nothing is sent.
final class IPv6PacketTests: XCTestCase {
    override class func tearDown() {
        Synthetic.removeWrittenFiles()
        super.tearDown()
    }

    // MARK: Decoding

    private func echo(_ frame: [UInt8], _ linkLayer: LinkLayer = .ethernet, file: StaticString = #filePath, line: UInt = #line) -> EchoPacket? {
        guard case .echo(let echo)? = Synthetic.decode(frame, linkLayer: linkLayer) else {
            XCTFail("not decoded as an echo over \(linkLayer)", file: file, line: line)
            return nil
        }
        return echo
    }

    func testDecodesEchoRequestAndReplyOverEthernet() throws {
        let request = try XCTUnwrap(echo(Synthetic.echo6Frame(request: true, sequence: 70_000, intervalMicroseconds: 100)))
        XCTAssertTrue(request.isRequest)
        XCTAssertEqual(request.source, .v6(Synthetic.prober6))
        XCTAssertEqual(request.destination, .v6(Synthetic.target6))
        XCTAssertEqual(request.identifier, Synthetic.identifier)
        XCTAssertEqual(request.sequence16, UInt16(70_000 & 0xFFFF))
        XCTAssertEqual(request.probe, ProbePayload(intervalMicroseconds: 100, sequence: 70_000, sendTimeNanoseconds: 0))
        XCTAssertEqual(request.linkSource, Synthetic.proberMAC)

        let reply = try XCTUnwrap(echo(Synthetic.echo6Frame(request: false, sequence: 5)))
        XCTAssertFalse(reply.isRequest)
        XCTAssertEqual(reply.source, .v6(Synthetic.target6))
        XCTAssertEqual(reply.probe?.sequence, 5)
        XCTAssertEqual(reply.linkSource, Synthetic.targetMAC)

        let tagged = try XCTUnwrap(echo(Synthetic.echo6Frame(request: false, sequence: 6, vlan: 42)))
        XCTAssertEqual(tagged.probe?.sequence, 6)
        let foreign = try XCTUnwrap(echo(Synthetic.echo6Frame(request: true, sequence: 9, pingmonPayload: false)))
        XCTAssertNil(foreign.probe)
        XCTAssertEqual(foreign.sequence16, 9)
    }

    func testDecodesLinuxCookedRawIPAndNullFraming() throws {
        let packet = Synthetic.echo6Packet(request: false, sequence: 3)
        let sll = try XCTUnwrap(echo(Synthetic.sll(protocol: 0x86DD, source: Synthetic.targetMAC, payload: packet), .linuxCooked))
        XCTAssertEqual(sll.linkSource, Synthetic.targetMAC)
        XCTAssertEqual(sll.probe?.sequence, 3)
        let sll2 = try XCTUnwrap(echo(Synthetic.sll2(protocol: 0x86DD, source: Synthetic.targetMAC, payload: packet), .linuxCooked2))
        XCTAssertEqual(sll2.linkSource, Synthetic.targetMAC)
        XCTAssertEqual(sll2.probe?.sequence, 3)
        // Raw IP: the version nibble says IPv6; IPv4 packets on the same link still decode.
        let raw = try XCTUnwrap(echo(packet, .rawIP))
        XCTAssertEqual(raw.source, .v6(Synthetic.target6))
        XCTAssertNil(raw.linkSource)
        XCTAssertEqual(echo(Array(Synthetic.echoFrame(request: false, sequence: 4)[14...]), .rawIP)?.source, .v4(Synthetic.target))
        // DLT_NULL: AF_INET6 is 10 on Linux (here little-endian), 30 on macOS (big-endian here).
        XCTAssertEqual(echo([10, 0, 0, 0] + packet, .null)?.probe?.sequence, 3)
        XCTAssertEqual(echo([0, 0, 0, 30] + packet, .null)?.probe?.sequence, 3)
        XCTAssertNil(Synthetic.decode([7, 0, 0, 0] + packet, linkLayer: .null), "not an address family")
        // The IPv6 ethertype in front of an IPv4 packet, and the reverse, are not echoes.
        XCTAssertNil(Synthetic.decode(Synthetic.sll(protocol: 0x86DD, source: Synthetic.targetMAC,
                                                    payload: Array(Synthetic.echoFrame(request: false, sequence: 4)[14...])), linkLayer: .linuxCooked))
        XCTAssertNil(Synthetic.decode(Synthetic.sll(protocol: 0x0800, source: Synthetic.targetMAC, payload: packet), linkLayer: .linuxCooked))
    }

    func testDecodesNeighborAdvertisements() throws {
        guard case .neighborAdvertisement(let advertisement)? = Synthetic.decode(Synthetic.neighborAdvertisement6Frame()) else {
            return XCTFail("not decoded as a Neighbor Advertisement")
        }
        XCTAssertEqual(advertisement.targetAddress, Synthetic.target6)
        XCTAssertEqual(advertisement.source, Synthetic.target6)
        XCTAssertEqual(advertisement.destination.description, "ff02::1")
        XCTAssertFalse(advertisement.isSolicited)
        XCTAssertTrue(advertisement.isOverride)
        XCTAssertFalse(advertisement.isRouter)
        XCTAssertEqual(advertisement.targetLinkLayerAddress, Synthetic.targetMAC)
        XCTAssertEqual(advertisement.linkSource, Synthetic.targetMAC)
        guard case .neighborAdvertisement(let solicited)? = Synthetic.decode(Synthetic.neighborAdvertisement6Frame(solicited: true)) else {
            return XCTFail("solicited")
        }
        XCTAssertTrue(solicited.isSolicited)
        // Without the option, and over raw IP.
        guard case .neighborAdvertisement(let bare)? = Synthetic.decode(Synthetic.neighborAdvertisement6Packet(linkLayerOption: false),
                                                                        linkLayer: .rawIP) else { return XCTFail("bare") }
        XCTAssertNil(bare.targetLinkLayerAddress)
        // RFC 4861: a hop limit below 255 means it crossed a router; an option of length 0 voids it.
        XCTAssertNil(Synthetic.decode(Synthetic.neighborAdvertisement6Frame(hopLimit: 64)))
        var zeroOption = Synthetic.neighborAdvertisement6Frame()
        zeroOption[14 + 40 + 24 + 1] = 0
        XCTAssertNil(Synthetic.decode(zeroOption))
    }

    // MARK: Damaged and foreign packets

    /// The reply frame with bytes changed (offsets from the start of the IPv6 header).
    private func reply(patch: [Int: UInt8], sequence: UInt64 = 77) -> [UInt8] {
        var frame = Synthetic.echo6Frame(request: false, sequence: sequence)
        for (offset, value) in patch { frame[14 + offset] = value }
        return frame
    }

    func testTruncatedPacketsNeverCrashAndNeverBecomeAnotherReply() {
        let frame = Synthetic.echo6Frame(request: false, sequence: 77)
        for length in 0..<frame.count {
            let decoded = Synthetic.decode(Array(frame.prefix(length)))
            if case .echo(let echo)? = decoded {
                // Cut inside the payload: still this reply, with the 64-bit sequence only if it survived.
                XCTAssertGreaterThanOrEqual(length, 14 + 40 + 8)
                XCTAssertFalse(echo.isRequest)
                XCTAssertEqual(echo.sequence16, 77)
                if let probe = echo.probe { XCTAssertEqual(probe.sequence, 77) }
            } else {
                XCTAssertNil(decoded, "length \(length)")
            }
        }
        let advertisement = Synthetic.neighborAdvertisement6Frame()
        for length in 0..<advertisement.count {
            let decoded = Synthetic.decode(Array(advertisement.prefix(length)))
            if case .neighborAdvertisement(let cut)? = decoded {
                XCTAssertGreaterThanOrEqual(length, 14 + 40 + 24)
                XCTAssertEqual(cut.targetAddress, Synthetic.target6)
                XCTAssertNil(cut.targetLinkLayerAddress, "the option was cut off")
            } else {
                XCTAssertNil(decoded, "length \(length)")
            }
        }
    }

    func testGarbageAfterAnIPv6EthertypeNeverCrashes() {
        var generator = SplitMix(seed: 6)
        for _ in 0..<5_000 {
            let length = Int.random(in: 0..<140, using: &generator)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            // Mostly a plausible start: version 6, next header ICMPv6, an echo or NA type.
            if bytes.count > 54, Bool.random(using: &generator) {
                bytes[12] = 0x86
                bytes[13] = 0xDD
                bytes[14] = 0x60
                bytes[20] = 58
                bytes[54] = [128, 129, 136].randomElement(using: &generator)!
            }
            for layer in [LinkLayer.ethernet, .linuxCooked, .linuxCooked2, .rawIP, .null] {
                switch Synthetic.decode(bytes, linkLayer: layer) {
                case .echo(let echo)?:
                    // Both addresses come from one header, of one family.
                    XCTAssertEqual(echo.source.family, echo.destination.family)
                case .neighborAdvertisement?, .arp?, nil:
                    break
                }
            }
        }
    }

    func testLyingLengthsAndOtherHeadersAreNotEchoes() throws {
        XCTAssertNil(Synthetic.decode(reply(patch: [4: 0, 5: 0])), "payload length 0 (a jumbogram)")
        XCTAssertNil(Synthetic.decode(reply(patch: [4: 0, 5: 7])), "too short for an ICMPv6 echo header")
        // The payload ends where the IPv6 packet says it ends, not at the frame's end.
        let headerOnly = try XCTUnwrap(echo(reply(patch: [4: 0, 5: 8])))
        XCTAssertNil(headerOnly.probe, "payload read past the packet's end")
        XCTAssertEqual(headerOnly.sequence16, 77)
        // A payload length beyond the capture: what was captured is read, nothing more.
        XCTAssertEqual(echo(reply(patch: [4: 0xFF, 5: 0xFF]))?.probe?.sequence, 77)
        // Extension headers (hop-by-hop 0, fragment 44), UDP and TCP: not followed, not echoes.
        for nextHeader: UInt8 in [0, 44, 60, 17, 6, 1] {
            XCTAssertNil(Synthetic.decode(reply(patch: [6: nextHeader])), "next header \(nextHeader)")
        }
        XCTAssertNil(Synthetic.decode(reply(patch: [0: 0x40])), "version 4 behind the IPv6 ethertype")
        XCTAssertNil(Synthetic.decode(reply(patch: [41: 1])), "echo reply with code 1")
        // ICMPv6 errors quote the packet they are about; a quoted request is not a reply.
        let request = Synthetic.echo6Packet(request: true, sequence: 77)
        for errorType: UInt8 in [1, 2, 3, 4] {
            let message = Synthetic.icmpv6(type: errorType, body: [0, 0, 0, 0] + request, source: Synthetic.target6, destination: Synthetic.prober6)
            let packet = Synthetic.ipv6Packet(source: Synthetic.target6, destination: Synthetic.prober6, payload: message)
            XCTAssertNil(Synthetic.decode(packet, linkLayer: .rawIP), "ICMPv6 type \(errorType)")
        }
    }

    // MARK: Building

    func testBuiltICMPv6EchoRequestLeavesTheChecksumToTheKernel() {
        var packet = [UInt8](repeating: 0xEE, count: ProbePacket.size)
        packet.withUnsafeMutableBytes { buffer in
            ProbePacket.writeEchoRequest(into: buffer, identifier: 0x1234, sequence: 0x1_0002, intervalMicroseconds: 250,
                                         sendTimeNanoseconds: 42, family: .ipv6)
        }
        XCTAssertEqual(Array(packet[0..<4]), [128, 0, 0, 0], "type 128, code 0, checksum zero")
        let ip = Synthetic.ipv6Packet(source: Synthetic.prober6, destination: Synthetic.target6, payload: packet)
        guard case .echo(let echo)? = Synthetic.decode(ip, linkLayer: .rawIP) else { return XCTFail("not decoded") }
        XCTAssertTrue(echo.isRequest)
        XCTAssertEqual(echo.identifier, 0x1234)
        XCTAssertEqual(echo.sequence16, 2)
        XCTAssertEqual(echo.probe, ProbePayload(intervalMicroseconds: 250, sequence: 0x1_0002, sendTimeNanoseconds: 42))
        // The same payload layout as over IPv4: only the type and the checksum differ.
        var ipv4 = [UInt8](repeating: 0, count: ProbePacket.size)
        ipv4.withUnsafeMutableBytes { buffer in
            ProbePacket.writeEchoRequest(into: buffer, identifier: 0x1234, sequence: 0x1_0002, intervalMicroseconds: 250, sendTimeNanoseconds: 42)
        }
        XCTAssertEqual(Array(ipv4[4...]), Array(packet[4...]))
    }

    /// EchoProbe on what an ICMPv6 raw socket reads: the message alone, its source from recvfrom.
    func testEchoProbeMatchesICMPv6RepliesByTheirSource() {
        func sequence(_ message: [UInt8], source: IPAddress?, target: IPAddress = .v6(Synthetic.target6),
                      identifier: UInt16 = Synthetic.identifier) -> UInt64? {
            message.withUnsafeBytes { EchoProbe.answeredSequence($0, target: target, identifier: identifier, source: source) }
        }
        func message(request: Bool = false, sequence: UInt64, identifier: UInt16 = Synthetic.identifier) -> [UInt8] {
            Array(Synthetic.echo6Packet(request: request, sequence: sequence, identifier: identifier)[40...])
        }
        XCTAssertEqual(sequence(message(sequence: 70_000), source: .v6(Synthetic.target6)), 70_000)
        XCTAssertNil(sequence(message(sequence: 1), source: nil), "no source, no match")
        XCTAssertNil(sequence(message(sequence: 1), source: .v6(Synthetic.prober6)), "another host")
        XCTAssertNil(sequence(message(request: true, sequence: 1), source: .v6(Synthetic.target6)), "a request (as on loopback)")
        XCTAssertNil(sequence(message(sequence: 1, identifier: 0x1111), source: .v6(Synthetic.target6)), "another pinger's reply")
        XCTAssertNil(sequence(Array(message(sequence: 1).prefix(6)), source: .v6(Synthetic.target6)), "truncated")
        XCTAssertNil(sequence([], source: .v6(Synthetic.target6)), "empty read")
    }

    // MARK: Capture filter

    /// Whether libpcap, compiling `expression` for `linkType`, lets `frame` through.
    private func passes(_ expression: String, linkType: Int32, _ frame: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> Bool {
        guard let handle = pcap_open_dead(linkType, 262_144) else {
            XCTFail("pcap_open_dead", file: file, line: line)
            return false
        }
        defer { pcap_close(handle) }
        var program = bpf_program()
        guard pcap_compile(handle, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            XCTFail("'\(expression)' does not compile: \(String(cString: pcap_geterr(handle)))", file: file, line: line)
            return false
        }
        defer { pcap_freecode(&program) }
        var header = pcap_pkthdr()
        header.caplen = UInt32(frame.count)
        header.len = UInt32(frame.count)
        return frame.withUnsafeBufferPointer { pcap_offline_filter(&program, &header, $0.baseAddress) != 0 }
    }

    func testTheFilterText() {
        let generic = CaptureFilter.expression(target: .v6(Synthetic.target6), identifier: 0x4242, targetMAC: nil, linkLayer: .ethernet)
        XCTAssertEqual(generic, "(icmp6 and host 2001:2::2 and (ip6[40] = 128 or ip6[40] = 129) and ip6[44:2] = 16962)"
            + " or (icmp6 and ip6[40] = 136 and ip6[48:4] = 0x20010002 and ip6[52:4] = 0x0 and ip6[56:4] = 0x0 and ip6[60:4] = 0x2)"
            + " or rarp")
        let withMAC = CaptureFilter.expression(target: .v6(Synthetic.target6), identifier: 7, targetMAC: Synthetic.targetMAC, linkLayer: .ethernet)
        XCTAssertTrue(withMAC.hasSuffix(" or (rarp and ether src 52:54:00:12:34:56)"), withMAC)
        XCTAssertFalse(withMAC.split(whereSeparator: { !$0.isLetter }).contains("arp"), "no ARP for an IPv6 target")
        let raw = CaptureFilter.expression(target: .v6(Synthetic.target6), identifier: 7, targetMAC: nil, linkLayer: .rawIP)
        XCTAssertFalse(raw.contains("rarp"))
        XCTAssertTrue(raw.contains("ip6[40] = 136"))
    }

    func testLibpcapRunsTheFilterAsMeant() {
        let target = IPAddress.v6(Synthetic.target6)
        let other = IPv6Address(high: 0x2001_0002_0000_0000, low: 9)
        let ethernet = CaptureFilter.expression(target: target, identifier: Synthetic.identifier, targetMAC: nil, linkLayer: .ethernet)
        func ether(_ packet: [UInt8]) -> [UInt8] {
            Synthetic.ethernet(source: Synthetic.targetMAC, destination: Synthetic.proberMAC, type: 0x86DD, vlan: nil, payload: packet)
        }
        let kept: [(String, [UInt8])] = [
            ("request", Synthetic.echo6Frame(request: true, sequence: 1)),
            ("reply", Synthetic.echo6Frame(request: false, sequence: 1)),
            ("unsolicited NA", Synthetic.neighborAdvertisement6Frame()),
            ("QEMU's RARP", Synthetic.qemuRARP()),
        ]
        let dropped: [(String, [UInt8])] = [
            ("another identifier", Synthetic.echo6Frame(request: false, sequence: 1, identifier: 0x1111)),
            ("another host", ether(Synthetic.echo6Packet(request: false, sequence: 1, target: other))),
            ("NA for another address", Synthetic.neighborAdvertisement6Frame(advertised: other)),
            ("the IPv4 echo", Synthetic.echoFrame(request: false, sequence: 1)),
            ("a gratuitous ARP", Synthetic.gratuitousARP()),
        ]
        for (name, frame) in kept { XCTAssertTrue(passes(ethernet, linkType: DLT_EN10MB, frame), name) }
        for (name, frame) in dropped { XCTAssertFalse(passes(ethernet, linkType: DLT_EN10MB, frame), name) }
        let withMAC = CaptureFilter.expression(target: target, identifier: Synthetic.identifier, targetMAC: Synthetic.targetMAC, linkLayer: .ethernet)
        XCTAssertTrue(passes(withMAC, linkType: DLT_EN10MB, Synthetic.qemuRARP()))
        XCTAssertFalse(passes(withMAC, linkType: DLT_EN10MB, Synthetic.qemuRARP(mac: MACAddress(value: 0x52_54_00_99_99_99))), "another guest's RARP")

        let cooked = CaptureFilter.expression(target: target, identifier: Synthetic.identifier, targetMAC: nil, linkLayer: .linuxCooked)
        let reply = Synthetic.echo6Packet(request: false, sequence: 1)
        XCTAssertTrue(passes(cooked, linkType: DLT_LINUX_SLL, Synthetic.sll(protocol: 0x86DD, source: Synthetic.targetMAC, payload: reply)))
        XCTAssertTrue(passes(cooked, linkType: DLT_LINUX_SLL, Synthetic.sll(protocol: 0x8035, source: Synthetic.targetMAC,
                                                                             payload: Array(Synthetic.qemuRARP()[14...]))))
        XCTAssertTrue(passes(cooked, linkType: 276, Synthetic.sll2(protocol: 0x86DD, source: Synthetic.targetMAC, payload: reply)))
        let raw = CaptureFilter.expression(target: target, identifier: Synthetic.identifier, targetMAC: nil, linkLayer: .rawIP)
        XCTAssertTrue(passes(raw, linkType: DLT_RAW, reply))
        XCTAssertTrue(passes(raw, linkType: DLT_RAW, Synthetic.neighborAdvertisement6Packet()))
        XCTAssertFalse(passes(raw, linkType: DLT_RAW, Synthetic.echo6Packet(request: false, sequence: 1, identifier: 0x1111)))
    }

    // MARK: Announcements and analysis

    func testUnsolicitedNeighborAdvertisementsOfTheTargetAreAnnouncements() {
        var collector = ProbeCollector(target: .v6(Synthetic.target6), identifier: nil, targetMAC: nil)
        let other = IPv6Address(high: 0x2001_0002_0000_0000, low: 9)
        let frames: [[UInt8]] = [
            Synthetic.echo6Frame(request: true, sequence: 0),
            Synthetic.echo6Frame(request: false, sequence: 0),
            Synthetic.neighborAdvertisement6Frame(),  // the announcement
            Synthetic.neighborAdvertisement6Frame(solicited: true),  // ordinary neighbour discovery
            Synthetic.neighborAdvertisement6Frame(advertised: other, mac: MACAddress(value: 0x52_54_00_99_99_99)),
            Synthetic.neighborAdvertisement6Frame(hopLimit: 64),  // forwarded: not valid
            Synthetic.qemuRARP(),
            Synthetic.qemuRARP(mac: MACAddress(value: 0x52_54_00_99_99_99)),  // another guest's
            Synthetic.gratuitousARP(),  // for the IPv4 address of the same numbers: not this target
        ]
        for (index, frame) in frames.enumerated() {
            collector.ingest(Synthetic.decode(frame), timeNanoseconds: Int64(index) * 1_000)
        }
        let log = collector.finish()
        XCTAssertEqual(log.events, [.request(0, at: 0), .reply(0, at: 1_000)])
        XCTAssertEqual(log.announces, [
            AnnounceFrame(kind: .unsolicitedNeighborAdvertisement, timeNanoseconds: 2_000, sourceMAC: Synthetic.targetMAC),
            AnnounceFrame(kind: .rarp, timeNanoseconds: 6_000, sourceMAC: Synthetic.targetMAC),
        ])
        XCTAssertEqual(collector.packetsIgnored, 5)
    }

    func testWithoutRepliesTheAdvertisementNamesTheMACOfTheRARP() {
        // A guest that never answered: its MAC comes from its Neighbor Advertisement's option.
        var collector = ProbeCollector(target: .v6(Synthetic.target6), identifier: nil, targetMAC: nil)
        collector.ingest(Synthetic.decode(Synthetic.echo6Frame(request: true, sequence: 0)), timeNanoseconds: 0)
        collector.ingest(Synthetic.decode(Synthetic.qemuRARP()), timeNanoseconds: 1_000)
        collector.ingest(Synthetic.decode(Synthetic.neighborAdvertisement6Packet(), linkLayer: .rawIP), timeNanoseconds: 2_000)
        XCTAssertEqual(collector.finish().announces.map(\.kind), [.rarp, .unsolicitedNeighborAdvertisement])
    }

    /// One schedule with a 120-probe outage, a RARP and the guest's own announcement after it,
    /// captured once over IPv4 and once over IPv6: the same figures.
    func testAnIPv6StreamGivesTheFiguresOfTheSameIPv4Stream() throws {
        let ipv4 = SyntheticStream(count: 1_000, lost: Set(300..<420))
        var ipv6 = ipv4
        ipv6.ipv6 = true
        let announceTime = ipv4.sendTime(419) + 300_000
        let records4 = (ipv4.records + [(announceTime, Synthetic.qemuRARP()), (announceTime + 10_000, Synthetic.gratuitousARP())])
            .sorted { $0.0 < $1.0 }
        let records6 = (ipv6.records + [(announceTime, Synthetic.qemuRARP()), (announceTime + 10_000, Synthetic.neighborAdvertisement6Frame())])
            .sorted { $0.0 < $1.0 }
        let report4 = try CaptureFileAnalysis.analyze(path: try Synthetic.write(Synthetic.pcapFile(records4), name: "v4.pcap"),
                                                      target: .v4(Synthetic.target))
        let report6 = try CaptureFileAnalysis.analyze(path: try Synthetic.write(Synthetic.pcapFile(records6), name: "v6.pcap"),
                                                      target: .v6(Synthetic.target6))
        let analysis = report6.analysis
        XCTAssertEqual(analysis.sent, 1_000)
        XCTAssertEqual(analysis.lost, 120)
        XCTAssertEqual(analysis.downtimeLostProbes, 120)
        XCTAssertEqual(analysis.downtimeLowerBoundMilliseconds, 119)
        XCTAssertEqual(analysis.downtimeUpperBoundMilliseconds, 121)
        XCTAssertEqual(analysis.downtimeMilliseconds, 120)
        XCTAssertEqual(analysis.longestGapMilliseconds, 121)
        XCTAssertEqual(analysis.rttMicroseconds.count, 880)
        XCTAssertEqual(analysis.intervalSource, "payload")
        XCTAssertEqual(analysis.announceFrames.map(\.kind), [.rarp, .unsolicitedNeighborAdvertisement])
        XCTAssertEqual(analysis.repliesResumedAfterFirstAnnounceMilliseconds, 0.75)
        XCTAssertEqual(report6.target.description, "2001:2::2")
        XCTAssertEqual(report6.icmpIdentifier, Synthetic.identifier)
        XCTAssertEqual(report6.packetsIgnored, 0)
        // Every figure equals the IPv4 one, the guest's own announcement aside (NA, not ARP).
        var comparable = analysis
        comparable.announceFrames = analysis.announceFrames.map { announce in
            var same = announce
            if same.kind == .unsolicitedNeighborAdvertisement { same.kind = .gratuitousARP }
            return same
        }
        XCTAssertEqual(comparable, report4.analysis)

        // The same packets as pcapng, and captured on the Linux "any" device (SLL) or a tun (raw IP).
        let pcapng = try CaptureFileAnalysis.analyze(path: try Synthetic.write(Synthetic.pcapngFile(records6), name: "v6.pcapng"),
                                                     target: .v6(Synthetic.target6))
        XCTAssertEqual(pcapng.analysis, analysis)
        let cooked = records6.map { record in
            (record.0, Synthetic.sll(protocol: UInt16(record.1[12]) << 8 | UInt16(record.1[13]),
                                     source: MACAddress(value: record.1[6..<12].reduce(0) { $0 << 8 | UInt64($1) }), payload: Array(record.1[14...])))
        }
        let sll = try CaptureFileAnalysis.analyze(path: try Synthetic.write(Synthetic.pcapFile(cooked, linkType: 113), name: "v6-sll.pcap"),
                                                  target: .v6(Synthetic.target6))
        XCTAssertEqual(sll.analysis, analysis)
        let rawRecords = records6.filter { $0.1[12] == 0x86 }.map { ($0.0, Array($0.1[14...])) }
        let raw = try CaptureFileAnalysis.analyze(path: try Synthetic.write(Synthetic.pcapFile(rawRecords, linkType: 101), name: "v6-raw.pcap"),
                                                  target: .v6(Synthetic.target6))
        // No RARP on a raw IP link; the rest is the same.
        XCTAssertEqual(raw.analysis.announceFrames.map(\.kind), [.unsolicitedNeighborAdvertisement])
        XCTAssertEqual(raw.analysis.downtimeMilliseconds, 120)
        XCTAssertEqual(raw.analysis.lost, 120)
        XCTAssertEqual(raw.analysis.rttMicroseconds, analysis.rttMicroseconds)
    }

    func testAnIPv4TargetIgnoresTheIPv6StreamAndTheReverse() throws {
        // A capture holding both streams: each target takes its own.
        let both = (SyntheticStream(count: 50).records + SyntheticStream(count: 80, ipv6: true).records).sorted { $0.0 < $1.0 }
        let path = try Synthetic.write(Synthetic.pcapFile(both), name: "both.pcap")
        XCTAssertEqual(try CaptureFileAnalysis.analyze(path: path, target: .v4(Synthetic.target)).analysis.sent, 50)
        XCTAssertEqual(try CaptureFileAnalysis.analyze(path: path, target: .v6(Synthetic.target6)).analysis.sent, 80)
        let nobody = try CaptureFileAnalysis.analyze(path: path, target: .v6(Synthetic.prober6))
        XCTAssertEqual(nobody.analysis.sent, 0)
        XCTAssertEqual(nobody.warnings, ["no ICMP echo request to 2001:2::1 in \(path)"])
    }
}
