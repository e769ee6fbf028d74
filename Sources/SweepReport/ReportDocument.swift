import Foundation

// The view model a report is rendered from: plain values, no database, no libvirt.
// Whoever reads the stored results maps them onto these types; everything here is
// in the units its name says, and a measurement that was not taken is `nil`, never 0.

/// One sweep, as the report shows it.
public struct ReportDocument: Sendable, Equatable {
    /// The sweep's identifier (what `migverify report ID` was given).
    public var sweepID: String
    /// A title for people, e.g. "KVM, 2 memory sizes × 3 dirty rates".
    public var title: String
    /// When the sweep was created.
    public var createdAt: Date
    /// Where it ran: accelerator, QEMU and libvirt versions, host.
    public var environment: ReportEnvironment
    /// Free notes shown under the title.
    public var notes: [String]
    /// The interval between ping probes, which bounds how exactly a ping gap measures an
    /// outage; `nil` when unknown (the downtime decomposition then shows no tolerance).
    public var pingProbeIntervalMilliseconds: Double?
    /// Statistics per cell of the matrix.
    public var cells: [ReportCell]
    /// Every migration of the sweep.
    public var runs: [ReportRun]
    /// The pre-copy model fitted per strategy, one for each strategy that was fitted (a
    /// sweep of one strategy has at most one).
    public var fits: [ReportFit]
    /// The strategies of live runs that have no fit, and why (too few cells, post-copy).
    public var unfittedStrategies: [ReportUnfittedStrategy]
    /// Measured and predicted convergence boundaries.
    public var boundaries: [ReportBoundary]
    /// Job-stats timelines of selected runs.
    public var timelines: [ReportTimeline]
    /// What the measurements cannot show (stated limits), one sentence each.
    public var limits: [String]
    /// The sweep's evacuations (`--guest-count`), each of N guests at once; their guests' runs
    /// are not in ``cells`` or ``runs``. Empty: the report has no Evacuation section.
    public var evacuations: [ReportEvacuation]

    public init(sweepID: String, title: String, createdAt: Date, environment: ReportEnvironment,
                notes: [String] = [], pingProbeIntervalMilliseconds: Double? = nil,
                cells: [ReportCell], runs: [ReportRun], fits: [ReportFit] = [],
                unfittedStrategies: [ReportUnfittedStrategy] = [], boundaries: [ReportBoundary] = [], timelines: [ReportTimeline] = [], limits: [String] = [],
                evacuations: [ReportEvacuation] = []) {
        self.sweepID = sweepID
        self.title = title
        self.createdAt = createdAt
        self.environment = environment
        self.notes = notes
        self.pingProbeIntervalMilliseconds = pingProbeIntervalMilliseconds
        self.cells = cells
        self.runs = runs
        self.fits = fits
        self.unfittedStrategies = unfittedStrategies
        self.boundaries = boundaries
        self.timelines = timelines
        self.limits = limits
        self.evacuations = evacuations
    }
}

/// One evacuation of a sweep: N guests migrated from one host at once, its figures taken
/// from its guests' runs (the migration calls on the wall clock, the longest ping gaps).
public struct ReportEvacuation: Sendable, Equatable {
    /// Shared by its guests' runs.
    public var evacuationID: String
    /// The run of the matrix it ran, e.g. "live 1024 MiB @ 50 MiB/s".
    public var cellLabel: String
    /// N, the guests it migrated; of them, those that landed and those whose every check passed.
    public var guestCount: Int
    public var landedCount: Int
    public var passedCount: Int
    /// From the first guest's migration start to the last landing, s (`nil`: none landed).
    public var totalSeconds: Double?
    /// The landed guests' migration times added up: migrating them one after another, s.
    public var serialSumSeconds: Double?
    /// The serial sum over the total (1: migrating them together saved nothing).
    public var speedup: Double?
    /// Over the landed guests' downtimes (longest ping gap), ms: the median and the worst.
    public var downtimeMillisecondsMedian: Double?
    public var downtimeMillisecondsWorst: Double?
    /// Each landed guest's downtime, ms, in guest order (a guest without one is left out).
    public var guestDowntimesMilliseconds: [Double]

