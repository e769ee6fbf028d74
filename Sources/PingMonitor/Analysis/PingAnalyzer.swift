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
/// before the gap and `q` the first one after it that the outage did not affect, any outage that
/// affected exactly the probes between them began after `p` was sent and ended before `q` was,
/// so it lasted less than `send(q) - send(p)`, and it covered the sending of `p+1` through
/// `q-1`, so it lasted at least `send(q-1) - send(p+1)`.
///
/// A probe is affected when it was lost, or when the outage held it and answered it only after
/// it ended (late): a paused guest answers the probes queued for it when it resumes. The reply
/// that ends a gap is held when its round trip exceeds the fastest one seen by more than the gap
/// threshold (it waited through what counts as an outage); the gap then ended when that reply
/// was released, and every later probe sent before then (by more than the fastest round trip)
/// and answered no sooner was held too, so `q` is the first probe sent after the release. A
/// shorter hold cannot be told from jitter and the reply ends the gap like a prompt one. Without
/// this, a held reply splits an outage in two: a long gap with no probe lost before it and a
/// short one holding the lost probes after it, and the downtime read 0.
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
    /// Probes of the outage answered only after it (held).
    var late: Int = 0
    /// The longest round trip among them, in nanoseconds.
    var longestLateRoundTrip: Int64?
    var openEnded: Bool
    var endsInReply: Bool
    var length: Int64 { end - start }
    /// Probes the outage acted on: lost or held.
    var affected: Int { lost.addingClamped(late) }
}

/// A gap between replies as first found: where it lies and what surrounds it. Only the gaps
/// that are listed or the longest are worked out into a `GapCandidate` (`Builder.resolve`), so
/// that following held replies costs nothing for the many short gaps of a capture.
private struct Silence {
    enum Edge {
        /// No reply at all: from the first request to the last packet.
        case whole
        /// From the first request to the first reply, when probes before it went unanswered or
        /// that reply was held.
        case leading
        /// Between two consecutive first replies (in time).
        case interior(before: Stamp, after: Stamp)
        /// From the last reply to the last packet, when probes after it went unanswered.
        case trailing
    }

    var start: Int64
    var end: Int64
    var edge: Edge
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
    // Set by `run` before the gaps are worked out.
    var origin: Int64 = 0
    var lastTime: Int64 = 0
    var interval: Int64 = 0
    var threshold: Int64 = 0
    var minSequence: UInt64 = 0
    var maxSequence: UInt64 = 0
    var sent = 0
    /// The fastest round trip seen, in nanoseconds: what a reply that waited for nothing takes.
    var fastestRoundTrip: Int64?

    init(log: ProbeLog, options: AnalysisOptions) {
        self.log = log
        self.options = options
    }

