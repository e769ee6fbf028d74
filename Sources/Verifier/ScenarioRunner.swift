import Foundation
import Lab
import Libvirt
import MemeaterKit
import PingMonitor
import Synchronization

/// Faults the tests inject into a run to show that a check can fail.
public struct CheckProbes: Sendable {
    /// After landing (or after the failed migration), make memeater corrupt this page
    /// before the integrity check: `memory-integrity` must FAIL.
    public var corruptPageBeforeVerification: Int?
    /// Tell the live scenario the guest should end up on the source: `guest-on-destination`
    /// is then checked against the wrong host and must FAIL.
    public var expectGuestOnWrongHost: Bool
    /// dst-already-active: suspend the destination's pre-existing domain before it is
    /// checked: `destination-domain-untouched` must FAIL.
    public var suspendDestinationOccupant: Bool
    /// Runs after the migration call returned and its fault was removed, just before the
    /// checks of where the guest is and what is left on the hosts; the closure it returns
    /// runs right after those checks. A test leaves something behind here (a process posing
    /// as the guest's QEMU, an interface, a listener, a paused guest) to show that the
    /// clean-up checks FAIL on it.
    public var aroundHostChecks: (@Sendable () -> @Sendable () -> Void)?

    /// No probes: a normal run.
    public init(corruptPageBeforeVerification: Int? = nil, expectGuestOnWrongHost: Bool = false,
                suspendDestinationOccupant: Bool = false, aroundHostChecks: (@Sendable () -> @Sendable () -> Void)? = nil) {
        self.corruptPageBeforeVerification = corruptPageBeforeVerification
        self.expectGuestOnWrongHost = expectGuestOnWrongHost
        self.suspendDestinationOccupant = suspendDestinationOccupant
        self.aroundHostChecks = aroundHostChecks
    }
}

/// Runs scenarios on a testbed (the lab or real hosts): prepares the guest, drives the migration, injects the fault,
/// checks every expectation, and stores everything as it is produced.
public final class ScenarioRunner: Sendable {
    /// Ports QEMU uses for incoming migration (libvirt's default range) — the fault drops
    /// one more, as the original test case does (49152-49216).
    public static let migrationPorts = 49152...49215
    /// The bogus migration URI of the prepare-fail scenario (as in the original test case).
    public static let bogusMigrationURI = "foo://bar"

    /// Where the scenarios run.
    public let testbed: any Testbed
    private let store: ResultsStore?
    private let progress: @Sendable (String) -> Void

    /// - Parameters:
    ///   - store: where runs, samples and results go as they are produced (`nil`: nowhere).
    ///   - progress: receives live progress lines (job stats) and step messages.
    public init(testbed: any Testbed, store: ResultsStore?, progress: @escaping @Sendable (String) -> Void = { _ in }) throws(VerifierError) {
        self.testbed = testbed
        self.store = store
        self.progress = progress
        do {
            try EventLoop.startDefault()
        } catch {
            throw VerifierError.wrap(error, step: "start libvirt's event loop")
        }
    }

    // MARK: running

    /// Runs one scenario and returns its result; setup failures become a failed `setup`
    /// check (the run is recorded, the next one can go on). Faults are removed whatever happens.
    public func run(_ parameters: ScenarioParameters, probes: CheckProbes = CheckProbes()) -> ScenarioResult {
        let startedAt = Date()
        var runID: Int64?
        do {
            runID = try store?.beginRun(parameters, startedAt: startedAt)
        } catch {
            progress("warning: \(error.description)")
        }
        var result: ScenarioResult
        do {
            result = try execute(parameters, probes: probes, runID: runID, startedAt: startedAt)
        } catch {
            result = ScenarioResult(parameters: parameters, accel: "unknown", qemuVersion: "unknown", libvirtVersion: "unknown",
                                    startedAt: startedAt)
            result.add(Check(name: "setup", passed: false, evidence: error.description))
        }
        if parameters.roundTrip, parameters.scenario == .live, result.checks.first(where: { $0.name != "setup" }) != nil {
            migrateBack(parameters, into: &result, runID: runID)
        }
        result.finishedAt = Date()
        result.runID = runID
        if let runID {
            do { try store?.finishRun(runID, result: result) } catch { progress("warning: \(error.description)") }
        }
        return result
    }

    /// `--back`: migrates the guest from the destination back to the source and checks the
    /// second landing like the first; its checks are added with the prefix `back-`, its
    /// notes with `back: `, and its figures in one note (the contract figures stay the
    /// forward migration's). Job and ping samples go to the same run in the database.
    private func migrateBack(_ parameters: ScenarioParameters, into result: inout ScenarioResult, runID: Int64?) {
        guard result.checks.first(where: { $0.name == CheckName.migrationOutcome })?.passed == true else {
            result.add(.notMeasured("back-" + CheckName.migrationOutcome, because: "the forward migration did not complete"))
            return
        }
        var back = parameters
        back.roundTrip = false
        back.endpoints.sourceURI = parameters.endpoints.destinationURI
        back.endpoints.destinationURI = parameters.endpoints.sourceURI
        progress("\(parameters.label): migrating back")
        do {
            let leg = try execute(back, probes: CheckProbes(), runID: runID, startedAt: Date(), back: true)
            for check in leg.checks { result.add(Check(name: "back-" + check.name, passed: check.passed, evidence: check.evidence)) }
            result.notes += leg.notes.map { "back: " + $0 }
            func figure(_ value: Double?) -> String { value.map(formatNumber) ?? "-" }
            result.notes.append("back: migration \(figure(leg.migrationMilliseconds)) ms, libvirt downtime \(figure(leg.libvirtDowntimeMilliseconds)) ms, ping gap \(figure(leg.pingDowntimeMilliseconds)) ms, \(leg.pingLost.map(String.init) ?? "-") probes lost, \(leg.integrityErrors.map(String.init) ?? "-") stale pages")
        } catch {
            result.add(Check(name: "back-setup", passed: false, evidence: error.description))
        }
    }

