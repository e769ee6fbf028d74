/// Everything pingmon reports about one run or one capture file: the analysis figures at the top
/// level (the JSON contract: `sent`, `received`, `lost`, `downtimeMilliseconds`,
/// `downtimeLowerBoundMilliseconds`, `downtimeUpperBoundMilliseconds`, `longestGapMilliseconds`, `intervalMicroseconds`,
/// `timestampPrecision`, `announceFrames`, ...), then where the packets came from and how they
/// were timed, the sender's and the capture's own counters, and the verdict.
public struct PingReport: Sendable, Equatable, Encodable {
    /// Whether the packets were captured live or read from a file.
    public enum Mode: String, Sendable, Codable {
        /// pingmon probed the target and captured the packets itself.
        case live
        /// The packets were read from a capture file.
        case offline
    }

    /// Version of the JSON layout; raised when a key changes meaning or goes away.
    public static let formatVersion = 1

    public var mode: Mode
    public var target: IPAddress
    /// The interface probed from (live runs).
    public var interface: String?
    /// The capture file written (live, with `--save-capture`) or read (offline).
    public var captureFile: String?
    /// The ICMP identifier of the analysed stream; nil when the capture held none.
    public var icmpIdentifier: UInt16?
    public var linkLayer: LinkLayer
    public var timestampPrecision: TimestampPrecision
    /// How the timestamps were obtained.
    public var timestampSource: String
    public var analysis: PingAnalysis
    /// Packets read from the capture.
    public var packetsCaptured: Int
    /// Captured packets that were neither part of the probe stream nor an announcement.
    public var packetsIgnored: Int
    /// The sender's counters (live runs).
    public var sender: SenderStatistics?
    /// The kernel's capture counters (live runs).
    public var capture: CaptureStatistics?
    public var verdict: Verdict
    /// Conditions that did not stop the run but qualify its figures.
    public var warnings: [String]

    public init(mode: Mode, target: IPAddress, interface: String?, captureFile: String?, icmpIdentifier: UInt16?,
                linkLayer: LinkLayer, timestampPrecision: TimestampPrecision, timestampSource: String, analysis: PingAnalysis,
                packetsCaptured: Int, packetsIgnored: Int, sender: SenderStatistics?, capture: CaptureStatistics?,
                verdict: Verdict, warnings: [String]) {
        self.mode = mode
        self.target = target
        self.interface = interface
        self.captureFile = captureFile
        self.icmpIdentifier = icmpIdentifier
        self.linkLayer = linkLayer
        self.timestampPrecision = timestampPrecision
        self.timestampSource = timestampSource
        self.analysis = analysis
        self.packetsCaptured = packetsCaptured
        self.packetsIgnored = packetsIgnored
        self.sender = sender
        self.capture = capture
        self.verdict = verdict
        self.warnings = warnings
    }

    private enum CodingKeys: String, CodingKey {
        case tool, formatVersion, mode, target, interface, captureFile, icmpIdentifier, linkLayer, timestampPrecision,
             timestampSource, packetsCaptured, packetsIgnored, sender, capture, verdict, warnings
    }

    public func encode(to encoder: any Encoder) throws {
        // The analysis goes to the top level so that the contract's keys are flat.
        try analysis.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("pingmon", forKey: .tool)
        try container.encode(Self.formatVersion, forKey: .formatVersion)
        try container.encode(mode, forKey: .mode)
        try container.encode(target, forKey: .target)
        try container.encode(interface, forKey: .interface)
        try container.encode(captureFile, forKey: .captureFile)
        try container.encode(icmpIdentifier, forKey: .icmpIdentifier)
        try container.encode(linkLayer, forKey: .linkLayer)
        try container.encode(timestampPrecision, forKey: .timestampPrecision)
        try container.encode(timestampSource, forKey: .timestampSource)
        try container.encode(packetsCaptured, forKey: .packetsCaptured)
        try container.encode(packetsIgnored, forKey: .packetsIgnored)
        try container.encode(sender, forKey: .sender)
        try container.encode(capture, forKey: .capture)
        try container.encode(verdict, forKey: .verdict)
        try container.encode(warnings, forKey: .warnings)
    }
}

/// The sender's own counters: what it sent and how well it kept the schedule.
public struct SenderStatistics: Sendable, Equatable, Codable {
    /// Echo requests handed to the kernel.
    public var probesSent: Int
    /// `sendto` calls that failed (sender-side drops; those probes were not sent).
    public var sendErrors: Int
    /// The last `sendto` error, if any.
    public var lastSendError: String?
    /// Probes sent more than one interval after their scheduled time.
    public var lateProbes: Int
    /// The latest a probe went out after its scheduled time, in microseconds.
    public var maximumLatenessMicroseconds: Double
    /// Times the sender fell more than 10 intervals (at least 5 ms) behind and restarted its schedule
    /// from then; the probes of the skipped slots were never sent.
    public var scheduleResets: Int
    /// Whether the sending thread got 1 ns timer slack (otherwise the kernel's default 50 µs).
    public var timerSlackMinimised: Bool
    /// How the sending thread was scheduled: `SCHED_FIFO priority N` (it runs as soon as a
    /// probe is due, even with every core busy), or `SCHED_OTHER` and why not real-time.
    public var scheduling: String

    public init(probesSent: Int = 0, sendErrors: Int = 0, lastSendError: String? = nil, lateProbes: Int = 0,
                maximumLatenessMicroseconds: Double = 0, scheduleResets: Int = 0, timerSlackMinimised: Bool = false,
                scheduling: String = "SCHED_OTHER") {
        self.probesSent = probesSent
        self.sendErrors = sendErrors
        self.lastSendError = lastSendError
        self.lateProbes = lateProbes
        self.maximumLatenessMicroseconds = maximumLatenessMicroseconds
        self.scheduleResets = scheduleResets
        self.timerSlackMinimised = timerSlackMinimised
        self.scheduling = scheduling
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(probesSent, forKey: .probesSent)
        try container.encode(sendErrors, forKey: .sendErrors)
        try container.encode(lastSendError, forKey: .lastSendError)
        try container.encode(lateProbes, forKey: .lateProbes)
        try container.encode(maximumLatenessMicroseconds, forKey: .maximumLatenessMicroseconds)
        try container.encode(scheduleResets, forKey: .scheduleResets)
        try container.encode(timerSlackMinimised, forKey: .timerSlackMinimised)
        try container.encode(scheduling, forKey: .scheduling)
    }
}

/// The part of pingmon's JSON that other tools rely on, for reading it back (for instance from
/// `pingmon --json` run in another network namespace). Unknown keys are ignored.
public struct PingResultSummary: Sendable, Equatable, Decodable {
    public var sent: Int
    public var received: Int
    public var lost: Int
    /// The outage behind the longest gap (midpoint of its bounds), in milliseconds.
    public var downtimeMilliseconds: Double
    public var downtimeLowerBoundMilliseconds: Double
    public var downtimeUpperBoundMilliseconds: Double
    /// Longest gap with no replies, in milliseconds.
    public var longestGapMilliseconds: Double
    /// The probe interval, in microseconds.
    public var intervalMicroseconds: Double
    public var timestampPrecision: TimestampPrecision
    public var announceFrames: [PingAnalysis.Announce]
    public var verdict: Verdict
}
