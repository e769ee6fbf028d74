import Foundation
import Libvirt
import MigrationModel
import PingMonitor

/// What the runner read before anything changed: the domain (its description parsed once),
/// the versions, the accelerator, the guest's taps and where its console was.
public struct Baseline: Sendable {
    /// `kvm`, `tcg` or `unknown`.
    public var accelerator: String
    public var qemuVersion: String
    /// How ``qemuVersion`` was read.
    public var qemuVersionSource: String
    public var libvirtVersion: String
    /// The guest's taps on the source, from its domain description.
    public var sourceTaps: [String]
    /// Why the domain XML could not be parsed (`nil`: it was).
    public var descriptionError: String?

    public init(accelerator: String, qemuVersion: String, qemuVersionSource: String, libvirtVersion: String,
                sourceTaps: [String], descriptionError: String? = nil) {
        self.accelerator = accelerator
        self.qemuVersion = qemuVersion
        self.qemuVersionSource = qemuVersionSource
        self.libvirtVersion = libvirtVersion
        self.sourceTaps = sourceTaps
        self.descriptionError = descriptionError
    }
}

/// memeater at its rate before the migration, as the runner set and measured it.
public struct LoadFigures: Sendable, Equatable {
    /// The rate asked, MiB/s (0: unlimited).
    public var targetMiBPerSecond: Double
    /// The rate memeater achieved just before the migration, MiB/s.
    public var achievedMiBPerSecond: Double
    /// Whether it settled within ±10 % (unlimited: above 0) in time.
    public var settled: Bool
    /// The guest's OS and kernel as memeater said (`nil`: it did not).
    public var guestSystem: String?

    public init(targetMiBPerSecond: Double, achievedMiBPerSecond: Double, settled: Bool, guestSystem: String?) {
        self.targetMiBPerSecond = targetMiBPerSecond
        self.achievedMiBPerSecond = achievedMiBPerSecond
        self.settled = settled
        self.guestSystem = guestSystem
    }
}

/// QEMU's own dirty-rate estimate just before the migration, or why there is none.
public struct QEMUDirtyRateFigure: Sendable, Equatable {
    public var mibPerSecond: Double?
    /// How it was obtained, or why it was not.
    public var source: String

    public init(mibPerSecond: Double?, source: String) {
        self.mibPerSecond = mibPerSecond
        self.source = source
    }
}

/// What driving the migration produced, beyond the observation.
public struct DriveRecord: Sendable {
    /// The driver's account of the migration (samples, ending, moments).
    public var outcome: MigrationOutcome
    /// What the fault's tuning changed.
    public var planNotes: [String]
    /// The domain events seen during the run.
    public var eventCount: Int
    /// Why a daemon's events could not be had.
    public var subscriptionErrors: [String]
    /// Both hosts' CPU time while the migration ran (`nil`: not sampled).
    public var cpu: MigrationCPUSampling?
    /// The guest's lifecycle events from both daemons, on the run clock.
    public var lifecycleEvents: [SeenDomainEvent]

    public init(outcome: MigrationOutcome, planNotes: [String], eventCount: Int, subscriptionErrors: [String],
                cpu: MigrationCPUSampling? = nil, lifecycleEvents: [SeenDomainEvent] = []) {
        self.lifecycleEvents = lifecycleEvents
        self.outcome = outcome
        self.planNotes = planNotes
        self.eventCount = eventCount
        self.subscriptionErrors = subscriptionErrors
        self.cpu = cpu
    }
}

/// libvirt's completed job stats after the migration and where they came from.
public struct CompletedJobStats: Sendable {
    public var stats: JobStats
    /// e.g. "the source daemon's job-completed event (completed job stats)".
    public var source: String

    public init(stats: JobStats, source: String) {
        self.stats = stats
        self.source = source
    }
    /// Why no completed job stats could be had, one line (the reads that failed, and how).
    public struct Missing: Error, Sendable, Equatable {
        public var reason: String
        public init(reason: String) { self.reason = reason }
    }
}