    private func record(_ sample: JobSample, runID: Int64?) {
        if let runID { try? store?.add(sample, runID: runID) }
    }

    /// One migration with its fault and checks. `back`: the guest is on the destination
    /// already (a round trip's second leg): the hosts swap roles and the lab is not prepared.
    private func execute(_ parameters: ScenarioParameters, probes: CheckProbes, runID: Int64?,
                         startedAt: Date, back: Bool = false) throws(VerifierError) -> ScenarioResult {
        try parameters.validate()
        let sourceHost = testbed.host(back ? .destination : .source)
        let destinationHost = testbed.host(back ? .source : .destination)
        var actions: [String] = []
        if !back {
            progress("\(parameters.label): preparing the guest")
            actions = try testbed.prepareGuest(parameters, progress: progress)
        }
        let endpoints = parameters.endpoints
        let source = try testbed.connect(endpoints.sourceURI)
        var destination = try testbed.connect(endpoints.destinationURI)
        let domain: Domain
        let libvirtVersion: String
        let qemuVersion: String
        let emulatorVersion = testbed.emulatorVersion
        let accel: String
        let domainXML: String
        do {
            domain = try source.lookupDomain(name: endpoints.domainName)
            libvirtVersion = try source.libvirtVersion().description
            qemuVersion = try emulatorVersion?.version ?? source.hypervisorVersion().description
            domainXML = try domain.xmlDescription()
            accel = domainXML.contains("type='kvm'") ? "kvm" : "tcg"
        } catch {
            throw VerifierError.wrap(error, step: "read the domain and versions on \(endpoints.sourceURI)")
        }
        var result = ScenarioResult(parameters: parameters, accel: accel, qemuVersion: qemuVersion,
                                    libvirtVersion: libvirtVersion, startedAt: startedAt)
        result.figureSources["qemuVersion"] = emulatorVersion?.source ?? "virConnectGetVersion on the source"
        result.figureSources["accel"] = "the domain XML on the source (type='kvm' or 'qemu')"
        result.figureSources["libvirtVersion"] = "virConnectGetLibVersion on the source daemon"
        if !actions.isEmpty { result.notes.append("setup: " + actions.joined(separator: "; ")) }

        let consoleMark = testbed.consoleMark(domainXML: domainXML)
        let guestTaps = interfaceTargets(inDomainXML: domainXML)
        // memeater: open the control connection, held for the whole run.
        let memeater: MemeaterClient
        let infoBefore: ControlInfo
        do {
            memeater = try MemeaterClient(namespace: testbed.clientNamespace, address: endpoints.guestAddress,
                                          port: endpoints.memeaterPort)
            infoBefore = try memeater.info()
            try memeater.setRate(mibPerSecond: parameters.dirtyRateMiBPerSecond)
            try memeater.resume()
        } catch {
            throw VerifierError.wrap(error, step: "start memeater at \(endpoints.guestAddress):\(endpoints.memeaterPort)")
        }
        let settled = try waitForStableRate(memeater, targetMiBPerSecond: parameters.dirtyRateMiBPerSecond,
                                            pageSizeBytes: infoBefore.pageSizeBytes)
        result.achievedDirtyRateMiBPerSecond = settled.achievedMiBPerSecond
        result.figureSources["achievedDirtyRateMiBPerSecond"] = parameters.dirtyRateMiBPerSecond == 0
            ? "growth of memeater's unique-page count over the three stats readings, 1.2 s apart, just before migrating"
            : "growth of memeater's unique-page count between two stats readings 0.25 s apart, just before migrating"
        if !settled.stable { result.notes.append("memeater's rate did not settle within 10 s: achieved \(formatNumber(settled.achievedMiBPerSecond)) MiB/s for a target of \(formatNumber(parameters.dirtyRateMiBPerSecond))") }
        do { try memeater.resetStall() } catch { throw VerifierError.wrap(error, step: "reset memeater's stall") }

        // pingmon from the client side.
        let ping = try PingMonitorRun(namespace: testbed.clientNamespace, target: endpoints.guestAddress,
                                      interface: endpoints.captureInterface,
                                      intervalMicroseconds: parameters.pingIntervalMicroseconds) { [store] sample in
            if let runID { try? store?.add(sample, runID: runID) }
        }
        var pingFinished = false
        defer { if !pingFinished { _ = try? ping.finish() } }
        Thread.sleep(forTimeInterval: 0.5)  // a baseline of replies before the migration

        // Events from both daemons.
        let origin = monotonicNanoseconds()
        let eventCount = Mutex(0)
        let completedStats = Mutex<JobStats?>(nil)
        let subscriptions: [EventSubscription] = [("source", source), ("destination", destination)].compactMap { host, connection in
            try? connection.subscribeDomainEvents { [store] event in
                let text: String
                switch event {
                case .lifecycle(let name, let kind, let raw, let detail):
                    text = "\(name) lifecycle \(kind.map { "\($0)" } ?? "kind \(raw)") detail \(detail)"
                case .migrationIteration(let name, let iteration):
                    text = "\(name) migration-iteration \(iteration)"
                case .jobCompleted(let name, let stats):
                    if host == "source" { completedStats.withLock { $0 = stats } }
                    text = "\(name) job-completed"
                }
                eventCount.withLock { $0 += 1 }
                let record = EventRecord(offsetMilliseconds: Double(monotonicNanoseconds() - origin) / 1e6, host: host, description: text)
                if let runID { try? store?.add(record, runID: runID) }
            }
        }
        defer { subscriptions.forEach { $0.cancel() } }

        // The fault and the migration.
        if let downtime = parameters.migration.qemuMaxDowntimeMilliseconds {
            do { try domain.setMigrationMaxDowntime(milliseconds: downtime) } catch {
                throw VerifierError.wrap(error, step: "set the max downtime")
            }
        }
        var migrationURI: String?
        var fault: PortDropFault?
        var options = parameters.migration
        var midStreamFault: MidStreamFault?
        let linkCut = Mutex<(fault: LinkCutFault, atNanoseconds: UInt64, restoredAtNanoseconds: UInt64?)?>(nil)
        var occupant: (domain: Domain, before: OccupantSnapshot)?
        switch parameters.scenario {
        case .prepareFail: migrationURI = Self.bogusMigrationURI
        case .performFail:
            fault = try PortDropFault.install(on: try shell(destinationHost, for: parameters.scenario), ports: 49152...49216)
        case .abort:
            midStreamFault = MidStreamFault(afterProcessedBytes: Self.midStreamTriggerBytes) { job in
                let start = monotonicNanoseconds()
                do {
                    try job.abort()
                    return "virDomainAbortJob returned after \(formatNumber(Double(monotonicNanoseconds() - start) / 1e6)) ms"
                } catch {
                    return "virDomainAbortJob failed after \(formatNumber(Double(monotonicNanoseconds() - start) / 1e6)) ms: \(MigrationDriver.message(error))"
                }
            }
        case .dstQEMUKilled:
            let domainName = endpoints.domainName
            let inspector = try shell(destinationHost, for: parameters.scenario)
            midStreamFault = MidStreamFault(afterProcessedBytes: Self.midStreamTriggerBytes) { _ in
                inspector.killQEMU(domainName: domainName)
            }
        case .linkCut:
            let configuration = try labConfiguration(for: parameters.scenario)
            let switchNamespace = configuration.switchNamespace
            let port = configuration.destination.switchPortName
            midStreamFault = MidStreamFault(afterProcessedBytes: Self.midStreamTriggerBytes) { _ in
                do {
                    let cut = try LinkCutFault.cut(namespace: switchNamespace, interface: port)
                    linkCut.withLock { $0 = (cut, monotonicNanoseconds(), nil) }
                    return "set \(port) down in \(switchNamespace)"
                } catch {
                    return "could not cut the link: \(error)"
                }
            }
        case .dstAlreadyActive:
            occupant = try startOccupant(destination: destination, inspector: try shell(destinationHost, for: parameters.scenario))
        case .live: break
        }
        defer {
            fault?.remove()
            linkCut.withLock { $0 }?.fault.restore()
            if let occupant { _ = removeOccupant(occupant.domain, destination: destination) }
        }
        if midStreamFault != nil, options.bandwidthMiBPerSecond == nil {
            // The fault must hit a migration that is still transferring: at full speed a
            // small guest may be across before the first job-stats sample.
            options.bandwidthMiBPerSecond = Self.midStreamBandwidthMiBPerSecond
            result.notes.append("bandwidth limited to \(Self.midStreamBandwidthMiBPerSecond) MiB/s so that the fault hits a running transfer (no --bandwidth-mib-per-second given)")
        }
        var driver = MigrationDriver(timeoutSeconds: parameters.timeoutSeconds, stallTimeoutSeconds: parameters.stallTimeoutSeconds,
                                     switchToPostCopy: parameters.migration.postCopy)
        driver.midStreamFault = midStreamFault
        if fault != nil {
            // libvirt opens the migration connection itself; while its connect() waits for a
            // SYN answer the firewall drops, an abort does not take effect (and lifting the
            // fault early lets the migration complete). Wait for the kernel to give up on the
            // connection (about 2 minutes by default; 31 s on the lab, which lowers
            // tcp_syn_retries) and report the timings.
            driver.abortGraceSeconds = 240
        }
        if parameters.scenario == .linkCut {
            // Peer-to-peer: libvirt's keepalive (5 s x 5) must be what ends the job, so the
            // verifier's stall timeout waits longer. Direct: the job hangs until the link
            // returns; the verifier aborts at the stall timeout and, 5 s later, restores the
            // link so the call can return.
            driver.stallTimeoutSeconds = max(parameters.stallTimeoutSeconds, Self.linkCutStallTimeoutSeconds)
            driver.timeoutSeconds = max(parameters.timeoutSeconds, driver.stallTimeoutSeconds + 30)
            driver.abortGraceSeconds = 120
            driver.abortStuckAfterSeconds = 5
            driver.onAbortStuck = {
                guard let cut = linkCut.withLock({ $0 }) else { return "the link was not cut" }
                let up = cut.fault.restore()
                linkCut.withLock { $0?.restoredAtNanoseconds = monotonicNanoseconds() }
                return "restored \(cut.fault.interface): \(up ? "up" : "STILL DOWN")"
            }
            if driver.stallTimeoutSeconds != parameters.stallTimeoutSeconds {
                result.notes.append("stall timeout raised to \(formatNumber(driver.stallTimeoutSeconds)) s for link-cut, so that libvirt's keepalive (not the verifier) ends a peer-to-peer job")
            }
        }
        // What the destination has before the migration: what is new afterwards was left by it.
        let destinationInterfacesBefore = parameters.scenario.expectsMigrationToSucceed ? nil : try? destinationHost?.interfaces()
        progress("\(parameters.label): migrating \(endpoints.domainName) \(endpoints.sourceURI) -> \(endpoints.destinationURI)")
        let job = LibvirtMigration(domain: domain, destination: destination, options: options, migrationURI: migrationURI)
        let outcome = driver.run(job) { [self] sample in
            record(sample, runID: runID)
            progress("  " + sample.progressLine)
        }
        if let note = outcome.faultNote {
            result.notes.append("fault at \(outcome.faultInjectedAtMilliseconds.map { formatNumber($0) + " ms" } ?? "-"): \(note)")
        }
        if let cut = linkCut.withLock({ $0 }) {
            let restoredNanoseconds = cut.restoredAtNanoseconds ?? monotonicNanoseconds()
            let restored = cut.fault.restore()
            let cutAt = outcome.faultInjectedAtMilliseconds ?? 0
            let downSeconds = Double(restoredNanoseconds - cut.atNanoseconds) / 1e9
            result.notes.append("link-cut (\(options.mode.rawValue)): \(cut.fault.interface) down at \(formatNumber(cutAt)) ms; the migration call returned at \(formatNumber(outcome.wallMilliseconds)) ms, \(formatNumber(outcome.wallMilliseconds - cutAt)) ms after the cut; link down for \(formatNumber(downSeconds)) s in all; restored: \(restored ? "yes" : "NO")")
            result.add(Check(name: CheckName.faultRemoved, passed: restored,
                             evidence: "\(cut.fault.interface) in \(cut.fault.namespace) is \(restored ? "up again" : "still down")"))
            linkCut.withLock { $0 = nil }
        }
        if parameters.scenario == .linkCut || !destination.isAlive() {
            // The verifier's own connection to dst crosses the cut link too, and libvirt's
            // client keepalive closes it (virConnectIsAlive may not know yet). Look at dst
            // through a fresh one.
            result.notes.append("the verifier's connection to \(endpoints.destinationURI) \(destination.isAlive() ? "crossed the cut link" : "was closed during the migration"); a fresh one is used for the checks")
            destination = try testbed.connect(endpoints.destinationURI)
        }
        if let installed = fault {
            let dropped = installed.droppedPackets()
            let removed = installed.remove()
            result.notes.append("firewall in \(installed.host.hostName) dropped \(dropped.map(String.init) ?? "?") packets to TCP \(installed.ports); removed: \(removed ? "yes" : "NO")")
            if !removed { result.add(Check(name: CheckName.faultRemoved, passed: false, evidence: "the nft table \(installed.table) is still in \(installed.host.hostName)")) }
            fault = nil
        }
        result.jobSampleCount = outcome.samples.count
        result.libvirtError = outcome.ending.libvirtMessage
        if let note = outcome.abortNote { result.notes.append("abort: \(note)") }
        result.notes.append("migration: \(outcome.ending.summary); \(outcome.samples.count) job-stats samples, \(outcome.failedSampleReads) failed reads, \(eventCount.withLock { $0 }) events")
        if let last = outcome.samples.last?.memoryIteration { result.iterations = Int(last) }
        if let dirty = outcome.samples.compactMap(\.memoryDirtyRateBytesPerSecond).max() {
            result.libvirtDirtyRateMiBPerSecond = Double(dirty) / 1_048_576
            result.figureSources["libvirtDirtyRateMiBPerSecond"] = "largest memory_dirty_rate × memory_page_size of libvirt's job stats during the migration"
        }

        // Let the network settle (QEMU's announces run for about 800 ms), then collect pings.
        Thread.sleep(forTimeInterval: parameters.scenario == .live ? 1.5 : 2.0)
        let pingReport = try ping.finish()
        pingFinished = true
        let analysis = pingReport.analysis
        result.pingLost = analysis.lost
        result.pingDowntimeMilliseconds = analysis.downtimeMilliseconds
        result.figureSources["pingDowntimeMilliseconds"] = "pingmon: longest gap between replies, \(pingReport.timestampPrecision) capture timestamps, bounds \(formatNumber(analysis.downtimeLowerBoundMilliseconds))-\(formatNumber(analysis.downtimeUpperBoundMilliseconds)) ms"
        result.figureSources["pingLost"] = "pingmon: probes without a reply, \(analysis.sent) sent every \(parameters.pingIntervalMicroseconds) µs"

        // Where is the guest now?
        let expectMigrated = parameters.scenario.expectsMigrationToSucceed
        let undoProbe = probes.aroundHostChecks?()
        if undoProbe != nil { result.notes.append("probe: something was left on the hosts before the clean-up checks") }
        if parameters.scenario == .live {
            result.add(Check(name: CheckName.migrationOutcome, passed: outcome.ending == .completed,
                             evidence: "virDomainMigrate\(parameters.migration.mode == .peerToPeer ? "ToURI3 (p2p)" : "3 (direct)") \(outcome.ending.summary) after \(formatNumber(outcome.wallMilliseconds)) ms"))
        } else {
            let failedAsExpected = !outcome.ending.migrated && outcome.ending.libvirtMessage != nil
            result.add(Check(name: CheckName.migrationOutcome, passed: failedAsExpected,
                             evidence: failedAsExpected ? "libvirt reported failure: \(outcome.ending.summary)" + (outcome.abortNote.map { " (\($0))" } ?? "")
                                 : "expected the migration to fail, but it \(outcome.ending.summary)"))
        }
        readCompletedStats(into: &result, outcome: outcome, source: source, destination: destination,
                           domainName: endpoints.domainName, eventStats: completedStats.withLock { $0 })

        if expectMigrated {
            let (onDestination, evidence) = guestRuns(on: destination, name: endpoints.domainName)
            if probes.expectGuestOnWrongHost {
                let (onSource, sourceEvidence) = guestRuns(on: source, name: endpoints.domainName)
                result.add(Check(name: CheckName.guestOnDestination, passed: onSource,
                                 evidence: "(probe: expected on the source) source: \(sourceEvidence)"))
            } else {
                result.add(Check(name: CheckName.guestOnDestination, passed: onDestination, evidence: "destination: \(evidence)"))
            }
            result.add(sourceReleasedCheck(source, name: endpoints.domainName))
            result.add(checkUntilClean { sourceCleanCheck(host: sourceHost, domainName: endpoints.domainName, taps: guestTaps) })
        } else {
            result.add(guestOnSourceCheck(source, name: endpoints.domainName))
            // After a cut link the destination daemon notices the dead peer only by its own
            // keepalive (about 30 s): give its clean-up that long.
            let cleanSeconds: Double = parameters.scenario == .linkCut ? 45 : 15
            let expected = occupant?.before
            result.add(checkUntilClean(seconds: cleanSeconds) {
                destinationCleanCheck(destination, host: destinationHost, domainName: endpoints.domainName, occupant: expected,
                                      interfacesBefore: destinationInterfacesBefore)
            })
            result.add(checkUntilClean(seconds: cleanSeconds) { migrationPortFreeCheck(host: destinationHost) })
            // dst-already-active had a shell on the destination to start its occupant.
            if let occupantDomain = occupant?.domain, let before = occupant?.before, let inspector = destinationHost {
                if probes.suspendDestinationOccupant {
                    do {
                        try occupantDomain.suspend()
                        result.notes.append("probe: suspended the destination's pre-existing domain before the check")
                    } catch {
                        result.notes.append("probe: could not suspend the destination's domain: \(error)")
                    }
                }
                let after = occupantSnapshot(destination: destination, inspector: inspector)
                result.add(OccupantSnapshot.untouchedCheck(before: before, after: after))
                let removal = removeOccupant(occupantDomain, destination: destination)
                occupant = nil
                result.notes.append("dst-already-active: \(removal.note)")
                result.add(Check(name: CheckName.faultRemoved, passed: removal.removed, evidence: removal.note))
            }
        }
        undoProbe?()
        result.add(pingCheck(analysis, parameters: parameters, pingReport: pingReport))

        // memeater after landing (or after the failure): same connection if it survived.
        var client = memeater
        var connectionEvidence: String
        var statsAfter: ProgressRecord?
        do {
            statsAfter = try client.stats()
            connectionEvidence = "the control connection opened before the migration answered after it (\(client.endpoint))"
        } catch {
            let firstError = error.description
            do {
                client = try MemeaterClient(namespace: testbed.clientNamespace, address: endpoints.guestAddress,
                                            port: endpoints.memeaterPort)
                statsAfter = try client.stats()
                connectionEvidence = "re-established: the original connection failed (\(firstError)); a new one answered"
            } catch {
                connectionEvidence = "lost: the original connection failed (\(firstError)) and a new one failed too (\(error.description))"
            }
        }
        result.add(Check(name: CheckName.controlConnection, passed: statsAfter != nil, evidence: connectionEvidence))
        result.maxStallMicroseconds = statsAfter?.maxStallMicroseconds
        if statsAfter != nil { result.figureSources["maxStallMicroseconds"] = "memeater: largest gap between a worker's loop iterations since reset-stall before the migration" }

        if statsAfter != nil {
            do {
                try client.pause()
                if let page = probes.corruptPageBeforeVerification {
                    try client.corruptPage(page)
                    result.notes.append("probe: memeater corrupted page \(page) before the verification")
                }
                let verification = try client.verifyAll()
                let whileDirtying = Int(statsAfter?.integrityErrors ?? 0)
                let total = Int(verification.badPagesTotal) + whileDirtying
                result.integrityErrors = total
                result.figureSources["integrityErrors"] = "memeater: bad pages of verify-all after the migration plus those found before rewrites while dirtying"
                let first = verification.badPages.prefix(3).map { "page \($0.page) expected generation \($0.expectedGeneration) found \($0.foundGeneration)" }
                result.add(Check(name: CheckName.memoryIntegrity, passed: total == 0,
                                 evidence: "verify-all checked \(verification.pagesChecked) pages in \(formatNumber(verification.elapsedMilliseconds)) ms: \(verification.badPagesTotal) bad; \(whileDirtying) found while dirtying"
                                     + (first.isEmpty ? "" : "; " + first.joined(separator: "; "))))
                let infoAfter = try client.info()
                let sameBoot = infoAfter.bootId != nil && infoAfter.bootId == infoBefore.bootId && infoAfter.pid == infoBefore.pid
                let uptimeGrew = (infoAfter.uptimeSeconds ?? 0) > (infoBefore.uptimeSeconds ?? .infinity)
                result.add(Check(name: CheckName.noReboot, passed: sameBoot && uptimeGrew,
                                 evidence: "boot id \(infoBefore.bootId ?? "?") -> \(infoAfter.bootId ?? "?"), memeater pid \(infoBefore.pid) -> \(infoAfter.pid), uptime \(formatNumber(infoBefore.uptimeSeconds ?? -1)) s -> \(formatNumber(infoAfter.uptimeSeconds ?? -1)) s"))
            } catch {
                result.add(.notMeasured(CheckName.memoryIntegrity, because: error.description))
                result.add(.notMeasured(CheckName.noReboot, because: error.description))
            }
        } else {
            result.add(.notMeasured(CheckName.memoryIntegrity, because: "memeater cannot be reached: \(connectionEvidence)"))
            result.add(.notMeasured(CheckName.noReboot, because: "memeater cannot be reached"))
        }
        let console = testbed.console(since: consoleMark)
        let bad = consoleFailureLines(console ?? "")
        if let console {
            result.add(Check(name: CheckName.guestConsole, passed: bad.isEmpty,
                             evidence: bad.isEmpty ? "no panic, Oops or BUG in \(console.split(whereSeparator: \.isNewline).count) new console lines"
                                 : "\(bad.count) failure lines: " + bad.prefix(3).joined(separator: " | ")))
        } else {
            // Not a PASS: nothing was looked at. Reported, not judged.
            result.notes.append("\(CheckName.guestConsole) not checked: the console cannot be read (\(consoleMark.unavailable ?? "no host shell"))")
        }
        if expectMigrated {
            result.add(landingCheck(result, consoleFailures: console == nil ? nil : bad, destination: destination,
                                    domainName: endpoints.domainName))
        }

        // Side by side.
        result.crossChecks.append(CrossCheck(
            figure: "downtime (ms)", ours: result.pingDowntimeMilliseconds, oursSource: "pingmon longest reply gap",
            libvirt: result.libvirtDowntimeMilliseconds, libvirtSource: "completed job stats `downtime`",
            note: "the ping gap includes the delay to QEMU's first announce and one probe interval, so it is expected to exceed libvirt's downtime"))
        result.crossChecks.append(CrossCheck(
            figure: "dirty rate (MiB/s)", ours: result.achievedDirtyRateMiBPerSecond, oursSource: "memeater achieved unique pages/s",
            libvirt: result.libvirtDirtyRateMiBPerSecond, libvirtSource: "job stats memory_dirty_rate (largest sample)",
            note: "QEMU counts pages dirtied between bitmap syncs; under TCG it is a cross-check only at moderate rates (lab notes)"))
        if parameters.scenario == .live { result.modelComparison = modelComparison(result, outcome: outcome) }
        return result
    }

