/// What the analysis of one probe stream found. Every figure carries its unit in its name;
/// offsets are milliseconds since `startEpochNanoseconds`, the first captured packet.
///
/// Encoded as JSON, optional figures appear as `null` rather than being left out, so that the
/// keys are the same in every result.
public struct PingAnalysis: Sendable, Equatable, Codable {
    /// Probes sent: the span of sequence numbers seen, first to last (a probe whose request and
    /// reply the capture both missed still counts, from the hole it leaves).
    public var sent: Int
    /// Probes answered at least once.
    public var received: Int
    /// Probes never answered (`sent - received`).
    public var lost: Int
    /// Replies beyond the first to the same probe.
    public var duplicates: Int
    /// First replies that arrived after a reply to a later probe.
    public var outOfOrder: Int
    /// Probes whose request the capture did not see (capture drops, or a capture started late).
    public var requestsMissingFromCapture: Int

    /// Runs of consecutive unanswered probes, in sequence order (at most `maximumListed`).
    public var lossRuns: [LossRun]
    /// All loss runs, including any beyond the listed ones.
    public var lossRunCount: Int
    /// Length of the longest loss run, in probes.
    public var longestLossRunProbes: Int

    /// The outage behind the longest gap, estimated without bias, in milliseconds: the midpoint
    /// of its bounds. An outage begins somewhere between two sends and ends somewhere between
    /// two sends, so the longest gap between replies (the upper bound) overstates it by one
    /// probe interval on average, the lower bound understates it by as much. Its error is at
    /// most half the width of the bounds (one interval when the capture saw every request).
    /// 0 when the gap affected no probe (none lost, none held): then no outage was seen.
    public var downtimeMilliseconds: Double
    /// The outage lasted at least this long: the time between sending the first and the last
    /// probe it affected (lost, or held and answered late).
    public var downtimeLowerBoundMilliseconds: Double
    /// ... and at most this long: the time between sending the probes on either side of those
    /// it affected (the last answered before the gap, the first sent after the outage ended).
    public var downtimeUpperBoundMilliseconds: Double
    /// The longest interval with no replies: from the last reply before it to the first reply
    /// after it (or to the edge of the capture when open-ended), in milliseconds. A late reply
    /// counts: it comes when the target answers again.
    public var longestGapMilliseconds: Double
    /// Where the downtime gap starts, in milliseconds after the first captured packet; nil when no
    /// probe was seen.
    public var downtimeStartOffsetMilliseconds: Double?
    /// Probes lost inside the downtime gap.
    public var downtimeLostProbes: Int
    /// Probes the downtime gap's outage held and answered only after it ended (late): sent while
    /// the target was not answering (a paused guest's queue), so they bound the outage like lost
    /// ones. See `PingAnalyzer` for how a held reply is told from a prompt one.
    public var downtimeLateProbes: Int
    /// The longest round trip among those late probes, in milliseconds: about the outage's length
    /// for the probe held from its start. Nil when none was held.
    public var downtimeLongestLateRoundTripMilliseconds: Double?
    /// True when the downtime gap touches the start or the end of the capture, so that the outage
    /// may have begun earlier or lasted longer than seen.
    public var downtimeOpenEnded: Bool

    /// The interval the sender was asked to keep, in microseconds (from the probes' payload, the
    /// configuration, or else the median spacing of the captured requests).
    public var intervalMicroseconds: Double
    /// Where `intervalMicroseconds` came from: `configured`, `payload`, `measured`, or `unknown`.
    public var intervalSource: String
    /// The spacing of consecutive requests as captured.
    public var sendIntervalMicroseconds: Distribution

    /// Gaps between replies longer than this are listed in `gaps`, in milliseconds.
    public var gapThresholdMilliseconds: Double
    /// Every gap between replies longer than the threshold, in time order (at most `maximumListed`).
    public var gaps: [Gap]
    /// All gaps over the threshold, including any beyond the listed ones.
    public var gapCount: Int

    /// Round-trip times (first reply minus request, both from the capture), in microseconds;
    /// late replies included (the maximum is then the longest hold).
    public var rttMicroseconds: Distribution

