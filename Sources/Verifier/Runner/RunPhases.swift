import Foundation
import Lab
import Libvirt
import MemeaterKit
import MigrationModel
import PingMonitor
import Synchronization

// The phases of one migration (``ScenarioRunner``'s `execute`), each a function that returns
// what it measured as a value.

/// What the runner holds from the baseline phase: the daemons, the hosts' shells, the
/// domain, where its console was, and the facts for the result.
struct LegBaseline {
    let source: any Hypervisor
    let destination: any Hypervisor
    let sourceHost: (any HostShell)?
    let destinationHost: (any HostShell)?
    let domain: any HypervisorDomain
    /// The domain's UUID: a domain of the guest's name with another one is not the guest.
    let domainUUID: String
    let consoleMark: ConsoleMark
    let facts: Baseline
}

/// memeater set to its rate and settled, on one control connection held for the whole run.
struct Load {
    let control: any MemeaterControl
    let infoBefore: ControlInfo
    let integrityErrorsBefore: UInt64
    let figures: LoadFigures
    /// QEMU's dirty-rate estimate, started while the rate settled (`nil`: not asked).
    let qemuDirtyRateStart: DirtyRateStart?
}

/// QEMU's page-sampling estimate as started: when, and whether the call succeeded.
struct DirtyRateStart {
    let started: Result<Void, any Error>
    let atMilliseconds: Double
}

/// The migration as driven, with what its fault and the policy made of it.
struct Driven {
    let plan: MigrationPlan
    let outcome: MigrationOutcome
    /// What the checks expect: the fault's expectation, or `staysOnSource` for a live
    /// migration that did not converge where that is a result.
    let expectation: ExpectedOutcome
    let didNotConverge: Bool
    /// The destination's interfaces with the fault in place, before the migration.
    let interfacesBefore: Looked<Set<String>>
    /// The guest's domain on the destination then (`nil`: not read, the migration is meant to land).
    let destinationDomainBefore: DomainSighting?
    /// The source QEMU's migration settings before the migration (`nil`: not read, the
    /// migration is meant to land).
    let settingsBefore: Looked<QEMUMigrationSettings>?
    /// memeater's counter around the call, or why it was not measured.
    let guestLoad: Looked<GuestLoadDuringMigration>
    /// The destination's migration ports as captured during the call, or why they were not.
    let migrationStream: Looked<MigrationStreamObservation>
    /// The guest's echoes on the destination during the call, or why they were not captured
    /// (`nil`: not asked, the run is not meant to land or the ping target is no address).
    let destinationEchoes: Looked<DestinationEchoObservation>?
    /// Both hosts' CPU time, read from just before the migration call until it returned.
    let cpu: MigrationCPUSampling
}

/// The observation and what the result needs beside it.
struct Gathered {
    let observation: Observation
    /// A connection to the destination opened after the migration.
    let destination: any Hypervisor
    /// Where the ping capture started on the run clock, ms.
    let captureStartMilliseconds: Double
}

/// pingmon for one run: finished once, by the run or, on an error, by its `defer`.
final class RunningPing: Sendable {
    private let run: any PingRun
    private let finished = Mutex(false)

    init(_ run: any PingRun) { self.run = run }

    /// Waits `settlingSeconds` for the network to settle, then stops pingmon and returns its report.
    func finish(settlingSeconds: Double) throws(VerifierError) -> PingReport {
        Thread.sleep(forTimeInterval: settlingSeconds)
        finished.withLock { $0 = true }
        return try run.finish()
    }

    /// Stops pingmon unless the run already did (a run that failed on the way).
    func finishIfRunning() {
        let wasFinished = finished.withLock { value -> Bool in
            defer { value = true }
            return value
        }
        if !wasFinished { _ = try? run.finish() }
    }
}

extension ScenarioRunner {
    // MARK: baseline

