import Foundation
import Lab
import Libvirt
import MemeaterKit
import MigrationModel
import PingMonitor
import Synchronization

/// Faults the tests inject into a run to show that a check can fail.
public struct CheckProbes: Sendable {
    /// After landing (or after the failed migration), make memeater corrupt this page
    /// before the integrity check: `memory-integrity` must FAIL.
    public var corruptPageBeforeVerification: Int?
    /// A pre-existing domain on the destination is suspended before it is looked at again:
    /// `destination-domain-untouched` must FAIL.
    public var suspendDestinationOccupant: Bool
    /// Runs after the migration call returned and its fault was lifted, just before the
    /// hosts are looked at; the closure it returns runs right after. A test leaves something
    /// behind here (a process posing as the guest's QEMU, an interface, a listener, a paused
    /// guest) to show that the clean-up checks FAIL on it.
    public var aroundHostChecks: (@Sendable () -> @Sendable () -> Void)?
    /// Runs after the fault was installed, just before the migration call; the closure it
    /// returns runs when the run ends. A test makes the migration fail for another reason
    /// here (e.g. a domain of the guest's name on the destination) to show that `fault-acted`
    /// FAILs a failure its fault did not cause.
    public var beforeMigration: (@Sendable (FaultContext) -> @Sendable () -> Void)?

    /// No probes: a normal run.
    public init(corruptPageBeforeVerification: Int? = nil, suspendDestinationOccupant: Bool = false,
                aroundHostChecks: (@Sendable () -> @Sendable () -> Void)? = nil,
                beforeMigration: (@Sendable (FaultContext) -> @Sendable () -> Void)? = nil) {
        self.corruptPageBeforeVerification = corruptPageBeforeVerification
        self.suspendDestinationOccupant = suspendDestinationOccupant
        self.aroundHostChecks = aroundHostChecks
        self.beforeMigration = beforeMigration
    }
}

/// How a run treats the guest's place and a migration that does not converge; not part of
/// the experiment's parameters (a sweep and a plain run of equal parameters measure the same).
public struct RunPolicy: Sendable, Equatable {
    /// Take the guest where it runs (`.eitherHost`: a live run migrates it from the
    /// destination back when the previous run left it there) or always from the source.
    public var placement: GuestPlacement
    /// A live migration that the timeout ended while it was still copying is a result, "did
    /// not converge": it is judged like a failed migration (the guest must be intact on the
    /// source and nothing left on the destination) instead of failing `migration-outcome`.
    public var nonConvergenceIsResult: Bool

    /// A plain run: from the source, non-convergence fails.
    public init(placement: GuestPlacement = .sourceOnly, nonConvergenceIsResult: Bool = false) {
        self.placement = placement
        self.nonConvergenceIsResult = nonConvergenceIsResult
    }

    /// What a sweep cell uses.
    public static let sweep = RunPolicy(placement: .eitherHost, nonConvergenceIsResult: true)
}

/// Runs scenarios on a testbed (the lab or real hosts): prepare the guest → install the
/// scenario's fault → drive the migration → gather one ``Observation`` → remove the fault →
/// evaluate the pure ``Checks``. It knows no scenario: each one's fault type
/// (``FaultCatalog``) says what it needs, does and expects.
public final class ScenarioRunner: Sendable {
    /// Ports QEMU uses for incoming migration (libvirt's default range).
    public static let migrationPorts = 49152...49215

    /// Where the scenarios run.
    public let testbed: any Testbed
    /// Where every record of a run goes.
    public let recorder: any RunRecorder
    /// Where installed faults are journaled.
    public let journal: FaultJournal
    /// SIGINT/SIGTERM: a run that sees it aborts its job, removes its fault and ends as interrupted.
    public let interruption: Interruption
    /// Where each run's ping capture is kept (`--save-captures`), one pcapng file per run; nil: not kept.
    public let captureDirectory: String?

    /// Creates a runner and starts libvirt's event loop.
    public init(testbed: any Testbed, recorder: any RunRecorder, journal: FaultJournal = FaultJournal(),
                interruption: Interruption = .shared, captureDirectory: String? = nil) throws(VerifierError) {
        self.testbed = testbed
        self.recorder = recorder
        self.journal = journal
        self.interruption = interruption
        self.captureDirectory = captureDirectory
        do {
            try EventLoop.startDefault()
        } catch {
            throw VerifierError.wrap(error, step: "start libvirt's event loop")
        }
    }

    private func step(_ line: String) { recorder.record(.step(line)) }

    // MARK: running

    /// Runs one scenario and returns its result. A setup failure becomes a failed `setup`
    /// check and an interruption a failed `interrupted` check; neither is a completed run,
    /// so neither is ever reused. The fault is removed whatever happens.
    public func run(_ parameters: ScenarioParameters, probes: CheckProbes = CheckProbes(), policy: RunPolicy = RunPolicy()) -> ScenarioResult {
        let clock = RunClock()
        recorder.begin(parameters, clock: clock)
        var result: ScenarioResult
        var migrationCallMilliseconds = 0.0
        var swapped = false
        do {
            let prepared = try prepare(parameters, policy: policy)
            swapped = prepared.host == .destination
            result = try execute(parameters, probes: probes, clock: clock, swapped: swapped, setupActions: prepared.actions,
                                 policy: policy)
            migrationCallMilliseconds += result.figures.migrationCallMilliseconds
        } catch {
            result = ScenarioResult(parameters: parameters, accel: "unknown", qemuVersion: "unknown", libvirtVersion: "unknown",
                                    startedAt: clock.startedAt)
            markFailed(&result, error)
        }
        if parameters.roundTrip, result.status == .completed, parameters.scenario.measuresAnUndisturbedMigration {
            migrationCallMilliseconds += migrateBack(parameters, into: &result, clock: clock, swapped: !swapped)
        }
        if result.status == .completed {
            result.figures.overheadMilliseconds = clock.milliseconds() - migrationCallMilliseconds
        }
        if let signal = interruption.signal, result.status == .completed {
            result.status = .interrupted
            result.add(Check(name: CheckName.interrupted, passed: false, evidence: "interrupted by \(signalName(signal)) after the checks"))
        }
        result.finishedAt = Date()
        recorder.finish(&result)
        return result
    }

