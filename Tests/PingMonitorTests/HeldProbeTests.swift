import XCTest
@testable import PingMonitor

/// Outages that hold probes instead of dropping them: a paused guest answers the requests queued
/// for it when it resumes, so their replies come late, after the outage, not never (issue 25).
/// Each stream probes every 1 ms with a 50 µs round trip; the gap threshold is 5 ms.
final class HeldProbeTests: XCTestCase {
    override class func tearDown() {
        Synthetic.removeWrittenFiles()
        super.tearDown()
    }

    /// Probe 100 held until the guest resumed at 160.5 ms, 101...160 lost: what 3 of 6 live
    /// migrations of a Debian guest showed.
    static let heldAtTheStart = SyntheticStream(count: 1_000, lost: Set(101...160), held: [100], releaseOffsetNanoseconds: 160_500_000)
    /// Probes 100...149 lost, then 150...159 held until 159.5 ms (the destination queued them).
    static let heldAtTheEnd = SyntheticStream(count: 1_000, lost: Set(100...149), held: Set(150...159), releaseOffsetNanoseconds: 159_500_000)
    /// Every probe of the outage held, 100...159, and answered in one burst at 159.5 ms.
    static let heldThroughout = SyntheticStream(count: 1_000, held: Set(100...159), releaseOffsetNanoseconds: 159_500_000)