    /// Gratuitous ARP and RARP frames from the target, in time order.
    public var announceFrames: [Announce]
    /// Time from the first announce frame to the end of the downtime gap (the first reply after
    /// it), in milliseconds; negative when replies resumed before the first announcement. Nil
    /// without an announce frame or without a downtime gap that lost probes and ended in a reply.
    public var repliesResumedAfterFirstAnnounceMilliseconds: Double?

    /// Time of the first captured packet, in nanoseconds since the Unix epoch (0 when none).
    public var startEpochNanoseconds: Int64
    /// From the first to the last captured packet, in milliseconds.
    public var observedMilliseconds: Double

    /// A run of consecutive probes that got no reply.
    public struct LossRun: Sendable, Equatable, Codable {
        /// Sequence number of the first unanswered probe.
        public var firstSequence: UInt64
        /// Number of consecutive unanswered probes.
        public var lengthProbes: Int
        /// When the first unanswered probe was sent, in milliseconds after the first captured
        /// packet; nil when the capture missed that request.
        public var startOffsetMilliseconds: Double?

        public init(firstSequence: UInt64, lengthProbes: Int, startOffsetMilliseconds: Double?) {
            self.firstSequence = firstSequence
            self.lengthProbes = lengthProbes
            self.startOffsetMilliseconds = startOffsetMilliseconds
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(firstSequence, forKey: .firstSequence)
            try container.encode(lengthProbes, forKey: .lengthProbes)
            try container.encode(startOffsetMilliseconds, forKey: .startOffsetMilliseconds)
        }
    }

    /// An interval without replies.
    public struct Gap: Sendable, Equatable, Codable {
        /// Time of the last reply before the gap (or of the capture's edge), in milliseconds after
        /// the first captured packet.
        public var startOffsetMilliseconds: Double
        /// Length of the gap between replies, in milliseconds.
        public var lengthMilliseconds: Double
        /// The outage behind the gap lasted at least this long, in milliseconds.
        public var lowerBoundMilliseconds: Double
        /// ... and at most this long, in milliseconds (for an open-ended gap: the gap as seen).
        public var upperBoundMilliseconds: Double
        /// Probes sent inside the gap that got no reply.
        public var lostProbes: Int
        /// Probes the gap's outage held and answered only after it (late).
        public var lateProbes: Int
        /// The longest round trip among them, in milliseconds; nil when none was held.
        public var longestLateRoundTripMilliseconds: Double?
        /// True when the gap touches the start or the end of the capture.
        public var openEnded: Bool

        public init(startOffsetMilliseconds: Double, lengthMilliseconds: Double, lowerBoundMilliseconds: Double,
                    upperBoundMilliseconds: Double, lostProbes: Int, lateProbes: Int = 0, longestLateRoundTripMilliseconds: Double? = nil,
                    openEnded: Bool) {
            self.startOffsetMilliseconds = startOffsetMilliseconds
            self.lengthMilliseconds = lengthMilliseconds
            self.lowerBoundMilliseconds = lowerBoundMilliseconds
            self.upperBoundMilliseconds = upperBoundMilliseconds
            self.lostProbes = lostProbes
            self.lateProbes = lateProbes
            self.longestLateRoundTripMilliseconds = longestLateRoundTripMilliseconds
            self.openEnded = openEnded
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(startOffsetMilliseconds, forKey: .startOffsetMilliseconds)
            try container.encode(lengthMilliseconds, forKey: .lengthMilliseconds)
            try container.encode(lowerBoundMilliseconds, forKey: .lowerBoundMilliseconds)
            try container.encode(upperBoundMilliseconds, forKey: .upperBoundMilliseconds)
            try container.encode(lostProbes, forKey: .lostProbes)
            try container.encode(lateProbes, forKey: .lateProbes)
            try container.encode(longestLateRoundTripMilliseconds, forKey: .longestLateRoundTripMilliseconds)
            try container.encode(openEnded, forKey: .openEnded)
        }
    }

    /// An announce frame from the target.
    public struct Announce: Sendable, Equatable, Codable {
        public var kind: AnnounceFrame.Kind
        /// When it was captured, in milliseconds after the first captured packet.
        public var offsetMilliseconds: Double
        /// Its link-layer source address, when the link layer has one.
        public var sourceMac: MACAddress?