    private func markFailed(_ result: inout ScenarioResult, _ error: any Error) {
        if case .interrupted(let signal, let step)? = error as? VerifierError {
            result.status = .interrupted
            result.add(Check(name: CheckName.interrupted, passed: false,
                             evidence: "interrupted by \(signalName(signal)) while \(step); the job was aborted and the fault removed"))
        } else {
            result.status = interruption.signal == nil ? .setupFailed : .interrupted
            result.failSetup(because: "\(error)")
        }
    }

    /// `--back`: migrates the guest from the destination back to the source and checks the
    /// second landing like the first; its checks are added with the prefix `back-`, its
    /// notes with `back: `, and its figures in one note (the contract figures stay the
    /// forward migration's). Its samples go to the same run, on the same clock.
    /// Returns the back leg's migration call time, ms.
    private func migrateBack(_ parameters: ScenarioParameters, into result: inout ScenarioResult, clock: RunClock,
                             swapped: Bool) -> Double {
        guard result.checks.first(where: { $0.name == CheckName.migrationOutcome })?.passed == true else {
            result.add(.notMeasured("back-" + CheckName.migrationOutcome, because: "the forward migration did not complete"))
            return 0
        }
        var back = parameters
        back.roundTrip = false
        step("\(parameters.label): migrating back")
        do {
            let leg = try execute(back, probes: CheckProbes(), clock: clock, swapped: swapped, back: true)
            for check in leg.checks { result.add(Check(name: "back-" + check.name, passed: check.passed, evidence: check.evidence)) }
            result.notes += leg.notes.map { "back: " + $0 }
            func figure(_ value: Double?) -> String { value.map(formatNumber) ?? "-" }
            result.notes.append("back: migration \(figure(leg.migrationMilliseconds)) ms, libvirt downtime \(figure(leg.libvirtDowntimeMilliseconds)) ms, ping gap \(figure(leg.pingDowntimeMilliseconds)) ms, \(leg.pingLost.map(String.init) ?? "-") probes lost, \(leg.integrityErrors.map(String.init) ?? "-") stale pages")
            return leg.figures.migrationCallMilliseconds
        } catch {
            var leg = result
            leg.checks = []
            markFailed(&leg, error)
            for check in leg.checks { result.add(Check(name: "back-" + check.name, passed: false, evidence: check.evidence)) }
            if leg.status == .interrupted { result.status = .interrupted }
            return 0
        }
    }

    /// Checks the parameters, refuses what the testbed cannot do, and gets the guest ready.
    private func prepare(_ parameters: ScenarioParameters, policy: RunPolicy) throws(VerifierError) -> PreparedGuest {
        try interruption.check(while: "starting the run")
        try parameters.validate()
        if let refusal = FaultCatalog.refusal(parameters.scenario, on: testbed) { throw .invalidOptions(refusal) }
        // Only a run without a fault may start from the destination: the faults act on the
        // testbed's configured destination.
        let placement: GuestPlacement = FaultCatalog.type(of: parameters.scenario) == NoFault.self ? policy.placement : .sourceOnly
        step("\(parameters.label): preparing the guest")
        let prepared = try testbed.prepareGuest(parameters, placement: placement) { [recorder] in recorder.record(.step($0)) }
        try interruption.check(while: "preparing the guest")
        return prepared
    }

