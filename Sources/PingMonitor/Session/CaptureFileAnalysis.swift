/// Settings of an offline analysis.
public struct OfflineAnalysisOptions: Sendable, Equatable {
    /// Analyse the echo stream with this ICMP identifier (nil: pingmon's first stream to the target).
    public var identifier: UInt16?
    /// The target's MAC, for attributing RARP frames (nil: learned from its replies).
    public var targetMAC: MACAddress?
    /// The probe interval in microseconds, for captures whose probes do not carry it (nil: from
    /// the payload, else the median spacing of the requests).
    public var intervalMicroseconds: Int?
    /// List gaps between replies longer than this, in milliseconds (nil: 5 intervals).
    public var gapThresholdMilliseconds: Double?
    /// The checks that decide the verdict.
    public var verdict: VerdictCriteria

    public init(identifier: UInt16? = nil, targetMAC: MACAddress? = nil, intervalMicroseconds: Int? = nil,
                gapThresholdMilliseconds: Double? = nil, verdict: VerdictCriteria = VerdictCriteria()) {
        self.identifier = identifier
        self.targetMAC = targetMAC
        self.intervalMicroseconds = intervalMicroseconds
        self.gapThresholdMilliseconds = gapThresholdMilliseconds
        self.verdict = verdict
    }
}

/// Re-analyses a saved capture. For a file that `pingmon --save-capture` wrote, the analysis
/// figures are identical to those of the live run (same packets, same decoder, same analyzer).
public enum CaptureFileAnalysis {
    /// Reads `path` and analyses the echo stream to `target` in it. Throws a
    /// `PingMonitorError` naming the file when it is missing, not a capture, or damaged.
    public static func analyze(path: String, target: IPAddress, options: OfflineAnalysisOptions = OfflineAnalysisOptions()) throws -> PingReport {
        // Bounded before `* 1e6` below, which traps on a value beyond Int64.
        try PingConfiguration.checkMilliseconds(options.gapThresholdMilliseconds, name: "gap threshold")
        try PingConfiguration.checkMilliseconds(options.verdict.maximumDowntimeMilliseconds, name: "maximum downtime")
        if let interval = options.intervalMicroseconds,
           !(PingConfiguration.minimumIntervalMicroseconds...PingConfiguration.maximumIntervalMicroseconds).contains(interval) {
            throw PingMonitorError.intervalOutOfRange(microseconds: interval, minimum: PingConfiguration.minimumIntervalMicroseconds,
                                                      maximum: PingConfiguration.maximumIntervalMicroseconds)
        }
        let capture = try CaptureSession(file: path)
        var collector = ProbeCollector(target: target, identifier: options.identifier, targetMAC: options.targetMAC)
        let linkLayer = capture.linkLayer
        loop: while true {
            switch try capture.next() {
            case .packet(let packet):
                collector.ingest(PacketDecoder.decode(packet.bytes, linkLayer: linkLayer), timeNanoseconds: packet.timeNanoseconds)
            case .timeout: continue
            case .finished: break loop
            }
        }
        let log = collector.finish()
        let analysis = PingAnalyzer.analyze(log, options: AnalysisOptions(
            nominalIntervalNanoseconds: options.intervalMicroseconds.map { Int64($0) * 1_000 },
            gapThresholdNanoseconds: options.gapThresholdMilliseconds.map { Int64($0 * 1e6) }))
        var warnings = capture.warnings
        if collector.identifier == nil {
            warnings.append("no ICMP echo request to \(target) in \(path)")
        }
        return PingReport(
            mode: .offline, target: target, interface: nil, captureFile: path, icmpIdentifier: collector.identifier,
            linkLayer: linkLayer, timestampPrecision: capture.timestampPrecision, timestampSource: capture.timestampSource,
            analysis: analysis, packetsCaptured: collector.packetsSeen, packetsIgnored: collector.packetsIgnored,
            sender: nil, capture: nil, verdict: Verdict.evaluate(analysis, criteria: options.verdict), warnings: warnings)
    }
}
