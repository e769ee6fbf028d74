import Foundation
import MemeaterKit
import MigrationModel

/// How memeater picks pages in the guest: its pattern, with the hot set's share of pages
/// and of writes for `hotset`. Written `sequential`, `random`, `hotset` (10 % of the pages
/// take 90 % of the writes) or `hotset:FRACTION:PROBABILITY`, e.g. `hotset:0.05:0.95`.
public struct MemeaterLoad: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The page pattern.
    public var pattern: PagePattern
    /// Share of the region in the hot set, in (0, 1) (`hotset` only).
    public var hotFraction: Double?
    /// Share of the writes that go to the hot set, in [0, 1] (`hotset` only).
    public var hotProbability: Double?

    /// memeater's default: a sequential sweep.
    public static let sequential = MemeaterLoad(pattern: .sequential)

    /// Creates a load; for `hotset` the shares default to memeater's (0.1 and 0.9).
    public init(pattern: PagePattern, hotFraction: Double? = nil, hotProbability: Double? = nil) {
        self.pattern = pattern
        if pattern == .hotset {
            self.hotFraction = hotFraction ?? 0.1
            self.hotProbability = hotProbability ?? 0.9
        }
    }

    /// Reads `sequential`, `random`, `hotset` or `hotset:FRACTION:PROBABILITY`.
    public init(parsing text: String) throws(VerifierError) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard let pattern = PagePattern(rawValue: parts[0]) else {
            throw .invalidOptions("unknown memeater pattern '\(text)' (known: sequential, random, hotset, hotset:FRACTION:PROBABILITY)")
        }
        switch (pattern, parts.count) {
        case (_, 1):
            self.init(pattern: pattern)
        case (.hotset, 3):
            guard let fraction = Double(parts[1]), fraction > 0, fraction < 1,
                  let probability = Double(parts[2]), probability >= 0, probability <= 1 else {
                throw .invalidOptions("pattern '\(text)': the hot set's share of pages must be in (0, 1) and its share of writes in [0, 1]")
            }
            self.init(pattern: .hotset, hotFraction: fraction, hotProbability: probability)
        default:
            throw .invalidOptions("pattern '\(text)': only hotset takes :FRACTION:PROBABILITY")
        }
    }

    /// The pattern as the pre-copy model and its fit take it.
    public var dirtyPattern: DirtyPattern {
        switch pattern {
        case .sequential: .sequential
        case .random: .random
        case .hotset: .hotSet(fraction: hotFraction ?? 0.1, probability: hotProbability ?? 0.9)
        }
    }

    /// The text ``init(parsing:)`` reads back.
    public var description: String {
        guard pattern == .hotset, let hotFraction, let hotProbability else { return pattern.rawValue }
        if hotFraction == 0.1, hotProbability == 0.9 { return "hotset" }
        return "hotset:\(formatNumber(hotFraction)):\(formatNumber(hotProbability))"
    }
}

/// A migration strategy of a sweep: changes to the sweep's base migration options, written
/// as words joined by `+`: `precopy` (nothing changed), `auto-converge`, `postcopy`,
/// `parallel=N`, `compression=METHOD` (multifd methods need `parallel=N` too),
/// `max-downtime=MS`; e.g. `parallel=4+compression=zstd`.
public struct MigrationStrategy: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The words, in the order given.
    public var words: [String]

    /// Plain pre-copy: the base options unchanged.
    public static let precopy = MigrationStrategy(words: ["precopy"])

    private init(words: [String]) { self.words = words }

    /// Reads a strategy; rejects unknown words and bad numbers in one line.
    public init(parsing text: String) throws(VerifierError) {
        let words = text.split(separator: "+").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !words.isEmpty, !words.contains(where: \.isEmpty) else {
            throw .invalidOptions("empty migration strategy in '\(text)'")
        }
        self.words = words
        var scratch = MigrationOptions()
        try apply(to: &scratch)
    }

    /// The text ``init(parsing:)`` reads back.
    public var description: String { words.joined(separator: "+") }

    /// Applies the strategy to `options`; throws on a word it does not know.
    public func apply(to options: inout MigrationOptions) throws(VerifierError) {
        for word in words {
            let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
            let name = parts[0]
            let value = parts.count == 2 ? parts[1] : nil
            switch (name, value) {
            case ("precopy", nil): break
            case ("auto-converge", nil): options.autoConverge = true
            case ("postcopy", nil): options.postCopy = true
            case ("parallel", let text?):
                guard let count = Int(text), (2...255).contains(count) else {
                    throw .invalidOptions("strategy '\(description)': parallel=N needs N between 2 and 255, not '\(text)'")
                }
                options.parallelConnections = count
            case ("compression", let method?):
                options.compressionMethods.append(method)
            case ("max-downtime", let text?):
                guard let milliseconds = UInt64(text), milliseconds >= 1, milliseconds <= 3_600_000 else {
                    throw .invalidOptions("strategy '\(description)': max-downtime=MS needs MS between 1 and 3600000, not '\(text)'")
                }
                options.qemuMaxDowntimeMilliseconds = milliseconds
            default:
                throw .invalidOptions("unknown migration strategy word '\(word)' (known: precopy, auto-converge, postcopy, parallel=N, compression=METHOD, max-downtime=MS)")
            }
        }
    }
}

