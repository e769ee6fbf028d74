import Foundation
import Lab
import Libvirt
import MemeaterKit
import MigrationModel
import PingMonitor

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

/// Runs scenarios on a testbed (the lab, real hosts, or a fake in the tests) as a list of
/// phases that return values: prepare the guest → read the ``Baseline`` → set memeater's load
/// → start the ping → install the fault → drive the migration → gather one ``Observation`` →
/// remove the fault → the pure ``Checks`` and ``ResultBuilder``. It knows no scenario: each
/// one's fault type (``FaultCatalog``) says what it needs, does, sees and expects.
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
    /// The scenarios' fault types.
    public let catalog: FaultCatalog
    /// How long the runner lets things settle (memeater's rate, the ping baseline, QEMU's
    /// announces); the tests' fake testbed shortens them.
    public let pauses: RunPauses
    /// How the destination's migration ports are captured during each migration call.
    public let streamCaptureSettings: StreamCaptureSettings
    /// The host-wide faults this run shares with the other guests of its evacuation (`nil`:
    /// a run of one guest).
    public let sharedFaults: SharedFaultInstallations?
    /// The domain names of the evacuation's other guests (empty: a run of one guest): the
    /// clean-up checks leave out what is theirs on the destination.
    public let otherGuests: [String]
    /// Called once the fault is installed, just before each migration call; blocks until the
    /// call may start and says what it waited for (an evacuation's ``EvacuationStartLine``;
    /// `nil`: a run of one guest starts at once).
    public let waitToStart: (@Sendable () -> String?)?

    /// Creates a runner and starts libvirt's event loop.
    public init(testbed: any Testbed, recorder: any RunRecorder, journal: FaultJournal = FaultJournal(),
                interruption: Interruption = .shared, captureDirectory: String? = nil, catalog: FaultCatalog = .standard,
                pauses: RunPauses = RunPauses(), streamCaptureSettings: StreamCaptureSettings = StreamCaptureSettings(),
                sharedFaults: SharedFaultInstallations? = nil, otherGuests: [String] = [],
                waitToStart: (@Sendable () -> String?)? = nil) throws(VerifierError) {
        self.waitToStart = waitToStart
        self.streamCaptureSettings = streamCaptureSettings
        self.sharedFaults = sharedFaults
        self.otherGuests = otherGuests
        self.testbed = testbed
        self.recorder = recorder
        self.journal = journal
        self.interruption = interruption
        self.captureDirectory = captureDirectory
        self.catalog = catalog
        self.pauses = pauses
        do {
            try EventLoop.startDefault()
        } catch {
            throw VerifierError.wrap(error, step: "start libvirt's event loop")
        }
    }

    func step(_ line: String) { recorder.record(.step(line)) }

    // MARK: running

    /// Runs one scenario and returns its result. A setup failure becomes a failed `setup`
    /// check and an interruption a failed `interrupted` check; neither is a completed run,
    /// so neither is ever reused. The fault is removed whatever happens.
    public func run(_ parameters: ScenarioParameters, policy: RunPolicy = RunPolicy()) -> ScenarioResult {
        let clock = RunClock()
        recorder.begin(parameters, clock: clock)
        var result: ScenarioResult
        var migrationCallMilliseconds = 0.0
        var swapped = false
        do {
            let prepared = try prepare(parameters, policy: policy)
            swapped = prepared.host == .destination
            let leg = Leg(original: parameters, swapped: swapped, kind: .forward, policy: policy, clock: clock,
                          faultType: catalog.type(of: parameters.scenario))
            result = try execute(leg, setupActions: prepared.actions)
            migrationCallMilliseconds += result.figures.migrationCallMilliseconds
        } catch {
            result = ScenarioResult(parameters: parameters, accel: "unknown", qemuVersion: "unknown", libvirtVersion: "unknown",
                                    startedAt: clock.startedAt)
            markFailed(&result, error)
        }
        let faultType = catalog.type(of: parameters.scenario)
        if parameters.roundTrip, result.status == .completed, faultType.measuresAnUndisturbedMigration {
            migrationCallMilliseconds += followUp(.back, parameters, into: &result, clock: clock, swapped: !swapped)
        }
        if faultType.migratesAgainAfterwards, result.status == .completed {
            migrationCallMilliseconds += followUp(.again, parameters, into: &result, clock: clock, swapped: swapped)
        }
        if result.status == .completed {
            result.figures.overheadMilliseconds = clock.milliseconds() - migrationCallMilliseconds
        }
        if let signal = interruption.signal, result.status == .completed {
            result.status = .interrupted
            result.add(Check(name: CheckName.interrupted, passed: false, evidence: "interrupted by \(signalName(signal)) after the checks"))
        }
        result.finishedAt = clock.startedAt.addingTimeInterval(clock.milliseconds() / 1000)
        return recorder.finish(result)
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

    /// A second migration after the run's own, without a fault, checked like a live landing;
    /// its checks are added with the leg's prefix, its notes with `back: ` or `again: `, and
    /// its figures in one note (the contract figures stay the first migration's). Its samples
    /// go to the same run, on the same clock. `--back` migrates the guest from the
    /// destination back to the source once it landed; a fault that must leave the hosts able
    /// to migrate (``Fault/migratesAgainAfterwards``) is followed by a plain migration from
    /// where the guest stayed. Returns the leg's migration call time, ms.
    private func followUp(_ kind: MigrationLeg, _ parameters: ScenarioParameters, into result: inout ScenarioResult, clock: RunClock,
                          swapped: Bool) -> Double {
        let prefix = kind.checkNamePrefix
        let previous = kind == .back ? "the forward migration did not complete" : "the guest is not on the source, intact"
        // Back needs a landing; again needs the guest where the failure must have left it.
        let ready = kind == .back ? result.checks.first(where: { $0.name == CheckName.migrationOutcome })?.passed == true
            : result.checks.contains { $0.name == CheckName.guestOnSource && $0.passed }
        guard ready else {
            result.add(.notMeasured(prefix + CheckName.migrationOutcome, because: previous))
            return 0
        }
        var plain = parameters
        plain.roundTrip = false
        plain.scenario = NoFault.scenario
        let label = kind == .back ? "back" : "again"
        step("\(parameters.label): migrating \(kind == .back ? "back" : "again, without a fault")")
        do {
            let leg = try execute(Leg(original: plain, swapped: swapped, kind: kind, policy: RunPolicy(), clock: clock, faultType: NoFault.self))
            for check in leg.checks { result.add(Check(name: prefix + check.name, passed: check.passed, evidence: check.evidence)) }
            result.notes += leg.notes.map { "\(label): " + $0 }
            func figure(_ value: Double?) -> String { value.map(formatNumber) ?? "-" }
            result.notes.append("\(label): migration \(figure(leg.migrationMilliseconds)) ms, libvirt downtime \(figure(leg.libvirtDowntimeMilliseconds)) ms, ping gap \(figure(leg.pingDowntimeMilliseconds)) ms, \(leg.pingLost.map(String.init) ?? "-") probes lost\((leg.figures.pingGapLateProbes ?? 0) > 0 ? " (+\(leg.figures.pingGapLateProbes ?? 0) held, answered late)" : ""), \(leg.integrityErrors.map(String.init) ?? "-") stale pages")
            return leg.figures.migrationCallMilliseconds
        } catch {
            var leg = result
            leg.checks = []
            markFailed(&leg, error)
            for check in leg.checks { result.add(Check(name: prefix + check.name, passed: false, evidence: check.evidence)) }
            if leg.status == .interrupted { result.status = .interrupted }
            return 0
        }
    }

    /// Checks the parameters, refuses what the testbed cannot do, and gets the guest ready.
    private func prepare(_ parameters: ScenarioParameters, policy: RunPolicy) throws(VerifierError) -> PreparedGuest {
        try interruption.check(while: "starting the run")
        try parameters.validate()
        if let refusal = catalog.refusal(parameters.scenario, on: testbed) { throw .invalidOptions(refusal) }
        // Faults act on the testbed's configured hosts: only a fault that allows it may start
        // with the guest on the destination.
        let placement: GuestPlacement = catalog.type(of: parameters.scenario).runsOnEitherHost ? policy.placement : .sourceOnly
        recorder.record(.phase(.preparing))
        step("\(parameters.label): preparing the guest")
        let prepared = try testbed.prepareGuest(parameters, placement: placement) { [recorder] in recorder.record(.step($0)) }
        try interruption.check(while: "preparing the guest")
        return prepared
    }

    /// One migration with its fault, on a prepared guest, as its phases.
    private func execute(_ leg: Leg, setupActions: [String] = []) throws(VerifierError) -> ScenarioResult {
        let baseline = try readBaseline(leg)
        let load = try startLoad(leg, baseline: baseline)
        let ping = try startPing(leg)
        defer { ping.finishIfRunning() }
        let qemuDirtyRate = load.qemuDirtyRateStart.map { measureQEMUDirtyRate(baseline.domain, started: $0, clock: leg.clock, accelerator: baseline.facts.accelerator) }
        let events = subscribeEvents(source: baseline.source, destination: baseline.destination, domainName: leg.endpoints.domainName,
                                     clock: leg.clock)
        defer { events.cancel() }
        let context = FaultContext(testbed: testbed, parameters: leg.parameters, source: baseline.source, destination: baseline.destination,
                                   sourceHost: baseline.sourceHost, destinationHost: baseline.destinationHost, clock: leg.clock,
                                   journal: journal, recorder: recorder, lifecycleEvents: { [events] in events.lifecycleEvents },
                                   sharedFaults: sharedFaults)
        let fault = leg.faultType.init()
        defer { fault.remove(context) }
        // Where the guest runs, from just before the migration call until the hosts were looked at.
        let placement = PlacementSampler(source: baseline.source, destination: baseline.destination, domainName: leg.endpoints.domainName,
                                         guestUUID: baseline.domainUUID, intervalMilliseconds: pauses.placementSampleSeconds * 1000) {
            [clock = leg.clock] in clock.milliseconds()
        }
        defer { placement.stop() }
        let driven = try drive(leg, fault: fault, context: context, baseline: baseline, load: load, placement: placement)
        let pingReport = try ping.finish(settlingSeconds: driven.expectation == .migrates ? pauses.afterLandingSeconds : pauses.afterFailureSeconds)
        let gathered = try gather(leg, driven: driven, fault: fault, context: context, baseline: baseline, load: load, ping: pingReport,
                                  placement: placement)
        let completed = completedStats(leg, baseline: baseline, destination: gathered.destination, outcome: driven.outcome,
                                       eventStats: events.completedStats)
        var observation = gathered.observation
        observation.libvirtDowntimeMilliseconds = (try? completed.get())?.stats.downtimeMilliseconds.map { Double($0) }
        let checks = Checks.evaluate(observation, catalog: catalog)
        // Kept for `migverify rejudge`: the checks are derived again from it with a later version.
        recorder.record(.observation(observation, leg: leg.kind))
        recorder.record(.phase(.judged))
        let builder = ResultBuilder(
            parameters: leg.original, swapped: leg.swapped, startedAt: leg.clock.startedAt, setupActions: setupActions,
            baseline: baseline.facts, load: load.figures, qemuDirtyRate: qemuDirtyRate,
            drive: DriveRecord(outcome: driven.outcome, planNotes: driven.plan.notes, eventCount: events.count,
                               subscriptionErrors: events.subscriptionErrors, cpu: driven.cpu, lifecycleEvents: events.lifecycleEvents),
            ping: pingReport, captureStartMilliseconds: gathered.captureStartMilliseconds, observation: observation,
            checks: checks, completedStats: completed, discardedGuest: discardIfDamaged(observation), faultType: leg.faultType)
        return builder.result()
    }

    /// A guest whose memory or kernel is damaged is discarded: no later run may start from
    /// it; so is what is left of a lost one (a paused source holding stale memory), and a
    /// guest that runs on neither host at the end (a post-copy that could not be recovered).
    private func discardIfDamaged(_ observation: Observation) -> String? {
        let runs = { (sighting: DomainSighting) in sighting.isRunning && !sighting.isStuckInFailedPostCopy }
        let runsNowhere = !runs(observation.onSource) && !runs(observation.onDestination)
        guard (observation.memeater.integrityErrors ?? 0) > 0 || observation.console.showsFailure
            || observation.expectation == .guestLost || runsNowhere else { return nil }
        return testbed.discardGuest()
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

    /// The file name of a migration call's capture of the destination's migration ports:
    /// the ping capture's name with the leg and `migration-ports.pcap`, e.g.
    /// `20261127T064512Z-live-2048MiB-50MiBps-initramfs-migration-ports.pcap`.
    static func streamCaptureFileName(_ parameters: ScenarioParameters, startedAt: Date, leg: MigrationLeg) -> String {
        let base = captureFileName(parameters, startedAt: startedAt).dropLast(".pcapng".count)
        return base + (leg == .forward ? "" : "-\(leg.rawValue)") + "-migration-ports.pcap"
    }

    /// The file name of a migration call's capture of the guest's echoes on the destination,
    /// e.g. `20261127T064512Z-live-2048MiB-50MiBps-initramfs-destination-echoes.pcap`.
    static func echoCaptureFileName(_ parameters: ScenarioParameters, startedAt: Date, leg: MigrationLeg) -> String {
        let base = captureFileName(parameters, startedAt: startedAt).dropLast(".pcapng".count)
        return base + (leg == .forward ? "" : "-\(leg.rawValue)") + "-destination-echoes.pcap"
    }
}

/// How long a run lets things settle, s. The defaults are what real guests and networks need.
public struct RunPauses: Sendable, Equatable {
    /// Replies collected before the migration, for a baseline.
    public var pingBaselineSeconds: Double = 0.5
    /// After a landing, before the ping stops (QEMU's announces run for about 800 ms).
    public var afterLandingSeconds: Double = 1.0
    /// After a failed migration, before the ping stops (the guest resumes on the source).
    public var afterFailureSeconds: Double = 2.0
    /// Between memeater readings while its rate settles, at a set rate and unlimited.
    public var rateReadingSeconds: Double = 0.25
    public var unlimitedRateReadingSeconds: Double = 1.2
    /// Between looks at a host that libvirt is still cleaning up.
    public var hostLookSeconds: Double = 0.5
    /// The longest wait for libvirt's clean-up (`nil`: the fault's plan says, 15 s by default).
    public var cleanUpWaitSeconds: Double?
    /// The longest wait for QEMU's dirty-rate estimate, from its start.
    public var dirtyRateWaitSeconds: Double = 3
    /// Between samples of where the guest runs on both hosts (`no-dual-running`).
    public var placementSampleSeconds: Double = 0.1
    /// Between readings of the hosts' CPU time (the guest's QEMU and the libvirt daemons).
    public var cpuSampleSeconds: Double = 0.25

    /// The defaults.
    public init() {}

    /// Every pause `seconds` long (the tests' fake testbed needs no settling).
    public init(all seconds: Double) {
        pingBaselineSeconds = seconds
        afterLandingSeconds = seconds
        afterFailureSeconds = seconds
        rateReadingSeconds = seconds
        unlimitedRateReadingSeconds = seconds
        hostLookSeconds = seconds
        cleanUpWaitSeconds = seconds
        dirtyRateWaitSeconds = seconds
        placementSampleSeconds = seconds
        cpuSampleSeconds = seconds
    }
}

/// One migration of a run: the parameters as migrated (the hosts swapped when the guest runs
/// on the configured destination: a sweep's way back, or a round trip's second leg) and the
/// fault that acts (none on a round trip's second leg).
struct Leg {
    /// The parameters as asked.
    let original: ScenarioParameters
    let swapped: Bool
    let kind: MigrationLeg
    let policy: RunPolicy
    let clock: RunClock
    let faultType: any Fault.Type

    /// The parameters as migrated.
    var parameters: ScenarioParameters {
        var parameters = original
        if swapped { parameters.endpoints = original.endpoints.swapped }
        return parameters
    }

    var endpoints: Endpoints { parameters.endpoints }
}