    // MARK: pieces

    /// Bytes transferred after which a mid-stream fault (abort, link cut, killed QEMU) is injected.
    public static let midStreamTriggerBytes: UInt64 = 8 << 20
    /// The bandwidth limit used for mid-stream faults when none is given, in MiB/s.
    public static let midStreamBandwidthMiBPerSecond: UInt64 = 32
    /// The smallest stall timeout of link-cut, in s: longer than libvirt's keepalive (5 s x 5).
    public static let linkCutStallTimeoutSeconds: Double = 60
    /// RAM of the domain started on the destination by dst-already-active, in MiB.
    public static let occupantMemoryMiB = 160
    /// Its MAC (not the guest's: the switch must keep sending the guest's traffic to the source).
    public static let occupantMACAddress = "52:54:00:c6:12:0b"
    /// Its tap (not the guest's: `destination-host-clean` looks for the guest's tap).
    public static let occupantTapName = "labocc0"

    /// Starts a small transient domain with the guest's name on the destination, from the
    /// lab's image, without address or memeater; returns it with its identity.
    private func startOccupant(destination: Connection, inspector: HostInspector) throws(VerifierError) -> (domain: Domain, before: OccupantSnapshot) {
        let configuration = try labConfiguration(for: .dstAlreadyActive)
        let step = "start a domain named \(configuration.guestName) on \(configuration.destination.name) (dst-already-active)"
        guard let lab = testbed.lab, let record = lab.currentRecord(), let guest = record.guest else {
            throw .environment("\(step): the lab has no guest record")
        }
        var definition = lab.guestDefinition(image: guest.image, memoryMiB: Self.occupantMemoryMiB, memeaterSizeMiB: 16,
                                             emulatorPath: record.emulatorPath, accelerator: record.accelerator.accelerator)
        definition.kernelArguments = []
        definition.image.diskPath = nil  // never share the guest's disk
        definition.macAddress = Self.occupantMACAddress
        definition.tapName = Self.occupantTapName
        definition.consoleLogPath = "\(configuration.stateDirectory)/guests/\(configuration.guestName).dst-occupant.console.log"
        let domain: Domain
        do {
            domain = try destination.createDomain(xml: definition.xml())
        } catch {
            throw VerifierError.wrap(error, step: step)
        }
        Thread.sleep(forTimeInterval: 1)
        guard let before = occupantSnapshot(destination: destination, inspector: inspector), before.state.state == .running else {
            _ = removeOccupant(domain, destination: destination)
            throw .environment("\(step): it did not stay running")
        }
        progress("dst-already-active: \(configuration.guestName) runs on \(configuration.destination.name): \(before)")
        return (domain, before)
    }