extension CrossCheck {
    /// The downtime row's figure name.
    public static let downtimeFigure = "downtime (ms)"
}

/// Derives a run's result from what its phases measured: figures with their sources, notes,
/// the checks, the cross-checks and the model comparison. Pure: the same inputs give the same
/// result, so it is tested without a lab.
public struct ResultBuilder: Sendable {
    /// The parameters as asked (hosts not swapped).
    public var parameters: ScenarioParameters
    /// The guest ran on the configured destination, so the hosts swapped roles.
    public var swapped: Bool
    public var startedAt: Date
    /// What preparing the guest did.
    public var setupActions: [String]
    public var baseline: Baseline
    public var load: LoadFigures
    /// `nil`: not asked (no migration meant to land).
    public var qemuDirtyRate: QEMUDirtyRateFigure?
    public var drive: DriveRecord
    /// pingmon's report, and where its capture started on the run clock, ms.
    public var ping: PingReport
    public var captureStartMilliseconds: Double
    public var observation: Observation
    public var checks: [Check]
    public var completedStats: Result<CompletedJobStats, CompletedJobStats.Missing>
    /// What was done with a guest found damaged (`nil`: nothing).
    public var discardedGuest: String?
    /// The scenario's fault type, which may annotate the result.
    public var faultType: any Fault.Type

    /// The result.
    public func result() -> ScenarioResult {
        var result = ScenarioResult(parameters: parameters, accel: baseline.accelerator, qemuVersion: baseline.qemuVersion,
                                    libvirtVersion: baseline.libvirtVersion, startedAt: startedAt)
        addContext(to: &result)
        addMigrationFigures(to: &result)
        addPingFigures(to: &result)
        for check in checks { result.add(check) }
        result.fault = observation.fault
        addObservationFigures(to: &result)
        addCompletedStats(to: &result)
        addPreCopyRate(to: &result)
        addCPUCost(to: &result)
        addPostCopyFigures(to: &result)
        addCrossChecks(to: &result)
        if faultType.expectation == .migrates { result.modelComparison = modelComparison(result) }
        faultType.annotate(&result, observation: observation)
        result.figures.direction = swapped ? .reverse : .forward
        return result
    }

    private func addContext(to result: inout ScenarioResult) {
        result[source: .qemuVersion] = baseline.qemuVersionSource
        result[source: .accel] = "the domain XML on the source (domain type kvm or qemu)"
        result[source: .libvirtVersion] = "virConnectGetLibVersion on the source daemon"
        if !setupActions.isEmpty { result.notes.append("setup: " + setupActions.joined(separator: "; ")) }
        if let error = baseline.descriptionError { result.notes.append("the domain XML could not be parsed: \(error)") }
        result.achievedDirtyRateMiBPerSecond = load.achievedMiBPerSecond
        result.guestSystem = load.guestSystem
        result[source: .achievedDirtyRateMiBPerSecond] = load.targetMiBPerSecond == 0
            ? "growth of memeater's unique-page count over the three stats readings, 1.2 s apart, just before migrating"
            : "growth of memeater's unique-page count between two stats readings 0.25 s apart, just before migrating"
        if !load.settled {
            result.notes.append("memeater's rate did not settle within 10 s: achieved \(formatNumber(load.achievedMiBPerSecond)) MiB/s for a target of \(formatNumber(load.targetMiBPerSecond))")
        }
        if let qemuDirtyRate {
            result.figures.qemuSampledDirtyRateMiBPerSecond = qemuDirtyRate.mibPerSecond
            result.figures.qemuSampledDirtyRateSource = qemuDirtyRate.source
        }
        result.notes += drive.planNotes
    }