    public init(evacuationID: String, cellLabel: String, guestCount: Int, landedCount: Int, passedCount: Int,
                totalSeconds: Double?, serialSumSeconds: Double?, speedup: Double?,
                downtimeMillisecondsMedian: Double?, downtimeMillisecondsWorst: Double?, guestDowntimesMilliseconds: [Double]) {
        self.evacuationID = evacuationID
        self.cellLabel = cellLabel
        self.guestCount = guestCount
        self.landedCount = landedCount
        self.passedCount = passedCount
        self.totalSeconds = totalSeconds
        self.serialSumSeconds = serialSumSeconds
        self.speedup = speedup
        self.downtimeMillisecondsMedian = downtimeMillisecondsMedian
        self.downtimeMillisecondsWorst = downtimeMillisecondsWorst
        self.guestDowntimesMilliseconds = guestDowntimesMilliseconds
    }
}

extension ReportDocument {
    /// The cells of undisturbed (live) migrations: those with time statistics and plots.
    public var liveCells: [ReportCell] { cells.filter { $0.failureScenario == nil } }
    /// The cells of failure scenarios.
    public var failureCells: [ReportCell] { cells.filter { $0.failureScenario != nil } }
    /// The runs of undisturbed (live) migrations: those that can converge.
    public var liveRuns: [ReportRun] { runs.filter { $0.failure == nil } }
    /// The runs of failure scenarios.
    public var failureRuns: [ReportRun] { runs.filter { $0.failure != nil } }
    /// Whether the sweep's model is one fit of one strategy, nothing else left unfitted: the
    /// common case, shown as a single model.
    public var hasSingleFit: Bool { fits.count == 1 && unfittedStrategies.isEmpty }
}

/// How QEMU executed the guests.
public enum ReportAccelerator: String, Sendable, Equatable, CaseIterable {
    /// Hardware virtualisation.
    case kvm
    /// QEMU's software emulation, whose page-sampling dirty rate is limited (see
    /// ``DirtyRateCrossCheck``).
    case tcg
}

/// Where a sweep ran.
public struct ReportEnvironment: Sendable, Equatable {
    public var accelerator: ReportAccelerator
    public var qemuVersion: String
    public var libvirtVersion: String
    public var host: String
    /// Anything else worth a line (kernel, CPU model, ...).
    public var otherLines: [String]

    public init(accelerator: ReportAccelerator, qemuVersion: String, libvirtVersion: String, host: String,
                otherLines: [String] = []) {
        self.accelerator = accelerator
        self.qemuVersion = qemuVersion
        self.libvirtVersion = libvirtVersion
        self.host = host
        self.otherLines = otherLines
    }

    /// The environment as "name: value" lines, in a fixed order.
    public var lines: [String] {
        ["accelerator: \(accelerator.rawValue)", "QEMU: \(qemuVersion)", "libvirt: \(libvirtVersion)", "host: \(host)"]
            + otherLines
    }
}

/// The parameters that define a cell of the sweep matrix; every run of a cell shares them.
public struct ReportCellParameters: Sendable, Hashable {
    public var memoryMiB: Int
    public var memeaterSizeMiB: Int
    /// The memeater write pattern, e.g. "sequential", "random".
    public var pattern: String
    /// The migration strategy, e.g. "precopy", "postcopy-after-2".
    public var strategy: String
    /// The migration bandwidth limit; `nil` when unlimited.
    public var bandwidthLimitMiBPerSecond: Double?
    /// The rate memeater was asked to dirty memory at.
    public var targetDirtyRateMiBPerSecond: Double
    /// The emulator, e.g. "qemu-kvm" or "qemu-tcg".
    public var emulator: String
    /// The guest kind, e.g. "alpine-memeater".
    public var guestKind: String
    /// Any further parameter by name (e.g. "mode": "p2p"), compared as text.
    public var additional: [String: String]

    public init(memoryMiB: Int, memeaterSizeMiB: Int, pattern: String, strategy: String,
                bandwidthLimitMiBPerSecond: Double?, targetDirtyRateMiBPerSecond: Double,
                emulator: String, guestKind: String, additional: [String: String] = [:]) {
        self.memoryMiB = memoryMiB
        self.memeaterSizeMiB = memeaterSizeMiB
        self.pattern = pattern
        self.strategy = strategy
        self.bandwidthLimitMiBPerSecond = bandwidthLimitMiBPerSecond
        self.targetDirtyRateMiBPerSecond = targetDirtyRateMiBPerSecond
        self.emulator = emulator
        self.guestKind = guestKind
        self.additional = additional
    }

