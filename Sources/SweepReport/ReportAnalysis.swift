import Foundation

// Figures the report derives from the document: the downtime decomposition, the dirty-rate
// cross-check and the comparison of two sweeps. Pure functions of plain values.

/// How one run's ping gap splits into libvirt's downtime, the announce delay, the guest's
/// answer delay at the destination and the rest.
///
/// The gap a pinger sees is libvirt's downtime (guest paused) plus the delay until the
/// network learns the guest's new place (first RARP/GARP) plus the time the destination held
/// the probes before the guest's first answer (its capture) plus up to one probe interval
/// (the probe that would have seen the guest back had not been sent yet, and the reply's way
/// back). Every millisecond is attributed when the rest lies within one probe interval and
/// ``allowanceMilliseconds`` either way.
public struct DowntimeDecomposition: Sendable, Equatable {
    /// What the rest may exceed one probe interval by (or fall below zero by) and still count
    /// as explained: libvirt's downtime is whole milliseconds, and the parts come from three
    /// clocks' readings (QEMU's, the two captures').
    public static let allowanceMilliseconds = 2.0

    public var runID: String
    public var pingGapMilliseconds: Double
    public var libvirtDowntimeMilliseconds: Double
    public var announceDelayMilliseconds: Double
    /// From the first probe reaching the destination to the guest's first reply leaving it
    /// (``ReportRun/guestAnswerDelayMilliseconds``); nil when not measured, and the rest then holds it.
    public var guestAnswerDelayMilliseconds: Double?
    public var probesHeldAtDestination: Int?
    /// How long the guest's own clock stood still (``ReportRun/guestClockLagMilliseconds``), beside libvirt's downtime.
    public var guestClockLagMilliseconds: Double?
    /// The gap on the run clock (``ReportRun/pingGapBeforePauseMilliseconds`` …): before the
    /// source's `suspended` event, paused until the destination's `resumed`, and after it.
    public var beforePauseMilliseconds: Double?
    public var pausedMilliseconds: Double?
    public var afterResumeMilliseconds: Double?
    /// What the gap holds beyond downtime, announce delay and answer delay.
    public var restMilliseconds: Double
    public var probeIntervalMilliseconds: Double?
    public var verdict: Verdict

    public enum Verdict: Sendable, Equatable {
        /// The rest lies within one probe interval, give or take the allowance.
        case withinOneProbeInterval
        /// The gap is shorter than its parts by more than the allowance: the clocks or the figures disagree.
        case gapShorterThanParts
        /// The rest exceeds one probe interval and the allowance by this many milliseconds.
        case unexplained(excessMilliseconds: Double)
        /// The probe interval is unknown, so the rest cannot be judged.
        case probeIntervalUnknown

        public var text: String {
            switch self {
            case .withinOneProbeInterval:
                return "within one probe interval ± \(ReportFormat.number(DowntimeDecomposition.allowanceMilliseconds)) ms"
            case .gapShorterThanParts: return "gap shorter than its parts"
            case .unexplained(let excess):
                return "unexplained: \(ReportFormat.number(excess)) ms beyond one probe interval + \(ReportFormat.number(DowntimeDecomposition.allowanceMilliseconds)) ms"
            case .probeIntervalUnknown: return "probe interval unknown"
            }
        }
    }

    /// The decomposition of `run`, or `nil` when the gap, libvirt's downtime or the announce delay is missing.
    public init?(run: ReportRun, probeIntervalMilliseconds: Double?) {
        guard let gap = run.switchOverPingGapMilliseconds ?? run.pingGapMilliseconds, let downtime = run.libvirtDowntimeMilliseconds,
              let announce = run.announceDelayMilliseconds else { return nil }
        runID = run.runID
        pingGapMilliseconds = gap
        libvirtDowntimeMilliseconds = downtime
        announceDelayMilliseconds = announce
        guestAnswerDelayMilliseconds = run.guestAnswerDelayMilliseconds
        probesHeldAtDestination = run.probesHeldAtDestination
        guestClockLagMilliseconds = run.guestClockLagMilliseconds
        beforePauseMilliseconds = run.pingGapBeforePauseMilliseconds
        pausedMilliseconds = run.guestPausedMilliseconds
        afterResumeMilliseconds = run.pingGapAfterResumeMilliseconds
        restMilliseconds = Self.restMilliseconds(pingGapMilliseconds: gap, libvirtDowntimeMilliseconds: downtime,
                                                 announceDelayMilliseconds: announce,
                                                 guestAnswerDelayMilliseconds: run.guestAnswerDelayMilliseconds)
        self.probeIntervalMilliseconds = probeIntervalMilliseconds
        verdict = Self.judge(restMilliseconds: restMilliseconds, probeIntervalMilliseconds: probeIntervalMilliseconds)
    }