    /// The identity of the domain named like the guest on the destination now, if any.
    private func occupantSnapshot(destination: Connection, inspector: HostInspector) -> OccupantSnapshot? {
        let name = testbed.endpoints.domainName
        guard let domain = try? destination.domainIfPresent(name: name),
              let uuid = try? domain.uuidString(), let state = try? domain.state() else { return nil }
        return OccupantSnapshot(uuid: uuid, id: domain.id(), state: state,
                                qemuProcessIDs: ((try? inspector.qemuProcessIDs(domainName: name)) ?? []).sorted())
    }

    /// Destroys the occupant (transient: destroying removes it) and checks that no domain of
    /// the guest's name is left on the destination.
    private func removeOccupant(_ domain: Domain, destination: Connection) -> (removed: Bool, note: String) {
        let name = testbed.endpoints.domainName
        var note = ""
        do {
            if try domain.isActive() { try domain.destroy() }
            note = "destroyed the pre-existing domain"
        } catch let error as LibvirtError where error.kind == .noDomain {
            note = "the pre-existing domain was already gone"
        } catch {
            note = "could not destroy the pre-existing domain: \(error)"
        }
        let left = (try? destination.domainIfPresent(name: name)) ?? nil
        if let left, let uuid = try? left.uuidString(), let ours = try? domain.uuidString(), uuid == ours {
            if (try? left.isPersistent()) == true { try? left.undefine() }
        }
        let remains = ((try? destination.domainIfPresent(name: name)) ?? nil) != nil
        return (!remains, note + (remains ? "; a domain \(name) is STILL on \(destination.uri)" : "; none left on \(destination.uri)"))
    }