    /// How far the copy got and how fast, from the driver's job-stats samples, and the notes
    /// of the migration.
    private func addMigrationFigures(to result: inout ScenarioResult) {
        let outcome = drive.outcome
        if observation.didNotConverge { result.notes.append("did not converge: \(outcome.ending.summary)") }
        var figures = result.figures
        if faultType.expectation == .migrates {
            figures.convergence = outcome.ending.migrated ? .converged : outcome.didNotConverge ? .didNotConverge : .failed
        }
        // Readings of the job while it ran: after an abort libvirt reports an empty job (zeros).
        let running = outcome.samples.filter { ($0.dataTotalBytes ?? 0) > 0 }
        figures.passes = running.compactMap(\.memoryIteration).max().map { Int(clamping: $0) }
        if !outcome.ending.migrated { figures.remainingBytesAtEnd = running.last?.dataRemainingBytes }
        let rates = outcome.samples.compactMap(\.memoryBandwidthBytesPerSecond).filter { $0 > 0 }.sorted()
        if !rates.isEmpty { figures.transferRateMiBPerSecond = Double(rates[rates.count / 2]) / 1_048_576 }
        figures.migrationStartOffsetMilliseconds = outcome.startedAtMilliseconds
        figures.migrationEndOffsetMilliseconds = outcome.endedAtMilliseconds
        figures.migrationCallMilliseconds = outcome.wallMilliseconds
        figures.faultOffsetMilliseconds = outcome.faultInjectedAtMilliseconds
        figures.abortOffsetMilliseconds = outcome.abortedAtMilliseconds
        let expected = QEMUExpectedDowntime(samples: outcome.samples, postCopyStartedAtMilliseconds: outcome.postCopyStartedAtMilliseconds)
        figures.qemuExpectedDowntimeMilliseconds = expected.milliseconds
        figures.qemuExpectedDowntimeSource = expected.source
        result.figures = figures
        result.notes += migrationNotes(outcome)
        result.jobSampleCount = outcome.samples.count
        result.libvirtError = outcome.ending.libvirtMessage
        if let last = outcome.samples.last?.memoryIteration { result.iterations = Int(last) }
        if let dirty = outcome.samples.compactMap(\.memoryDirtyRateBytesPerSecond).max() {
            result.libvirtDirtyRateMiBPerSecond = Double(dirty) / 1_048_576
            result[source: .libvirtDirtyRateMiBPerSecond] = "largest memory_dirty_rate × memory_page_size of libvirt's job stats during the migration"
        }
    }

    private func migrationNotes(_ outcome: MigrationOutcome) -> [String] {
        var notes: [String] = []
        if let note = outcome.faultNote {
            notes.append("fault at \(outcome.faultInjectedAtMilliseconds.map { formatNumber($0) + " ms" } ?? "-"): \(note)")
        }
        if let note = outcome.abortNote { notes.append("abort: \(note)") }
        notes.append("migration: \(outcome.ending.summary); \(outcome.samples.count) job-stats samples, \(outcome.failedSampleReads) failed reads, \(drive.eventCount) events")
        switch outcome.sourceDaemonErrors {
        case .success(let logged) where !logged.messages.isEmpty:
            notes.append("the source daemon logged (\(logged.location)): \(logged.messages.prefix(4).joined(separator: " | "))")
        case .failure(let unavailable): notes.append("the source daemon's log was not read: \(unavailable.reason)")
        default: break
        }
        return notes + drive.subscriptionErrors
    }