    /// Every parameter as (name, text), in a fixed order: what the compare view matches on.
    public var namedValues: [(name: String, value: String)] {
        var values: [(name: String, value: String)] = [
            ("memory MiB", String(memoryMiB)),
            ("memeater MiB", String(memeaterSizeMiB)),
            ("pattern", pattern),
            ("strategy", strategy),
            ("bandwidth MiB/s", ReportFormat.bandwidth(bandwidthLimitMiBPerSecond)),
            ("target dirty MiB/s", ReportFormat.number(targetDirtyRateMiBPerSecond)),
            ("emulator", emulator),
            ("guest", guestKind),
        ]
        for name in additional.keys.sorted() {
            values.append((name, additional[name] ?? ""))
        }
        return values
    }
}

/// Statistics of one measured quantity over a cell's repetitions; each is `nil` when it
/// could not be computed (too few values).
public struct ReportStatistic: Sendable, Equatable {
    public var count: Int
    public var mean: Double?
    public var median: Double?
    public var standardDeviation: Double?
    public var minimum: Double?
    public var maximum: Double?
    /// The 95 % confidence interval of the mean.
    public var confidenceLow: Double?
    public var confidenceHigh: Double?

    public init(count: Int, mean: Double? = nil, median: Double? = nil, standardDeviation: Double? = nil,
                minimum: Double? = nil, maximum: Double? = nil,
                confidenceLow: Double? = nil, confidenceHigh: Double? = nil) {
        self.count = count
        self.mean = mean
        self.median = median
        self.standardDeviation = standardDeviation
        self.minimum = minimum
        self.maximum = maximum
        self.confidenceLow = confidenceLow
        self.confidenceHigh = confidenceHigh
    }

    /// No values at all.
    public static let empty = ReportStatistic(count: 0)

    /// Below this many values the error bar is the min/max range, not the 95 % CI: with
    /// two values the t-based interval is ±12.7 standard errors and says little.
    public static let minimumCountForConfidenceBars = 3

    /// The error bar a plot draws around the mean: the 95 % CI when there are enough
    /// values, else min/max; `nil` when neither is known.
    public var errorBar: (low: Double, high: Double, kind: ErrorBarKind)? {
        if count >= Self.minimumCountForConfidenceBars, let low = confidenceLow, let high = confidenceHigh {
            return (low, high, .confidence95)
        }
        if let low = minimum, let high = maximum { return (low, high, .minimumMaximum) }
        if let low = confidenceLow, let high = confidenceHigh { return (low, high, .confidence95) }
        return nil
    }

    /// What an error bar spans.
    public enum ErrorBarKind: String, Sendable { case confidence95 = "95% CI", minimumMaximum = "min/max" }
}

/// One cell of the sweep matrix and the statistics over its repetitions.
public struct ReportCell: Sendable, Equatable {
    /// A label for people, e.g. "1024 MiB @ 200 MiB/s"; may hold any text.
    public var label: String
    public var parameters: ReportCellParameters
    public var migrationMilliseconds: ReportStatistic
    public var libvirtDowntimeMilliseconds: ReportStatistic
    public var pingGapMilliseconds: ReportStatistic
    /// What the fitted model predicts for this cell, if a model was fitted.
    public var predictedMigrationMilliseconds: Double?
    /// The downtime model's prediction (``ReportDowntimeModel``), not the pre-copy model's bound.
    public var predictedDowntimeMilliseconds: Double?
    /// How many runs converged, of ``runCount``.
    public var convergedCount: Int
    public var runCount: Int
    /// The dirty rate the guest achieved over the same runs as the time statistics (the
    /// converged ones): what the plots put on their x axis, since the target says nothing of
    /// an unlimited cell (target 0) and only roughly what a limited one reached.
    public var achievedDirtyRateMiBPerSecond: ReportStatistic
    /// The failure scenario the cell's runs inject a fault for (e.g. "perform-fail"); `nil`
    /// for a cell of undisturbed (live) migrations, the only ones with time statistics.
    public var failureScenario: String?

    public init(label: String, parameters: ReportCellParameters, migrationMilliseconds: ReportStatistic,
                libvirtDowntimeMilliseconds: ReportStatistic, pingGapMilliseconds: ReportStatistic,
                predictedMigrationMilliseconds: Double? = nil, predictedDowntimeMilliseconds: Double? = nil,
                convergedCount: Int, runCount: Int, achievedDirtyRateMiBPerSecond: ReportStatistic = .empty,
                failureScenario: String? = nil) {
        self.label = label
        self.parameters = parameters
        self.migrationMilliseconds = migrationMilliseconds
        self.libvirtDowntimeMilliseconds = libvirtDowntimeMilliseconds
        self.pingGapMilliseconds = pingGapMilliseconds
        self.predictedMigrationMilliseconds = predictedMigrationMilliseconds
        self.predictedDowntimeMilliseconds = predictedDowntimeMilliseconds
        self.convergedCount = convergedCount
        self.runCount = runCount
        self.achievedDirtyRateMiBPerSecond = achievedDirtyRateMiBPerSecond
        self.failureScenario = failureScenario
    }
}

