import Histogram

/// Settings of the analysis that are not in the probe log itself.
public struct AnalysisOptions: Sendable, Equatable {
    /// The interval the sender kept, in nanoseconds; overrides the one in the log. Used for the
    /// default gap threshold and for bounds where the capture missed a request.
    public var nominalIntervalNanoseconds: Int64?
    /// Gaps between replies longer than this are listed, in nanoseconds (default: 5 intervals,
    /// or 1 ms when the interval is unknown).
    public var gapThresholdNanoseconds: Int64?
    /// At most this many loss runs and gaps are listed; the counts include all of them.
    public var maximumListed: Int

    public init(nominalIntervalNanoseconds: Int64? = nil, gapThresholdNanoseconds: Int64? = nil, maximumListed: Int = 10_000) {
        self.nominalIntervalNanoseconds = nominalIntervalNanoseconds
        self.gapThresholdNanoseconds = gapThresholdNanoseconds
        self.maximumListed = maximumListed
    }
}

/// Turns a probe log into loss, gap, downtime, RTT and announce figures. Pure: no clock, no I/O,
/// so the live monitor and the offline analysis of a saved capture give identical results for
/// the same packets.
///
/// The downtime is the outage behind the longest gap between consecutive first replies (in
/// time order), estimated as the midpoint of its bounds. The bounds
/// come from the captured send times of the probes around it: with `p` the probe answered just
/// before the gap and `q` the one answered just after, any outage that lost exactly the probes
/// between them began after `p` was sent and ended before `q` was, so it lasted less than
/// `send(q) - send(p)`, and it covered the sending of `p+1` through `q-1`, so it lasted at
/// least `send(q-1) - send(p+1)`.
public enum PingAnalyzer {
    public static func analyze(_ log: ProbeLog, options: AnalysisOptions = AnalysisOptions()) -> PingAnalysis {
        var builder = Builder(log: log, options: options)
        return builder.run()
    }
}

/// A sequence number and a capture time.
private struct Stamp {
    var sequence: UInt64
    var time: Int64
}

/// A gap between replies (or between a capture edge and a reply) with the bounds of its outage.
private struct GapCandidate {
    var start: Int64
    var end: Int64
    var lower: Int64
    var upper: Int64
    var lost: Int
    var openEnded: Bool
    var endsInReply: Bool
    var length: Int64 { end - start }
}

private struct Builder {
    let log: ProbeLog
    let options: AnalysisOptions
    /// Requests sorted by sequence, one (the first seen) per sequence.
    var requests: [Stamp] = []
    /// First replies sorted by sequence.
    var firstRepliesBySequence: [Stamp] = []
    /// First replies sorted by time.
    var firstRepliesByTime: [Stamp] = []
    var replyCount = 0

    init(log: ProbeLog, options: AnalysisOptions) {
        self.log = log
        self.options = options
    }