    /// One migration with its fault, on a prepared guest. `swapped`: the guest runs on the
    /// configured destination, so the hosts swap roles (a sweep's way back, or a round trip's
    /// second leg). `back`: a round trip's second leg, with no fault.
    private func execute(_ original: ScenarioParameters, probes: CheckProbes, clock: RunClock, swapped: Bool,
                         back: Bool = false, setupActions actions: [String] = [],
                         policy: RunPolicy = RunPolicy()) throws(VerifierError) -> ScenarioResult {
        var parameters = original
        if swapped { parameters.endpoints = original.endpoints.swapped }
        let faultType: any Fault.Type = back ? NoFault.self : FaultCatalog.type(of: parameters.scenario)
        let fault = faultType.init()
        var expectation = faultType.expectation
        let sourceHost = testbed.host(swapped ? .destination : .source)
        let destinationHost = testbed.host(swapped ? .source : .destination)
        let endpoints = parameters.endpoints
        let source = try testbed.connect(endpoints.sourceURI)
        let destination = try testbed.connect(endpoints.destinationURI)

        // Versions and the domain as it is before the migration.
        let domain: Domain
        let domainXML: String
        var result: ScenarioResult
        do {
            domain = try source.lookupDomain(name: endpoints.domainName)
            domainXML = try domain.xmlDescription()
            let emulatorVersion = testbed.emulatorVersion
            result = ScenarioResult(parameters: parameters, accel: acceleratorName(inDomainXML: domainXML) ?? "unknown",
                                    qemuVersion: try emulatorVersion?.version ?? source.hypervisorVersion().description,
                                    libvirtVersion: try source.libvirtVersion().description, startedAt: clock.startedAt)
            result[source: .qemuVersion] = emulatorVersion?.source ?? "virConnectGetVersion on the source"
        } catch {
            throw VerifierError.wrap(error, step: "read the domain and versions on \(endpoints.sourceURI)")
        }
        result[source: .accel] = "the domain XML on the source (domain type kvm or qemu)"
        result[source: .libvirtVersion] = "virConnectGetLibVersion on the source daemon"
        if !actions.isEmpty { result.notes.append("setup: " + actions.joined(separator: "; ")) }
        let consoleMark = testbed.consoleMark(domainXML: domainXML)
        let sourceTaps = interfaceTargets(inDomainXML: domainXML)

        // memeater at its rate, held on one control connection for the whole run.
        let memeater = try connectMemeater()
        let infoBefore: ControlInfo
        let integrityErrorsBefore: UInt64
        let settled: (stable: Bool, achievedMiBPerSecond: Double)
        let dirtyRateStart: Date
        let dirtyRateStarted: Result<Void, any Error>?  // nil: not asked (no migration meant to land)
        do {
            infoBefore = try memeater.info()
            integrityErrorsBefore = try memeater.stats().integrityErrors
            try memeater.setRate(mibPerSecond: parameters.dirtyRateMiBPerSecond)
            try memeater.resume()
            // QEMU's own estimate of the dirty rate (page sampling over 1 s) runs while memeater's
            // rate settles and the ping baseline builds: the cross-check, at no extra wait.
            dirtyRateStart = Date()
            dirtyRateStarted = faultType.expectation == .migrates && !back
                ? Result { try domain.startDirtyRateCalculation(seconds: 1, mode: .pageSampling) } : nil
            settled = try waitForStableRate(memeater, targetMiBPerSecond: parameters.dirtyRateMiBPerSecond,
                                            pageSizeBytes: infoBefore.pageSizeBytes, clock: clock)
            try memeater.resetStall()
        } catch {
            throw VerifierError.wrap(error, step: "set memeater's rate at \(memeater.endpoint)")
        }
        result.achievedDirtyRateMiBPerSecond = settled.achievedMiBPerSecond
        if let system = infoBefore.operatingSystem {
            result.guestSystem = system + (infoBefore.kernelRelease.map { ", kernel \($0)" } ?? "")
        }
        result[source: .achievedDirtyRateMiBPerSecond] = parameters.dirtyRateMiBPerSecond == 0
            ? "growth of memeater's unique-page count over the three stats readings, 1.2 s apart, just before migrating"
            : "growth of memeater's unique-page count between two stats readings 0.25 s apart, just before migrating"
        if !settled.stable { result.notes.append("memeater's rate did not settle within 10 s: achieved \(formatNumber(settled.achievedMiBPerSecond)) MiB/s for a target of \(formatNumber(parameters.dirtyRateMiBPerSecond))") }
        try interruption.check(while: "setting memeater's rate")

        // pingmon from the client side, and both daemons' events, on the run's clock.
        let capturePath = captureDirectory.map { "\($0)/\(Self.captureFileName(parameters, startedAt: clock.startedAt))" }
        let ping = try PingMonitorRun(namespace: testbed.clientNamespace, target: endpoints.guestAddress,
                                      interface: endpoints.captureInterface, intervalMicroseconds: parameters.pingIntervalMicroseconds,
                                      saveCapturePath: capturePath, clock: clock) { [recorder] in recorder.record(.pingSample($0)) }
        var pingFinished = false
        defer { if !pingFinished { _ = try? ping.finish() } }
        Thread.sleep(forTimeInterval: 0.5)  // a baseline of replies before the migration
        if let dirtyRateStarted {
            recordQEMUDirtyRate(domain: domain, started: dirtyRateStarted, at: dirtyRateStart, into: &result)
        }
        let events = subscribeEvents(source: source, destination: destination, clock: clock)
        defer { events.cancel() }

        if let downtime = parameters.migration.qemuMaxDowntimeMilliseconds {
            do { try domain.setMigrationMaxDowntime(milliseconds: downtime) } catch {
                throw VerifierError.wrap(error, step: "set the max downtime")
            }
        }

        // The fault and the migration.
        let context = FaultContext(testbed: testbed, parameters: parameters, source: source, destination: destination,
                                   sourceHost: sourceHost, destinationHost: destinationHost, clock: clock, journal: journal,
                                   probes: probes, recorder: recorder)
        var plan = MigrationPlan(parameters: parameters)
        fault.tune(&plan, context: context)
        plan.driver.midStreamFault = fault.midStream(context)
        plan.driver.interruption = { [interruption] in interruption.signal.map { "interrupted by \(signalName($0))" } }
        plan.driver.onAbortWait = { [recorder] reason, secondsLeft in
            recorder.record(.waiting("aborted; waiting for \(reason): at most \(secondsLeft) s left"))
        }
        result.notes += plan.notes
        defer { fault.remove(context) }
        try fault.install(context)
        // What the destination has once the fault is in place, before the migration: what is
        // new afterwards was left by it.
        let mayJudgeAsFailed = expectation == .staysOnSource || policy.nonConvergenceIsResult
        let interfacesBefore: Looked<Set<String>> = !mayJudgeAsFailed ? .notLooked("not needed") : look(destinationHost) { (host: HostInspector) throws(VerifierError) -> Set<String> in
            try host.interfaces()
        }
        let undoProbe = probes.beforeMigration?(context)
        defer { undoProbe?() }
        try interruption.check(while: "installing the fault")
        step("\(parameters.label): migrating \(endpoints.domainName) \(endpoints.sourceURI) -> \(endpoints.destinationURI)")
        let job = LibvirtMigration(domain: domain, destination: destination, options: plan.options, migrationURI: plan.migrationURI)
        // Read after any migration that did not complete: its errors are in the run's notes.
        let daemonLog = testbed.sourceDaemonLogMark()
        let callStart = clock.milliseconds()
        var outcome = plan.driver.run(job, clock: clock) { [recorder] sample in
            recorder.record(.jobSample(sample, migrationStartMilliseconds: callStart))
        }
        if !outcome.ending.migrated {
            outcome.sourceDaemonErrors = daemonLog?.errorsSinceMark()
                ?? .failure(DaemonLogUnavailable(reason: "no shell on the source or no daemon log file named"))
        }
        fault.afterMigration(context, outcome: outcome)
        try interruption.check(while: "migrating")
        let didNotConverge = expectation == .migrates && policy.nonConvergenceIsResult && outcome.didNotConverge
        if didNotConverge {
            // A result, not an error: judged like any failed migration.
            expectation = .staysOnSource
            result.notes.append("did not converge: \(outcome.ending.summary)")
        }
        recordMigrationFigures(outcome, expected: faultType.expectation, into: &result)

        if let note = outcome.faultNote {
            result.notes.append("fault at \(outcome.faultInjectedAtMilliseconds.map { formatNumber($0) + " ms" } ?? "-"): \(note)")
        }
        if let note = outcome.abortNote { result.notes.append("abort: \(note)") }
        result.notes.append("migration: \(outcome.ending.summary); \(outcome.samples.count) job-stats samples, \(outcome.failedSampleReads) failed reads, \(events.count) events")
        switch outcome.sourceDaemonErrors {
        case .success(let logged) where !logged.messages.isEmpty:
            result.notes.append("the source daemon logged (\(logged.location)): \(logged.messages.prefix(4).joined(separator: " | "))")
        case .failure(let unavailable): result.notes.append("the source daemon's log was not read: \(unavailable.reason)")
        default: break
        }
        result.notes += events.subscriptionErrors
        result.jobSampleCount = outcome.samples.count
        result.libvirtError = outcome.ending.libvirtMessage
        if let last = outcome.samples.last?.memoryIteration { result.iterations = Int(last) }
        if let dirty = outcome.samples.compactMap(\.memoryDirtyRateBytesPerSecond).max() {
            result.libvirtDirtyRateMiBPerSecond = Double(dirty) / 1_048_576
            result[source: .libvirtDirtyRateMiBPerSecond] = "largest memory_dirty_rate × memory_page_size of libvirt's job stats during the migration"
        }

        // Let the network settle (QEMU's announces run for about 800 ms), then collect pings.
        Thread.sleep(forTimeInterval: expectation == .migrates ? 1.0 : 2.0)
        let pingReport = try ping.finish()
        pingFinished = true
        var pingSummary = PingSummary(pingReport)
        recordPingFigures(pingReport, clock: clock, into: &result)
        pingSummary.gapsOnRunClock = result.figures.pingGaps
        result.pingLost = pingSummary.lost
        result.pingDowntimeMilliseconds = pingSummary.longestGapMilliseconds
        result[source: .pingDowntimeMilliseconds] = "pingmon: longest gap between replies, \(pingSummary.timestampPrecision) capture timestamps, bounds \(formatNumber(pingSummary.longestGapLowerBoundMilliseconds))-\(formatNumber(pingSummary.longestGapUpperBoundMilliseconds)) ms"
        result[source: .pingLost] = "pingmon: probes without a reply, \(pingSummary.sent) sent every \(parameters.pingIntervalMicroseconds) µs"

        // Everything the checks need, then the checks. A fresh connection to the destination:
        // the one used for the migration may have crossed a cut link or been closed by
        // libvirt's keepalive.
        let checkDestination = try testbed.connect(endpoints.destinationURI)
        let observation = observe(parameters: parameters, expectation: expectation, plan: plan, outcome: outcome, fault: fault,
                                  context: context, interfacesBefore: interfacesBefore, sourceTaps: sourceTaps,
                                  ping: pingSummary, memeater: memeater, infoBefore: infoBefore,
                                  integrityErrorsBefore: integrityErrorsBefore, consoleMark: consoleMark,
                                  destination: checkDestination, didNotConverge: didNotConverge,
                                  timeoutIsResult: policy.nonConvergenceIsResult)
        for check in Checks.evaluate(observation) { result.add(check) }
        recorder.record(.observation(observation, leg: back ? .back : .forward))  // results store: kept for `migverify rejudge`
        result.fault = observation.fault
        if case .unreadable(let reason) = observation.console {
            // Not a PASS: nothing was looked at. Reported, not judged.
            result.notes.append("\(CheckName.guestConsole) not checked: the console cannot be read (\(reason))")
        }
        result.integrityErrors = observation.memeater.integrityErrors
        if (result.integrityErrors ?? 0) > 0 || observation.console.showsFailure, let discarded = testbed.discardGuest() {
            // Its memory or kernel is damaged: no later run may start from it.
            result.notes.append("the guest was discarded after this run: \(discarded)")
        }
        if result.integrityErrors != nil {
            result[source: .integrityErrors] = "memeater: bad pages of verify-all after the migration plus those found before rewrites while dirtying"
        }
        result.recordStall(from: observation.memeater.statsAfter)
        readCompletedStats(into: &result, outcome: outcome, source: source, destination: checkDestination,
                           domainName: endpoints.domainName, eventStats: events.completedStats)

        // Side by side.
        var downtimeNote = "the ping gap includes the delay to QEMU's first announce and one probe interval, so it is expected to exceed libvirt's downtime"
        if case .cut(_, let outage)? = observation.fault?.guestNetwork {
            downtimeNote = "the ping gap includes the \(formatNumber(outage)) ms the fault cut the guest network: it is not the migration's downtime"
            result[source: .pingDowntimeMilliseconds] = (result[source: .pingDowntimeMilliseconds] ?? "pingmon")
                + "; includes the \(formatNumber(outage)) ms guest network outage the fault made"
        }
        result.crossChecks.append(CrossCheck(
            figure: "downtime (ms)", ours: result.pingDowntimeMilliseconds, oursSource: "pingmon longest reply gap",
            libvirt: result.libvirtDowntimeMilliseconds, libvirtSource: "completed job stats `downtime`", note: downtimeNote))
        result.crossChecks.append(CrossCheck(
            figure: "dirty rate (MiB/s)", ours: result.achievedDirtyRateMiBPerSecond, oursSource: "memeater achieved unique pages/s",
            libvirt: result.libvirtDirtyRateMiBPerSecond, libvirtSource: "job stats memory_dirty_rate (largest sample)",
            note: "QEMU counts pages dirtied between bitmap syncs; under TCG it is a cross-check only at moderate rates (lab notes)"))
        if faultType.expectation == .migrates { result.modelComparison = modelComparison(result, outcome: outcome) }
        result.parameters = original
        result.figures.direction = swapped ? .reverse : .forward
        return result
    }