/// One migration.
public struct ReportRun: Sendable, Equatable {
    public var runID: String
    public var cellLabel: String
    /// 1-based repetition within the cell.
    public var repetition: Int
    public var parameters: ReportCellParameters
    /// e.g. "lab-src→lab-dst".
    public var direction: String
    /// The run's final status word, e.g. "completed", "failed", "cancelled".
    public var status: String
    public var passed: Bool
    public var converged: Bool
    public var iterations: Int?
    /// What was left to send when a non-converging migration was stopped.
    public var remainingMiBAtEnd: Double?
    /// The dirty rate memeater reached.
    public var achievedDirtyRateMiBPerSecond: Double?
    /// QEMU's page-sampling estimate (`calc-dirty-rate`); `nil` when not measured.
    public var qemuSampledDirtyRateMiBPerSecond: Double?
    /// Why QEMU's estimate may be capped (e.g. "TCG samples at most ~60 MB/s").
    public var qemuSampledDirtyRateLimitNote: String?
    /// The dirty rate libvirt's job statistics report.
    public var jobStatsDirtyRateMiBPerSecond: Double?
    public var transferRateMiBPerSecond: Double?
    /// The guest's own dirtying rate while it was migrated (memeater, from just before the
    /// call to right after it returned): its slowdown against ``achievedDirtyRateMiBPerSecond``.
    public var guestDirtyRateDuringMigrationMiBPerSecond: Double?
    public var migrationMilliseconds: Double?
    public var libvirtDowntimeMilliseconds: Double?
    /// The longest gap in ping replies, and the bounds the probe interval puts on it.
    public var pingGapMilliseconds: Double?
    public var pingGapLowerBoundMilliseconds: Double?
    public var pingGapUpperBoundMilliseconds: Double?
    /// Probes the gap's outage held and answered late (they bound it like lost ones); nil when
    /// not known.
    public var pingGapLateProbes: Int?
    /// The gap of the switch-over when it is not the longest (the one over libvirt's pause
    /// events; a starved guest can answer late during the pre-copy too), or when a reply to a
    /// probe carried in the guest's memory split it, the whole outage: what the downtime
    /// decomposition splits; nil when it is the longest or unknown.
    public var switchOverPingGapMilliseconds: Double?
    /// From the guest's pause to the first RARP/GARP seen on the destination side.
    public var announceDelayMilliseconds: Double?
    /// How long the guest's own clock stood still across the migration (the middle of its
    /// bounds): the guest's measure of its downtime; nil when not measured.
    public var guestClockLagMilliseconds: Double?
    /// The switch-over's ping gap on the run clock, split at libvirt's events of it: from
    /// the last reply to the source's `suspended`, the pause (`suspended` → the destination's
    /// `resumed`) and from `resumed` to the first reply; the three add up to the gap. nil when
    /// an event or the gap's place is missing.
    public var pingGapBeforePauseMilliseconds: Double?
    public var guestPausedMilliseconds: Double?
    public var pingGapAfterResumeMilliseconds: Double?
    /// From the first probe reaching the destination host to the guest's first reply leaving
    /// it (the destination's capture), and the probes held there meanwhile; nil when not measured.
    public var guestAnswerDelayMilliseconds: Double?
    public var probesHeldAtDestination: Int?
    /// Time the run spent outside the migration (set-up, checks) for its cell.
    public var overheadMilliseconds: Double?
    /// The names of the checks that failed; empty when all passed.
    public var failedChecks: [String]
    /// What the migration cost each host's CPU (source first); empty when not measured.
    public var hostCPU: [ReportHostCPU] = []
    /// The pre-copy transfer rate from the job-stats samples, and the bandwidth limit it is judged against.
    public var preCopyTransferRateMiBPerSecond: Double?
    /// How a run of a failure scenario ended; `nil` for a live run (an undisturbed migration).
    public var failure: ReportFailureOutcome?
    /// How many checks passed (``failedChecks`` names those that did not).
    public var passedCheckCount: Int = 0