    /// The ping figures; gaps and announce frames moved from the capture's time base onto the run's clock.
    private func addPingFigures(to result: inout ScenarioResult) {
        let analysis = ping.analysis
        let summary = observation.ping
        var figures = result.figures
        figures.pingGapLowerBoundMilliseconds = analysis.downtimeLowerBoundMilliseconds
        figures.pingGapUpperBoundMilliseconds = analysis.downtimeUpperBoundMilliseconds
        figures.pingGapStartOffsetMilliseconds = analysis.downtimeStartOffsetMilliseconds.map { captureStartMilliseconds + $0 }
        figures.pingGapLateProbes = analysis.downtimeLateProbes
        figures.pingGaps = summary.gapsOnRunClock
        figures.announceOffsetsMilliseconds = analysis.announceFrames.map { captureStartMilliseconds + $0.offsetMilliseconds }
        let pause = GuestPauseEvents(drive.lifecycleEvents)
        figures.sourceSuspendedOffsetMilliseconds = pause?.suspendedOffsetMilliseconds
        figures.destinationResumedOffsetMilliseconds = pause?.resumedOffsetMilliseconds
        figures.probeIntervalMicroseconds = analysis.intervalMicroseconds
        figures.pingDowntimeEstimateMilliseconds = analysis.downtimeMilliseconds
        figures.pingCapturePath = ping.captureFile
        result.figures = figures
        result.pingLost = summary.lost
        result.pingDowntimeMilliseconds = summary.longestGapMilliseconds
        result[source: .pingDowntimeMilliseconds] = "pingmon: longest gap between replies, \(summary.timestampPrecision) capture timestamps, bounds \(formatNumber(summary.longestGapLowerBoundMilliseconds))-\(formatNumber(summary.longestGapUpperBoundMilliseconds)) ms"
            + (analysis.downtimeLateProbes > 0 ? ", \(analysis.downtimeLateProbes) held through it and answered late" : "")
        result[source: .pingLost] = "pingmon: probes without a reply, \(summary.sent) sent every \(parameters.pingIntervalMicroseconds) µs"
    }

    private func addObservationFigures(to result: inout ScenarioResult) {
        if case .unreadable(let reason) = observation.console {
            // Not a PASS: nothing was looked at. Reported, not judged.
            result.notes.append("\(CheckName.guestConsole) not checked: the console cannot be read (\(reason))")
        }
        result.integrityErrors = observation.memeater.integrityErrors
        if let discardedGuest { result.notes.append("the guest was discarded after this run: \(discardedGuest)") }
        if let note = Checks.migrationStreamNote(observation) { result.notes.append(note) }
        if case .seen(let stream)? = observation.migrationStream { result.figures.migrationPortsCapturePath = stream.capturePath }
        if let echoes = observation.destinationEchoes, faultType.expectation == .migrates { addDestinationEchoes(echoes, to: &result) }
        if result.integrityErrors != nil {
            result[source: .integrityErrors] = "memeater: bad pages of verify-all after the migration plus those found before rewrites while dirtying"
        }
        result.recordStall(from: observation.memeater.statsAfter)
        addGuestLoadDuringMigration(to: &result)
    }

    /// When the probes reached the destination and the guest first answered there, from the
    /// destination's capture; its instants on the run clock when that host shares this
    /// machine's clock (the capture's timestamps are CLOCK_REALTIME, as pingmon's are).
    private func addDestinationEchoes(_ looked: Looked<DestinationEchoObservation>, to result: inout ScenarioResult) {
        let echoes: DestinationEchoObservation
        switch looked {
        case .seen(let seen): echoes = seen
        case .notLooked(let reason):
            result.notes.append("the guest's answer delay at the destination not measured: " + reason)
            return
        }
        result.figures.destinationEchoesCapturePath = echoes.capturePath
        let host = echoes.hostName
        guard let delay = echoes.guestAnswerDelayMilliseconds else {
            result.notes.append("the guest's answer delay at the destination not measured: " + (echoes.answerDelayMissingReason ?? ""))
            return
        }
        result.figures.guestAnswerDelayMilliseconds = delay
        result.figures.probesHeldAtDestination = echoes.probesBeforeFirstReply
        result[source: .guestAnswerDelayMilliseconds] = "tcpdump on \(host) (every interface, kernel timestamps): the first echo request to "
            + "\(echoes.guestAddress) (sequence \(echoes.firstProbeSequence.map(String.init) ?? "-")) to the guest's first reply "
            + "(sequence \(echoes.firstReplySequence.map(String.init) ?? "-")), \(echoes.probesBeforeFirstReply) probe(s) held before it"
            + (echoes.repliesBeforeFirstProbe > 0
               ? "; before the first probe arrived the guest answered \(echoes.repliesBeforeFirstProbe) probe(s) the source had "
                   + "delivered into its memory (they travelled with it)" : "")
            + (echoes.clockIsThisMachines ? "" : "; \(host)'s clock is its own, so its instants are not placed on the run clock")
        guard echoes.clockIsThisMachines else { return }
        let origin = startedAt.timeIntervalSince1970 * 1000
        result.figures.destinationFirstProbeOffsetMilliseconds = echoes.firstProbeEpochNanoseconds.map { Double($0) / 1e6 - origin }
        result.figures.destinationFirstReplyOffsetMilliseconds = echoes.firstReplyEpochNanoseconds.map { Double($0) / 1e6 - origin }
    }

