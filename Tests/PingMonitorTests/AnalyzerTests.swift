import XCTest
@testable import PingMonitor

/// The pure analysis over synthetic probe logs, with exact expected figures.
final class AnalyzerTests: XCTestCase {
    private let millisecond: Int64 = 1_000_000

    func testCleanStreamHasNoLossAndOneIntervalBetweenReplies() {
        let stream = SyntheticStream(count: 1_000)
        let result = PingAnalyzer.analyze(stream.log)
        XCTAssertEqual(result.sent, 1_000)
        XCTAssertEqual(result.received, 1_000)
        XCTAssertEqual(result.lost, 0)
        XCTAssertEqual(result.duplicates, 0)
        XCTAssertEqual(result.outOfOrder, 0)
        XCTAssertEqual(result.lossRuns, [])
        XCTAssertEqual(result.longestGapMilliseconds, 1.0)
        XCTAssertEqual(result.downtimeMilliseconds, 0, "no probe lost: no outage seen")
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 0)
        XCTAssertEqual(result.downtimeUpperBoundMilliseconds, 1.0)
        XCTAssertEqual(result.downtimeLostProbes, 0)
        XCTAssertFalse(result.downtimeOpenEnded)
        XCTAssertEqual(result.gapCount, 0)
        XCTAssertEqual(result.gapThresholdMilliseconds, 5.0, "default threshold is 5 intervals")
        XCTAssertEqual(result.intervalMicroseconds, 1_000)
        XCTAssertEqual(result.intervalSource, "payload")
        XCTAssertEqual(result.rttMicroseconds.count, 1_000)
        XCTAssertEqual(result.rttMicroseconds.p50, 50.0)
        XCTAssertEqual(result.rttMicroseconds.minimum, 50.0)
        XCTAssertEqual(result.rttMicroseconds.maximum, 50.0)
        XCTAssertEqual(result.sendIntervalMicroseconds.p50, 1_000.0)
        XCTAssertEqual(result.startEpochNanoseconds, stream.start)
        XCTAssertEqual(result.observedMilliseconds, 999.05)
    }

    func testOutageGivesGapAndBoundsFromSendTimes() {
        // Probes 100...299 lost: the last reply before is to 99, the first after to 300.
        let stream = SyntheticStream(count: 1_000, lost: Set(100...299))
        let result = PingAnalyzer.analyze(stream.log)
        XCTAssertEqual(result.sent, 1_000)
        XCTAssertEqual(result.received, 800)
        XCTAssertEqual(result.lost, 200)
        XCTAssertEqual(result.lossRuns, [PingAnalysis.LossRun(firstSequence: 100, lengthProbes: 200, startOffsetMilliseconds: 100.0)])
        XCTAssertEqual(result.lossRunCount, 1)
        XCTAssertEqual(result.longestLossRunProbes, 200)
        XCTAssertEqual(result.longestGapMilliseconds, 201.0)
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 199.0, "send(299) - send(100)")
        XCTAssertEqual(result.downtimeUpperBoundMilliseconds, 201.0, "send(300) - send(99)")
        XCTAssertEqual(result.downtimeMilliseconds, 200.0, "midpoint: the gap overstates the outage by one interval")
        XCTAssertEqual(result.downtimeLostProbes, 200)
        XCTAssertEqual(result.downtimeStartOffsetMilliseconds, 99.05)
        XCTAssertFalse(result.downtimeOpenEnded)
        XCTAssertEqual(result.gapCount, 1)
        XCTAssertEqual(result.gaps, [PingAnalysis.Gap(startOffsetMilliseconds: 99.05, lengthMilliseconds: 201.0, lowerBoundMilliseconds: 199.0,
                                                      upperBoundMilliseconds: 201.0, lostProbes: 200, openEnded: false)])
    }

    func testBoundsFollowTheActualSendTimesNotTheNominalInterval() {
        // The sender stalled: probe 11 went out 3 ms late, and 10...12 were lost.
        var events: [ProbeEvent] = []
        let sendTimes: [Int64] = (0..<20).map { $0 == 11 ? Int64(14) * millisecond : Int64($0) * millisecond }
        for (sequence, time) in sendTimes.enumerated() {
            events.append(.request(UInt64(sequence), at: time))
            if !(10...12).contains(sequence) { events.append(.reply(UInt64(sequence), at: time + 10_000)) }
        }
        events.sort { $0.timeNanoseconds < $1.timeNanoseconds }
        let result = PingAnalyzer.analyze(ProbeLog(events: events, nominalIntervalNanoseconds: millisecond))
        XCTAssertEqual(result.lost, 3)
        XCTAssertEqual(result.longestGapMilliseconds, 4.0, "reply to 9 at 9.01 ms, to 13 at 13.01 ms")
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 2.0, "send(12) - send(10) = 12 - 10 ms")
        XCTAssertEqual(result.downtimeUpperBoundMilliseconds, 4.0, "send(13) - send(9)")
        XCTAssertEqual(result.downtimeMilliseconds, 3.0)
        XCTAssertEqual(result.outOfOrder, 0)
    }

    func testScatteredLossDuplicatesAndReordering() {
        let t = millisecond
        let events: [ProbeEvent] = [
            .request(0, at: 0), .reply(0, at: t / 10),
            .request(1, at: t), // lost
            .request(2, at: 2 * t), .reply(2, at: 2 * t + t / 10),
            .request(3, at: 3 * t), .request(4, at: 4 * t),
            .reply(4, at: 4 * t + t / 10), .reply(3, at: 4 * t + t / 5),  // 3 answered after 4
            .request(5, at: 5 * t), .reply(5, at: 5 * t + t / 10), .reply(5, at: 5 * t + t / 5),  // duplicate
            .request(6, at: 6 * t), .request(7, at: 7 * t),  // 6 and 7 lost
            .request(8, at: 8 * t), .reply(8, at: 8 * t + t / 10),
        ]
        let result = PingAnalyzer.analyze(ProbeLog(events: events, nominalIntervalNanoseconds: t))
        XCTAssertEqual(result.sent, 9)
        XCTAssertEqual(result.received, 6)
        XCTAssertEqual(result.lost, 3)
        XCTAssertEqual(result.duplicates, 1)
        XCTAssertEqual(result.outOfOrder, 1)
        XCTAssertEqual(result.lossRuns.map(\.firstSequence), [1, 6])
        XCTAssertEqual(result.lossRuns.map(\.lengthProbes), [1, 2])
        XCTAssertEqual(result.lossRunCount, 2)
        XCTAssertEqual(result.longestLossRunProbes, 2)
        // Longest gap: reply to 5 at 5.1 ms (first reply) to reply to 8 at 8.1 ms.
        XCTAssertEqual(result.longestGapMilliseconds, 3.0)
        XCTAssertEqual(result.downtimeLostProbes, 2)
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 1.0)
        XCTAssertEqual(result.downtimeUpperBoundMilliseconds, 3.0)
        XCTAssertEqual(result.rttMicroseconds.count, 6)
        XCTAssertEqual(result.rttMicroseconds.maximum, 1_200.0, "probe 3: sent 3 ms, answered 4.2 ms")
    }

    func testLossAtTheEndIsAnOpenEndedGap() {
        let stream = SyntheticStream(count: 1_000, lost: Set(900...999))
        let result = PingAnalyzer.analyze(stream.log)
        XCTAssertEqual(result.lost, 100)
        XCTAssertTrue(result.downtimeOpenEnded)
        XCTAssertEqual(result.downtimeLostProbes, 100)
        XCTAssertEqual(result.longestGapMilliseconds, 99.95, "reply to 899 at 899.05 ms to the last packet at 999 ms")
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 99.0, "send(999) - send(900)")
        XCTAssertEqual(result.gaps.last?.openEnded, true)
    }

    func testLossAtTheStartIsAnOpenEndedGap() {
        let stream = SyntheticStream(count: 1_000, lost: Set(0...49))
        let result = PingAnalyzer.analyze(stream.log)
        XCTAssertEqual(result.lost, 50)
        XCTAssertTrue(result.downtimeOpenEnded)
        XCTAssertEqual(result.longestGapMilliseconds, 50.05, "first request at 0 to the first reply at 50.05 ms")
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 49.0)
        XCTAssertEqual(result.downtimeStartOffsetMilliseconds, 0)
        XCTAssertEqual(result.lossRuns, [PingAnalysis.LossRun(firstSequence: 0, lengthProbes: 50, startOffsetMilliseconds: 0)])
    }

    func testNoReplyAtAllIsOneOpenEndedGapOverTheWholeRun() {
        let stream = SyntheticStream(count: 10, lost: Set(0..<10))
        let result = PingAnalyzer.analyze(stream.log)
        XCTAssertEqual(result.sent, 10)
        XCTAssertEqual(result.received, 0)
        XCTAssertEqual(result.lost, 10)
        XCTAssertEqual(result.longestGapMilliseconds, 9.0)
        XCTAssertEqual(result.downtimeLostProbes, 10)
        XCTAssertTrue(result.downtimeOpenEnded)
        XCTAssertEqual(result.rttMicroseconds, .empty)
    }

    func testEmptyLogGivesZeros() {
        let result = PingAnalyzer.analyze(ProbeLog())
        XCTAssertEqual(result.sent, 0)
        XCTAssertEqual(result.lost, 0)
        XCTAssertEqual(result.longestGapMilliseconds, 0)
        XCTAssertNil(result.downtimeStartOffsetMilliseconds)
        XCTAssertEqual(result.intervalSource, "unknown")
        XCTAssertEqual(result.startEpochNanoseconds, 0)
    }

    func testProbesTheCaptureMissedAreInferredFromSequenceHoles() {
        var events = SyntheticStream(count: 10).events
        // The capture dropped the request of 5 and both packets of 7.
        events.removeAll { ($0.sequence == 5 && $0.kind == .request) || $0.sequence == 7 }
        let result = PingAnalyzer.analyze(ProbeLog(events: events, nominalIntervalNanoseconds: millisecond))
        XCTAssertEqual(result.sent, 10)
        XCTAssertEqual(result.received, 9)
        XCTAssertEqual(result.lost, 1)
        XCTAssertEqual(result.requestsMissingFromCapture, 2)
        XCTAssertEqual(result.lossRuns, [PingAnalysis.LossRun(firstSequence: 7, lengthProbes: 1, startOffsetMilliseconds: nil)])
        XCTAssertEqual(result.rttMicroseconds.count, 8, "no RTT without the request")
        // Around the hole the bounds fall back to the nominal interval for the missing send time.
        XCTAssertEqual(result.longestGapMilliseconds, 2.0)
        XCTAssertEqual(result.downtimeUpperBoundMilliseconds, 2.0)
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 0.0)
    }

    func testALateReplyIsReceivedNotLost() {
        // The reply to probe 50 takes 20 ms, four times the 5 ms gap threshold, and comes
        // after the replies to 51...69: it is late and out of order, not lost.
        var events = SyntheticStream(count: 100).events
        events.removeAll { $0.sequence == 50 && $0.kind == .reply }
        let late = SyntheticStream(count: 100).sendTime(50) + 20 * millisecond
        events.append(.reply(50, at: late))
        events.sort { $0.timeNanoseconds < $1.timeNanoseconds }
        let result = PingAnalyzer.analyze(ProbeLog(events: events, nominalIntervalNanoseconds: millisecond))
        XCTAssertEqual(result.gapThresholdMilliseconds, 5)
        XCTAssertEqual(result.received, 100)
        XCTAssertEqual(result.lost, 0)
        XCTAssertEqual(result.lossRunCount, 0)
        XCTAssertEqual(result.outOfOrder, 1)
        XCTAssertEqual(result.rttMicroseconds.maximum, 20_000)
    }

    func testBoundsOverProbesTheCaptureMissedCountIntervalsBetweenProbes() {
        // Probes 10...12 lost, and the capture also missed the requests of 9, 10, 12 and 13:
        // the bounds fall back to the nominal interval. From 9 to 13 are 4 intervals (not 5),
        // from 10 to 12 are 2 (not 3).
        var events = SyntheticStream(count: 30, lost: Set(10...12)).events
        events.removeAll { $0.kind == .request && [9, 10, 12, 13].contains($0.sequence) }
        let result = PingAnalyzer.analyze(ProbeLog(events: events, nominalIntervalNanoseconds: millisecond))
        XCTAssertEqual(result.lost, 3)
        XCTAssertEqual(result.requestsMissingFromCapture, 4)
        XCTAssertEqual(result.longestGapMilliseconds, 4.0, "reply to 9 at 9.05 ms, to 13 at 13.05 ms")
        XCTAssertEqual(result.downtimeUpperBoundMilliseconds, 4.0, "send(13) - send(9): 4 intervals")
        XCTAssertEqual(result.downtimeLowerBoundMilliseconds, 2.0, "send(12) - send(10): 2 intervals")
        XCTAssertEqual(result.downtimeMilliseconds, 3.0)
    }

    func testAnnounceFramesAndResumeTime() {
        let stream = SyntheticStream(count: 1_000, lost: Set(100...299))
        var log = stream.log
        // QEMU's RARP at 250 ms, a gratuitous ARP at 260 ms; replies resume at 300.05 ms.
        log.announces = [
            AnnounceFrame(kind: .gratuitousARP, timeNanoseconds: stream.start + 260 * millisecond, sourceMAC: Synthetic.targetMAC),
            AnnounceFrame(kind: .rarp, timeNanoseconds: stream.start + 250 * millisecond, sourceMAC: Synthetic.targetMAC),
        ]
        let result = PingAnalyzer.analyze(log)
        XCTAssertEqual(result.announceFrames.map(\.kind), [.rarp, .gratuitousARP])
        XCTAssertEqual(result.announceFrames.map(\.offsetMilliseconds), [250, 260])
        XCTAssertEqual(result.repliesResumedAfterFirstAnnounceMilliseconds, 50.05)
    }

    func testGapThresholdAndListingLimit() {
        let stream = SyntheticStream(count: 100, lost: [10, 20, 21, 30, 31, 32])
        let options = AnalysisOptions(gapThresholdNanoseconds: 2 * millisecond, maximumListed: 1)
        let result = PingAnalyzer.analyze(stream.log, options: options)
        XCTAssertEqual(result.gapThresholdMilliseconds, 2)
        XCTAssertEqual(result.gapCount, 2, "gaps of 3 and 4 ms are over 2 ms; the 2 ms gap is not")
        XCTAssertEqual(result.gaps.count, 1)
        XCTAssertEqual(result.lossRunCount, 3)
        XCTAssertEqual(result.lossRuns.count, 1)
        XCTAssertEqual(result.longestGapMilliseconds, 4)
    }

    func testIntervalIsMeasuredWhenNotCarried() {
        let stream = SyntheticStream(intervalNanoseconds: 200_000, count: 100)
        let result = PingAnalyzer.analyze(ProbeLog(events: stream.events))
        XCTAssertEqual(result.intervalSource, "measured")
        XCTAssertEqual(result.intervalMicroseconds, 200)
        let configured = PingAnalyzer.analyze(ProbeLog(events: stream.events), options: AnalysisOptions(nominalIntervalNanoseconds: 250_000))
        XCTAssertEqual(configured.intervalSource, "configured")
        XCTAssertEqual(configured.intervalMicroseconds, 250)
    }

    func testUnsortedInputGivesTheSameResult() {
        let stream = SyntheticStream(count: 500, lost: Set(200...260))
        let ordered = PingAnalyzer.analyze(stream.log)
        var shuffled = stream.log
        var generator = SplitMix(seed: 7)
        shuffled.events.shuffle(using: &generator)
        XCTAssertEqual(PingAnalyzer.analyze(shuffled), ordered)
    }

    func testHugeSequenceValuesDoNotCrash() {
        let events: [ProbeEvent] = [.request(0, at: 0), .reply(0, at: 10), .request(UInt64.max, at: 20), .reply(UInt64.max, at: 30)]
        let result = PingAnalyzer.analyze(ProbeLog(events: events))
        XCTAssertEqual(result.received, 2)
        XCTAssertEqual(result.sent, Int.max)
    }

    func testVerdict() {
        let lossy = PingAnalyzer.analyze(SyntheticStream(count: 1_000, lost: Set(100...299)).log)
        let clean = PingAnalyzer.analyze(SyntheticStream(count: 1_000).log)
        XCTAssertTrue(Verdict.evaluate(lossy, criteria: VerdictCriteria()).passed)
        let zeroLoss = Verdict.evaluate(lossy, criteria: VerdictCriteria(requireZeroLoss: true))
        XCTAssertFalse(zeroLoss.passed)
        XCTAssertEqual(zeroLoss.failures, ["zero loss: 200 of 1000 probes lost in 1 runs"])
        XCTAssertTrue(Verdict.evaluate(clean, criteria: VerdictCriteria(requireZeroLoss: true)).passed)
        // The downtime judged is the estimate, 200 ms (the gap between replies is 201 ms).
        XCTAssertFalse(Verdict.evaluate(lossy, criteria: VerdictCriteria(maximumDowntimeMilliseconds: 199.5)).passed)
        XCTAssertTrue(Verdict.evaluate(lossy, criteria: VerdictCriteria(maximumDowntimeMilliseconds: 200)).passed)
        XCTAssertFalse(Verdict.evaluate(PingAnalyzer.analyze(ProbeLog()), criteria: VerdictCriteria(requireZeroLoss: true)).passed,
                       "no probe seen proves nothing")
    }

    func testLiveTrackerSettlesLossAfterTheTimeout() {
        var tracker = LiveTracker(replyTimeoutNanoseconds: 100 * millisecond)
        let stream = SyntheticStream(count: 300, lost: Set(100...149))
        for event in stream.events { tracker.record(event) }
        tracker.settle(now: stream.sendTime(299) + 200 * millisecond)
        XCTAssertEqual(tracker.requestsCaptured, 300)
        XCTAssertEqual(tracker.repliesReceived, 250)
        XCTAssertEqual(tracker.lost, 50)
        XCTAssertEqual(tracker.longestGapNanoseconds(now: stream.sendTime(299)), 51 * millisecond)
    }
}

extension AnalyzerTests {
    func testLiveTrackerCountsAReplyWithinTheTimeoutAsReceived() {
        // The reply to probe 0 comes after 80 ms, within the 100 ms timeout, while later
        // probes keep being sent (each of which settles what has timed out).
        var tracker = LiveTracker(replyTimeoutNanoseconds: 100 * millisecond)
        var events: [ProbeEvent] = []
        for sequence in 0..<150 {
            let sent = Int64(sequence) * millisecond
            events.append(.request(UInt64(sequence), at: sent))
            events.append(.reply(UInt64(sequence), at: sent + (sequence == 0 ? 80 * millisecond : 50_000)))
        }
        for event in events.sorted(by: { $0.timeNanoseconds < $1.timeNanoseconds }) { tracker.record(event) }
        tracker.settle(now: 400 * millisecond)
        XCTAssertEqual(tracker.repliesReceived, 150)
        XCTAssertEqual(tracker.lost, 0)
    }
}

/// A small seeded generator so that shuffles are the same on every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