    public init(runID: String, cellLabel: String, repetition: Int, parameters: ReportCellParameters,
                direction: String, status: String, passed: Bool, converged: Bool, iterations: Int? = nil,
                remainingMiBAtEnd: Double? = nil, achievedDirtyRateMiBPerSecond: Double? = nil,
                qemuSampledDirtyRateMiBPerSecond: Double? = nil, qemuSampledDirtyRateLimitNote: String? = nil,
                jobStatsDirtyRateMiBPerSecond: Double? = nil, transferRateMiBPerSecond: Double? = nil,
                guestDirtyRateDuringMigrationMiBPerSecond: Double? = nil, migrationMilliseconds: Double? = nil, libvirtDowntimeMilliseconds: Double? = nil,
                pingGapMilliseconds: Double? = nil, pingGapLowerBoundMilliseconds: Double? = nil,
                pingGapUpperBoundMilliseconds: Double? = nil, announceDelayMilliseconds: Double? = nil,
                overheadMilliseconds: Double? = nil, failedChecks: [String] = []) {
        self.runID = runID
        self.cellLabel = cellLabel
        self.repetition = repetition
        self.parameters = parameters
        self.direction = direction
        self.status = status
        self.passed = passed
        self.converged = converged
        self.iterations = iterations
        self.remainingMiBAtEnd = remainingMiBAtEnd
        self.achievedDirtyRateMiBPerSecond = achievedDirtyRateMiBPerSecond
        self.qemuSampledDirtyRateMiBPerSecond = qemuSampledDirtyRateMiBPerSecond
        self.qemuSampledDirtyRateLimitNote = qemuSampledDirtyRateLimitNote
        self.jobStatsDirtyRateMiBPerSecond = jobStatsDirtyRateMiBPerSecond
        self.transferRateMiBPerSecond = transferRateMiBPerSecond
        self.guestDirtyRateDuringMigrationMiBPerSecond = guestDirtyRateDuringMigrationMiBPerSecond
        self.migrationMilliseconds = migrationMilliseconds
        self.libvirtDowntimeMilliseconds = libvirtDowntimeMilliseconds
        self.pingGapMilliseconds = pingGapMilliseconds
        self.pingGapLowerBoundMilliseconds = pingGapLowerBoundMilliseconds
        self.pingGapUpperBoundMilliseconds = pingGapUpperBoundMilliseconds
        self.announceDelayMilliseconds = announceDelayMilliseconds
        self.overheadMilliseconds = overheadMilliseconds
        self.failedChecks = failedChecks
    }
}

/// How one run of a failure scenario ended: what it expected, where the guest was found and
/// what was left behind, each as the run's checks and observation recorded it.
public struct ReportFailureOutcome: Sendable, Equatable {
    /// The scenario, e.g. "perform-fail".
    public var scenario: String
    /// What the scenario expects, e.g. "the guest stays on the source".
    public var expectation: String
    /// Where the guest was found after the migration, e.g. "source: running (migrated);
    /// destination: none"; `nil` when the run stored no observation of it.
    public var guestPlacement: String?
    /// What the clean-up checks found left behind, one line ("none" when they all passed);
    /// `nil` when the run made no clean-up check.
    public var leftovers: String?

    public init(scenario: String, expectation: String, guestPlacement: String?, leftovers: String?) {
        self.scenario = scenario
        self.expectation = expectation
        self.guestPlacement = guestPlacement
        self.leftovers = leftovers
    }
}

/// What one migration cost one host's CPU, in CPU seconds: the guest's QEMU by thread role,
/// the libvirt daemon, both, and both per GiB the migration moved. `nil`: not measured.
public struct ReportHostCPU: Sendable, Equatable {
    /// e.g. "source (src)".
    public var host: String
    public var vcpuCPUSeconds: Double?
    public var migrationThreadsCPUSeconds: Double?
    public var multifdCPUSeconds: Double?
    public var mainLoopCPUSeconds: Double?
    public var otherThreadsCPUSeconds: Double?
    /// Threads that ended between readings.
    public var endedThreadsCPUSeconds: Double?
    public var daemonCPUSeconds: Double?
    public var totalCPUSeconds: Double?
    public var cpuSecondsPerGiB: Double?
    /// The QEMU that exited while sampled (the source's): the time between its last reading and
    /// the first that found it gone, whose CPU is not counted.
    public var uncountedMilliseconds: Double?