    /// The landing judged on three signals together (lab notes: a guest that lost pages
    /// often dies before memeater can report): memeater's integrity check, the console, and
    /// whether the guest still runs on the destination and answers a ping at the end.
    /// `consoleFailures` is `nil` when the console cannot be read.
    private func landingCheck(_ result: ScenarioResult, consoleFailures: [String]?, destination: Connection,
                              domainName: String) -> Check {
        var good: [String] = []
        var reasons: [String] = []
        switch result.integrityErrors {
        case 0?: good.append("integrity: 0 stale pages")
        case let count?: reasons.append("stale pages: \(count) (integrityErrors)")
        case nil: reasons.append("integrity not measured (memeater did not answer)")
        }
        switch consoleFailures {
        case nil: good.append("console: not readable")
        case let lines? where lines.isEmpty: good.append("console: no panic, Oops or BUG")
        case let lines?: reasons.append("console: " + lines.prefix(3).joined(separator: " | "))
        }
        let (running, state) = guestRuns(on: destination, name: domainName)
        let echo = running ? Result { () throws(LabError) in
            try Reachability.echo(namespace: testbed.clientNamespace, target: testbed.endpoints.guestAddress,
                                  interface: testbed.endpoints.captureInterface, count: 3, intervalMilliseconds: 1_000)
        } : nil
        if case .success(let reply)? = echo, reply.answered {
            good.append("answers: \(state), replied to a ping at the end")
        } else {
            let why = switch echo {
            case .success(let reply)?: ", \(reply) at the end"
            case .failure(let error)?: ", could not ping at the end: \(error.description)"
            case nil: ""
            }
            reasons.append("guest dead/unreachable: \(state)" + why)
        }
        return Check(name: CheckName.landingIntact, passed: reasons.isEmpty,
                     evidence: reasons.isEmpty ? good.joined(separator: "; ")
                         : reasons.joined(separator: "; ") + (good.isEmpty ? "" : " (held: " + good.joined(separator: "; ") + ")"))
    }

