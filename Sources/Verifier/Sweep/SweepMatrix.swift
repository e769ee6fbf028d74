import Foundation
import Lab
import MemeaterKit
import MigrationModel

// `MemeaterLoad` lives in the Lab target (the lab guest's start-up needs it too); the
// verifier reads it through `MemeaterLoad.parsedOption(_:)` so that a bad text stays an
// invalid option with the same one-line message.

extension VerifierError {
    /// A memeater load text that cannot be read, as an invalid option (its one-line text kept).
    public init(_ error: MemeaterLoadParseError) {
        self = .invalidOptions(error.description)
    }
}

extension MemeaterLoad {
    /// Reads a load as ``MemeaterLoad/init(parsing:)`` does, failing with
    /// ``VerifierError/invalidOptions(_:)``.
    public static func parsedOption(_ text: String) throws(VerifierError) -> MemeaterLoad {
        do {
            return try MemeaterLoad(parsing: text)
        } catch {
            throw VerifierError(error)
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
        let words = text.split(separator: "+", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
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
                let most = MigrationOptions.maximumQEMUDowntimeMilliseconds
                guard let milliseconds = UInt64(text), (1...most).contains(milliseconds) else {
                    throw .invalidOptions("strategy '\(description)': max-downtime=MS needs MS between 1 and \(most), not '\(text)'")
                }
                options.qemuMaxDowntimeMilliseconds = milliseconds
            case ("tls", nil): options.tls = true
            case ("tunnelled", nil): options.tunnelled = true
            case ("client-managed", nil): options.mode = .clientManaged
            default:
                throw .invalidOptions("unknown migration strategy word '\(word)' (known: precopy, auto-converge, postcopy, parallel=N, compression=METHOD, max-downtime=MS, tls, tunnelled, client-managed)")
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
    /// The guest counts N of the evacuation axis (`--guest-count 1,2,4`, the matrix file's
    /// `guest-count`): each run of the matrix is an evacuation of N guests, for each N
    /// (``evacuationGuestCounts``); `nil`: one guest, no evacuation (absent from the stored
    /// definition, as before the axis existed).
    public var guestCounts: [Int]?

    /// The largest `repeatCount` accepted: a matrix is built in memory.
    public static let maximumRepeatCount = 1_000

    /// Creates a matrix; the defaults are one live cell per memory size and rate.
    public init(scenarios: [ScenarioKind] = [.live], memorySizesMiB: [Int], dirtyRatesMiBPerSecond: [Double],
                bandwidthsMiBPerSecond: [UInt64?] = [nil], loads: [MemeaterLoad] = [.sequential],
                strategies: [MigrationStrategy] = [.precopy], emulators: [String] = ["default"],
                guestKinds: [String] = ["initramfs"], repeatCount: Int = 1, guestCounts: [Int]? = nil) {
        self.scenarios = scenarios
        self.memorySizesMiB = memorySizesMiB
        self.dirtyRatesMiBPerSecond = dirtyRatesMiBPerSecond
        self.bandwidthsMiBPerSecond = bandwidthsMiBPerSecond
        self.loads = loads
        self.strategies = strategies
        self.emulators = emulators
        self.guestKinds = guestKinds
        self.repeatCount = repeatCount
        self.guestCounts = guestCounts
    }

    /// The evacuation axis as run: each guest count once, in the order first given (`nil`: no
    /// evacuation).
    public var evacuationGuestCounts: [Int]? {
        guard let guestCounts else { return nil }
        var seen = Set<Int>()
        return guestCounts.filter { seen.insert($0).inserted }
    }

    /// The number of runs the matrix stands for (before duplicates are dropped).
    public var runCount: Int {
        [scenarios.count, memorySizesMiB.count, dirtyRatesMiBPerSecond.count, bandwidthsMiBPerSecond.count, loads.count,
         strategies.count, emulators.count, guestKinds.count, max(1, repeatCount)].reduce(1) { product, count in
            // Saturating: a wrapped product could look small enough to build.
            let (result, overflow) = product.multipliedReportingOverflow(by: count)
            return overflow ? Int.max : result
        }
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
                                        if !scenario.measuresAnUndisturbedMigration { parameters.roundTrip = false }
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