    public init(host: String, vcpuCPUSeconds: Double? = nil, migrationThreadsCPUSeconds: Double? = nil,
                multifdCPUSeconds: Double? = nil, mainLoopCPUSeconds: Double? = nil, otherThreadsCPUSeconds: Double? = nil,
                endedThreadsCPUSeconds: Double? = nil, daemonCPUSeconds: Double? = nil, totalCPUSeconds: Double? = nil,
                cpuSecondsPerGiB: Double? = nil, uncountedMilliseconds: Double? = nil) {
        self.host = host
        self.vcpuCPUSeconds = vcpuCPUSeconds
        self.migrationThreadsCPUSeconds = migrationThreadsCPUSeconds
        self.multifdCPUSeconds = multifdCPUSeconds
        self.mainLoopCPUSeconds = mainLoopCPUSeconds
        self.otherThreadsCPUSeconds = otherThreadsCPUSeconds
        self.endedThreadsCPUSeconds = endedThreadsCPUSeconds
        self.daemonCPUSeconds = daemonCPUSeconds
        self.totalCPUSeconds = totalCPUSeconds
        self.cpuSecondsPerGiB = cpuSecondsPerGiB
        self.uncountedMilliseconds = uncountedMilliseconds
    }
}

/// The pre-copy model fitted to one strategy's live runs of a sweep.
public struct ReportFit: Sendable, Equatable {
    /// One fitted parameter.
    public struct Parameter: Sendable, Equatable {
        public var name: String
        public var value: Double
        public var unit: String
        public init(name: String, value: Double, unit: String) {
            self.name = name
            self.value = value
            self.unit = unit
        }
    }

    /// One point of a model curve.
    public struct CurvePoint: Sendable, Equatable {
        public var dirtyRateMiBPerSecond: Double
        public var predictedMilliseconds: Double
        public init(dirtyRateMiBPerSecond: Double, predictedMilliseconds: Double) {
            self.dirtyRateMiBPerSecond = dirtyRateMiBPerSecond
            self.predictedMilliseconds = predictedMilliseconds
        }
    }

    /// The predicted migration time over dirty rate for one memory size.
    public struct Curve: Sendable, Equatable {
        public var memoryMiB: Int
        /// The bandwidth limit of the cells the curve is for (`nil`: unlimited).
        public var bandwidthLimitMiBPerSecond: Double?
        /// The strategy of the cells the curve is for (``ReportCellParameters/strategy``);
        /// `nil`: any (a sweep of one strategy).
        public var strategy: String?
        public var points: [CurvePoint]
        public init(memoryMiB: Int, bandwidthLimitMiBPerSecond: Double? = nil, strategy: String? = nil, points: [CurvePoint]) {
            self.memoryMiB = memoryMiB
            self.bandwidthLimitMiBPerSecond = bandwidthLimitMiBPerSecond
            self.strategy = strategy
            self.points = points
        }
    }

    /// The strategy the model was fitted to, e.g. `precopy`, `tls`, `parallel=4`.
    public var strategy: String
    /// The strategy's live runs, its cells, and the runs the fit took (the converged ones).
    public var runCount: Int
    public var cellCount: Int
    public var fittedRunCount: Int
    public var parameters: [Parameter]
    public var rSquaredMigrationTime: Double?
    public var rSquaredDowntime: Double?
    /// Mean absolute percentage error on held-out cells.
    public var heldOutMAPEPercent: Double?
    /// How far the repeats of a cell lie from their cell's mean time, % (the floor under any
    /// model's MAPE; `nil`: no cell has two converged runs).
    public var repeatSpreadPercent: Double?
    /// How cells were held out, e.g. "leave-one-rate-out, 3 folds".
    public var foldDescription: String
    public var curves: [Curve]
    /// The downtime model fitted beside it, the downtime prediction (``rSquaredDowntime`` is the
    /// pre-copy model's, an upper bound); `nil`: none (``downtimeModelMissingReason`` says why).
    public var downtimeModel: ReportDowntimeModel?
    /// Why there is no downtime model, e.g. no downtime was measured (`nil`: there is one, or
    /// the document was made before it existed).
    public var downtimeModelMissingReason: String?

    public init(strategy: String = "precopy", runCount: Int = 0, cellCount: Int = 0, fittedRunCount: Int = 0,
                parameters: [Parameter], rSquaredMigrationTime: Double?, rSquaredDowntime: Double?,
                heldOutMAPEPercent: Double?, foldDescription: String, curves: [Curve],
                downtimeModel: ReportDowntimeModel? = nil, downtimeModelMissingReason: String? = nil) {
        self.strategy = strategy
        self.runCount = runCount
        self.cellCount = cellCount
        self.fittedRunCount = fittedRunCount
        self.parameters = parameters
        self.rSquaredMigrationTime = rSquaredMigrationTime
        self.rSquaredDowntime = rSquaredDowntime
        self.heldOutMAPEPercent = heldOutMAPEPercent
        self.foldDescription = foldDescription
        self.curves = curves
        self.downtimeModel = downtimeModel
        self.downtimeModelMissingReason = downtimeModelMissingReason
    }
}

