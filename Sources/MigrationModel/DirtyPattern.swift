import Foundation

/// How the guest's writer (memeater) picks the pages it dirties. It decides how many
/// *distinct* pages QEMU finds dirty after an interval, which is what a pass has to resend.
public enum DirtyPattern: Codable, Sendable, Hashable, CustomStringConvertible {
    /// A cursor sweeps the region and wraps around: every write is a new page until the
    /// whole region has been written.
    case sequential
    /// Every page of the region is equally likely.
    case random
    /// `fraction` of the region (the hot set) takes `probability` of the writes; the rest
    /// of the writes fall uniformly on the other pages.
    case hotSet(fraction: Double, probability: Double)

    /// `sequential`, `random` or `hotset:FRACTION:PROBABILITY`, as memeater and the sweep write it.
    public var description: String {
        switch self {
        case .sequential: "sequential"
        case .random: "random"
        case let .hotSet(fraction, probability): "hotset:\(formatNumber(fraction)):\(formatNumber(probability))"
        }
    }

    /// Whether some pages are written more often than others (a hot set that is a proper
    /// part of the region and takes more than its share of writes).
    public var isSkewed: Bool {
        guard case let .hotSet(fraction, probability) = self else { return false }
        return fraction > 0 && fraction < 1 && probability > fraction
    }

    /// Expected bytes QEMU finds dirty after `seconds`, when the writer dirties
    /// `dirtyRateBytesPerSecond` *unique* bytes per second within `dirtySetBytes`.
    ///
    /// What memeater's rate means (Sources/CMemeater/memeater.c, `me_engine_run_worker` and
    /// `dirty_page`): the pacer counts a write only when its page was not yet written in the
    /// current one-second window (`window = whole seconds since the engine started`); repeat
    /// picks within the window are written but not counted. So a rate of D means D bytes of
    /// distinct pages in every wall-clock second, and a window's pages are independent of
    /// the previous window's. (Workers split the region and the rate evenly and each keeps
    /// the same hot fraction, so the fractions below hold for the whole region.)
    ///
    /// With the region S, an interval of t = k + f seconds (k whole windows, then a part f),
    /// and c(f) the share of a page class written in a window's first f seconds:
    /// - sequential: the cursor continues across windows, so `min(D·t, S)`.
    /// - random: a window's unique pages are a uniform subset of the region, so
    ///   `c(f) = min(D·f / S, 1)` and a page stays clean with probability
    ///   `(1 − c(1))^k · (1 − c(f))`: dirty = `S · (1 − (1 − c(1))^k · (1 − c(f)))`, which is
    ///   D·t while D·t ≪ S (and exactly D·t within one window) and tends to S.
    /// - hot set (H = fraction·S takes probability p of writes, the cold rest C the other
    ///   1 − p): with w writes in a window, the expected distinct pages (coupon collector,
    ///   pages many) are `H(1 − e^(−p·w/H)) + C(1 − e^(−(1−p)·w/C))`; memeater writes until that
    ///   equals D·f, which gives w(f) (solved by bisection), and then
    ///   `c_hot(f) = 1 − e^(−p·w(f)/H)`, `c_cold(f) = 1 − e^(−(1−p)·w(f)/C)`; each class
    ///   adds `size · (1 − (1 − c(1))^k · (1 − c(f)))`.
    /// Passes are assumed to start on a window boundary; an interval that straddles two
    /// windows dirties slightly fewer pages (second order in D·t/S).
    public func uniqueDirtiedBytes(dirtyRateBytesPerSecond: Double, dirtySetBytes: Double, seconds: Double) -> Double {
        let rate = dirtyRateBytesPerSecond.isFinite ? max(0, dirtyRateBytesPerSecond) : 0
        let region = dirtySetBytes.isFinite ? max(0, dirtySetBytes) : 0
        guard seconds.isFinite, seconds > 0, rate > 0, region > 0 else { return 0 }
        let wholeWindows = seconds.rounded(.down)
        let partWindow = seconds - wholeWindows
        switch self {
        case .sequential:
            return min(rate * seconds, region)
        case .random:
            return Self.classDirtied(sizeBytes: region, fullWindowShare: min(rate / region, 1),
                                     partWindowShare: min(rate * partWindow / region, 1), wholeWindows: wholeWindows)
        case let .hotSet(fraction, probability):
            let hotShare = fraction.isFinite ? min(max(fraction, 0), 1) : 1
            let hotProbability = probability.isFinite ? min(max(probability, 0), 1) : hotShare
            let hotBytes = hotShare * region
            let coldBytes = region - hotBytes
            // A hot set that is empty or the whole region is plain random.
            guard hotBytes > 0, coldBytes > 0 else {
                return DirtyPattern.random.uniqueDirtiedBytes(dirtyRateBytesPerSecond: rate, dirtySetBytes: region, seconds: seconds)
            }
            let hot = WriteClass(sizeBytes: hotBytes, writeShare: hotProbability)
            let cold = WriteClass(sizeBytes: coldBytes, writeShare: 1 - hotProbability)
            let fullWrites = Self.writesForUnique(rate, classes: [hot, cold])
            let partWrites = Self.writesForUnique(rate * partWindow, classes: [hot, cold])
            return [hot, cold].reduce(0) { sum, kind in
                sum + Self.classDirtied(sizeBytes: kind.sizeBytes, fullWindowShare: kind.shareWritten(after: fullWrites),
                                        partWindowShare: kind.shareWritten(after: partWrites), wholeWindows: wholeWindows)
            }
        }
    }

    /// Pages of one class written uniformly at random: `sizeBytes` of them get `writeShare` of the writes.
    private struct WriteClass {
        var sizeBytes: Double
        var writeShare: Double

        /// Expected share of the class written after `writesBytes` of writes (any page size: it cancels).
        func shareWritten(after writesBytes: Double) -> Double {
            guard sizeBytes > 0, writeShare > 0, writesBytes > 0 else { return 0 }
            return -expm1(-writeShare * writesBytes / sizeBytes)
        }
    }

    /// Dirty bytes of one class after whole windows and a part window, each window
    /// independent: a page stays clean only if every window missed it.
    private static func classDirtied(sizeBytes: Double, fullWindowShare: Double, partWindowShare: Double, wholeWindows: Double) -> Double {
        let cleanAfterWholeWindows = pow(1 - min(max(fullWindowShare, 0), 1), wholeWindows)
        return sizeBytes * (1 - cleanAfterWholeWindows * (1 - min(max(partWindowShare, 0), 1)))
    }

    /// Bytes of writes (repeats included) a window needs to reach `uniqueBytes` distinct
    /// bytes; if the classes cannot hold that many, enough writes to fill what they can.
    private static func writesForUnique(_ uniqueBytes: Double, classes: [WriteClass]) -> Double {
        guard uniqueBytes > 0 else { return 0 }
        func unique(_ writes: Double) -> Double { classes.reduce(0) { $0 + $1.sizeBytes * $1.shareWritten(after: writes) } }
        var high = uniqueBytes
        var doublings = 0
        while unique(high) < uniqueBytes, doublings < 200 {
            high *= 2
            doublings += 1
        }
        // Unreachable (e.g. all writes go to a hot set smaller than the rate): every page the writes reach is written.
        if unique(high) < uniqueBytes { return high }
        var low = 0.0
        for _ in 0..<100 where high - low > 1e-9 * high {
            let middle = (low + high) / 2
            if unique(middle) < uniqueBytes { low = middle } else { high = middle }
        }
        return high
    }
}