    /// QEMU's page-sampling estimate started at `start`, read once it is measured (at most 3 s).
    private func recordQEMUDirtyRate(domain: Domain, started: Result<Void, any Error>, at start: Date, into result: inout ScenarioResult) {
        if case .failure(let error) = started {
            result.figures.qemuSampledDirtyRateSource = "not measured: virDomainStartDirtyRateCalc failed: \(error)"
            return
        }
        let remaining = 1.05 - Date().timeIntervalSince(start)
        if remaining > 0 { Thread.sleep(forTimeInterval: remaining) }
        var reading: DirtyRateReading?
        var lastError = "not measured within 3 s"
        while Date().timeIntervalSince(start) < 3 {
            do {
                let current = try domain.dirtyRate()
                if current.status == .measured { reading = current; break }
            } catch {
                lastError = "\(error)"
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        guard let reading, let rate = reading.dirtyRateMiBPerSecond else {
            result.figures.qemuSampledDirtyRateSource = "not measured: \(lastError)"
            return
        }
        result.figures.qemuSampledDirtyRateMiBPerSecond = Double(rate)
        result.figures.qemuSampledDirtyRateSource = "libvirt's dirty-rate calculation (virDomainStartDirtyRateCalc, page sampling, \(reading.periodSeconds.map { "\($0)" } ?? "1") s) from memeater's resume at the set rate to just before the migration"
            + (result.accel == "tcg" ? "; under TCG page sampling is valid up to about 60 MB/s and saturates near 119 MB/s (a stated limit)" : "")
    }

    /// How far the copy got and how fast, from the driver's job-stats samples.
    private func recordMigrationFigures(_ outcome: MigrationOutcome, expected: ExpectedOutcome, into result: inout ScenarioResult) {
        var figures = result.figures
        if expected == .migrates {
            figures.convergence = outcome.ending.migrated ? .converged : outcome.didNotConverge ? .didNotConverge : .failed
        }
        // Readings of the job while it ran: after an abort libvirt reports an empty job (zeros).
        let running = outcome.samples.filter { ($0.dataTotalBytes ?? 0) > 0 }
        figures.passes = running.compactMap(\.memoryIteration).max().map { Int(clamping: $0) }
        if !outcome.ending.migrated { figures.remainingBytesAtEnd = running.last?.dataRemainingBytes }
        let rates = outcome.samples.compactMap(\.memoryBandwidthBytesPerSecond).filter { $0 > 0 }.sorted()
        if !rates.isEmpty { figures.transferRateMiBPerSecond = Double(rates[rates.count / 2]) / 1_048_576 }
        figures.migrationStartOffsetMilliseconds = outcome.startedAtMilliseconds
        figures.migrationEndOffsetMilliseconds = outcome.startedAtMilliseconds + outcome.wallMilliseconds
        figures.migrationCallMilliseconds = outcome.wallMilliseconds
        figures.faultOffsetMilliseconds = outcome.faultInjectedAtMilliseconds
        figures.abortOffsetMilliseconds = outcome.abortedAtMilliseconds
        result.figures = figures
    }

    /// The ping gaps and announce frames, moved from the capture's time base (ms after its
    /// first packet, wall clock) onto the run's clock.
    private func recordPingFigures(_ report: PingReport, clock: RunClock, into result: inout ScenarioResult) {
        let analysis = report.analysis
        let captureStart = Double(analysis.startEpochNanoseconds) / 1e6 - clock.startedAt.timeIntervalSince1970 * 1000
        var figures = result.figures
        figures.pingGapLowerBoundMilliseconds = analysis.downtimeLowerBoundMilliseconds
        figures.pingGapUpperBoundMilliseconds = analysis.downtimeUpperBoundMilliseconds
        figures.pingGapStartOffsetMilliseconds = analysis.downtimeStartOffsetMilliseconds.map { captureStart + $0 }
        figures.pingGaps = analysis.gaps.map { TimedSpan(startOffsetMilliseconds: captureStart + $0.startOffsetMilliseconds,
                                                         lengthMilliseconds: $0.lengthMilliseconds) }
        figures.announceOffsetsMilliseconds = analysis.announceFrames.map { captureStart + $0.offsetMilliseconds }
        figures.probeIntervalMicroseconds = analysis.intervalMicroseconds
        figures.pingDowntimeEstimateMilliseconds = analysis.downtimeMilliseconds
        figures.pingCapturePath = report.captureFile
        result.figures = figures
    }

    /// The file name of a run's capture: when it started (UTC) and what ran, e.g.
    /// `20261127T064512Z-live-2048MiB-50MiBps-initramfs.pcapng`.
    static func captureFileName(_ parameters: ScenarioParameters, startedAt: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let rate = parameters.dirtyRateMiBPerSecond == 0 ? "unlimited" : formatNumber(parameters.dirtyRateMiBPerSecond) + "MiBps"
        var name = "\(formatter.string(from: startedAt))-\(parameters.scenario.rawValue)-\(parameters.memoryMiB)MiB-\(rate)-\(parameters.guestKind)"
        if let repetition = parameters.repetition { name += "-\(repetition)" }
        // Only characters that need no quoting anywhere.
        return String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) ? $0 : "_" }) + ".pcapng"
    }

    // MARK: gathering

    /// Looks at everything the checks judge, after the migration call returned and the
    /// fault was lifted: where the guest runs, what the hosts have (waiting for libvirt's
    /// asynchronous clean-up), memeater's verification, the console, the fault's evidence.
    private func observe(parameters: ScenarioParameters, expectation: ExpectedOutcome, plan: MigrationPlan, outcome: MigrationOutcome,
                         fault: any Fault, context: FaultContext, interfacesBefore: Looked<Set<String>>, sourceTaps: [String],
                         ping: PingSummary, memeater: MemeaterClient, infoBefore: ControlInfo, integrityErrorsBefore: UInt64,
                         consoleMark: ConsoleMark, destination: Connection, didNotConverge: Bool,
                         timeoutIsResult: Bool) -> Observation {
        let name = parameters.endpoints.domainName
        let source = context.source
        var undoProbe = context.probes.aroundHostChecks?()
        defer { undoProbe?() }

        // Where the guest runs. After a failed job QEMU may need a moment to resume the vCPUs.
        var onSource = sighting(name, on: source)
        let sourceWait = Date()
        if expectation == .staysOnSource {
            while !onSource.isRunning, Date().timeIntervalSince(sourceWait) < 10 {
                Thread.sleep(forTimeInterval: 0.5)
                onSource = sighting(name, on: source)
            }
        }
        let sourceWaitedSeconds = Date().timeIntervalSince(sourceWait)

        // The hosts, until libvirt's clean-up is done or the plan's wait is over.
        let occupantBefore = fault.preexistingDestinationDomain
        if let occupantBefore, context.probes.suspendDestinationOccupant {
            if let domain = try? destination.domainIfPresent(name: name), (try? domain.uuidString()) == occupantBefore.uuid {
                do { try domain.suspend() } catch { step("probe: could not suspend the destination's domain: \(error)") }
            }
        }
        let hostWait = Date()
        var sourceSnapshot: Looked<HostSnapshot> = .notLooked("not needed")
        var destinationSnapshot: Looked<HostSnapshot> = .notLooked("not needed")
        var onDestination: DomainSighting
        var occupant: OccupantObservation?
        while true {
            onDestination = sighting(name, on: destination)
            occupant = occupantBefore.map {
                OccupantObservation(before: $0, after: OccupantSnapshot.take(destination: destination, inspector: context.destinationHost, name: name))
            }
            let settled: Bool
            switch expectation {
            case .migrates:
                sourceSnapshot = snapshot(context.sourceHost, role: "source", domainName: name)
                settled = Checks.sourceHostClean(host: sourceSnapshot, taps: sourceTaps, domainName: name, waitedSeconds: 0).passed
            case .staysOnSource:
                destinationSnapshot = snapshot(context.destinationHost, role: "destination", domainName: name)
                settled = Checks.destinationHostClean(sighting: onDestination, host: destinationSnapshot, interfacesBefore: interfacesBefore,
                                                      occupant: occupant, domainName: name, waitedSeconds: 0).passed
                    && Checks.migrationPortFree(host: destinationSnapshot, waitedSeconds: 0).passed
            }
            if settled || Date().timeIntervalSince(hostWait) >= plan.cleanUpWaitSeconds { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        let hostsWaitedSeconds = Date().timeIntervalSince(hostWait)
        undoProbe?()
        undoProbe = nil

        var memeaterObservation = observeMemeater(memeater, before: infoBefore, corruptPage: context.probes.corruptPageBeforeVerification)
        memeaterObservation.integrityErrorsBefore = integrityErrorsBefore
        let console = ConsoleObservation(text: testbed.console(since: consoleMark), unavailable: consoleMark.unavailable)
        var answersAtEnd: Looked<Bool>?
        if expectation == .migrates {
            if onDestination.isRunning {
                let endpoints = testbed.endpoints
                do {
                    let echo = try Reachability.echo(namespace: testbed.clientNamespace, target: endpoints.guestAddress,
                                                     interface: endpoints.captureInterface, count: 3, intervalMilliseconds: 200)
                    answersAtEnd = .seen(echo.answered)
                } catch {
                    answersAtEnd = .notLooked("could not ping at the end: \(error.description)")
                }
            } else {
                answersAtEnd = .seen(false)
            }
        }
        return Observation(
            expectation: expectation, parameters: parameters,
            call: parameters.migration.mode == .peerToPeer ? "virDomainMigrateToURI3 (p2p)" : "virDomainMigrate3 (client-managed)",
            outcome: outcome, onSource: onSource, sourceWaitedSeconds: expectation == .staysOnSource ? sourceWaitedSeconds : 0,
            onDestination: onDestination, sourceHost: sourceSnapshot, destinationHost: destinationSnapshot,
            hostsWaitedSeconds: hostsWaitedSeconds, destinationInterfacesBefore: interfacesBefore, sourceTaps: sourceTaps,
            occupant: occupant, ping: ping, memeater: memeaterObservation, console: console, answersAtEnd: answersAtEnd,
            fault: fault.evidence(context, outcome: outcome), didNotConverge: didNotConverge, timeoutIsResult: timeoutIsResult)
    }

    private func sighting(_ name: String, on connection: Connection) -> DomainSighting {
        do {
            guard let domain = try connection.domainIfPresent(name: name) else {
                return DomainSighting(uri: connection.uri, name: name, state: nil)
            }
            return DomainSighting(uri: connection.uri, name: name, state: try domain.state())
        } catch {
            return DomainSighting(uri: connection.uri, name: name, state: nil, error: "\(error)")
        }
    }

    private func look<Value>(_ host: HostInspector?, _ read: (HostInspector) throws(VerifierError) -> Value) -> Looked<Value> {
        guard let host else { return .notLooked("no shell on the host") }
        do { return .seen(try read(host)) } catch { return .notLooked(error.description) }
    }

    /// The host's QEMU processes of the guest, interfaces and migration-port listeners.
    private func snapshot(_ host: HostInspector?, role: String, domainName: String) -> Looked<HostSnapshot> {
        guard let host else {
            return .notLooked("no shell on the \(role) host to look at its processes and interfaces: use a qemu+ssh:// URI or --\(role == "source" ? "source" : "dest")-ssh USER@HOST")
        }
        do {
            return .seen(HostSnapshot(hostName: host.hostName, qemuProcesses: try host.qemuProcesses(domainName: domainName),
                                      interfaces: try host.interfaces(),
                                      listeningMigrationPorts: try host.listeningPorts(in: Self.migrationPorts)))
        } catch {
            return .notLooked(error.description)
        }
    }

    /// memeater after landing (or after the failure): on the connection opened before the
    /// migration if it survived, else on a new one; then paused, verified and asked for info.
    private func observeMemeater(_ memeater: MemeaterClient, before: ControlInfo, corruptPage: Int?) -> MemeaterObservation {
        var client = memeater
        var connection: String
        var statsAfter: ProgressRecord?
        do {
            statsAfter = try client.stats()
            connection = "the control connection opened before the migration answered after it (\(client.endpoint))"
        } catch {
            let firstError = "\(error)"
            do {
                client = try connectMemeater()
                statsAfter = try client.stats()
                connection = "re-established: the original connection failed (\(firstError)); a new one answered"
            } catch {
                connection = "lost: the original connection failed (\(firstError)) and a new one failed too (\(error))"
            }
        }
        guard statsAfter != nil else {
            return MemeaterObservation(before: before, connection: connection, statsAfter: nil,
                                       verification: .notLooked("memeater cannot be reached"), infoAfter: .notLooked("memeater cannot be reached"))
        }
        var verification: Looked<VerificationReport>
        var infoAfter: Looked<ControlInfo>
        do {
            try client.pause()
            if let page = corruptPage {
                try client.corruptPage(page)
                step("probe: memeater corrupted page \(page) before the verification")
            }
            verification = .seen(try client.verifyAll())
            infoAfter = .seen(try client.info())
        } catch {
            verification = .notLooked("\(error)")
            infoAfter = .notLooked("\(error)")
        }
        return MemeaterObservation(before: before, connection: connection, statsAfter: statsAfter, verification: verification,
                                   infoAfter: infoAfter)
    }

    private func connectMemeater() throws(VerifierError) -> MemeaterClient {
        let endpoints = testbed.endpoints
        do {
            return try testbed.connectMemeater(timeoutSeconds: 10)
        } catch {
            throw VerifierError.wrap(error, step: "connect to memeater at \(SocketAddress.endpointText(host: endpoints.guestAddress, port: endpoints.memeaterPort))")
        }
    }

    /// Both daemons' domain events, recorded on the run's clock; the source's job-completed
    /// event carries the completed job stats.
    private func subscribeEvents(source: Connection, destination: Connection, clock: RunClock) -> EventWatch {
        let watch = EventWatch()
        let recorder = self.recorder
        watch.subscriptions = [("source", source), ("destination", destination)].compactMap { host, connection in
            do {
                return try connection.subscribeDomainEvents { [watch] event in
                let text: String
                switch event {
                case .lifecycle(let name, let kind, let raw, let detail):
                    text = "\(name) lifecycle \(kind.map { "\($0)" } ?? "kind \(raw)") detail \(detail)"
                case .migrationIteration(let name, let iteration):
                    text = "\(name) migration-iteration \(iteration)"
                case .jobCompleted(let name, let stats):
                    if host == "source" { watch.state.withLock { $0.completedStats = stats } }
                    text = "\(name) job-completed"
                }
                watch.state.withLock { $0.count += 1 }
                recorder.record(.event(EventRecord(offsetMilliseconds: clock.milliseconds(), host: host, description: text)))
                }
            } catch {
                watch.state.withLock { $0.subscriptionErrors.append("no events from the \(host) daemon: \(error)") }
                return nil
            }
        }
        return watch
    }

    /// Waits until three consecutive readings of memeater's achieved rate are within ±10 % of
    /// the target (unlimited: above 0). The rate is the growth of memeater's unique-page
    /// counter between two readings: memeater counts a page once per 1 s window, so at an
    /// unlimited rate a region is done early in each window and spans under 1 s are bursty.
    /// Unlimited readings are therefore 1.2 s apart, and the rate returned is over all of them.
    private func waitForStableRate(_ memeater: MemeaterClient, targetMiBPerSecond: Double, pageSizeBytes: Int,
                                   clock: RunClock) throws(LabError) -> (stable: Bool, achievedMiBPerSecond: Double) {
        let unlimited = targetMiBPerSecond == 0
        func rate(_ from: ProgressRecord, _ to: ProgressRecord) -> Double {
            let seconds = to.elapsedSeconds - from.elapsedSeconds
            guard seconds > 0, to.pagesDirtied >= from.pagesDirtied else { return 0 }
            return Double(to.pagesDirtied - from.pagesDirtied) * Double(pageSizeBytes) / 1_048_576 / seconds
        }
        func read() throws(LabError) -> ProgressRecord {
            let stats = try memeater.stats()
            recorder.record(.memeater(MemeaterReading(offsetMilliseconds: clock.milliseconds(), memeaterElapsedSeconds: stats.elapsedSeconds,
                                                      pagesDirtied: stats.pagesDirtied, achievedPagesPerSecond: stats.achievedPagesPerSecond)))
            return stats
        }
        let deadline = Date().addingTimeInterval(10)
        var goodReadings = 0
        var achieved = 0.0
        let first = try read()
        var previous = first
        while Date() < deadline, interruption.signal == nil {
            Thread.sleep(forTimeInterval: unlimited ? 1.2 : 0.25)
            let current = try read()
            achieved = rate(previous, current)
            previous = current
            let ok = unlimited ? achieved > 0 : abs(achieved - targetMiBPerSecond) <= 0.1 * targetMiBPerSecond
            goodReadings = ok ? goodReadings + 1 : 0
            if goodReadings >= 3 { return (true, unlimited ? rate(first, current) : achieved) }
        }
        return (false, achieved)
    }

    /// The figures of libvirt's completed job stats: from the source's job-completed event,
    /// else as completed stats from either daemon; the verifier's clock when there are none.
    private func readCompletedStats(into result: inout ScenarioResult, outcome: MigrationOutcome, source: Connection,
                                    destination: Connection, domainName: String, eventStats: JobStats?) {
        var stats: JobStats?
        var from = ""
        func usable(_ candidate: JobStats?) -> Bool { (candidate?.timeElapsedMilliseconds ?? 0) > 0 }
        if usable(eventStats) {
            stats = eventStats
            from = "the source daemon's job-completed event (completed job stats)"
        } else if let domain = try? source.domainIfPresent(name: domainName), let completed = try? domain.jobStats(completed: true),
                  usable(completed) {
            stats = completed
            from = "completed job stats on the source"
        } else if let domain = try? destination.domainIfPresent(name: domainName), let completed = try? domain.jobStats(completed: true),
                  usable(completed) {
            stats = completed
            from = "completed job stats on the destination"
        }
        if let stats, outcome.ending.migrated {
            result.migrationMilliseconds = stats.timeElapsedMilliseconds.map { Double($0) }
            result.libvirtDowntimeMilliseconds = stats.downtimeMilliseconds.map { Double($0) }
            result.setupMilliseconds = stats.setupTimeMilliseconds.map { Double($0) }
            result.transferredBytes = stats.dataProcessedBytes
            if let iteration = stats.memoryIteration { result.iterations = Int(iteration) }
            for figure: Figure in [.migrationMilliseconds, .libvirtDowntimeMilliseconds, .setupMilliseconds, .transferredBytes, .iterations] {
                result[source: figure] = from
            }
        } else {
            result.migrationMilliseconds = outcome.wallMilliseconds
            result[source: .migrationMilliseconds] = "the verifier's monotonic clock around the migration call (libvirt gave no completed stats: the migration did not complete)"
        }
    }

    private func modelComparison(_ result: ScenarioResult, outcome: MigrationOutcome) -> ModelComparison {
        let mib = 1_048_576.0
        let parameters = result.parameters
        var sources: [String: String] = [
            "firstPassBytes": "the guest RAM (\(parameters.memoryMiB) MiB); QEMU sends untouched pages as short zero-page records, so measured transfers are smaller",
            "dirtySetBytes": "memeater's region (\(parameters.memeaterSizeMiB) MiB)",
            "dirtyRateBytesPerSecond": "memeater's achieved rate before the migration",
        ]
        let bandwidth: Double
        if let limit = parameters.migration.bandwidthMiBPerSecond {
            bandwidth = Double(limit) * mib
            sources["bandwidthBytesPerSecond"] = "--bandwidth-mib-per-second"
        } else {
            let rates = outcome.samples.compactMap(\.memoryBandwidthBytesPerSecond).filter { $0 > 0 }.map { Double($0) }
            let progressing = outcome.samples.filter { ($0.dataProcessedBytes ?? 0) > 0 }
            if !rates.isEmpty {
                bandwidth = rates.reduce(0, +) / Double(rates.count)
                sources["bandwidthBytesPerSecond"] = "mean of libvirt's memory_bps samples (\(rates.count) samples); no limit was set"
            } else if let first = progressing.first, let last = progressing.last, last.offsetMilliseconds > first.offsetMilliseconds,
                      let a = first.dataProcessedBytes, let b = last.dataProcessedBytes, b > a {
                bandwidth = Double(b - a) / ((last.offsetMilliseconds - first.offsetMilliseconds) / 1000)
                sources["bandwidthBytesPerSecond"] = "growth of libvirt's data_processed between the first and last samples (memory_bps was 0 or missing); no limit was set"
            } else {
                bandwidth = 0
                sources["bandwidthBytesPerSecond"] = "not measured: no memory_bps and no data_processed growth in the samples"
            }
        }
        let downtime = Double(parameters.migration.qemuMaxDowntimeMilliseconds ?? 300)
        sources["maxDowntimeMilliseconds"] = parameters.migration.qemuMaxDowntimeMilliseconds == nil ? "QEMU's default (300 ms)" : "--qemu-max-downtime-ms"
        let input = PreCopyModelInput(firstPassBytes: Double(parameters.memoryMiB) * mib,
                                      dirtySetBytes: Double(parameters.memeaterSizeMiB) * mib,
                                      dirtyRateBytesPerSecond: (result.achievedDirtyRateMiBPerSecond ?? parameters.dirtyRateMiBPerSecond) * mib,
                                      bandwidthBytesPerSecond: bandwidth, maxDowntimeMilliseconds: downtime)
        return ModelComparison(input: input, inputSources: sources, prediction: PreCopyModel.predict(input),
                               measuredConverged: outcome.ending.migrated, measuredMilliseconds: result.migrationMilliseconds,
                               measuredDowntimeMilliseconds: result.libvirtDowntimeMilliseconds, measuredIterations: result.iterations,
                               measuredTransferredBytes: result.transferredBytes.map { Double($0) },
                               measuredSource: result[source: .migrationMilliseconds] ?? "libvirt")
    }
}

/// The domain events of one run: how many, and the source's completed job stats.
private final class EventWatch: @unchecked Sendable {
    // @unchecked: `subscriptions` is set once, before any event can arrive, and read in cancel().
    struct State {
        var count = 0
        var completedStats: JobStats?
        var subscriptionErrors: [String] = []
    }

    let state = Mutex(State())
    var subscriptions: [EventSubscription] = []

    var count: Int { state.withLock { $0.count } }
    var completedStats: JobStats? { state.withLock { $0.completedStats } }
    var subscriptionErrors: [String] { state.withLock { $0.subscriptionErrors } }
    func cancel() { subscriptions.forEach { $0.cancel() } }
}