    mutating func run() -> PingAnalysis {
        split()
        let origin = originTime()
        let lastTime = lastEventTime()
        let (interval, intervalSource, sendIntervals) = nominalInterval()
        let threshold = options.gapThresholdNanoseconds ?? (interval > 0 ? 5 * interval : 1_000_000)
        let limit = max(0, options.maximumListed)

        // Walk the sequence space once: loss runs, counts and RTTs.
        var minSequence: UInt64 = 0
        var maxSequence: UInt64 = 0
        if let first = [requests.first?.sequence, firstRepliesBySequence.first?.sequence].compactMap({ $0 }).min(),
           let last = [requests.last?.sequence, firstRepliesBySequence.last?.sequence].compactMap({ $0 }).max() {
            minSequence = first
            maxSequence = last
        }
        let anyProbe = !requests.isEmpty || !firstRepliesBySequence.isEmpty
        let sent = anyProbe ? Self.count(from: minSequence, to: maxSequence) : 0

        var received = 0
        var lost = 0
        var missingRequests = 0
        var lossRuns: [PingAnalysis.LossRun] = []
        var lossRunCount = 0
        var longestRun = 0
        var runStart: UInt64?
        var runStartTime: Int64?
        var runLength = 0
        var rtt = SampleSet()

        func closeRun() {
            guard let start = runStart else { return }
            lossRunCount += 1
            longestRun = max(longestRun, runLength)
            if lossRuns.count < limit {
                lossRuns.append(PingAnalysis.LossRun(
                    firstSequence: start, lengthProbes: runLength,
                    startOffsetMilliseconds: runStartTime.map { Units.milliseconds($0 - origin) }))
            }
            runStart = nil
            runStartTime = nil
            runLength = 0
        }

        var requestIndex = 0
        var replyIndex = 0
        var expected = minSequence
        while requestIndex < requests.count || replyIndex < firstRepliesBySequence.count {
            // nil when that list is done: UInt64.max as "done" would be mistaken for a probe of
            // that sequence, which a crafted capture can carry.
            let nextRequest = requestIndex < requests.count ? requests[requestIndex].sequence : nil
            let nextReply = replyIndex < firstRepliesBySequence.count ? firstRepliesBySequence[replyIndex].sequence : nil
            guard let sequence = [nextRequest, nextReply].compactMap({ $0 }).min() else { break }
            if sequence > expected {
                // Probes the capture saw neither way: lost, and their requests missing.
                let hole = Self.count(from: expected, to: sequence - 1)
                lost = lost.addingClamped(hole)
                missingRequests = missingRequests.addingClamped(hole)
                if runStart == nil {
                    runStart = expected
                    runStartTime = nil
                }
                runLength = runLength.addingClamped(hole)
            }
            var request: Stamp?
            if nextRequest == sequence {
                request = requests[requestIndex]
                requestIndex += 1
            } else {
                // Clamped like the holes above: a crafted capture can already have made it Int.max.
                missingRequests = missingRequests.addingClamped(1)
            }
            if nextReply == sequence {
                let reply = firstRepliesBySequence[replyIndex]
                replyIndex += 1
                received += 1
                closeRun()
                if let request, reply.time >= request.time {
                    rtt.record(reply.time - request.time)
                }
            } else {
                lost = lost.addingClamped(1)
                if runStart == nil {
                    runStart = sequence
                    runStartTime = request?.time
                }
                runLength = runLength.addingClamped(1)
            }
            if sequence == UInt64.max { break }
            expected = sequence + 1
        }
        closeRun()

        // Reply order.
        var outOfOrder = 0
        var highestAnswered: UInt64?
        for reply in firstRepliesByTime {
            if let highest = highestAnswered, reply.sequence < highest {
                outOfOrder += 1
            } else {
                highestAnswered = reply.sequence
            }
        }

        // Gaps between replies, and at the edges of the capture when probes there went unanswered.
        var gaps: [GapCandidate] = []
        var gapCount = 0
        var longest: GapCandidate?
        func consider(_ gap: GapCandidate) {
            if longest.map({ gap.length > $0.length }) ?? true { longest = gap }
            if gap.length > threshold {
                gapCount += 1
                if gaps.count < limit { gaps.append(gap) }
            }
        }
        if firstRepliesByTime.isEmpty {
            if let firstTime = requests.lazy.map(\.time).min() {
                let lastRequestTime = requests.map(\.time).max() ?? firstTime
                consider(GapCandidate(start: firstTime, end: lastTime, lower: lastRequestTime - firstTime,
                                      upper: lastTime - firstTime, lost: sent, openEnded: true, endsInReply: false))
            }
        } else {
            let lowestAnswered = firstRepliesBySequence[0].sequence
            let highestAnsweredSequence = firstRepliesBySequence[firstRepliesBySequence.count - 1].sequence
            if lowestAnswered > minSequence {
                let start = sendTime(minSequence) ?? origin
                let end = firstRepliesByTime[0].time
                let lostCount = Self.count(from: minSequence, to: lowestAnswered - 1)
                let lower = span(from: minSequence, to: lowestAnswered - 1, interval: interval)
                consider(GapCandidate(start: start, end: max(start, end), lower: lower, upper: max(0, end - start),
                                      lost: lostCount, openEnded: true, endsInReply: true))
            }
            for index in firstRepliesByTime.indices.dropFirst() {
                consider(interiorGap(from: firstRepliesByTime[index - 1], to: firstRepliesByTime[index], interval: interval))
            }
            if highestAnsweredSequence < maxSequence {
                let start = firstRepliesByTime[firstRepliesByTime.count - 1].time
                let lostCount = Self.count(from: highestAnsweredSequence + 1, to: maxSequence)
                let lower = span(from: highestAnsweredSequence + 1, to: maxSequence, interval: interval)
                consider(GapCandidate(start: start, end: max(start, lastTime), lower: lower, upper: max(0, lastTime - start),
                                      lost: lostCount, openEnded: true, endsInReply: false))
            }
        }
        gaps.sort { $0.start < $1.start }

        // Announcements.
        let announces = log.announces.sorted { $0.timeNanoseconds < $1.timeNanoseconds }
        var resumedAfterAnnounce: Double?
        if let firstAnnounce = announces.first, let downtime = longest, downtime.lost > 0, downtime.endsInReply {
            resumedAfterAnnounce = Units.milliseconds(downtime.end - firstAnnounce.timeNanoseconds)
        }

        let downtime = longest
        return PingAnalysis(
            sent: sent,
            received: received,
            lost: lost,
            duplicates: replyCount - firstRepliesBySequence.count,
            outOfOrder: outOfOrder,
            requestsMissingFromCapture: missingRequests,
            lossRuns: lossRuns,
            lossRunCount: lossRunCount,
            longestLossRunProbes: longestRun,
            // Halved apart: a bound from a crafted capture's interval can be clamped to Int64.max.
            downtimeMilliseconds: downtime.map { $0.lost > 0 ? (Units.milliseconds($0.lower) + Units.milliseconds($0.upper)) / 2 : 0 } ?? 0,
            downtimeLowerBoundMilliseconds: Units.milliseconds(downtime?.lower ?? 0),
            downtimeUpperBoundMilliseconds: Units.milliseconds(downtime?.upper ?? 0),
            longestGapMilliseconds: Units.milliseconds(downtime?.length ?? 0),
            downtimeStartOffsetMilliseconds: downtime.map { Units.milliseconds($0.start - origin) },
            downtimeLostProbes: downtime?.lost ?? 0,
            downtimeOpenEnded: downtime?.openEnded ?? false,
            intervalMicroseconds: Units.microseconds(interval),
            intervalSource: intervalSource,
            sendIntervalMicroseconds: sendIntervals.distribution(),
            gapThresholdMilliseconds: Units.milliseconds(threshold),
            gaps: gaps.map { gap in
                PingAnalysis.Gap(
                    startOffsetMilliseconds: Units.milliseconds(gap.start - origin),
                    lengthMilliseconds: Units.milliseconds(gap.length),
                    lowerBoundMilliseconds: Units.milliseconds(gap.lower),
                    upperBoundMilliseconds: Units.milliseconds(gap.upper),
                    lostProbes: gap.lost, openEnded: gap.openEnded)
            },
            gapCount: gapCount,
            rttMicroseconds: rtt.distribution(),
            announceFrames: announces.map {
                PingAnalysis.Announce(kind: $0.kind, offsetMilliseconds: Units.milliseconds($0.timeNanoseconds - origin), sourceMac: $0.sourceMAC)
            },
            repliesResumedAfterFirstAnnounceMilliseconds: resumedAfterAnnounce,
            startEpochNanoseconds: anyProbe || !announces.isEmpty ? origin : 0,
            observedMilliseconds: anyProbe || !announces.isEmpty ? Units.milliseconds(lastTime - origin) : 0)
    }

