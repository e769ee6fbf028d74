/// What a tester asks of a run: `--require-zero-loss`, `--max-downtime-ms`.
public struct VerdictCriteria: Sendable, Equatable {
    /// Fail when any probe went unanswered (or when no probe was seen at all).
    public var requireZeroLoss: Bool
    /// Fail when the downtime is longer than this, in milliseconds.
    public var maximumDowntimeMilliseconds: Double?

    public init(requireZeroLoss: Bool = false, maximumDowntimeMilliseconds: Double? = nil) {
        self.requireZeroLoss = requireZeroLoss
        self.maximumDowntimeMilliseconds = maximumDowntimeMilliseconds
    }

    /// True when there is something to check.
    public var isEmpty: Bool { !requireZeroLoss && maximumDowntimeMilliseconds == nil }
}

/// The outcome of the checks a tester asked for, each stated with what it looked at.
public struct Verdict: Sendable, Equatable, Codable {
    /// True when every requested check passed (and when none was requested).
    public var passed: Bool
    /// One line per check that passed.
    public var checks: [String]
    /// One line per check that failed.
    public var failures: [String]

    public init(passed: Bool, checks: [String], failures: [String]) {
        self.passed = passed
        self.checks = checks
        self.failures = failures
    }

    /// Applies `criteria` to `analysis`.
    public static func evaluate(_ analysis: PingAnalysis, criteria: VerdictCriteria) -> Verdict {
        var checks: [String] = []
        var failures: [String] = []
        if criteria.requireZeroLoss {
            if analysis.sent == 0 {
                failures.append("zero loss: no probe was seen, so continuity is not shown")
            } else if analysis.lost > 0 {
                failures.append("zero loss: \(analysis.lost) of \(analysis.sent) probes lost in \(analysis.lossRunCount) runs")
            } else {
                checks.append("zero loss: 0 of \(analysis.sent) probes lost")
            }
        }
        if let limit = criteria.maximumDowntimeMilliseconds {
            let downtime = analysis.downtimeMilliseconds
            let line = "downtime \(Format.milliseconds(downtime)) ms (\(analysis.downtimeLostProbes) probes lost\(analysis.downtimeLateProbes > 0 ? ", \(analysis.downtimeLateProbes) answered late" : "") in the gap) against a limit of \(Format.milliseconds(limit)) ms"
            if analysis.sent == 0 {
                failures.append("downtime: no probe was seen, so downtime is not measured")
            } else if downtime > limit {
                failures.append(line)
            } else {
                checks.append(line)
            }
        }
        return Verdict(passed: failures.isEmpty, checks: checks, failures: failures)
    }
}

/// Number formatting for people (JSON keeps full precision).
enum Format {
    /// Milliseconds with three decimals (microsecond resolution).
    static func milliseconds(_ value: Double) -> String { fixed(value, decimals: 3) }

    static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int64(scaled / scale)
        let fraction = Int64(scaled - Double(whole) * scale)
        var digits = String(fraction)
        while digits.count < decimals { digits = "0" + digits }
        let sign = value < 0 && scaled != 0 ? "-" : ""
        return decimals == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(digits)"
    }
}