    /// How long the guest's clock stood still while it moved: its own view of the downtime,
    /// beside libvirt's (from QEMU) and the ping gap's.
    private func addGuestClockLag(_ during: GuestLoadDuringMigration, to result: inout ScenarioResult) {
        guard let lag = during.guestClockLag else {
            result.notes.append("the guest's clock across the migration not measured: " + during.guestClockMissingReason)
            return
        }
        result.figures.guestClockLagLowerBoundMilliseconds = lag.lowerBoundMilliseconds
        result.figures.guestClockLagUpperBoundMilliseconds = lag.upperBoundMilliseconds
        var note = "the guest's clock stood still \(formatNumber(lag.estimateMilliseconds)) ms "
            + "(\(formatNumber(lag.lowerBoundMilliseconds))–\(formatNumber(lag.upperBoundMilliseconds)) ms: memeater's monotonic clock "
            + "against the run clock in its replies just before the call and right after it)"
        if let downtime = result.libvirtDowntimeMilliseconds {
            note += "; libvirt's downtime \(formatNumber(downtime)) ms"
        }
        if drive.outcome.postCopyStartedAtMilliseconds != nil {
            note += "; not judged by \(CheckName.guestFreeze): QEMU's downtime of a post-copy run ends when the source has sent "
                + "the device state, before the destination ran"
        }
        result.notes.append(note)
    }

    /// The guest's own rate while it was migrated, beside the rate it settled at before: the
    /// slowdown auto-converge's throttle, post-copy's page faults and the pause cost it. After
    /// a landing, a rate that could not be measured says why.
    private func addGuestLoadDuringMigration(to result: inout ScenarioResult) {
        let notMeasured = "the guest's dirty rate while migrated not measured: "
        let during: GuestLoadDuringMigration
        switch observation.memeater.duringMigration {
        case .seen(let seen)?:
            during = seen
        case .notLooked(let reason)?:
            // Without a landing there is no rate to expect: the reason stays in the observation.
            if drive.outcome.ending.migrated { result.notes.append(notMeasured + reason) }
            return
        case nil:
            return
        }
        addGuestClockLag(during, to: &result)
        addPreCopyGuestLoad(during, to: &result)
        guard let rate = during.achievedMiBPerSecond else {
            result.notes.append(notMeasured + "memeater's counter went from \(during.pagesDirtiedBefore) to \(during.pagesDirtiedAfter) pages "
                + "in \(formatNumber(during.windowSeconds)) s (a counter that goes back is another memeater's)")
            return
        }
        result.figures.guestDirtyRateDuringMigrationMiBPerSecond = rate
        result.figures.guestDirtyRateWindowSeconds = during.windowSeconds
        var note = "the guest dirtied \(formatNumber(rate)) MiB/s while migrated (memeater's unique pages over \(formatNumber(during.windowSeconds)) s "
            + "of wall time, from just before the call to right after it returned)"
        if load.achievedMiBPerSecond > 0 {
            note += ", \(formatNumber(100 * rate / load.achievedMiBPerSecond)) % of the \(formatNumber(load.achievedMiBPerSecond)) MiB/s before"
        }
        result.notes.append(note)
    }