    /// Splits the log into requests and replies and orders them.
    private mutating func split() {
        var allReplies: [Stamp] = []
        requests.reserveCapacity(log.events.count / 2 + 1)
        allReplies.reserveCapacity(log.events.count / 2 + 1)
        for event in log.events {
            let stamp = Stamp(sequence: event.sequence, time: event.timeNanoseconds)
            switch event.kind {
            case .request: requests.append(stamp)
            case .reply: allReplies.append(stamp)
            }
        }
        replyCount = allReplies.count
        // Captures are nearly always in order already; sorting then is a cheap check.
        let bySequenceThenTime: (Stamp, Stamp) -> Bool = { ($0.sequence, $0.time) < ($1.sequence, $1.time) }
        if !Self.isSorted(requests, by: bySequenceThenTime) { requests.sort(by: bySequenceThenTime) }
        requests = Self.firstPerSequence(requests)
        if !Self.isSorted(allReplies, by: bySequenceThenTime) { allReplies.sort(by: bySequenceThenTime) }
        firstRepliesBySequence = Self.firstPerSequence(allReplies)
        firstRepliesByTime = firstRepliesBySequence
        let byTimeThenSequence: (Stamp, Stamp) -> Bool = { ($0.time, $0.sequence) < ($1.time, $1.sequence) }
        if !Self.isSorted(firstRepliesByTime, by: byTimeThenSequence) { firstRepliesByTime.sort(by: byTimeThenSequence) }
    }