    /// Waits until three consecutive readings of memeater's achieved rate are within ±10 % of
    /// the target (unlimited: above 0). The rate is the growth of memeater's unique-page
    /// counter between two readings: memeater counts a page once per 1 s window, so at an
    /// unlimited rate a region is done early in each window and spans under 1 s are bursty.
    /// Unlimited readings are therefore 1.2 s apart, and the rate returned is over all of them.
    private func waitForStableRate(_ memeater: MemeaterClient, targetMiBPerSecond: Double,
                                   pageSizeBytes: Int) throws(VerifierError) -> (stable: Bool, achievedMiBPerSecond: Double) {
        let unlimited = targetMiBPerSecond == 0
        func rate(_ from: ProgressRecord, _ to: ProgressRecord) -> Double {
            let seconds = to.elapsedSeconds - from.elapsedSeconds
            guard seconds > 0, to.pagesDirtied >= from.pagesDirtied else { return 0 }
            return Double(to.pagesDirtied - from.pagesDirtied) * Double(pageSizeBytes) / 1_048_576 / seconds
        }
        let deadline = Date().addingTimeInterval(10)
        var goodReadings = 0
        var achieved = 0.0
        func stats() throws(VerifierError) -> ProgressRecord {
            do { return try memeater.stats() } catch { throw VerifierError.wrap(error, step: "read memeater's stats") }
        }
        let first = try stats()
        var previous = first
        while Date() < deadline {
            Thread.sleep(forTimeInterval: unlimited ? 1.2 : 0.25)
            let current = try stats()
            achieved = rate(previous, current)
            previous = current
            let ok = unlimited ? achieved > 0 : abs(achieved - targetMiBPerSecond) <= 0.1 * targetMiBPerSecond
            goodReadings = ok ? goodReadings + 1 : 0
            if goodReadings >= 3 { return (true, unlimited ? rate(first, current) : achieved) }
        }
        return (false, achieved)
    }

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
            for field in ["migrationMilliseconds", "libvirtDowntimeMilliseconds", "setupMilliseconds", "transferredBytes", "iterations"] {
                result.figureSources[field] = from
            }
        } else {
            result.migrationMilliseconds = outcome.wallMilliseconds
            result.figureSources["migrationMilliseconds"] = "the verifier's monotonic clock around the migration call (libvirt gave no completed stats: the migration did not complete)"
        }
    }

    private func guestRuns(on connection: Connection, name: String) -> (Bool, String) {
        do {
            guard let domain = try connection.domainIfPresent(name: name) else { return (false, "no domain \(name) on \(connection.uri)") }
            let state = try domain.state()
            return (state.state == .running, "\(name) is \(state) on \(connection.uri)")
        } catch {
            return (false, "cannot read \(name) on \(connection.uri): \(error)")
        }
    }

    private func sourceReleasedCheck(_ source: Connection, name: String) -> Check {
        do {
            guard let domain = try source.domainIfPresent(name: name) else {
                return Check(name: CheckName.sourceReleased, passed: true, evidence: "no domain \(name) on \(source.uri)")
            }
            let state = try domain.state()
            return Check(name: CheckName.sourceReleased, passed: state.isShutOffAfterMigration,
                         evidence: "\(name) is \(state) on \(source.uri)")
        } catch {
            return .notMeasured(CheckName.sourceReleased, because: "\(error)")
        }
    }

    private func guestOnSourceCheck(_ source: Connection, name: String) -> Check {
        // After an aborted job QEMU may need a moment to resume the vCPUs.
        let deadline = Date().addingTimeInterval(10)
        var last = ""
        while true {
            let (running, evidence) = guestRuns(on: source, name: name)
            last = evidence
            if running { return Check(name: CheckName.guestOnSource, passed: true, evidence: evidence + " (not paused)") }
            if Date() >= deadline { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        return Check(name: CheckName.guestOnSource, passed: false, evidence: last + " (after waiting 10 s)")
    }

    /// Re-makes a clean-up check for up to `seconds` (libvirt tears down asynchronously after
    /// the call returns) and says how long it took.
    private func checkUntilClean(seconds: Double = 15, _ make: () -> Check) -> Check {
        let start = Date()
        var check = make()
        while !check.passed, Date().timeIntervalSince(start) < seconds {
            Thread.sleep(forTimeInterval: 0.5)
            check = make()
        }
        let waited = Date().timeIntervalSince(start)
        if waited >= 0.5 {
            check.evidence += check.passed ? " (after \(formatNumber(waited)) s)" : " (still so after \(formatNumber(waited)) s)"
        }
        return check
    }

    /// The host's shell, or a one-line refusal naming what `scenario` needs it for.
    private func shell(_ host: HostInspector?, for scenario: ScenarioKind) throws(VerifierError) -> HostInspector {
        guard let host else {
            throw .invalidOptions("--scenario \(scenario.rawValue) needs a shell on the destination: use a qemu+ssh:// --dest-uri or give --dest-ssh USER@HOST")
        }
        return host
    }

    /// The lab's configuration, or a one-line refusal: `scenario` runs on the lab only.
    private func labConfiguration(for scenario: ScenarioKind) throws(VerifierError) -> LabConfiguration {
        guard let lab = testbed.lab else {
            throw .invalidOptions("--scenario \(scenario.rawValue) runs on the lab only: \(RemoteHosts.labOnlyScenarios[scenario] ?? "it needs the lab")")
        }
        return lab.configuration
    }

    private static func noShell(_ check: String, _ role: String) -> Check {
        .notMeasured(check, because: "no shell on the \(role) host to look at its processes and interfaces: use a qemu+ssh:// URI or --\(role == "source" ? "source" : "dest")-ssh USER@HOST")
    }

    /// `destination-host-clean`: no domain of the guest's name (besides a pre-existing one),
    /// no QEMU process for it and no interface that was not there before the migration.
    private func destinationCleanCheck(_ destination: Connection, host: HostInspector?, domainName: String,
                                       occupant: OccupantSnapshot?, interfacesBefore: Set<String>?) -> Check {
        var problems: [String] = []
        var looked: [String] = []
        do {
            if let domain = try destination.domainIfPresent(name: domainName) {
                if let occupant, try domain.uuidString() == occupant.uuid {
                    looked.append("only the pre-existing domain \(domainName) (uuid \(occupant.uuid)) on \(destination.uri)")
                } else {
                    problems.append("domain \(domainName) exists (\(try domain.state()))")
                }
            } else {
                looked.append("no domain \(domainName) on \(destination.uri)")
            }
        } catch {
            return .notMeasured(CheckName.destinationHostClean, because: "\(error)")
        }
        guard let host else { return Self.noShell(CheckName.destinationHostClean, "destination") }
        guard let interfacesBefore else {
            return .notMeasured(CheckName.destinationHostClean, because: "the interfaces of \(host.hostName) could not be listed before the migration")
        }
        do {
            let expectedPIDs = Set(occupant?.qemuProcessIDs ?? [])
            let qemu = try host.qemuProcesses(domainName: domainName).filter { line in
                !expectedPIDs.contains(line.split(separator: " ").first.flatMap { Int32($0) } ?? -1)
            }
            if qemu.isEmpty {
                looked.append("no qemu process for \(domainName) on \(host.hostName)" + (expectedPIDs.isEmpty ? "" : " besides the pre-existing domain's"))
            } else {
                problems.append("qemu left: \(qemu.joined(separator: ", "))")
            }
            let added = try host.interfaces().subtracting(interfacesBefore).sorted()
            if added.isEmpty {
                looked.append("no interface that was not there before (\(interfacesBefore.count) then and now)")
            } else {
                problems.append("new interfaces left: \(added.joined(separator: ", "))")
            }
        } catch {
            return .notMeasured(CheckName.destinationHostClean, because: error.description)
        }
        return Check(name: CheckName.destinationHostClean, passed: problems.isEmpty,
                     evidence: problems.isEmpty ? looked.joined(separator: "; ") : problems.joined(separator: "; "))
    }

    /// `source-host-clean`: no QEMU process for the guest and none of its taps (read from its
    /// domain XML before the migration) left on the source.
    private func sourceCleanCheck(host: HostInspector?, domainName: String, taps: [String]) -> Check {
        guard let host else { return Self.noShell(CheckName.sourceHostClean, "source") }
        do {
            let qemu = try host.qemuProcesses(domainName: domainName)
            let left = try host.interfaces().intersection(taps).sorted()
            var problems: [String] = []
            if !qemu.isEmpty { problems.append("qemu left: \(qemu.joined(separator: ", "))") }
            if !left.isEmpty { problems.append("tap \(left.joined(separator: ", ")) left") }
            let tapText = taps.isEmpty ? "the domain has no tap" : "no tap \(taps.joined(separator: ", "))"
            return Check(name: CheckName.sourceHostClean, passed: problems.isEmpty,
                         evidence: problems.isEmpty ? "no qemu process for \(domainName) and \(tapText) on \(host.hostName)"
                             : problems.joined(separator: "; ") + " on \(host.hostName)")
        } catch {
            return .notMeasured(CheckName.sourceHostClean, because: error.description)
        }
    }

    /// `migration-port-free`: nothing listens on QEMU's incoming migration ports on the destination.
    private func migrationPortFreeCheck(host: HostInspector?) -> Check {
        guard let host else { return Self.noShell(CheckName.migrationPortFree, "destination") }
        do {
            let listening = try host.listeningPorts(in: Self.migrationPorts)
            return Check(name: CheckName.migrationPortFree, passed: listening.isEmpty,
                         evidence: listening.isEmpty ? "nothing listens on TCP \(Self.migrationPorts) on \(host.hostName) (ss -tln)"
                             : "listening on \(listening.map(String.init).joined(separator: ", ")) on \(host.hostName)")
        } catch {
            return .notMeasured(CheckName.migrationPortFree, because: error.description)
        }
    }

    private func pingCheck(_ analysis: PingAnalysis, parameters: ScenarioParameters, pingReport: PingReport) -> Check {
        guard analysis.sent > 0, analysis.received > 0 else {
            return Check(name: CheckName.pingContinuity, passed: false,
                         evidence: "\(analysis.sent) probes sent, \(analysis.received) replies: the guest never answered")
        }
        let gap = "\(analysis.sent) probes, \(analysis.lost) lost in \(analysis.lossRunCount) runs, longest gap \(formatNumber(analysis.downtimeMilliseconds)) ms"
        if analysis.downtimeOpenEnded {
            return Check(name: CheckName.pingContinuity, passed: false, evidence: gap + "; the guest had stopped answering when probing ended")
        }
        if parameters.requireZeroLoss {
            return Check(name: CheckName.pingContinuity, passed: analysis.lost == 0, evidence: gap + " (--require-zero-loss)")
        }
        if parameters.scenario == .live {
            let ok = analysis.downtimeMilliseconds < parameters.maxPingDowntimeMilliseconds
            return Check(name: CheckName.pingContinuity, passed: ok,
                         evidence: gap + " (limit \(formatNumber(parameters.maxPingDowntimeMilliseconds)) ms)")
        }
        // A failed migration must leave the source guest answering; gaps are reported, not judged.
        return Check(name: CheckName.pingContinuity, passed: true, evidence: gap + "; the guest answers again after the failure")
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
                               measuredSource: result.figureSources["migrationMilliseconds"] ?? "libvirt")
    }
}
