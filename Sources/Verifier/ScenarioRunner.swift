import Foundation
import Lab
import Libvirt
import MemeaterKit
import PingMonitor
import Synchronization

/// Faults the tests inject into a run to show that a check can fail.
public struct CheckProbes: Sendable, Equatable {
    /// After landing (or after the failed migration), make memeater corrupt this page
    /// before the integrity check: `memory-integrity` must FAIL.
    public var corruptPageBeforeVerification: Int?
    /// Tell the live scenario the guest should end up on the source: `guest-on-destination`
    /// is then checked against the wrong host and must FAIL.
    public var expectGuestOnWrongHost: Bool

    /// No probes: a normal run.
    public init(corruptPageBeforeVerification: Int? = nil, expectGuestOnWrongHost: Bool = false) {
        self.corruptPageBeforeVerification = corruptPageBeforeVerification
        self.expectGuestOnWrongHost = expectGuestOnWrongHost
    }
}

/// The lab the scenarios run on, and how to reach it.
public struct LabTarget: Sendable {
    /// The lab (its configuration names namespaces, addresses, the guest).
    public var lab: Lab
    /// The static memeater to put into the guest (default: found by the lab).
    public var memeaterPath: String?
    /// The client-side interface pings leave from (the lab's `up0`).
    public var captureInterface: String

    /// Creates a target.
    public init(lab: Lab, memeaterPath: String? = nil, captureInterface: String = "up0") {
        self.lab = lab
        self.memeaterPath = memeaterPath
        self.captureInterface = captureInterface
    }

    /// The endpoints of this lab: its two daemons over TCP, its guest.
    public var endpoints: Endpoints {
        let configuration = lab.configuration
        return Endpoints(sourceURI: lab.uri(of: configuration.source), destinationURI: lab.uri(of: configuration.destination),
                         domainName: configuration.guestName, guestAddress: configuration.guestAddress,
                         memeaterPort: configuration.memeaterPort, captureInterface: captureInterface)
    }
}

/// Runs scenarios on the lab: prepares the guest, drives the migration, injects the fault,
/// checks every expectation, and stores everything as it is produced.
public final class ScenarioRunner: Sendable {
    /// Ports QEMU uses for incoming migration (libvirt's default range) — the fault drops
    /// one more, as the original test case does (49152-49216).
    public static let migrationPorts = 49152...49215
    /// The bogus migration URI of the prepare-fail scenario (as in the original test case).
    public static let bogusMigrationURI = "foo://bar"

    public let target: LabTarget
    private let store: ResultsStore?
    private let progress: @Sendable (String) -> Void

    /// - Parameters:
    ///   - store: where runs, samples and results go as they are produced (`nil`: nowhere).
    ///   - progress: receives live progress lines (job stats) and step messages.
    public init(target: LabTarget, store: ResultsStore?, progress: @escaping @Sendable (String) -> Void = { _ in }) throws(VerifierError) {
        self.target = target
        self.store = store
        self.progress = progress
        do {
            try EventLoop.startDefault()
        } catch {
            throw VerifierError.wrap(error, step: "start libvirt's event loop")
        }
    }

    private var lab: Lab { target.lab }
    private var configuration: LabConfiguration { lab.configuration }

    // MARK: preparing