/// The downtime model of one strategy: downtime = fixed + the pre-copy model's last pass at
/// the switch-over's rate, with its errors beside QEMU's own forecast (`expected_downtime`).
public struct ReportDowntimeModel: Sendable, Equatable {
    /// Device state, switch-over and resume, ms.
    public var fixedMilliseconds: Double
    /// The rate the switch-over copies the last pass at (`nil`: a fixed cost only).
    public var switchOverMiBPerSecond: Double?
    /// Runs fitted (converged, with libvirt's downtime) and their cells.
    public var fittedRunCount: Int
    public var cellCount: Int
    /// R² of the downtime.
    public var rSquared: Double?
    /// Mean absolute percentage errors against libvirt's downtime, in sample and on held-out cells.
    public var inSampleMAPEPercent: Double?
    public var heldOutMAPEPercent: Double?
    /// How far the downtimes of a cell's repeats lie from their mean, % (the floor under any model's MAPE).
    public var repeatSpreadPercent: Double?
    /// How cells were held out, or why they were not.
    public var foldDescription: String
    /// QEMU's `expected_downtime` error over the fitted runs that carry it, and how many do
    /// (`nil`, 0: none recorded).
    public var qemuExpectedDowntimeMAPEPercent: Double?
    public var qemuRunCount: Int

    /// Creates the figures.
    public init(fixedMilliseconds: Double, switchOverMiBPerSecond: Double?, fittedRunCount: Int, cellCount: Int, rSquared: Double?,
                inSampleMAPEPercent: Double?, heldOutMAPEPercent: Double?, foldDescription: String,
                qemuExpectedDowntimeMAPEPercent: Double?, qemuRunCount: Int) {
        self.fixedMilliseconds = fixedMilliseconds
        self.switchOverMiBPerSecond = switchOverMiBPerSecond
        self.fittedRunCount = fittedRunCount
        self.cellCount = cellCount
        self.rSquared = rSquared
        self.inSampleMAPEPercent = inSampleMAPEPercent
        self.heldOutMAPEPercent = heldOutMAPEPercent
        self.foldDescription = foldDescription
        self.qemuExpectedDowntimeMAPEPercent = qemuExpectedDowntimeMAPEPercent
        self.qemuRunCount = qemuRunCount
    }
}

/// A strategy of a sweep's live runs that has no fitted model.
public struct ReportUnfittedStrategy: Sendable, Equatable {
    public var strategy: String
    public var runCount: Int
    public var cellCount: Int
    /// Why there is no fit, e.g. too few cells, or post-copy, which the model does not describe.
    public var reason: String

    public init(strategy: String, runCount: Int, cellCount: Int, reason: String) {
        self.strategy = strategy
        self.runCount = runCount
        self.cellCount = cellCount
        self.reason = reason
    }
}

/// Where migrations stop converging, for one memory size and bandwidth.
public struct ReportBoundary: Sendable, Equatable {
    public var memoryMiB: Int
    /// `nil` when unlimited.
    public var bandwidthLimitMiBPerSecond: Double?
    /// The highest dirty rate that converged and the lowest that did not; either may be unknown.
    public var highestConvergingMiBPerSecond: Double?
    public var lowestNonConvergingMiBPerSecond: Double?
    public var predictedMiBPerSecond: Double?

    public init(memoryMiB: Int, bandwidthLimitMiBPerSecond: Double?, highestConvergingMiBPerSecond: Double?,
                lowestNonConvergingMiBPerSecond: Double?, predictedMiBPerSecond: Double?) {
        self.memoryMiB = memoryMiB
        self.bandwidthLimitMiBPerSecond = bandwidthLimitMiBPerSecond
        self.highestConvergingMiBPerSecond = highestConvergingMiBPerSecond
        self.lowestNonConvergingMiBPerSecond = lowestNonConvergingMiBPerSecond
        self.predictedMiBPerSecond = predictedMiBPerSecond
    }
}