    /// Connects to both daemons and reads the domain, its description and the versions as
    /// they are before the migration.
    func readBaseline(_ leg: Leg) throws(VerifierError) -> LegBaseline {
        let endpoints = leg.endpoints
        let source = try testbed.connect(endpoints.sourceURI)
        let destination = try testbed.connect(endpoints.destinationURI)
        let domain: any HypervisorDomain
        let uuid: String
        let xml: String
        let qemuVersion: String
        let libvirtVersion: String
        do {
            guard let found = try source.guestDomain(named: endpoints.domainName) else {
                throw VerifierError.environment("no domain \(endpoints.domainName) on \(endpoints.sourceURI)")
            }
            domain = found
            uuid = try domain.uuidString()
            xml = try domain.liveXML()
            qemuVersion = try testbed.emulatorVersion?.version ?? source.hypervisorVersion().description
            libvirtVersion = try source.libvirtVersion().description
        } catch {
            throw VerifierError.wrap(error, step: "read the domain and versions on \(endpoints.sourceURI)")
        }
        let description: DomainDescription?
        var descriptionError: String?
        do { description = try DomainDescription(xml: xml) } catch {
            description = nil
            descriptionError = error.description
        }
        let facts = Baseline(accelerator: acceleratorName(domainType: description?.accelerator) ?? "unknown", qemuVersion: qemuVersion,
                             qemuVersionSource: testbed.emulatorVersion?.source ?? "virConnectGetVersion on the source",
                             libvirtVersion: libvirtVersion, sourceTaps: description?.interfaceTargets ?? [],
                             descriptionError: descriptionError)
        return LegBaseline(source: source, destination: destination, sourceHost: testbed.host(leg.swapped ? .destination : .source),
                           destinationHost: testbed.host(leg.swapped ? .source : .destination), domain: domain, domainUUID: uuid,
                           consoleMark: testbed.consoleMark(description: description), facts: facts)
    }

    // MARK: load

    /// memeater at its rate, held on one control connection for the whole run; QEMU's own
    /// dirty-rate estimate starts meanwhile when the migration is meant to land.
    func startLoad(_ leg: Leg, baseline: LegBaseline) throws(VerifierError) -> Load {
        let target = leg.parameters.dirtyRateMiBPerSecond
        let control = try connectMemeater()
        let load: Load
        do {
            let infoBefore = try control.info()
            let errorsBefore = try control.stats().integrityErrors
            try control.setRate(mibPerSecond: target)
            try control.resume()
            // QEMU's estimate (page sampling over 1 s) runs while memeater's rate settles and the
            // ping baseline builds: the cross-check, at no extra wait.
            let dirtyRateStart = leg.faultType.expectation == .migrates && leg.kind == .forward
                ? DirtyRateStart(started: Result { try baseline.domain.startDirtyRateSampling(seconds: 1) }, atMilliseconds: leg.clock.milliseconds())
                : nil
            let settled = try waitForStableRate(control, targetMiBPerSecond: target, pageSizeBytes: infoBefore.pageSizeBytes, clock: leg.clock)
            try control.resetStall()
            let system = infoBefore.operatingSystem.map { $0 + (infoBefore.kernelRelease.map { ", kernel \($0)" } ?? "") }
            load = Load(control: control, infoBefore: infoBefore, integrityErrorsBefore: errorsBefore,
                        figures: LoadFigures(targetMiBPerSecond: target, achievedMiBPerSecond: settled.achievedMiBPerSecond,
                                             settled: settled.stable, guestSystem: system),
                        qemuDirtyRateStart: dirtyRateStart)
        } catch {
            throw VerifierError.wrap(error, step: "set memeater's rate at \(control.endpoint)")
        }
        try interruption.check(while: "setting memeater's rate")
        return load
    }

    func connectMemeater() throws(VerifierError) -> any MemeaterControl {
        let endpoints = testbed.endpoints
        do {
            return try testbed.connectMemeater(timeoutSeconds: 10)
        } catch {
            throw VerifierError.wrap(error, step: "connect to memeater at \(SocketAddress.endpointText(host: endpoints.guestAddress, port: endpoints.memeaterPort))")
        }
    }

    /// Waits until three consecutive readings of memeater's achieved rate are within ±10 % of
    /// the target (unlimited: above 0). The rate is the growth of memeater's unique-page
    /// counter between two readings: memeater counts a page once per 1 s window, so at an
    /// unlimited rate a region is done early in each window and spans under 1 s are bursty.
    /// Unlimited readings are therefore further apart, and the rate returned is over all of them.
    private func waitForStableRate(_ memeater: any MemeaterControl, targetMiBPerSecond: Double, pageSizeBytes: Int,
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
        let deadline = clock.milliseconds() + 10_000
        var goodReadings = 0
        var achieved = 0.0
        let first = try read()
        var previous = first
        while clock.milliseconds() < deadline, interruption.signal == nil {
            Thread.sleep(forTimeInterval: unlimited ? pauses.unlimitedRateReadingSeconds : pauses.rateReadingSeconds)
            let current = try read()
            achieved = rate(previous, current)
            previous = current
            let ok = unlimited ? achieved > 0 : abs(achieved - targetMiBPerSecond) <= 0.1 * targetMiBPerSecond
            goodReadings = ok ? goodReadings + 1 : 0
            if goodReadings >= 3 { return (true, unlimited ? rate(first, current) : achieved) }
        }
        return (false, achieved)
    }