    /// Brings the lab up as `parameters` need (idempotent) and makes sure the guest, with
    /// the requested memory, runs on the source only and answers memeater's protocol.
    /// Returns what was done.
    public func prepareGuest(_ parameters: ScenarioParameters) throws(VerifierError) -> [String] {
        if let available = hostAvailableMemoryMiB() {
            let current = lab.currentRecord()?.guest.map { $0.memoryMiB } ?? 0
            try checkMemoryFits(requestedMiB: parameters.memoryMiB, availableMiB: available + current)
        }
        let kind = GuestKind(rawValue: parameters.guestKind) ?? .initramfs
        var actions: [String] = []
        do {
            // A guest left elsewhere (e.g. on the destination by a live run) is removed first.
            if lab.currentRecord() != nil, lab.labNamespacesPresent().count == configuration.namespaces.count,
               let location = try? lab.guestLocation(), location.host != configuration.source {
                actions += try removeGuest()
            }
            let emulator = try EmulatorChoice(name: parameters.emulator)
            let options = LabUpOptions(emulator: emulator, guest: kind, guestMemoryMiB: parameters.memoryMiB,
                                       memeaterSizeMiB: parameters.memeaterSizeMiB, memeaterPath: target.memeaterPath,
                                       replaceDifferentGuest: true)
            let report = try lab.up(options) { self.progress("lab up: \($0)") }
            actions += report.actions
            guard let guest = report.record.guest else {
                throw VerifierError.environment("lab up started no guest")
            }
            var healthy = false
            if let location = try lab.guestLocation(), location.host == configuration.source,
               location.state.state == .running, lab.ping(),
               (try? MemeaterClient(namespace: configuration.clientNamespace, address: configuration.guestAddress,
                                    port: configuration.memeaterPort, timeoutSeconds: 3).info()) != nil {
                healthy = true
            }
            if !healthy {
                progress("starting a fresh guest on \(configuration.source.name)")
                actions += try removeGuest()
                let definition = lab.guestDefinition(image: guest.image, memoryMiB: parameters.memoryMiB,
                                                     memeaterSizeMiB: parameters.memeaterSizeMiB,
                                                     emulatorPath: report.record.emulatorPath,
                                                     accelerator: report.record.accelerator.accelerator)
                _ = try lab.startGuest(definition: definition, kind: kind, on: configuration.source, actions: &actions)
            }
        } catch {
            throw VerifierError.wrap(error, step: "prepare the guest for \(parameters.label)")
        }
        return actions
    }

    /// Destroys and undefines the lab guest on both hosts.
    func removeGuest() throws -> [String] {
        var actions: [String] = []
        try lab.removeGuest(actions: &actions)
        return actions
    }

