import MemeaterKit
import MigrationModel

/// What the guest dirtied during the pre-copy passes, from memeater's counter history (read
/// after the landing) placed on the run clock: the rate the pre-copy model should be fed.
/// Under TCG, dirty tracking slows the guest's writes, so the rate before the migration
/// overstates what the passes had to chase.
public struct PreCopyGuestLoad: Sendable, Equatable {
    /// One pre-copy pass: libvirt's `memory_iteration` value, its span on the run clock (ms)
    /// and the guest's unique dirtying over it.
    public struct Pass: Sendable, Equatable {
        public var iteration: Int
        public var startMilliseconds: Double
        public var endMilliseconds: Double
        public var mibPerSecond: Double
    }

    /// From the call to the switch-over, MiB/s.
    public var mibPerSecond: Double
    public var startMilliseconds: Double
    public var endMilliseconds: Double
    /// Each pass seen in the job-stats samples, first to last, that lasted at least
    /// ``minimumPassMilliseconds``.
    public var passes: [Pass]
    /// Passes too short for memeater's 100 ms samples to resolve a rate (seen on the lab: the
    /// last passes of an unlimited-rate migration last 20-60 ms, and their interpolated rates
    /// swing from 0 to twice the guest's); they still count in the whole pre-copy's rate.
    public static let minimumPassMilliseconds = 250.0
    /// How the figure was obtained, one sentence.
    public var source: String

    /// Why it cannot be computed, one line.
    public struct Missing: Error, Sendable, Equatable {
        public var reason: String
    }

    /// The guest's rate between the call (`callStartMilliseconds`) and the switch-over
    /// (`switchOverMilliseconds`, with `switchOverSource` naming what marked it), and per pass
    /// between the first job-stats samples of each `memory_iteration` value (`iterationStarts`,
    /// ms on the run clock). `clock` places the history's guest times on the run clock: the
    /// guest's clock runs with the host's until the pause, so the reading just before the call
    /// fixes the offset (within half its round trip).
    public static func measure(history: [RateHistorySample], clock: GuestClockReadings, pageSizeBytes: Int,
                               callStartMilliseconds: Double, switchOverMilliseconds: Double, switchOverSource: String,
                               iterationStarts: [(iteration: Int, milliseconds: Double)]) -> Result<PreCopyGuestLoad, Missing> {
        let offset = (clock.beforeSentAtMilliseconds + clock.beforeReceivedAtMilliseconds) / 2 - clock.guestBeforeMilliseconds
        let points = history.map { (milliseconds: Double($0.guestMonotonicNanoseconds) / 1e6 + offset, pages: Double($0.pagesDirtied)) }
        guard switchOverMilliseconds > callStartMilliseconds else {
            return .failure(Missing(reason: "the switch-over (\(formatNumber(switchOverMilliseconds)) ms) is not after the call "
                                    + "(\(formatNumber(callStartMilliseconds)) ms)"))
        }
        func rate(_ start: Double, _ end: Double) -> Double? {
            guard end > start, let first = pages(at: start, points), let last = pages(at: end, points), last >= first else { return nil }
            return (last - first) * Double(pageSizeBytes) / 1_048_576 / ((end - start) / 1000)
        }
        guard let whole = rate(callStartMilliseconds, switchOverMilliseconds) else {
            let span = points.first.map { "\(formatNumber($0.milliseconds))–\(formatNumber(points.last?.milliseconds ?? $0.milliseconds)) ms" } ?? "empty"
            return .failure(Missing(reason: "memeater's history (\(history.count) samples, \(span) on the run clock) does not span "
                                    + "the pre-copy \(formatNumber(callStartMilliseconds))–\(formatNumber(switchOverMilliseconds)) ms, "
                                    + "or its counter went back"))
        }
        var passes: [Pass] = []
        let starts = iterationStarts.filter { $0.milliseconds < switchOverMilliseconds }
        for (index, start) in starts.enumerated() {
            let from = index == 0 ? callStartMilliseconds : start.milliseconds
            let to = index + 1 < starts.count ? starts[index + 1].milliseconds : switchOverMilliseconds
            guard to - from >= minimumPassMilliseconds, let passRate = rate(from, to) else { continue }
            passes.append(Pass(iteration: start.iteration, startMilliseconds: from, endMilliseconds: to, mibPerSecond: passRate))
        }
        let source = "memeater's unique-page counter at its 100 ms reports (read after the landing, placed on the run clock by "
            + "the guest's clock read just before the call), from the call to \(switchOverSource)"
        return .success(PreCopyGuestLoad(mibPerSecond: whole, startMilliseconds: callStartMilliseconds,
                                         endMilliseconds: switchOverMilliseconds, passes: passes, source: source))
    }

    /// The counter at `milliseconds`, linear between the samples around it (`nil` outside them).
    static func pages(at milliseconds: Double, _ points: [(milliseconds: Double, pages: Double)]) -> Double? {
        guard let after = points.firstIndex(where: { $0.milliseconds >= milliseconds }) else { return nil }
        let right = points[after]
        if right.milliseconds == milliseconds { return right.pages }
        guard after > 0 else { return nil }
        let left = points[after - 1]
        let share = (milliseconds - left.milliseconds) / (right.milliseconds - left.milliseconds)
        return left.pages + share * (right.pages - left.pages)
    }

    /// The first run-clock offset of each `memory_iteration` value in job-stats samples, in order.
    public static func iterationStarts(_ samples: [(iteration: UInt64?, milliseconds: Double)]) -> [(iteration: Int, milliseconds: Double)] {
        var starts: [(iteration: Int, milliseconds: Double)] = []
        for sample in samples {
            guard let iteration = sample.iteration, iteration > 0 else { continue }
            if starts.last.map({ Int(clamping: iteration) > $0.iteration }) ?? true {
                starts.append((Int(clamping: iteration), sample.milliseconds))
            }
        }
        return starts
    }
}