    /// QEMU's page-sampling estimate started at `start`, read once it is measured (at most
    /// ``RunPauses/dirtyRateWaitSeconds`` after).
    func measureQEMUDirtyRate(_ domain: any HypervisorDomain, started start: DirtyRateStart, clock: RunClock,
                              accelerator: String) -> QEMUDirtyRateFigure {
        if case .failure(let error) = start.started {
            return QEMUDirtyRateFigure(mibPerSecond: nil, source: "not measured: virDomainStartDirtyRateCalc failed: \(error)")
        }
        let remaining = min(start.atMilliseconds + 1050, start.atMilliseconds + pauses.dirtyRateWaitSeconds * 1000) - clock.milliseconds()
        if remaining > 0 { Thread.sleep(forTimeInterval: remaining / 1000) }
        var reading: DirtyRateReading?
        var lastError = "not measured within \(formatNumber(pauses.dirtyRateWaitSeconds)) s"
        while clock.milliseconds() - start.atMilliseconds < pauses.dirtyRateWaitSeconds * 1000 {
            do {
                let current = try domain.dirtyRate()
                if current.status == .measured { reading = current; break }
            } catch {
                lastError = "\(error)"
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        guard let reading, let rate = reading.dirtyRateMiBPerSecond else {
            return QEMUDirtyRateFigure(mibPerSecond: nil, source: "not measured: \(lastError)")
        }
        return QEMUDirtyRateFigure(
            mibPerSecond: Double(rate),
            source: "libvirt's dirty-rate calculation (virDomainStartDirtyRateCalc, page sampling, \(reading.periodSeconds.map { "\($0)" } ?? "1") s) from memeater's resume at the set rate to just before the migration"
                + (accelerator == "tcg" ? "; under TCG page sampling is valid up to about 60 MB/s and saturates near 119 MB/s (a stated limit)" : ""))
    }

    // MARK: ping and events

    /// pingmon from the client side on the run's clock, with a baseline of replies.
    func startPing(_ leg: Leg) throws(VerifierError) -> RunningPing {
        let capturePath = captureDirectory.map { "\($0)/\(Self.captureFileName(leg.parameters, startedAt: leg.clock.startedAt))" }
        let ping = RunningPing(try testbed.startPing(intervalMicroseconds: leg.parameters.pingIntervalMicroseconds,
                                                     saveCapturePath: capturePath, clock: leg.clock) { [recorder] in
            recorder.record(.pingSample($0))
        })
        Thread.sleep(forTimeInterval: pauses.pingBaselineSeconds)
        return ping
    }

    /// Both daemons' events of domain `domainName` (a daemon reports every domain's: in an
    /// evacuation the other guests' are theirs), recorded on the run's clock; the source's
    /// job-completed event carries the completed job stats.
    func subscribeEvents(source: any Hypervisor, destination: any Hypervisor, domainName: String, clock: RunClock) -> EventWatch {
        let watch = EventWatch()
        let recorder = self.recorder
        watch.subscriptions = [("source", source), ("destination", destination)].compactMap { host, connection in
            do {
                return try connection.subscribeToDomainEvents { [watch] event in
                    guard event.domainName == domainName else { return }
                    if host == "source", case .jobCompleted(_, let stats) = event { watch.state.withLock { $0.completedStats = stats } }
                    watch.state.withLock {
                        $0.count += 1
                        if case .lifecycle = event {
                            $0.lifecycle.append(SeenDomainEvent(offsetMilliseconds: clock.milliseconds(), host: host == "source" ? .source : .destination,
                                                                event: event))
                        }
                    }
                    recorder.record(.event(EventRecord(offsetMilliseconds: clock.milliseconds(), host: host, event: event)))
                }
            } catch {
                watch.state.withLock { $0.subscriptionErrors.append("no events from the \(host) daemon: \(error)") }
                return nil
            }
        }
        return watch
    }

    // MARK: drive

    /// Tunes the plan with the fault, installs it, and drives the migration to its end,
    /// watched by a ``CallWatch`` (`placement` starts sampling just before the call).
    func drive(_ leg: Leg, fault: any Fault, context: FaultContext, baseline: LegBaseline, load: Load,
               placement: PlacementSampler) throws(VerifierError) -> Driven {
        if let downtime = leg.parameters.migration.qemuMaxDowntimeMilliseconds {
            do { try baseline.domain.setMigrationMaxDowntime(milliseconds: downtime) } catch {
                throw VerifierError.wrap(error, step: "set the max downtime")
            }
        }
        let plan = makePlan(leg, fault: fault, context: context)
        recorder.record(.phase(.installing))
        try fault.install(context)
        // What the destination has once the fault is in place, before the migration: what is
        // new afterwards was left by it.
        let mayJudgeAsFailed = leg.faultType.expectation == .staysOnSource || leg.policy.nonConvergenceIsResult
        let judgesTheDestinationClean = mayJudgeAsFailed || leg.faultType.expectation == .guestLost
        let interfacesBefore: Looked<Set<String>> = judgesTheDestinationClean
            ? look(baseline.destinationHost) { host throws(VerifierError) in try host.interfaces() } : .notLooked("not needed")
        let destinationDomainBefore = judgesTheDestinationClean ? sighting(leg.endpoints.domainName, on: baseline.destination) : nil
        let settingsBefore = mayJudgeAsFailed ? migrationSettings(of: baseline.domain) : nil
        try interruption.check(while: "installing the fault")
        if let waited = waitToStart?() { step("\(leg.parameters.label): \(waited)") }
        try interruption.check(while: "waiting for the other guests")
        recorder.record(.phase(.migrating))
        let endpoints = leg.endpoints
        step("\(leg.parameters.label): migrating \(endpoints.domainName) \(endpoints.sourceURI) -> \(endpoints.destinationURI)")
        let job = baseline.domain.migration(to: baseline.destination, options: plan.options, migrationURI: plan.migrationURI)
        let watch = watchCall(leg, baseline: baseline, load: load, placement: placement)
        defer { watch.stop() }
        let callStart = watch.callStartMilliseconds
        var outcome = plan.driver.run(job, clock: leg.clock) { [recorder] sample in
            recorder.record(.jobSample(sample, migrationStartMilliseconds: callStart))
        }
        watch.callReturned(&outcome)
        fault.afterMigration(context, outcome: outcome)
        let recovered = fault.recover(context, after: outcome, plan: plan)
        if let recovered { outcome = recovered }
        let seen = watch.finish(recovered: recovered != nil)
        try interruption.check(while: "migrating")
        let didNotConverge = leg.faultType.expectation == .migrates && leg.policy.nonConvergenceIsResult && outcome.didNotConverge
        return Driven(plan: plan, outcome: outcome, expectation: didNotConverge ? .staysOnSource : leg.faultType.expectation,
                      didNotConverge: didNotConverge, interfacesBefore: interfacesBefore,
                      destinationDomainBefore: destinationDomainBefore, settingsBefore: settingsBefore,
                      guestLoad: seen.guestLoad, migrationStream: seen.migrationStream, destinationEchoes: seen.destinationEchoes,
                      cpu: seen.cpu)
    }

    /// tcpdump on the destination's migration ports, listening before this returns; the
    /// file is kept beside the ping captures with `--save-captures`, else removed once read.
    func startStreamCapture(_ leg: Leg, on host: (any HostShell)?) -> StreamCapture {
        startCapture(leg, on: host, settings: streamCaptureSettings,
                     name: Self.streamCaptureFileName(leg.parameters, startedAt: leg.clock.startedAt, leg: leg.kind))
    }

    /// tcpdump on the destination following the guest's echoes (a capture of its own: the
    /// migration's bulk would fill the ports' packet limit before the switch-over); `nil` for a
    /// run not meant to land (no switch-over to attribute) or a ping target that is no address.
    func startEchoCapture(_ leg: Leg, on host: (any HostShell)?) -> EchoCapture? {
        guard leg.faultType.expectation == .migrates, let guest = IPAddress(leg.endpoints.guestAddress) else { return nil }
        var settings = streamCaptureSettings
        settings.guestAddress = guest
        return startCapture(leg, on: host, settings: settings,
                            name: Self.echoCaptureFileName(leg.parameters, startedAt: leg.clock.startedAt, leg: leg.kind))
    }

    private func startCapture<Seen>(_ leg: Leg, on host: (any HostShell)?, settings: StreamCaptureSettings,
                                    name: String) -> HostCapture<Seen> {
        let path = captureDirectory.map { "\($0)/\(name)" }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("migverify-\(UUID().uuidString)-\(name)").path
        step("\(leg.parameters.label): capturing \(Seen.subject(settings)) on \(host?.hostName ?? "the destination")")
        return HostCapture.start(on: host, path: path, keep: captureDirectory != nil, settings: settings) {
            [interruption] in interruption.signal != nil
        }
    }

    private func makePlan(_ leg: Leg, fault: any Fault, context: FaultContext) -> MigrationPlan {
        var plan = MigrationPlan(parameters: leg.parameters)
        fault.tune(&plan, context: context)
        plan.driver.midStreamFault = fault.midStream(context)
        plan.driver.interruption = { [interruption] in interruption.signal.map { "interrupted by \(signalName($0))" } }
        plan.driver.onAbortWait = { [recorder] reason, secondsLeft in
            recorder.record(.waiting("aborted; waiting for \(reason): at most \(secondsLeft) s left"))
        }
        return plan
    }

    /// What `read` saw of `host`, or why it could not look (no shell, or the read failed).
    func look<Value>(_ host: (any HostShell)?, _ read: (any HostShell) throws(VerifierError) -> Value) -> Looked<Value> {
        guard let host else { return .notLooked("no shell on the host") }
        return look { () throws(VerifierError) in try read(host) }
    }

    /// The source QEMU's migration capabilities and parameters, or why they could not be read.
    func migrationSettings(of domain: any HypervisorDomain) -> Looked<QEMUMigrationSettings> {
        look { () throws(VerifierError) in
            do { return try domain.migrationSettings() } catch {
                throw VerifierError.wrap(error, step: "query the source QEMU's migration settings")
            }
        }
    }

    /// What `read` saw, or why it could not look.
    func look<Value>(_ read: () throws(VerifierError) -> Value) -> Looked<Value> {
        do { return .seen(try read()) } catch { return .notLooked(error.description) }
    }

    // MARK: after the migration

    /// The figures of libvirt's completed job stats: from the source's job-completed event,
    /// else as completed stats from either daemon; when there are none, every read that was
    /// tried and why it gave nothing.
    func completedStats(_ leg: Leg, baseline: LegBaseline, destination: any Hypervisor, outcome: MigrationOutcome,
                        eventStats: JobStats?) -> Result<CompletedJobStats, CompletedJobStats.Missing> {
        func usable(_ candidate: JobStats?) -> Bool { (candidate?.timeElapsedMilliseconds ?? 0) > 0 }
        if usable(eventStats), let eventStats {
            return .success(CompletedJobStats(stats: eventStats, source: "the source daemon's job-completed event (completed job stats)"))
        }
        var misses = [eventStats == nil ? "no job-completed event from the source" : "the source's job-completed event had no time_elapsed"]
        let name = leg.endpoints.domainName
        for (daemon, side) in [(baseline.source, "source"), (destination, "destination")] {
            do {
                guard let domain = try daemon.guestDomain(named: name) else {
                    misses.append("no domain \(name) on the \(side)")
                    continue
                }
                let completed = try domain.completedJobStats()
                if usable(completed) { return .success(CompletedJobStats(stats: completed, source: "completed job stats on the \(side)")) }
                misses.append("the \(side)'s completed job stats had no time_elapsed")
            } catch {
                misses.append("the \(side)'s completed job stats could not be read: \(error)")
            }
        }
        return .failure(CompletedJobStats.Missing(reason: misses.joined(separator: "; ")))
    }
}

/// The domain events of one run: how many, and the source's completed job stats.
final class EventWatch: @unchecked Sendable {
    // @unchecked: `subscriptions` is set once, before any event can arrive, and read in cancel().
    struct State {
        var count = 0
        var completedStats: JobStats?
        var subscriptionErrors: [String] = []
        /// The lifecycle events, for the faults that prove their phase by them.
        var lifecycle: [SeenDomainEvent] = []
    }

    let state = Mutex(State())
    var subscriptions: [any DomainEventSubscription] = []

    var count: Int { state.withLock { $0.count } }
    var completedStats: JobStats? { state.withLock { $0.completedStats } }
    var subscriptionErrors: [String] { state.withLock { $0.subscriptionErrors } }
    var lifecycleEvents: [SeenDomainEvent] { state.withLock { $0.lifecycle } }
    func cancel() { subscriptions.forEach { $0.cancel() } }
}

/// The accelerator of a domain type: `kvm` for `kvm`, `tcg` for `qemu`; `nil` for others.
public func acceleratorName(domainType: String?) -> String? {
    switch domainType {
    case "kvm": return "kvm"
    case "qemu": return "tcg"
    default: return nil
    }
}