    /// What the gap holds beyond its parts: one formula for the report and `migverify correlate`.
    /// A part not measured (nil) is left in the rest.
    public static func restMilliseconds(pingGapMilliseconds gap: Double, libvirtDowntimeMilliseconds downtime: Double,
                                        announceDelayMilliseconds announce: Double?,
                                        guestAnswerDelayMilliseconds answer: Double?) -> Double {
        gap - downtime - (announce ?? 0) - (answer ?? 0)
    }

    /// The verdict on a rest of `restMilliseconds` (shared with `migverify correlate`'s text).
    public static func judge(restMilliseconds rest: Double, probeIntervalMilliseconds interval: Double?) -> Verdict {
        if rest < -allowanceMilliseconds { return .gapShorterThanParts }
        guard let interval else { return .probeIntervalUnknown }
        let excess = rest - interval - allowanceMilliseconds
        return excess <= 0 ? .withinOneProbeInterval : .unexplained(excessMilliseconds: excess)
    }
}

/// One run's dirty rate as memeater, QEMU's page sampling and libvirt's job stats saw it.
public struct DirtyRateCrossCheck: Sendable, Equatable {
    /// QEMU's page sampling under TCG cannot report more than about 60 MB/s (its sampling
    /// is bounded by TCG's dirty tracking), so a higher figure is that limit, not a result.
    public static let tcgPageSamplingCeilingMiBPerSecond = 60_000_000.0 / 1_048_576.0
    /// Ratios inside this range count as agreeing: sampling a few seconds of a paced writer
    /// cannot be closer than about a fifth.
    public static let agreementRange: ClosedRange<Double> = 0.8...1.25

    public var runID: String
    public var achievedMiBPerSecond: Double?
    public var qemuSampledMiBPerSecond: Double?
    public var jobStatsMiBPerSecond: Double?
    /// QEMU's figure / memeater's.
    public var qemuRatio: Double?
    /// Job stats' figure / memeater's.
    public var jobStatsRatio: Double?
    public var qemuVerdict: Verdict

    public enum Verdict: Sendable, Equatable {
        /// QEMU sampled no dirty rate for the run.
        case notMeasured
        /// Nothing to compare with: memeater's achieved rate is unknown or 0.
        case noReference
        /// QEMU's figure is within 0.8–1.25× memeater's achieved rate.
        case agrees
        /// QEMU's figure is outside 0.8–1.25× memeater's achieved rate.
        case differs
        /// A stated limit of the measurement, not a pass: the reason is given.
        case statedLimit(String)

        public var text: String {
            switch self {
            case .notMeasured: return "not measured"
            case .noReference: return "no achieved rate to compare with"
            case .agrees: return "agrees"
            case .differs: return "differs"
            case .statedLimit(let reason): return "stated limit: \(reason)"
            }
        }
    }

    /// Cross-checks `run`; `accelerator` is the sweep's, and a run whose emulator names TCG
    /// counts as TCG too.
    public init(run: ReportRun, accelerator: ReportAccelerator) {
        runID = run.runID
        achievedMiBPerSecond = run.achievedDirtyRateMiBPerSecond
        qemuSampledMiBPerSecond = run.qemuSampledDirtyRateMiBPerSecond
        jobStatsMiBPerSecond = run.jobStatsDirtyRateMiBPerSecond
        let reference = run.achievedDirtyRateMiBPerSecond.flatMap { $0 > 0 ? $0 : nil }
        qemuRatio = reference.flatMap { reference in run.qemuSampledDirtyRateMiBPerSecond.map { $0 / reference } }
        jobStatsRatio = reference.flatMap { reference in run.jobStatsDirtyRateMiBPerSecond.map { $0 / reference } }
        let underTCG = accelerator == .tcg || run.parameters.emulator.lowercased().contains("tcg")
        if let qemu = run.qemuSampledDirtyRateMiBPerSecond {
            if underTCG && qemu > Self.tcgPageSamplingCeilingMiBPerSecond {
                qemuVerdict = .statedLimit(run.qemuSampledDirtyRateLimitNote
                    ?? "QEMU's page sampling under TCG is not trusted above ~60 MB/s")
            } else if let ratio = qemuRatio {
                qemuVerdict = Self.agreementRange.contains(ratio) ? .agrees : .differs
            } else {
                qemuVerdict = .noReference
            }
        } else {
            qemuVerdict = .notMeasured
        }
    }
}