    private func originTime() -> Int64 {
        var times: [Int64] = []
        if let time = requests.lazy.map(\.time).min() { times.append(time) }
        if let time = firstRepliesByTime.first?.time { times.append(time) }
        if let time = log.announces.lazy.map(\.timeNanoseconds).min() { times.append(time) }
        // Duplicate replies never come before the first reply of their probe, so they cannot be first.
        return times.min() ?? 0
    }

    private func lastEventTime() -> Int64 {
        var latest = Int64.min
        for event in log.events { latest = max(latest, event.timeNanoseconds) }
        for announce in log.announces { latest = max(latest, announce.timeNanoseconds) }
        return latest == Int64.min ? 0 : latest
    }

    /// The nominal interval, where it came from, and the spacing of captured requests.
    private func nominalInterval() -> (Int64, String, SampleSet) {
        var spacing = SampleSet()
        for index in requests.indices.dropFirst() {
            let previous = requests[index - 1]
            let current = requests[index]
            if current.sequence == previous.sequence + 1, current.time > previous.time {
                spacing.record(current.time - previous.time)
            }
        }
        if let configured = options.nominalIntervalNanoseconds { return (configured, "configured", spacing) }
        if let carried = log.nominalIntervalNanoseconds { return (carried, "payload", spacing) }
        if spacing.count > 0 { return (spacing.median, "measured", spacing) }
        return (0, "unknown", spacing)
    }

    private func sendTime(_ sequence: UInt64) -> Int64? {
        var low = 0
        var high = requests.count
        while low < high {
            let middle = (low + high) / 2
            if requests[middle].sequence < sequence { low = middle + 1 } else { high = middle }
        }
        return low < requests.count && requests[low].sequence == sequence ? requests[low].time : nil
    }

    /// Time between sending probes `first` and `last`, from the capture when it saw both, else
    /// from the nominal interval.
    private func span(from first: UInt64, to last: UInt64, interval: Int64) -> Int64 {
        guard last > first else { return 0 }
        if let start = sendTime(first), let end = sendTime(last), end >= start { return end - start }
        return Int64(clamping: Self.count(from: first, to: last) - 1).multipliedClamped(by: interval)
    }

    private func interiorGap(from before: Stamp, to after: Stamp, interval: Int64) -> GapCandidate {
        let length = after.time - before.time
        guard after.sequence > before.sequence else {
            // Reordered replies: the probes do not bracket the gap, so only the gap itself is known.
            return GapCandidate(start: before.time, end: after.time, lower: 0, upper: length, lost: 0, openEnded: false, endsInReply: true)
        }
        let p = before.sequence
        let q = after.sequence
        let upper = span(from: p, to: q, interval: interval)
        let lower = q - p >= 2 ? span(from: p + 1, to: q - 1, interval: interval) : 0
        // Probes in between that were answered elsewhere in time (reordering) are not lost.
        let between = q - p >= 2 ? Self.count(from: p + 1, to: q - 1) : 0
        let answeredBetween = q - p >= 2 ? answeredCount(from: p + 1, to: q - 1) : 0
        return GapCandidate(start: before.time, end: after.time, lower: lower, upper: upper,
                            lost: between - answeredBetween, openEnded: false, endsInReply: true)
    }