    /// The guest's rate during the pre-copy passes, from memeater's counter history: from the
    /// call to the switch-over (post-copy's start, else the source's `suspended` event, else
    /// the last job-stats sample) and per pass.
    private func addPreCopyGuestLoad(_ during: GuestLoadDuringMigration, to result: inout ScenarioResult) {
        let notMeasured = "the guest's dirty rate during the pre-copy passes not measured: "
        guard let clock = during.guestClock else {
            result.notes.append(notMeasured + during.guestClockMissingReason)
            return
        }
        guard let history = during.dirtyHistory else {
            result.notes.append(notMeasured + (during.dirtyHistoryUnreadReason ?? "memeater's counter history was not read"))
            return
        }
        let outcome = drive.outcome
        let switchOver: (milliseconds: Double, source: String)
        if let postCopy = outcome.postCopyStartedAtMilliseconds {
            switchOver = (postCopy, "the switch to post-copy")
        } else if let suspended = result.figures.sourceSuspendedOffsetMilliseconds {  // set by addPingFigures, from the lifecycle events
            switchOver = (suspended, "the source's suspended event")
        } else if let last = outcome.samples.last(where: { $0.memoryIteration != nil }) {
            switchOver = (last.offsetMilliseconds, "the last job-stats sample (no suspended event was seen)")
        } else {
            result.notes.append(notMeasured + "neither a suspended event nor a job-stats sample marks the switch-over")
            return
        }
        let starts = PreCopyGuestLoad.iterationStarts(outcome.samples.map { ($0.memoryIteration, $0.offsetMilliseconds) })
        switch PreCopyGuestLoad.measure(history: history, clock: clock, pageSizeBytes: during.pageSizeBytes,
                                        callStartMilliseconds: outcome.startedAtMilliseconds, switchOverMilliseconds: switchOver.milliseconds,
                                        switchOverSource: switchOver.source, iterationStarts: starts) {
        case .failure(let missing):
            result.notes.append(notMeasured + missing.reason)
        case .success(let load):
            result.figures.guestDirtyRatePreCopyMiBPerSecond = load.mibPerSecond
            result.figures.guestDirtyRatePerPassMiBPerSecond = load.passes.map(\.mibPerSecond)
            result[source: .guestDirtyRatePreCopyMiBPerSecond] = load.source
            let passes = load.passes.map { "pass \($0.iteration) \(formatNumber($0.mibPerSecond))" }.joined(separator: ", ")
            result.notes.append("the guest dirtied \(formatNumber(load.mibPerSecond)) MiB/s during the pre-copy "
                + "(\(formatNumber(load.startMilliseconds))–\(formatNumber(load.endMilliseconds)) ms)"
                + (passes.isEmpty ? "" : ": \(passes) MiB/s"))
        }
    }

    /// The figures of libvirt's completed job stats; the verifier's clock when there are none.
    private func addCompletedStats(to result: inout ScenarioResult) {
        let outcome = drive.outcome
        let completed: CompletedJobStats
        switch (outcome.ending.migrated, completedStats) {
        case (true, .success(let stats)):
            completed = stats
        case (false, _):
            result.migrationMilliseconds = outcome.wallMilliseconds
            result[source: .migrationMilliseconds] = "the verifier's monotonic clock around the migration call (libvirt gave no completed stats: the migration did not complete)"
            return
        case (true, .failure(let missing)):
            result.migrationMilliseconds = outcome.wallMilliseconds
            result[source: .migrationMilliseconds] = "the verifier's monotonic clock around the migration call (libvirt gave no completed stats: \(missing.reason))"
            return
        }
        let stats = completed.stats
        result.migrationMilliseconds = stats.timeElapsedMilliseconds.map { Double($0) }
        result.libvirtDowntimeMilliseconds = stats.downtimeMilliseconds.map { Double($0) }
        result.setupMilliseconds = stats.setupTimeMilliseconds.map { Double($0) }
        result.transferredBytes = stats.dataProcessedBytes
        if let iteration = stats.memoryIteration { result.iterations = Int(iteration) }
        for figure: Figure in [.migrationMilliseconds, .libvirtDowntimeMilliseconds, .setupMilliseconds, .transferredBytes, .iterations] {
            result[source: figure] = completed.source
        }
    }