    func openConnection(_ uri: String) throws(VerifierError) -> Connection {
        do {
            return try NetworkNamespace.run(in: configuration.clientNamespace) { try Connection(uri: uri) }
        } catch {
            throw VerifierError.wrap(error, step: "connect to \(uri)")
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
        result.finishedAt = Date()
        result.runID = runID
        if let runID {
            do { try store?.finishRun(runID, result: result) } catch { progress("warning: \(error.description)") }
        }
        return result
    }

    private func record(_ sample: JobSample, runID: Int64?) {
        if let runID { try? store?.add(sample, runID: runID) }
    }

    private func execute(_ parameters: ScenarioParameters, probes: CheckProbes, runID: Int64?,
                         startedAt: Date) throws(VerifierError) -> ScenarioResult {
        try parameters.validate()
        progress("\(parameters.label): preparing the guest")
        let actions = try prepareGuest(parameters)
        let endpoints = parameters.endpoints
        let source = try openConnection(endpoints.sourceURI)
        let destination = try openConnection(endpoints.destinationURI)
        let domain: Domain
        let libvirtVersion: String
        let qemuVersion: String
        let accel: String
        do {
            domain = try source.lookupDomain(name: endpoints.domainName)
            libvirtVersion = try source.libvirtVersion().description
            qemuVersion = try lab.currentRecord()?.emulatorVersion ?? source.hypervisorVersion().description
            accel = try domain.xmlDescription().contains("type='kvm'") ? "kvm" : "tcg"
        } catch {
            throw VerifierError.wrap(error, step: "read the domain and versions on \(endpoints.sourceURI)")
        }
        var result = ScenarioResult(parameters: parameters, accel: accel, qemuVersion: qemuVersion,
                                    libvirtVersion: libvirtVersion, startedAt: startedAt)
        result.figureSources["qemuVersion"] = lab.currentRecord()?.emulatorVersion != nil
            ? "`\(lab.currentRecord()?.emulatorPath ?? "qemu") --version`" : "virConnectGetVersion on the source"
        result.figureSources["accel"] = "the domain XML on the source (type='kvm' or 'qemu')"
        result.figureSources["libvirtVersion"] = "virConnectGetLibVersion on the source daemon"
        if !actions.isEmpty { result.notes.append("lab: " + actions.joined(separator: "; ")) }

        let consoleStart = UInt64(lab.guestConsole().utf8.count)
        // memeater: open the control connection, held for the whole run.
        let memeater = try MemeaterClient(namespace: configuration.clientNamespace, address: endpoints.guestAddress,
                                          port: endpoints.memeaterPort)
        let infoBefore = try memeater.info()
        _ = try memeater.send(ControlRequest(command: "set-rate", mibPerSecond: parameters.dirtyRateMiBPerSecond))
        _ = try memeater.send(ControlRequest(command: "resume"))
        let settled = try waitForStableRate(memeater, targetMiBPerSecond: parameters.dirtyRateMiBPerSecond)
        result.achievedDirtyRateMiBPerSecond = settled.achievedMiBPerSecond
        result.figureSources["achievedDirtyRateMiBPerSecond"] = "memeater's stats (unique pages dirtied per second over its last window) just before migrating"
        if !settled.stable { result.notes.append("memeater's rate did not settle within 10 s: achieved \(formatNumber(settled.achievedMiBPerSecond)) MiB/s for a target of \(formatNumber(parameters.dirtyRateMiBPerSecond))") }
        _ = try memeater.send(ControlRequest(command: "reset-stall"))

        // pingmon from the client side.
        let ping = try PingMonitorRun(namespace: configuration.clientNamespace, target: endpoints.guestAddress,
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
        switch parameters.scenario {
        case .prepareFail: migrationURI = Self.bogusMigrationURI
        case .performFail:
            fault = try PortDropFault.install(namespace: configuration.destination.namespace, ports: 49152...49216)
        default: break
        }
        defer { fault?.remove() }
        var driver = MigrationDriver(timeoutSeconds: parameters.timeoutSeconds, stallTimeoutSeconds: parameters.stallTimeoutSeconds,
                                     switchToPostCopy: parameters.migration.postCopy)
        if fault != nil {
            // libvirt opens the migration connection itself; while its connect() waits for a
            // SYN answer the firewall drops, an abort does not take effect (and lifting the
            // fault early lets the migration complete). Wait for the kernel to give up on the
            // connection (about 2 minutes) and report the timings.
            driver.abortGraceSeconds = 240
        }
        progress("\(parameters.label): migrating \(endpoints.domainName) \(endpoints.sourceURI) -> \(endpoints.destinationURI)")
        let job = LibvirtMigration(domain: domain, destination: destination, options: parameters.migration, migrationURI: migrationURI)
        let outcome = driver.run(job) { [self] sample in
            record(sample, runID: runID)
            progress("  " + sample.progressLine)
        }
        var faultNote: String?
        if let installed = fault {
            let dropped = installed.droppedPackets()
            let removed = installed.remove()
            faultNote = "firewall in \(installed.namespace) dropped \(dropped.map(String.init) ?? "?") packets to TCP \(installed.ports); removed: \(removed ? "yes" : "NO")"
            result.notes.append(faultNote ?? "")
            if !removed { result.add(Check(name: "fault-removed", passed: false, evidence: "the nft table \(installed.table) is still in \(installed.namespace)")) }
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
            result.add(checkUntilClean { hostCleanCheck(name: CheckName.sourceHostClean, host: configuration.source,
                                                domainName: endpoints.domainName, checkPorts: false) })
        } else {
            result.add(guestOnSourceCheck(source, name: endpoints.domainName))
            result.add(checkUntilClean { destinationCleanCheck(destination, domainName: endpoints.domainName) })
            result.add(checkUntilClean { hostCleanCheck(name: CheckName.migrationPortFree, host: configuration.destination,
                                                domainName: endpoints.domainName, checkPorts: true) })
        }
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
                client = try MemeaterClient(namespace: configuration.clientNamespace, address: endpoints.guestAddress,
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
                _ = try client.send(ControlRequest(command: "pause"))
                if let page = probes.corruptPageBeforeVerification {
                    _ = try client.send(ControlRequest(command: "corrupt-page", page: page))
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
        let console = String(lab.guestConsole().utf8.dropFirst(Int(consoleStart))) ?? ""
        let bad = consoleFailureLines(console)
        result.add(Check(name: CheckName.guestConsole, passed: bad.isEmpty,
                         evidence: bad.isEmpty ? "no panic, Oops or BUG in \(console.split(separator: "\n").count) new console lines"
                             : "\(bad.count) failure lines: " + bad.prefix(3).joined(separator: " | ")))

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

    private func waitForStableRate(_ memeater: MemeaterClient, targetMiBPerSecond: Double) throws(VerifierError) -> (stable: Bool, achievedMiBPerSecond: Double) {
        let deadline = Date().addingTimeInterval(10)
        var goodReadings = 0
        var achieved = 0.0
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.25)
            let stats = try memeater.stats()
            achieved = stats.achievedMiBPerSecond
            let ok = targetMiBPerSecond == 0 ? achieved > 0 : abs(achieved - targetMiBPerSecond) <= 0.1 * targetMiBPerSecond
            goodReadings = ok ? goodReadings + 1 : 0
            if goodReadings >= 3 { return (true, achieved) }
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

    private func destinationCleanCheck(_ destination: Connection, domainName: String) -> Check {
        var problems: [String] = []
        var looked: [String] = []
        do {
            if let domain = try destination.domainIfPresent(name: domainName) {
                problems.append("domain \(domainName) exists (\(try domain.state()))")
            } else {
                looked.append("no domain \(domainName) on \(destination.uri)")
            }
        } catch {
            return .notMeasured(CheckName.destinationHostClean, because: "\(error)")
        }
        let host = configuration.destination
        let inspector = HostInspector(hostName: host.name, namespace: host.namespace)
        let qemu = inspector.qemuProcesses(domainName: domainName)
        if qemu.isEmpty { looked.append("no qemu process for \(domainName) in \(host.namespace)") } else { problems.append("qemu left: \(qemu.joined(separator: ", "))") }
        do {
            if try inspector.interfaceExists(configuration.guestTapName) {
                problems.append("tap \(configuration.guestTapName) left in \(host.namespace)")
            } else {
                looked.append("no tap \(configuration.guestTapName)")
            }
        } catch {
            return .notMeasured(CheckName.destinationHostClean, because: error.description)
        }
        return Check(name: CheckName.destinationHostClean, passed: problems.isEmpty,
                     evidence: problems.isEmpty ? looked.joined(separator: "; ") : problems.joined(separator: "; "))
    }

    private func hostCleanCheck(name: String, host: LabHost, domainName: String, checkPorts: Bool) -> Check {
        let inspector = HostInspector(hostName: host.name, namespace: host.namespace)
        if checkPorts {
            do {
                let listening = try inspector.listeningPorts(in: Self.migrationPorts)
                return Check(name: name, passed: listening.isEmpty,
                             evidence: listening.isEmpty ? "nothing listens on TCP \(Self.migrationPorts) in \(host.namespace) (ss -tln)"
                                 : "listening on \(listening.map(String.init).joined(separator: ", ")) in \(host.namespace)")
            } catch {
                return .notMeasured(name, because: error.description)
            }
        }
        let qemu = inspector.qemuProcesses(domainName: domainName)
        let tap: Bool
        do {
            tap = try inspector.interfaceExists(configuration.guestTapName)
        } catch {
            return .notMeasured(name, because: error.description)
        }
        var problems: [String] = []
        if !qemu.isEmpty { problems.append("qemu left: \(qemu.joined(separator: ", "))") }
        if tap { problems.append("tap \(configuration.guestTapName) left") }
        return Check(name: name, passed: problems.isEmpty,
                     evidence: problems.isEmpty ? "no qemu process for \(domainName) and no tap \(configuration.guestTapName) in \(host.namespace)"
                         : problems.joined(separator: "; ") + " in \(host.namespace)")
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