    mutating func run() -> PingAnalysis {
        split()
        origin = originTime()
        lastTime = lastEventTime()
        let (interval, intervalSource, sendIntervals) = nominalInterval()
        self.interval = interval
        let threshold = options.gapThresholdNanoseconds ?? (interval > 0 ? 5 * interval : 1_000_000)
        self.threshold = threshold
        let limit = max(0, options.maximumListed)

        if let first = [requests.first?.sequence, firstRepliesBySequence.first?.sequence].compactMap({ $0 }).min(),
           let last = [requests.last?.sequence, firstRepliesBySequence.last?.sequence].compactMap({ $0 }).max() {
            minSequence = first
            maxSequence = last
        }
        let anyProbe = !requests.isEmpty || !firstRepliesBySequence.isEmpty
        sent = anyProbe ? Self.count(from: minSequence, to: maxSequence) : 0

        let walk = walkSequenceSpace(listing: limit)
        let silences = findSilences(listing: limit)
        var gaps = silences.listed.map { resolve($0) }
        gaps.sort { $0.start < $1.start }
        let downtime = silences.longest.map { resolve($0) }

        // Announcements.
        let announces = log.announces.sorted { $0.timeNanoseconds < $1.timeNanoseconds }
        var resumedAfterAnnounce: Double?
        if let firstAnnounce = announces.first, let downtime, downtime.affected > 0, downtime.endsInReply {
            resumedAfterAnnounce = Units.milliseconds(downtime.end - firstAnnounce.timeNanoseconds)
        }

        return PingAnalysis(
            sent: sent,
            received: walk.received,
            lost: walk.lost,
            duplicates: replyCount - firstRepliesBySequence.count,
            outOfOrder: outOfOrderReplies(),
            requestsMissingFromCapture: walk.missingRequests,
            lossRuns: walk.lossRuns,
            lossRunCount: walk.lossRunCount,
            longestLossRunProbes: walk.longestRun,
            // Halved apart: a bound from a crafted capture's interval can be clamped to Int64.max.
            downtimeMilliseconds: downtime.map { $0.affected > 0 ? (Units.milliseconds($0.lower) + Units.milliseconds($0.upper)) / 2 : 0 } ?? 0,
            downtimeLowerBoundMilliseconds: Units.milliseconds(downtime?.lower ?? 0),
            downtimeUpperBoundMilliseconds: Units.milliseconds(downtime?.upper ?? 0),
            longestGapMilliseconds: Units.milliseconds(downtime?.length ?? 0),
            downtimeStartOffsetMilliseconds: downtime.map { Units.milliseconds($0.start - origin) },
            downtimeLostProbes: downtime?.lost ?? 0,
            downtimeLateProbes: downtime?.late ?? 0,
            downtimeLongestLateRoundTripMilliseconds: downtime?.longestLateRoundTrip.map(Units.milliseconds),
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
                    lostProbes: gap.lost, lateProbes: gap.late,
                    longestLateRoundTripMilliseconds: gap.longestLateRoundTrip.map(Units.milliseconds), openEnded: gap.openEnded)
            },
            gapCount: silences.count,
            rttMicroseconds: walk.rtt.distribution(),
            announceFrames: announces.map {
                PingAnalysis.Announce(kind: $0.kind, offsetMilliseconds: Units.milliseconds($0.timeNanoseconds - origin), sourceMac: $0.sourceMAC)
            },
            repliesResumedAfterFirstAnnounceMilliseconds: resumedAfterAnnounce,
            startEpochNanoseconds: anyProbe || !announces.isEmpty ? origin : 0,
            observedMilliseconds: anyProbe || !announces.isEmpty ? Units.milliseconds(lastTime - origin) : 0)
    }

    /// What one walk of the sequence space finds: counts, loss runs and round trips.
    private struct SequenceWalk {
        var received = 0
        var lost = 0
        var missingRequests = 0
        /// At most the listing limit of them; ``lossRunCount`` counts all.
        var lossRuns: [PingAnalysis.LossRun] = []
        var lossRunCount = 0
        var longestRun = 0
        var rtt = SampleSet()
    }

    /// Walks the sequence space once, from `minSequence` to `maxSequence`: loss runs (listing
    /// at most `limit`), counts and round trips; notes the fastest round trip.
    private mutating func walkSequenceSpace(listing limit: Int) -> SequenceWalk {
        var walk = SequenceWalk()
        var runStart: UInt64?
        var runStartTime: Int64?
        var runLength = 0
        let origin = origin

        func closeRun() {
            guard let start = runStart else { return }
            walk.lossRunCount += 1
            walk.longestRun = max(walk.longestRun, runLength)
            if walk.lossRuns.count < limit {
                walk.lossRuns.append(PingAnalysis.LossRun(
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
                walk.lost = walk.lost.addingClamped(hole)
                walk.missingRequests = walk.missingRequests.addingClamped(hole)
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
                walk.missingRequests = walk.missingRequests.addingClamped(1)
            }
            if nextReply == sequence {
                let reply = firstRepliesBySequence[replyIndex]
                replyIndex += 1
                walk.received += 1
                closeRun()
                if let request, reply.time >= request.time {
                    walk.rtt.record(reply.time - request.time)
                    fastestRoundTrip = min(fastestRoundTrip ?? Int64.max, reply.time - request.time)
                }
            } else {
                walk.lost = walk.lost.addingClamped(1)
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
        return walk
    }

    /// Replies that came after a reply to a later probe.
    private func outOfOrderReplies() -> Int {
        var outOfOrder = 0
        var highestAnswered: UInt64?
        for reply in firstRepliesByTime {
            if let highest = highestAnswered, reply.sequence < highest {
                outOfOrder += 1
            } else {
                highestAnswered = reply.sequence
            }
        }
        return outOfOrder
    }

    /// Gaps between replies, and at the edges of the capture when probes there went unanswered
    /// or were held, found by length alone: those over the threshold (listing at most `limit`),
    /// their count and the longest. Only those kept are worked out (``resolve(_:)``).
    private func findSilences(listing limit: Int) -> (listed: [Silence], count: Int, longest: Silence?) {
        var listed: [Silence] = []
        var gapCount = 0
        var longest: Silence?
        func consider(_ gap: Silence) {
            if longest.map({ gap.length > $0.length }) ?? true { longest = gap }
            if gap.length > threshold {
                gapCount += 1
                if listed.count < limit { listed.append(gap) }
            }
        }
        if firstRepliesByTime.isEmpty {
            if let firstTime = requests.lazy.map(\.time).min() {
                consider(Silence(start: firstTime, end: lastTime, edge: .whole))
            }
        } else {
            let first = firstRepliesByTime[0]
            if firstRepliesBySequence[0].sequence > minSequence || isHeld(first) {
                let start = sendTime(minSequence) ?? origin
                consider(Silence(start: start, end: max(start, first.time), edge: .leading))
            }
            for index in firstRepliesByTime.indices.dropFirst() {
                let before = firstRepliesByTime[index - 1]
                let after = firstRepliesByTime[index]
                consider(Silence(start: before.time, end: after.time, edge: .interior(before: before, after: after)))
            }
            if firstRepliesBySequence[firstRepliesBySequence.count - 1].sequence < maxSequence {
                let start = firstRepliesByTime[firstRepliesByTime.count - 1].time
                consider(Silence(start: start, end: max(start, lastTime), edge: .trailing))
            }
        }
        return (listed, gapCount, longest)
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

    /// Works out the outage behind a gap: the probes it affected (lost or held) and its bounds.
    private func resolve(_ silence: Silence) -> GapCandidate {
        switch silence.edge {
        case .whole:
            let lastRequestTime = requests.map(\.time).max() ?? silence.start
            return GapCandidate(start: silence.start, end: silence.end, lower: lastRequestTime - silence.start, upper: silence.length,
                                lost: sent, openEnded: true, endsInReply: false)
        case .leading:
            // Every probe before the first one answered promptly, back to the first probe seen.
            let release = firstRepliesByTime[0]
            let held = isHeld(release)
            let last = held ? heldRun(releasedBy: release).last : firstRepliesBySequence[0].sequence - 1
            var gap = GapCandidate(start: silence.start, end: silence.end, lower: span(from: minSequence, to: last, interval: interval),
                                   upper: silence.length, lost: unanswered(from: minSequence, to: last), openEnded: true, endsInReply: true)
            if held { (gap.late, gap.longestLateRoundTrip) = late(from: minSequence, to: last, answeredFrom: release.time) }
            return gap
        case .interior(let before, let after):
            guard after.sequence > before.sequence, isHeld(after) else { return interiorGap(from: before, to: after, interval: interval) }
            // The gap ended when the guest released the probes it held, `after` among them.
            let p = before.sequence
            let (last, next) = heldRun(releasedBy: after)
            let lower = span(from: p + 1, to: last, interval: interval)
            // With no probe after the release in the capture, the release itself ends the outage.
            let upper = next.map { span(from: p, to: $0, interval: interval) } ?? sendTime(p).map { after.time - $0 } ?? silence.length
            var gap = GapCandidate(start: before.time, end: after.time, lower: lower, upper: max(lower, upper),
                                   lost: unanswered(from: p + 1, to: last), openEnded: false, endsInReply: true)
            (gap.late, gap.longestLateRoundTrip) = late(from: p + 1, to: last, answeredFrom: after.time)
            return gap
        case .trailing:
            let highest = firstRepliesBySequence[firstRepliesBySequence.count - 1].sequence
            return GapCandidate(start: silence.start, end: silence.end, lower: span(from: highest + 1, to: maxSequence, interval: interval),
                                upper: silence.length, lost: Self.count(from: highest + 1, to: maxSequence), openEnded: true, endsInReply: false)
        }
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
        // A probe answered after `q` is late but was not held by the target: a paused target
        // answers its queue in order, so that one waited elsewhere (reordering) while `q` got through.
        return GapCandidate(start: before.time, end: after.time, lower: lower, upper: upper,
                            lost: between - answeredBetween, openEnded: false, endsInReply: true)
    }

    /// Whether `reply` was held through an outage: its round trip exceeds the fastest one by more
    /// than the gap threshold. Unknown without its request: then it counts as prompt.
    private func isHeld(_ reply: Stamp) -> Bool {
        guard let fastest = fastestRoundTrip, let sent = sendTime(reply.sequence), reply.time >= sent else { return false }
        return reply.time - sent - fastest > threshold
    }

    /// The probes held with `release` (a held reply that ended a gap): it and every following
    /// answered probe sent before it came back (by more than the fastest round trip) and answered
    /// no sooner; lost probes among them count with them. `last` is the last of them, `next` the
    /// first answered probe after them (sent after the release: the outage had ended), nil when the
    /// capture has none. A probe whose request the capture missed cannot be placed and ends the run.
    private func heldRun(releasedBy release: Stamp) -> (last: UInt64, next: UInt64?) {
        var index = indexOfReply(atOrAfter: release.sequence) + 1
        var last = release.sequence
        while index < firstRepliesBySequence.count {
            let reply = firstRepliesBySequence[index]
            guard reply.time >= release.time, let sent = sendTime(reply.sequence), let fastest = fastestRoundTrip,
                  sent < release.time - fastest else {
                return (reply.sequence - 1, reply.sequence)
            }
            last = reply.sequence
            index += 1
        }
        return (last, nil)
    }

    /// Probes in `first...last` (the run a held reply ended) answered at or after `end`, the end
    /// of their gap: those the outage held; with the longest round trip among them, in nanoseconds.
    private func late(from first: UInt64, to last: UInt64, answeredFrom end: Int64) -> (Int, Int64?) {
        guard last >= first else { return (0, nil) }
        var count = 0
        var longest: Int64?
        var index = indexOfReply(atOrAfter: first)
        while index < firstRepliesBySequence.count, firstRepliesBySequence[index].sequence <= last {
            let reply = firstRepliesBySequence[index]
            index += 1
            guard reply.time >= end else { continue }
            count += 1
            if let sent = sendTime(reply.sequence), reply.time >= sent { longest = max(longest ?? 0, reply.time - sent) }
        }
        return (count, longest)
    }

    /// Probes in `first...last` never answered.
    private func unanswered(from first: UInt64, to last: UInt64) -> Int {
        guard last >= first else { return 0 }
        return Self.count(from: first, to: last) - answeredCount(from: first, to: last)
    }

    /// First replies with a sequence in `first...last`.
    private func answeredCount(from first: UInt64, to last: UInt64) -> Int {
        let start = indexOfReply(atOrAfter: first)
        let end = last == UInt64.max ? firstRepliesBySequence.count : indexOfReply(atOrAfter: last + 1)
        return max(0, end - start)
    }

    /// Index in `firstRepliesBySequence` of the first reply with a sequence of at least `sequence`.
    private func indexOfReply(atOrAfter sequence: UInt64) -> Int {
        var low = 0
        var high = firstRepliesBySequence.count
        while low < high {
            let middle = (low + high) / 2
            if firstRepliesBySequence[middle].sequence < sequence { low = middle + 1 } else { high = middle }
        }
        return low
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