    /// The transfer rate during pre-copy (what `bandwidth-honoured` judges), and why a run
    /// with a limit is not judged on it when its pre-copy was too short to tell.
    private func addPreCopyRate(to result: inout ScenarioResult) {
        guard let transfer = PreCopyTransfer(outcome: drive.outcome) else { return }
        guard transfer.isJudged else {
            if let limit = (observation.migrationOptions ?? parameters.migration).bandwidthMiBPerSecond {
                result.notes.append("\(CheckName.bandwidthHonoured) not judged against the \(limit) MiB/s limit: only "
                    + "\(formatNumber(transfer.windowMilliseconds)) ms of pre-copy between job-stats samples (at least "
                    + "\(formatNumber(PreCopyTransfer.shortestJudgedWindowMilliseconds)) ms needed: QEMU sends each 100 ms slot's share of the limit as a burst)")
            }
            return
        }
        result.figures.preCopyTransferRateMiBPerSecond = transfer.mibPerSecond
        result.figures.preCopySeconds = transfer.windowMilliseconds / 1000
    }

    /// What the migration cost the hosts' CPU, per GiB of the bytes it moved: the completed
    /// job's `data_processed`, else the most any sample showed (a migration that did not complete).
    private func addCPUCost(to result: inout ScenarioResult) {
        guard let cpu = drive.cpu else { return }
        if let bytes = result.transferredBytes {
            result.figures.cpuCost = cpu.cost(movedBytes: bytes, movedSource: "transferredBytes (\(result[source: .transferredBytes] ?? "completed job stats"))")
        } else {
            let sampled = JobTransfer(samples: drive.outcome.samples)?.largestBytes
            result.figures.cpuCost = cpu.cost(movedBytes: sampled, movedSource: "the largest data_processed of the job-stats samples (no completed job stats)")
        }
    }

    /// When the driver switched to post-copy, how long that phase lasted, the pages fetched on
    /// demand, and the guest's longest stall (memeater's workers), in one note for the verdict.
    private func addPostCopyFigures(to result: inout ScenarioResult) {
        let outcome = drive.outcome
        guard let switchedAt = outcome.postCopyStartedAtMilliseconds else { return }
        result.figures.postCopySwitchOffsetMilliseconds = switchedAt
        let phase = outcome.endedAtMilliseconds - switchedAt
        result.figures.postCopyMilliseconds = phase
        if outcome.ending.migrated, case .success(let completed) = completedStats {
            result.figures.postCopyRequests = completed.stats.memoryPostCopyRequests
        }
        let passes = outcome.samples.filter { $0.offsetMilliseconds <= switchedAt }.compactMap(\.memoryIteration).max()
        var note = "post-copy: switched at \(formatNumber(switchedAt)) ms, \(formatNumber(switchedAt - outcome.startedAtMilliseconds)) ms into the call"
            + (passes.map { " (pass \($0))" } ?? "")
            + "; the post-copy phase lasted \(formatNumber(phase)) ms until the call returned"
        note += result.figures.postCopyRequests.map { "; \($0) pages fetched on demand (completed job stats memory_postcopy_requests)" }
            ?? "; pages fetched on demand not known (no completed job stats)"
        note += result.maxStallMicroseconds.map { "; the guest's longest stall \(formatNumber(Double($0) / 1000)) ms (memeater's workers, over the whole migration)" }
            ?? "; the guest's stall not measured"
        result.notes.append(note)
    }