        public init(kind: AnnounceFrame.Kind, offsetMilliseconds: Double, sourceMac: MACAddress?) {
            self.kind = kind
            self.offsetMilliseconds = offsetMilliseconds
            self.sourceMac = sourceMac
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(kind, forKey: .kind)
            try container.encode(offsetMilliseconds, forKey: .offsetMilliseconds)
            try container.encode(sourceMac, forKey: .sourceMac)
        }
    }

    /// Summary of a distribution of durations, all in the unit named by the field holding it.
    /// Percentiles come from an HdrHistogram with three significant digits.
    public struct Distribution: Sendable, Equatable, Codable {
        public var count: Int
        public var minimum: Double
        public var mean: Double
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var maximum: Double

        public init(count: Int, minimum: Double, mean: Double, p50: Double, p90: Double, p99: Double, p999: Double, maximum: Double) {
            self.count = count
            self.minimum = minimum
            self.mean = mean
            self.p50 = p50
            self.p90 = p90
            self.p99 = p99
            self.p999 = p999
            self.maximum = maximum
        }

        /// No samples: every figure 0.
        public static let empty = Distribution(count: 0, minimum: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, maximum: 0)
    }

    public func encode(to encoder: any Encoder) throws {
        // Written out so that nil figures become null instead of disappearing.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sent, forKey: .sent)
        try container.encode(received, forKey: .received)
        try container.encode(lost, forKey: .lost)
        try container.encode(duplicates, forKey: .duplicates)
        try container.encode(outOfOrder, forKey: .outOfOrder)
        try container.encode(requestsMissingFromCapture, forKey: .requestsMissingFromCapture)
        try container.encode(lossRuns, forKey: .lossRuns)
        try container.encode(lossRunCount, forKey: .lossRunCount)
        try container.encode(longestLossRunProbes, forKey: .longestLossRunProbes)
        try container.encode(downtimeMilliseconds, forKey: .downtimeMilliseconds)
        try container.encode(downtimeLowerBoundMilliseconds, forKey: .downtimeLowerBoundMilliseconds)
        try container.encode(downtimeUpperBoundMilliseconds, forKey: .downtimeUpperBoundMilliseconds)
        try container.encode(longestGapMilliseconds, forKey: .longestGapMilliseconds)
        try container.encode(downtimeStartOffsetMilliseconds, forKey: .downtimeStartOffsetMilliseconds)
        try container.encode(downtimeLostProbes, forKey: .downtimeLostProbes)
        try container.encode(downtimeLateProbes, forKey: .downtimeLateProbes)
        try container.encode(downtimeLongestLateRoundTripMilliseconds, forKey: .downtimeLongestLateRoundTripMilliseconds)
        try container.encode(downtimeOpenEnded, forKey: .downtimeOpenEnded)
        try container.encode(intervalMicroseconds, forKey: .intervalMicroseconds)
        try container.encode(intervalSource, forKey: .intervalSource)
        try container.encode(sendIntervalMicroseconds, forKey: .sendIntervalMicroseconds)
        try container.encode(gapThresholdMilliseconds, forKey: .gapThresholdMilliseconds)
        try container.encode(gaps, forKey: .gaps)
        try container.encode(gapCount, forKey: .gapCount)
        try container.encode(rttMicroseconds, forKey: .rttMicroseconds)
        try container.encode(announceFrames, forKey: .announceFrames)
        try container.encode(repliesResumedAfterFirstAnnounceMilliseconds, forKey: .repliesResumedAfterFirstAnnounceMilliseconds)
        try container.encode(startEpochNanoseconds, forKey: .startEpochNanoseconds)
        try container.encode(observedMilliseconds, forKey: .observedMilliseconds)
    }
}

/// Unit conversions used throughout; one place so every figure is converted the same way.
enum Units {
    static func milliseconds(_ nanoseconds: Int64) -> Double { Double(nanoseconds) / 1_000_000 }
    static func microseconds(_ nanoseconds: Int64) -> Double { Double(nanoseconds) / 1_000 }
    static func microseconds(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1_000 }
}