    /// First replies with a sequence in `first...last`.
    private func answeredCount(from first: UInt64, to last: UInt64) -> Int {
        func lowerIndex(_ sequence: UInt64) -> Int {
            var low = 0
            var high = firstRepliesBySequence.count
            while low < high {
                let middle = (low + high) / 2
                if firstRepliesBySequence[middle].sequence < sequence { low = middle + 1 } else { high = middle }
            }
            return low
        }
        let start = lowerIndex(first)
        let end = last == UInt64.max ? firstRepliesBySequence.count : lowerIndex(last + 1)
        return max(0, end - start)
    }

    /// Number of sequence numbers in `first...last`, clamped to `Int.max`.
    static func count(from first: UInt64, to last: UInt64) -> Int {
        guard last >= first else { return 0 }
        let difference = last - first
        return difference >= UInt64(Int.max) ? Int.max : Int(difference) + 1
    }

    static func isSorted(_ stamps: [Stamp], by less: (Stamp, Stamp) -> Bool) -> Bool {
        for index in stamps.indices.dropFirst() where less(stamps[index], stamps[index - 1]) { return false }
        return true
    }

    static func firstPerSequence(_ sorted: [Stamp]) -> [Stamp] {
        var unique: [Stamp] = []
        unique.reserveCapacity(sorted.count)
        for stamp in sorted where unique.last?.sequence != stamp.sequence { unique.append(stamp) }
        return unique
    }
}

/// Durations in nanoseconds: exact count, minimum, maximum and mean, percentiles from an
/// HdrHistogram (three significant digits, up to one minute; longer values count as one minute).
struct SampleSet {
    private static let highestTrackableNanoseconds: UInt64 = 60_000_000_000
    private var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: SampleSet.highestTrackableNanoseconds,
                                              numberOfSignificantValueDigits: .three)
    private(set) var count = 0
    private var minimum = Int64.max
    private var maximum = Int64.min
    private var sum: Double = 0

    mutating func record(_ nanoseconds: Int64) {
        let value = UInt64(clamping: max(1, nanoseconds))
        _ = histogram.record(min(value, Self.highestTrackableNanoseconds))
        count += 1
        minimum = min(minimum, nanoseconds)
        maximum = max(maximum, nanoseconds)
        sum += Double(nanoseconds)
    }

    /// The median, within the histogram's precision, in nanoseconds.
    var median: Int64 { count == 0 ? 0 : clamp(histogram.valueAtPercentile(50)) }

    /// The summary in microseconds.
    func distribution() -> PingAnalysis.Distribution {
        guard count > 0 else { return .empty }
        func percentile(_ value: Double) -> Double { Units.microseconds(clamp(histogram.valueAtPercentile(value))) }
        return PingAnalysis.Distribution(
            count: count, minimum: Units.microseconds(minimum), mean: (sum / Double(count)).rounded() / 1_000,
            p50: percentile(50), p90: percentile(90), p99: percentile(99), p999: percentile(99.9),
            maximum: Units.microseconds(maximum))
    }

    /// Histogram values are the top of their bucket; keep them inside the exact range seen.
    private func clamp(_ value: UInt64) -> Int64 {
        min(max(Int64(clamping: value), minimum), maximum)
    }
}

extension Int {
    func addingClamped(_ other: Int) -> Int {
        let (result, overflow) = addingReportingOverflow(other)
        return overflow ? Int.max : result
    }
}

extension Int64 {
    func multipliedClamped(by other: Int64) -> Int64 {
        let (result, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? (self.signum() * other.signum() < 0 ? Int64.min : Int64.max) : result
    }
}