/// A sweep's matrix: every combination of these lists is a cell, each repeated
/// `repeatCount` times. An empty bandwidth list entry `nil` means unlimited.
public struct SweepMatrix: Codable, Sendable, Equatable {
    public var scenarios: [ScenarioKind]
    public var memorySizesMiB: [Int]
    public var dirtyRatesMiBPerSecond: [Double]
    /// Bandwidth limits in MiB/s; `nil`: unlimited.
    public var bandwidthsMiBPerSecond: [UInt64?]
    public var loads: [MemeaterLoad]
    public var strategies: [MigrationStrategy]
    /// Emulator short names or paths (lab only).
    public var emulators: [String]
    /// Guest kinds (lab only).
    public var guestKinds: [String]
    /// Runs per cell, at least 1.
    public var repeatCount: Int

    /// The largest `repeatCount` accepted: a matrix is built in memory.
    public static let maximumRepeatCount = 1_000

    /// Creates a matrix; the defaults are one live cell per memory size and rate.
    public init(scenarios: [ScenarioKind] = [.live], memorySizesMiB: [Int], dirtyRatesMiBPerSecond: [Double],
                bandwidthsMiBPerSecond: [UInt64?] = [nil], loads: [MemeaterLoad] = [.sequential],
                strategies: [MigrationStrategy] = [.precopy], emulators: [String] = ["default"],
                guestKinds: [String] = ["initramfs"], repeatCount: Int = 1) {
        self.scenarios = scenarios
        self.memorySizesMiB = memorySizesMiB
        self.dirtyRatesMiBPerSecond = dirtyRatesMiBPerSecond
        self.bandwidthsMiBPerSecond = bandwidthsMiBPerSecond
        self.loads = loads
        self.strategies = strategies
        self.emulators = emulators
        self.guestKinds = guestKinds
        self.repeatCount = repeatCount
    }

    /// The number of runs the matrix stands for (before duplicates are dropped).
    public var runCount: Int {
        [scenarios.count, memorySizesMiB.count, dirtyRatesMiBPerSecond.count, bandwidthsMiBPerSecond.count, loads.count,
         strategies.count, emulators.count, guestKinds.count, max(1, repeatCount)].reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
    }

    /// The runs of the matrix on `template`, each validated, in an order that reboots the
    /// guest least: emulator, guest kind, memory size and load change slowest (each change
    /// boots a new guest), then strategy, bandwidth, dirty rate, scenario and repetition.
    /// Equal runs (e.g. a strategy that changes nothing twice) are kept once.
    public func cells(template: ScenarioParameters,
                      memeaterSizeMiB: (Int) -> Int = { max(16, $0 / 2) }) throws(VerifierError) -> [ScenarioParameters] {
        let lists: [(String, Int)] = [("scenarios", scenarios.count), ("memory sizes", memorySizesMiB.count),
                                      ("dirty rates", dirtyRatesMiBPerSecond.count), ("bandwidths", bandwidthsMiBPerSecond.count),
                                      ("patterns", loads.count), ("strategies", strategies.count),
                                      ("emulators", emulators.count), ("guest kinds", guestKinds.count)]
        if let empty = lists.first(where: { $0.1 == 0 }) { throw .invalidOptions("the matrix has no \(empty.0)") }
        guard (1...Self.maximumRepeatCount).contains(repeatCount) else {
            throw .invalidOptions("repeat must be between 1 and \(Self.maximumRepeatCount), not \(repeatCount)")
        }
        guard runCount <= 100_000 else { throw .invalidOptions("the matrix has \(runCount) runs: at most 100000") }
        var seen = Set<String>()
        var runs: [ScenarioParameters] = []
        for emulator in emulators {
            for guestKind in guestKinds {
                for memory in memorySizesMiB {
                    for load in loads {
                        for strategy in strategies {
                            for bandwidth in bandwidthsMiBPerSecond {
                                for rate in dirtyRatesMiBPerSecond {
                                    for scenario in scenarios {
                                        var parameters = template
                                        parameters.scenario = scenario
                                        parameters.emulator = emulator
                                        parameters.guestKind = guestKind
                                        parameters.memoryMiB = memory
                                        parameters.memeaterSizeMiB = memeaterSizeMiB(memory)
                                        parameters.memeaterLoad = load == .sequential ? nil : load
                                        parameters.dirtyRateMiBPerSecond = rate
                                        parameters.migration.bandwidthMiBPerSecond = bandwidth ?? template.migration.bandwidthMiBPerSecond
                                        try strategy.apply(to: &parameters.migration)
                                        if !scenario.expectsMigrationToSucceed { parameters.roundTrip = false }
                                        try parameters.validate()
                                        for repetition in 1...repeatCount {
                                            parameters.repetition = repeatCount > 1 ? repetition : nil
                                            if seen.insert(parameters.key).inserted { runs.append(parameters) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return runs
    }
}