    func testAProbeHeldAtTheStartBoundsTheOutageWithTheLostOnes() {
        let result = PingAnalyzer.analyze(Self.heldAtTheStart.log)
        XCTAssertEqual(result.received, 940)
        XCTAssertEqual(result.lost, 60)
        XCTAssertEqual(result.outOfOrder, 0)
        // Before the fix the held reply split the outage: 99 -> 100 (61.45 ms, nothing lost) and
        // 100 -> 161 (0.55 ms, 60 lost), and the downtime read 0 with bounds 0-1 ms.
        XCTAssertEqual(result.longestGapMilliseconds, 61.45, "reply to 99 at 99.05 ms, to 100 at 160.5 ms")
        XCTAssertEqual(result.downtimeLostProbes, 60)
        XCTAssertEqual(result.downtimeLateProbes, 1)
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 60, "send(160) - send(100): 100 was held, 160 lost")
        XCTAssertEqual(result.downtimeUpperBoundMilliseconds, 62, "send(161) - send(99)")
        XCTAssertEqual(result.downtimeMilliseconds, 61)
        XCTAssertEqual(result.downtimeLongestLateRoundTripMilliseconds, 60.5)
        XCTAssertEqual(result.downtimeStartOffsetMilliseconds, 99.05)
        XCTAssertFalse(result.downtimeOpenEnded)
        XCTAssertEqual(result.gapCount, 1)
        XCTAssertEqual(result.gaps, [PingAnalysis.Gap(startOffsetMilliseconds: 99.05, lengthMilliseconds: 61.45, lowerBoundMilliseconds: 60,
                                                      upperBoundMilliseconds: 62, lostProbes: 60, lateProbes: 1,
                                                      longestLateRoundTripMilliseconds: 60.5, openEnded: false)])
        XCTAssertEqual(result.rttMicroseconds.maximum, 60_500, "the held probe's round trip stays in the RTT figures")
    }

    func testProbesHeldAtTheEndCountWithTheLostOnes() {
        let result = PingAnalyzer.analyze(Self.heldAtTheEnd.log)
        XCTAssertEqual(result.lost, 50)
        XCTAssertEqual(result.longestGapMilliseconds, 60.45, "reply to 99 at 99.05 ms, to 150 at 159.5 ms")
        XCTAssertEqual(result.downtimeLostProbes, 50)
        XCTAssertEqual(result.downtimeLateProbes, 10)
        // Without the held probes the bounds stopped at 149 and 150: 49-51 ms for a 60 ms outage.
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 59, "send(159) - send(100)")
        XCTAssertEqual(result.downtimeUpperBoundMilliseconds, 61, "send(160) - send(99): 160 went out after the release")
        XCTAssertEqual(result.downtimeMilliseconds, 60)
        XCTAssertEqual(result.downtimeLongestLateRoundTripMilliseconds, 9.5)
        XCTAssertEqual(result.gapCount, 1)
    }

    func testAnOutageThatHeldEveryProbeIsMeasuredFromTheBurst() {
        // Nothing lost: the probes sent in the last 5 ms of the outage came back faster than the
        // threshold, and are held all the same (sent before the release, answered in its burst).
        let result = PingAnalyzer.analyze(Self.heldThroughout.log)
        XCTAssertEqual(result.received, 1_000)
        XCTAssertEqual(result.lost, 0)
        XCTAssertEqual(result.lossRunCount, 0)
        XCTAssertEqual(result.outOfOrder, 0)
        XCTAssertEqual(result.longestGapMilliseconds, 60.45)
        XCTAssertEqual(result.downtimeLostProbes, 0)
        XCTAssertEqual(result.downtimeLateProbes, 60)
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 59, "send(159) - send(100)")
        XCTAssertEqual(result.downtimeUpperBoundMilliseconds, 61, "send(160) - send(99)")
        XCTAssertEqual(result.downtimeMilliseconds, 60, "the guest stopped between 99.05 and 100 ms and resumed at 159.5 ms")
        XCTAssertEqual(result.downtimeLongestLateRoundTripMilliseconds, 59.5)
        XCTAssertEqual(result.gaps.map(\.lateProbes), [60])
    }

    func testAResumeAnnouncedBeforeTheHeldRepliesIsTimedFromTheirRelease() {
        var log = Self.heldThroughout.log
        log.announces = [AnnounceFrame(kind: .rarp, timeNanoseconds: Self.heldThroughout.start + 159_000_000, sourceMAC: Synthetic.targetMAC)]
        XCTAssertEqual(PingAnalyzer.analyze(log).repliesResumedAfterFirstAnnounceMilliseconds, 0.5, "nothing lost, yet an outage")
    }

    func testADropOutageIsMeasuredAsBefore() {
        // Probes 100...299 dropped; the first reply after the outage is slower than usual
        // (0.3 ms), still far under the threshold: it ends the gap, nothing is held.
        var events = SyntheticStream(count: 1_000, lost: Set(100...299)).events
        events.removeAll { $0.kind == .reply && $0.sequence == 300 }
        events.append(.reply(300, at: SyntheticStream(count: 1_000).sendTime(300) + 300_000))
        events.sort { $0.timeNanoseconds < $1.timeNanoseconds }
        let result = PingAnalyzer.analyze(ProbeLog(events: events, nominalIntervalNanoseconds: 1_000_000))
        XCTAssertEqual(result.downtimeLostProbes, 200)
        XCTAssertEqual(result.downtimeLateProbes, 0)
        XCTAssertNil(result.downtimeLongestLateRoundTripMilliseconds)
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 199)
        XCTAssertEqual(result.downtimeUpperBoundMilliseconds, 201)
        XCTAssertEqual(result.downtimeMilliseconds, 200)
        XCTAssertEqual(result.longestGapMilliseconds, 201.25)
        XCTAssertEqual(result.gaps.map(\.lateProbes), [0])
    }

    func testALatencyStepIsAnOutageOfTheStepNotOfTheSlowPeriod() {
        // From probe 500 to 699 every round trip takes 8 ms instead of 50 µs: replies stop for
        // about 8 ms once, then come every 1 ms again. Only the probes sent before the first slow
        // reply came back (500...507) were held; the 200 slow ones are not one long outage.
        let stream = SyntheticStream(count: 1_000)
        var events: [ProbeEvent] = []
        for sequence in 0..<1_000 {
            events.append(.request(UInt64(sequence), at: stream.sendTime(sequence)))
            let roundTrip: Int64 = (500..<700).contains(sequence) ? 8_000_000 : 50_000
            events.append(.reply(UInt64(sequence), at: stream.sendTime(sequence) + roundTrip))
        }
        events.sort { $0.timeNanoseconds < $1.timeNanoseconds }
        let result = PingAnalyzer.analyze(ProbeLog(events: events, nominalIntervalNanoseconds: 1_000_000))
        XCTAssertEqual(result.lost, 0)
        XCTAssertEqual(result.longestGapMilliseconds, 8.95, "reply to 499 at 499.05 ms, to 500 at 508 ms")
        XCTAssertEqual(result.downtimeLateProbes, 8)
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 7, "send(507) - send(500)")
        XCTAssertEqual(result.downtimeUpperBoundMilliseconds, 9, "send(508) - send(499)")
        XCTAssertEqual(result.downtimeMilliseconds, 8)
        XCTAssertEqual(result.gapCount, 1)
    }

    func testASlowReplyAmongPromptOnesIsNoOutage() {
        // Probe 50's reply takes 20 ms while 51...69 are answered at once: it waited alone, the
        // target kept answering, and no gap holds it.
        var events = SyntheticStream(count: 100).events
        events.removeAll { $0.sequence == 50 && $0.kind == .reply }
        events.append(.reply(50, at: SyntheticStream(count: 100).sendTime(50) + 20_000_000))
        events.sort { $0.timeNanoseconds < $1.timeNanoseconds }
        let result = PingAnalyzer.analyze(ProbeLog(events: events, nominalIntervalNanoseconds: 1_000_000))
        XCTAssertEqual(result.downtimeMilliseconds, 0)
        XCTAssertEqual(result.downtimeLateProbes, 0)
        XCTAssertEqual(result.gapCount, 0)
    }

    /// The three streams captured over IPv4 (pcap) and IPv6 (pcapng) read through libpcap give
    /// the figures of the logs themselves.
    func testHeldProbesReadTheSameFromIPv4AndIPv6Captures() throws {
        let cases: [(String, SyntheticStream, Double)] = [
            ("held-start", Self.heldAtTheStart, 61), ("held-end", Self.heldAtTheEnd, 60), ("held-all", Self.heldThroughout, 60),
        ]
        for (name, stream, downtime) in cases {
            let direct = PingAnalyzer.analyze(stream.log)
            let ipv4 = try CaptureFileAnalysis.analyze(path: try Synthetic.write(Synthetic.pcapFile(stream.records), name: "\(name).pcap"),
                                                       target: .v4(Synthetic.target))
            var streamIPv6 = stream
            streamIPv6.ipv6 = true
            let ipv6 = try CaptureFileAnalysis.analyze(path: try Synthetic.write(Synthetic.pcapngFile(streamIPv6.records), name: "\(name).pcapng"),
                                                       target: .v6(Synthetic.target6))
            XCTAssertEqual(ipv4.analysis.downtimeMilliseconds, downtime, name)
            XCTAssertEqual(ipv4.analysis, direct, name)
            XCTAssertEqual(ipv6.analysis, direct, name)
        }
    }

    func testTheJSONCarriesTheLateProbes() throws {
        let report = try CaptureFileAnalysis.analyze(path: try Synthetic.write(Synthetic.pcapFile(Self.heldAtTheStart.records), name: "json.pcap"),
                                                     target: .v4(Synthetic.target))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: try JSONEncoder().encode(report)) as? [String: Any])
        XCTAssertEqual(object["downtimeLateProbes"] as? Int, 1)
        XCTAssertEqual(object["downtimeLongestLateRoundTripMilliseconds"] as? Double, 60.5)
        let gap = try XCTUnwrap((object["gaps"] as? [[String: Any]])?.first)
        XCTAssertEqual(gap["lateProbes"] as? Int, 1)
        XCTAssertEqual(gap["longestLateRoundTripMilliseconds"] as? Double, 60.5)
        XCTAssertTrue(report.humanSummary.contains("60 probes lost, 1 held and answered late (round trip up to 60.500 ms)"), report.humanSummary)
        // Without a held probe the key is still there, as null.
        let clean = try CaptureFileAnalysis.analyze(path: try Synthetic.write(Synthetic.pcapFile(SyntheticStream(count: 100).records), name: "clean.pcap"),
                                                    target: .v4(Synthetic.target))
        let cleanObject = try XCTUnwrap(JSONSerialization.jsonObject(with: try JSONEncoder().encode(clean)) as? [String: Any])
        XCTAssertTrue(cleanObject["downtimeLongestLateRoundTripMilliseconds"] is NSNull)
        XCTAssertEqual(cleanObject["downtimeLateProbes"] as? Int, 0)
    }
}