    private func addCrossChecks(to result: inout ScenarioResult) {
        result.crossChecks.append(CrossCheck(
            figure: CrossCheck.downtimeFigure, ours: result.pingDowntimeMilliseconds, oursSource: "pingmon longest reply gap",
            libvirt: result.libvirtDowntimeMilliseconds, libvirtSource: "completed job stats `downtime`",
            note: "the ping gap includes the delay to QEMU's first announce and one probe interval, so it is expected to exceed libvirt's downtime"))
        result.crossChecks.append(CrossCheck(
            figure: "dirty rate (MiB/s)", ours: result.achievedDirtyRateMiBPerSecond, oursSource: "memeater achieved unique pages/s",
            libvirt: result.libvirtDirtyRateMiBPerSecond, libvirtSource: "job stats memory_dirty_rate (largest sample)",
            note: "QEMU counts pages dirtied between bitmap syncs; under TCG it is a cross-check only at moderate rates (lab notes)"))
    }

    /// The pre-copy model's prediction for this run next to what was measured.
    private func modelComparison(_ result: ScenarioResult) -> ModelComparison {
        let mib = 1_048_576.0
        var sources: [String: String] = [
            "firstPassBytes": "the guest RAM (\(parameters.memoryMiB) MiB); QEMU sends untouched pages as short zero-page records, so measured transfers are smaller",
            "dirtySetBytes": "memeater's region (\(parameters.memeaterSizeMiB) MiB)",
            "dirtyRateBytesPerSecond": "memeater's achieved rate before the migration",
        ]
        let bandwidth = modelBandwidth(sources: &sources)
        let downtime = Double(parameters.migration.qemuMaxDowntimeMilliseconds ?? 300)
        sources["maxDowntimeMilliseconds"] = parameters.migration.qemuMaxDowntimeMilliseconds == nil ? "QEMU's default (300 ms)" : "--qemu-max-downtime-ms"
        let input = PreCopyModelInput(firstPassBytes: Double(parameters.memoryMiB) * mib,
                                      dirtySetBytes: Double(parameters.memeaterSizeMiB) * mib,
                                      dirtyRateBytesPerSecond: (result.achievedDirtyRateMiBPerSecond ?? parameters.dirtyRateMiBPerSecond) * mib,
                                      bandwidthBytesPerSecond: bandwidth, maxDowntimeMilliseconds: downtime)
        return ModelComparison(input: input, inputSources: sources, prediction: PreCopyModel.predict(input),
                               measuredConverged: drive.outcome.ending.migrated, measuredMilliseconds: result.migrationMilliseconds,
                               measuredDowntimeMilliseconds: result.libvirtDowntimeMilliseconds, measuredIterations: result.iterations,
                               measuredTransferredBytes: result.transferredBytes.map { Double($0) },
                               measuredSource: result[source: .migrationMilliseconds] ?? "libvirt")
    }

    /// The transfer rate the model assumes, bytes/s: the limit set, else what libvirt measured.
    private func modelBandwidth(sources: inout [String: String]) -> Double {
        let samples = drive.outcome.samples
        if let limit = parameters.migration.bandwidthMiBPerSecond {
            sources["bandwidthBytesPerSecond"] = "--bandwidth-mib-per-second"
            return Double(limit) * 1_048_576
        }
        let rates = samples.compactMap(\.memoryBandwidthBytesPerSecond).filter { $0 > 0 }.map { Double($0) }
        let progressing = samples.filter { ($0.dataProcessedBytes ?? 0) > 0 }
        if !rates.isEmpty {
            sources["bandwidthBytesPerSecond"] = "mean of libvirt's memory_bps samples (\(rates.count) samples); no limit was set"
            return rates.reduce(0, +) / Double(rates.count)
        }
        if let first = progressing.first, let last = progressing.last, last.offsetMilliseconds > first.offsetMilliseconds,
           let a = first.dataProcessedBytes, let b = last.dataProcessedBytes, b > a {
            sources["bandwidthBytesPerSecond"] = "growth of libvirt's data_processed between the first and last samples (memory_bps was 0 or missing); no limit was set"
            return Double(b - a) / ((last.offsetMilliseconds - first.offsetMilliseconds) / 1000)
        }
        sources["bandwidthBytesPerSecond"] = "not measured: no memory_bps and no data_processed growth in the samples"
        return 0
    }
}