/// One measured quantity of a cell in two sweeps.
public struct MetricComparison: Sendable, Equatable {
    /// other mean / this mean; `nil` when a mean is missing or this one is 0.
    public var ratio: Double?
    /// Whether the two 95 % confidence intervals overlap; `nil` when one is missing.
    public var confidenceIntervalsOverlap: Bool?

    /// The difference exceeds the confidence intervals: they do not overlap.
    public var exceedsConfidenceIntervals: Bool { confidenceIntervalsOverlap == false }

    public init(this: ReportStatistic, other: ReportStatistic) {
        if let thisMean = this.mean, let otherMean = other.mean, thisMean != 0 {
            ratio = otherMean / thisMean
        } else {
            ratio = nil
        }
        if let thisLow = this.confidenceLow, let thisHigh = this.confidenceHigh,
           let otherLow = other.confidenceLow, let otherHigh = other.confidenceHigh {
            confidenceIntervalsOverlap = thisLow <= otherHigh && otherLow <= thisHigh
        } else {
            confidenceIntervalsOverlap = nil
        }
    }
}

/// A cell found in both sweeps.
public struct MatchedCells: Sendable, Equatable {
    public var this: ReportCell
    public var other: ReportCell
    public var migrationTime: MetricComparison
    public var libvirtDowntime: MetricComparison
    public var pingGap: MetricComparison
}

/// Two sweeps side by side: cells matched by their parameters, leaving out the parameters
/// on which the sweeps differ as a whole (e.g. one ran KVM, the other TCG).
public struct SweepComparison: Sendable, Equatable {
    public var thisSweepID: String
    public var otherSweepID: String
    /// The parameters the sweeps differ in: no value is common to both. They are what the
    /// comparison compares, so they are left out of matching.
    public var differingParameters: [String]
    public var matched: [MatchedCells]
    public var onlyInThis: [ReportCell]
    public var onlyInOther: [ReportCell]

    public init(this: ReportDocument, other: ReportDocument) {
        thisSweepID = this.sweepID
        otherSweepID = other.sweepID
        // A parameter differs between the sweeps when the two sets of its values share
        // nothing; one sweep having an extra memory size does not make memory "differ".
        let names = orderedNames(this.cells + other.cells)
        differingParameters = names.filter { name in
            let thisValues = Set(this.cells.compactMap { value(of: name, in: $0) })
            let otherValues = Set(other.cells.compactMap { value(of: name, in: $0) })
            return !thisValues.isEmpty && !otherValues.isEmpty && thisValues.isDisjoint(with: otherValues)
        }
        let excluded = Set(differingParameters)
        func key(_ cell: ReportCell) -> [String] {
            cell.parameters.namedValues.filter { !excluded.contains($0.name) }.map { "\($0.name)=\($0.value)" }
        }
        var unmatchedOther = other.cells
        var matched: [MatchedCells] = []
        var onlyInThis: [ReportCell] = []
        for cell in this.cells {
            let cellKey = key(cell)
            if let index = unmatchedOther.firstIndex(where: { key($0) == cellKey }) {
                let partner = unmatchedOther.remove(at: index)
                matched.append(MatchedCells(
                    this: cell, other: partner,
                    migrationTime: MetricComparison(this: cell.migrationMilliseconds, other: partner.migrationMilliseconds),
                    libvirtDowntime: MetricComparison(this: cell.libvirtDowntimeMilliseconds,
                                                      other: partner.libvirtDowntimeMilliseconds),
                    pingGap: MetricComparison(this: cell.pingGapMilliseconds, other: partner.pingGapMilliseconds)))
            } else {
                onlyInThis.append(cell)
            }
        }
        self.matched = matched
        self.onlyInThis = onlyInThis
        onlyInOther = unmatchedOther
    }
}

private func orderedNames(_ cells: [ReportCell]) -> [String] {
    var names: [String] = []
    for cell in cells {
        for entry in cell.parameters.namedValues where !names.contains(entry.name) { names.append(entry.name) }
    }
    return names
}

private func value(of name: String, in cell: ReportCell) -> String? {
    cell.parameters.namedValues.first { $0.name == name }?.value
}