/// One run's migration as it happened, on one time axis in milliseconds (0 = any fixed
/// moment, typically the start of sampling).
public struct ReportTimeline: Sendable, Equatable {
    /// A job-stats sample; each figure is `nil` when the sample did not carry it.
    public struct Sample: Sendable, Equatable {
        public var milliseconds: Double
        public var remainingMiB: Double?
        public var dirtyRateMiBPerSecond: Double?
        public var transferRateMiBPerSecond: Double?
        /// libvirt's job type at this reading ("none", "unbounded", "failed", "completed", ...):
        /// the phase the job was in.
        public var jobType: String?
        public init(milliseconds: Double, remainingMiB: Double?, dirtyRateMiBPerSecond: Double?,
                    transferRateMiBPerSecond: Double?, jobType: String? = nil) {
            self.milliseconds = milliseconds
            self.remainingMiB = remainingMiB
            self.dirtyRateMiBPerSecond = dirtyRateMiBPerSecond
            self.transferRateMiBPerSecond = transferRateMiBPerSecond
            self.jobType = jobType
        }
    }

    /// The moment an iteration (pass over memory) began.
    public struct IterationMark: Sendable, Equatable {
        public var milliseconds: Double
        public var iteration: Int
        public init(milliseconds: Double, iteration: Int) {
            self.milliseconds = milliseconds
            self.iteration = iteration
        }
    }

    /// A gap in ping replies.
    public struct PingGap: Sendable, Equatable {
        public var startMilliseconds: Double
        public var lengthMilliseconds: Double
        public init(startMilliseconds: Double, lengthMilliseconds: Double) {
            self.startMilliseconds = startMilliseconds
            self.lengthMilliseconds = lengthMilliseconds
        }
    }

    /// Something that happened at one moment: an announce frame ("RARP", "GARP") or a fault.
    public struct Event: Sendable, Equatable {
        public var milliseconds: Double
        public var text: String
        public init(milliseconds: Double, text: String) {
            self.milliseconds = milliseconds
            self.text = text
        }
    }

    /// An event a libvirt daemon sent about the guest.
    public struct HostEvent: Sendable, Equatable {
        public var milliseconds: Double
        /// Whose daemon sent it: "source" or "destination".
        public var host: String
        /// What kind, e.g. "lifecycle suspended", "migration-iteration": the plot's series.
        public var kind: String
        /// The whole event, e.g. "lifecycle suspended detail 1".
        public var text: String
        public init(milliseconds: Double, host: String, kind: String, text: String) {
            self.milliseconds = milliseconds
            self.host = host
            self.kind = kind
            self.text = text
        }
    }

    /// A span a fault imposed on the guest, e.g. its network cut or it kept paused.
    public struct Window: Sendable, Equatable {
        public var startMilliseconds: Double
        public var lengthMilliseconds: Double
        public var text: String
        public init(startMilliseconds: Double, lengthMilliseconds: Double, text: String) {
            self.startMilliseconds = startMilliseconds
            self.lengthMilliseconds = lengthMilliseconds
            self.text = text
        }
    }

    public var runID: String
    public var label: String
    public var samples: [Sample]
    public var iterationMarks: [IterationMark]
    public var pingGaps: [PingGap]
    public var announceFrames: [Event]
    /// Timed moments of the fault: when it acted, when the verifier aborted the job.
    public var faults: [Event]
    public var migrationStartMilliseconds: Double?
    public var migrationEndMilliseconds: Double?
    /// The failure scenario of the run (e.g. "perform-fail"); `nil` for a live run. A failure
    /// run's timeline is drawn as lanes of what happened, not as the copy's progress.
    public var failureScenario: String?
    /// Every event the daemons sent during the run, on the run clock.
    public var hostEvents: [HostEvent] = []
    /// Spans the fault imposed on the guest.
    public var faultWindows: [Window] = []
    /// When the driver asked for the switch to post-copy.
    public var postCopySwitchMilliseconds: Double?
    /// What the fault's record says without a time (e.g. its packet counter, its removal),
    /// one line each, for the caption.
    public var untimedFaultEvidence: [String] = []
    /// What the run did not record a time for (e.g. the fault's installation), one sentence
    /// each, for the caption: said, not left out silently.
    public var notRecorded: [String] = []

    public init(runID: String, label: String, samples: [Sample], iterationMarks: [IterationMark] = [],
                pingGaps: [PingGap] = [], announceFrames: [Event] = [], faults: [Event] = [],
                migrationStartMilliseconds: Double? = nil, migrationEndMilliseconds: Double? = nil,
                failureScenario: String? = nil) {
        self.runID = runID
        self.label = label
        self.samples = samples
        self.iterationMarks = iterationMarks
        self.pingGaps = pingGaps
        self.announceFrames = announceFrames
        self.faults = faults
        self.migrationStartMilliseconds = migrationStartMilliseconds
        self.migrationEndMilliseconds = migrationEndMilliseconds
        self.failureScenario = failureScenario
    }
}
