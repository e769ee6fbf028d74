import Foundation
import Libvirt
import MigrationModel

/// The checks of a scenario: pure functions of an ``Observation``. Each says what it looked
/// at; one that could not look fails with "not measured".
public enum Checks {
    /// Every check the observation's expectation calls for, in report order; the scenario's
    /// fault (from `catalog`) adds its own after the clean-up checks.
    public static func evaluate(_ observation: Observation, catalog: FaultCatalog = .standard) -> [Check] {
        var checks = [migrationOutcome(observation)]
        switch observation.expectation {
        case .migrates:
            if let acted = faultActed(observation) { checks.append(acted) }
            checks += [guestOnDestination(observation), sourceReleased(observation), sourceHostClean(observation)]
        case .staysOnSource:
            if let acted = faultActed(observation) { checks.append(acted) }
            checks += [guestOnSource(observation), destinationHostClean(observation), migrationPortFree(observation)]
            if let restored = migrationSettingsRestored(observation) { checks.append(restored) }
        case .guestLost:
            if let acted = faultActed(observation) { checks.append(acted) }
            checks += [guestLost(observation), destinationHostClean(observation), migrationPortFree(observation)]
        }
        checks += catalog.type(of: observation.parameters.scenario).checks(observation)
        if let removed = faultRemoved(observation) { checks.append(removed) }
        checks.append(noDualRunning(observation))
        if let encrypted = streamEncrypted(observation) { checks.append(encrypted) }
        if let bandwidth = bandwidthHonoured(observation) { checks.append(bandwidth) }
        if let freeze = guestFreeze(observation) { checks.append(freeze) }
        // A lost guest has no memory, connection or console left to judge.
        guard observation.expectation != .guestLost else { return checks }
        checks += [pingContinuity(observation), controlConnection(observation), memoryIntegrity(observation),
                   noReboot(observation)]
        if let console = guestConsole(observation) { checks.append(console) }
        if observation.expectation == .migrates { checks.append(landingIntact(observation)) }
        return checks
    }

    /// `migration-outcome`: the migration call succeeded (migrates), or failed with libvirt's
    /// error (stays on the source).
    public static func migrationOutcome(_ o: Observation) -> Check {
        let ending = o.outcome.ending
        switch o.expectation {
        case .migrates:
            if case .completedDespiteAbort = ending, o.timeoutIsResult, o.outcome.abortCause == .timeout {
                return Check(name: CheckName.migrationOutcome, passed: true,
                             evidence: "\(o.call) \(ending.summary) after \(formatNumber(o.outcome.wallMilliseconds)) ms: it converged at the timeout, a result in a sweep")
            }
            return Check(name: CheckName.migrationOutcome, passed: ending == .completed,
                         evidence: "\(o.call) \(ending.summary) after \(formatNumber(o.outcome.wallMilliseconds)) ms")
        case .staysOnSource where o.didNotConverge:
            let failed = !ending.migrated && ending.libvirtMessage != nil
            return Check(name: CheckName.migrationOutcome, passed: failed,
                         evidence: failed ? "did not converge, a result: \(ending.summary)"
                             : "did not converge, but the job did not end as failed: \(ending.summary)")
        case .staysOnSource, .guestLost:
            let failed = !ending.migrated && ending.libvirtMessage != nil
            return Check(name: CheckName.migrationOutcome, passed: failed,
                         evidence: failed ? "libvirt reported failure: \(ending.summary)" + (o.outcome.abortNote.map { " (\($0))" } ?? "")
                             : "expected the migration to fail, but it \(ending.summary)")
        }
    }

    /// `fault-acted`: the scenario's fault did what it is for while the job was active, and
    /// the migration failed with the error that fault causes. A migration that failed for
    /// another reason fails this check, with both errors shown. `nil` without a fault.
    public static func faultActed(_ o: Observation) -> Check? {
        guard !o.didNotConverge else { return nil }
        // A migration expected to land is judged on its fault only when it had one (live has none).
        guard o.expectation != .migrates || o.fault != nil else { return nil }
        guard let fault = o.fault else {
            return .notMeasured(CheckName.faultActed, because: "the scenario reported no evidence of its fault")
        }
        let passed = fault.acted && fault.errorAsExpected
        var evidence = fault.evidence
        if !fault.acted { evidence = "the fault did not act: " + evidence }
        evidence += "; " + fault.errorEvidence
        return Check(name: CheckName.faultActed, passed: passed, evidence: evidence)
    }

    /// `fault-removed`: what the fault installed is gone. `nil` when it installed nothing.
    public static func faultRemoved(_ o: Observation) -> Check? {
        guard let fault = o.fault, let removed = fault.removed else { return nil }
        return Check(name: CheckName.faultRemoved, passed: removed, evidence: fault.removalEvidence ?? (removed ? "removed" : "not removed"))
    }

    /// `guest-on-destination`: the guest runs on the destination.
    public static func guestOnDestination(_ o: Observation) -> Check {
        let stuck = o.onDestination.isStuckInFailedPostCopy
        return Check(name: CheckName.guestOnDestination, passed: o.onDestination.isRunning && !stuck && o.onDestination.error == nil,
                     evidence: "destination: \(o.onDestination.description)" + (stuck ? ": a failed post-copy, its vCPUs wait for pages that never come" : ""))
    }

    /// `source-released`: the source no longer runs the guest (gone, or shut off because it migrated).
    public static func sourceReleased(_ o: Observation) -> Check {
        if let error = o.onSource.error { return .notMeasured(CheckName.sourceReleased, because: error) }
        guard let state = o.onSource.state else {
            return Check(name: CheckName.sourceReleased, passed: true, evidence: o.onSource.description)
        }
        return Check(name: CheckName.sourceReleased, passed: state.isShutOffAfterMigration, evidence: o.onSource.description)
    }

    /// `guest-on-source`: the guest still runs (not paused) on the source.
    public static func guestOnSource(_ o: Observation) -> Check {
        let running = o.onSource.isRunning && o.onSource.error == nil
        let waited = o.sourceWaitedSeconds >= 0.5 ? " after waiting \(formatNumber(o.sourceWaitedSeconds)) s" : ""
        return Check(name: CheckName.guestOnSource, passed: running,
                     evidence: o.onSource.description + (running ? " (not paused)" : "") + waited)
    }

    /// `source-host-clean`: no QEMU process for the guest and none of its taps left on the source.
    public static func sourceHostClean(_ o: Observation) -> Check {
        sourceHostClean(host: o.sourceHost, taps: o.sourceTaps, domainName: o.parameters.endpoints.domainName,
                        waitedSeconds: o.hostsWaitedSeconds)
    }

    static func sourceHostClean(host: Looked<HostSnapshot>, taps: [String], domainName name: String, waitedSeconds: Double) -> Check {
        let snapshot: HostSnapshot
        switch host {
        case .notLooked(let reason): return .notMeasured(CheckName.sourceHostClean, because: reason)
        case .seen(let seen): snapshot = seen
        }
        let left = snapshot.interfaces.intersection(taps).sorted()
        var problems: [String] = []
        if !snapshot.qemuProcesses.isEmpty { problems.append("qemu left: \(snapshot.qemuProcesses.map(\.description).joined(separator: ", "))") }
        if !left.isEmpty { problems.append("tap \(left.joined(separator: ", ")) left") }
        let tapText = taps.isEmpty ? "the domain has no tap" : "no tap \(taps.joined(separator: ", "))"
        return Check(name: CheckName.sourceHostClean, passed: problems.isEmpty,
                     evidence: (problems.isEmpty ? "no qemu process for \(name) and \(tapText) on \(snapshot.hostName)"
                         : problems.joined(separator: "; ") + " on \(snapshot.hostName)") + waited(waitedSeconds, passed: problems.isEmpty))
    }

    /// `destination-host-clean`: no domain of the guest's name (besides a pre-existing one: a
    /// fault's occupant, or an inactive definition that stays inactive), no QEMU process for it
    /// and no interface that was not there before the migration.
    public static func destinationHostClean(_ o: Observation) -> Check {
        destinationHostClean(sighting: o.onDestination, host: o.destinationHost, interfacesBefore: o.destinationInterfacesBefore,
                             occupant: o.faultFindings?.destinationDomain, domainName: o.parameters.endpoints.domainName,
                             waitedSeconds: o.hostsWaitedSeconds, domainBefore: o.destinationDomainBefore)
    }

    /// `domainBefore`: the guest's domain on the destination before the migration. A host the
    /// guest once left keeps its persistent definition, shut off; a failed migration back to it
    /// leaves that definition as it was (libvirt only changes its reason, e.g. to "failed").
    static func destinationHostClean(sighting: DomainSighting, host: Looked<HostSnapshot>, interfacesBefore: Looked<Set<String>>,
                                     occupant: OccupantObservation?, domainName name: String, waitedSeconds: Double,
                                     domainBefore: DomainSighting? = nil) -> Check {
        var problems: [String] = []
        var looked: [String] = []
        if let error = sighting.error { return .notMeasured(CheckName.destinationHostClean, because: error) }
        if let state = sighting.state {
            if let occupant, let after = occupant.after, after.uuid == occupant.before.uuid {
                looked.append("only the pre-existing domain \(name) (uuid \(occupant.before.uuid)) on \(sighting.uri)")
            } else if occupant == nil, !state.isActive, let stateBefore = domainBefore?.state, !stateBefore.isActive {
                looked.append("only the inactive definition of \(name) that was there before the migration "
                              + "(\(stateBefore) then, \(state) now) on \(sighting.uri)")
            } else {
                problems.append("domain \(name) exists (\(state))")
            }
        } else {
            looked.append("no domain \(name) on \(sighting.uri)")
        }
        let snapshot: HostSnapshot
        switch host {
        case .notLooked(let reason): return .notMeasured(CheckName.destinationHostClean, because: reason)
        case .seen(let seen): snapshot = seen
        }
        let before: Set<String>
        switch interfacesBefore {
        case .notLooked(let reason):
            return .notMeasured(CheckName.destinationHostClean, because: "the interfaces of \(snapshot.hostName) could not be listed before the migration: \(reason)")
        case .seen(let seen): before = seen
        }
        let expectedPIDs = Set(occupant?.before.qemuProcessIDs ?? [])
        let qemu = snapshot.qemuProcesses.filter { !expectedPIDs.contains($0.pid) }
        if qemu.isEmpty {
            looked.append("no qemu process for \(name) on \(snapshot.hostName)" + (expectedPIDs.isEmpty ? "" : " besides the pre-existing domain's"))
        } else {
            problems.append("qemu left: \(qemu.map(\.description).joined(separator: ", "))")
        }
        let others = snapshot.otherGuestsInterfaces ?? []
        let added = snapshot.interfaces.subtracting(before).subtracting(others).sorted()
        if added.isEmpty {
            looked.append("no interface that was not there before (\(before.count) then, \(snapshot.interfaces.count) now)"
                          + (others.isEmpty ? "" : " besides the evacuation's other guests' \(others.sorted().joined(separator: ", "))"))
        } else {
            problems.append("new interfaces left: \(added.joined(separator: ", "))")
        }
        return Check(name: CheckName.destinationHostClean, passed: problems.isEmpty,
                     evidence: (problems.isEmpty ? looked : problems).joined(separator: "; ") + unreadOthers(snapshot)
                         + waited(waitedSeconds, passed: problems.isEmpty))
    }

    /// `migration-port-free`: nothing listens on QEMU's incoming migration ports on the destination.
    public static func migrationPortFree(_ o: Observation) -> Check {
        migrationPortFree(host: o.destinationHost, waitedSeconds: o.hostsWaitedSeconds)
    }

    static func migrationPortFree(host: Looked<HostSnapshot>, waitedSeconds: Double) -> Check {
        let snapshot: HostSnapshot
        switch host {
        case .notLooked(let reason): return .notMeasured(CheckName.migrationPortFree, because: reason)
        case .seen(let seen): snapshot = seen
        }
        let ports = ScenarioRunner.migrationPorts
        let others = snapshot.otherGuestsListeningPorts ?? []
        let listening = snapshot.listeningMigrationPorts.filter { !others.contains($0) }
        let free = listening.isEmpty
        let besides = others.isEmpty ? "" : " besides the evacuation's other guests' QEMUs on \(others.map(String.init).joined(separator: ", "))"
        return Check(name: CheckName.migrationPortFree, passed: free,
                     evidence: (free ? "nothing listens on TCP \(ports) on \(snapshot.hostName) (ss -tln)\(besides)"
                         : "listening on \(listening.map(String.init).joined(separator: ", ")) on \(snapshot.hostName)\(besides)")
                         + unreadOthers(snapshot) + waited(waitedSeconds, passed: free))
    }

    /// What of the evacuation's other guests could not be read on this host (their holdings
    /// were then counted as this guest's), as a clause for the clean-up checks' evidence.
    private static func unreadOthers(_ snapshot: HostSnapshot) -> String {
        snapshot.otherGuestsUnread.map { "; not read of the other guests: " + $0.joined(separator: "; ") } ?? ""
    }

    /// `ping-continuity`: the guest answered throughout (migrates: the longest gap under the
    /// limit, plus a guest network outage the fault made, which must show in the pings; stays
    /// on the source: it answers again after the failure, and when the fault left the guest
    /// network up, the longest gap is under the limit too), and at the end.
    public static func pingContinuity(_ o: Observation) -> Check {
        let ping = o.ping
        let p = o.parameters
        guard ping.sent > 0, ping.received > 0 else {
            return Check(name: CheckName.pingContinuity, passed: false,
                         evidence: "\(ping.sent) probes sent, \(ping.received) replies: the guest never answered")
        }
        let held = ping.longestGapLateProbes ?? 0
        // Held probes sent before the gap began were answered from a standing queue (a guest
        // too slow for the probe rate, e.g. under a 99 % auto-converge throttle): the replies'
        // gap is judged, and the queue's age is said.
        let queue = held > 0 && ping.longestGapLowerBoundMilliseconds > ping.longestGapMilliseconds
            ? "; they were sent over \(formatNumber(ping.longestGapLowerBoundMilliseconds)) ms, answered from a queue: "
                + "outage bounds \(formatNumber(ping.longestGapLowerBoundMilliseconds))-\(formatNumber(ping.longestGapUpperBoundMilliseconds)) ms"
            : ""
        let late = held > 0 ? " (\(held) held through it, answered late\(queue))" : ""
        let gap = "\(ping.sent) probes, \(ping.lost) lost in \(ping.lossRunCount) runs, longest gap \(formatNumber(ping.longestGapMilliseconds)) ms" + late
        if ping.openEnded {
            return Check(name: CheckName.pingContinuity, passed: false, evidence: gap + "; the guest had stopped answering when probing ended")
        }
        if p.requireZeroLoss {
            return Check(name: CheckName.pingContinuity, passed: ping.lost == 0, evidence: gap + " (--require-zero-loss)")
        }
        let limit = p.maxPingDowntimeMilliseconds
        switch (o.expectation, o.fault?.guestNetwork) {
        case (.migrates, .cut(let at, let outage)?):
            return continuity(gap, gaps: ping.gapsOnRunClock, window: (at, outage), limit: limit,
                              what: "the guest network was cut", missing: "the pings never showed it")
        case (.migrates, .mayStall(let at, let window)?):
            return continuity(gap, gaps: ping.gapsOnRunClock, window: (at, window), limit: limit,
                              what: "the guest may have stalled (post-copy with its pages out of reach)", missing: nil)
        case (.staysOnSource, .paused(let at, let pause)?):
            return continuity(gap, gaps: ping.gapsOnRunClock, window: (at, pause), limit: limit,
                              what: "libvirt kept the guest paused (its events: from the switch-over until the source resumed it)",
                              missing: "the pause never showed in the pings" as String?)
        case (.migrates, _):
            let ok = ping.longestGapMilliseconds < limit
            return Check(name: CheckName.pingContinuity, passed: ok, evidence: gap + " (limit \(formatNumber(limit)) ms)")
        case (.staysOnSource, .untouched?):
            // Only the migration's network failed: the guest network must not have noticed.
            let ok = ping.longestGapMilliseconds < limit
            return Check(name: CheckName.pingContinuity, passed: ok,
                         evidence: gap + " (limit \(formatNumber(limit)) ms: only the management network was cut, the guest network stayed up)")
        case (.staysOnSource, _), (.guestLost, _):
            // A failed migration must leave the source guest answering; gaps are reported, not judged.
            return Check(name: CheckName.pingContinuity, passed: true, evidence: gap + "; the guest answers again after the failure")
        }
    }

    /// A ping judged around a window in which the fault kept the guest from answering: the gap
    /// over the window is the fault's and must show (at least half of it), and may last the
    /// window plus the limit; every other gap is the migration's and meets the limit alone.
    /// `missing`: what it means when the window's gap does not show (`nil`: it need not show).
    private static func continuity(_ summary: String, gaps: [TimedSpan], window: (at: Double, milliseconds: Double), limit: Double,
                                   what: String, missing: String?) -> Check {
        let slack = 100.0 // the capture's and the run's clocks are aligned to a few ms
        let (at, length) = window
        let over = gaps.filter {
            $0.startOffsetMilliseconds <= at + length + slack && $0.startOffsetMilliseconds + $0.lengthMilliseconds >= at - slack
        }
        let windowGap = over.map(\.lengthMilliseconds).max() ?? 0
        let otherGap = gaps.filter { !over.contains($0) }.map(\.lengthMilliseconds).max() ?? 0
        let seen = missing == nil || windowGap >= length / 2
        let ok = seen && windowGap < length + limit && otherGap < limit
        return Check(name: CheckName.pingContinuity, passed: ok,
                     evidence: summary + "; \(what) at \(formatNumber(at)) ms for \(formatNumber(length)) ms: the gap over it "
                         + "\(formatNumber(windowGap)) ms (limit \(formatNumber(length)) + \(formatNumber(limit))), the longest other gap "
                         + "\(formatNumber(otherGap)) ms (limit \(formatNumber(limit)))"
                         + (seen ? "" : "; no gap of half the window over it: \(missing ?? "")"))
    }

    /// `guest-lost`: a scenario that loses the guest (a QEMU holding it died): it runs on
    /// neither host — the source's domain is gone, shut off or paused (not resumed on stale
    /// memory), the destination has none running — and the ping says when it stopped answering.
    public static func guestLost(_ o: Observation) -> Check {
        if let error = o.onSource.error ?? o.onDestination.error { return .notMeasured(CheckName.guestLost, because: error) }
        let runsSomewhere = o.onSource.isRunning || o.onDestination.isRunning
        var evidence = "source: \(o.onSource.description); destination: \(o.onDestination.description)"
        if o.ping.openEnded, let last = o.ping.gapsOnRunClock.last {
            evidence += "; the guest stopped answering at \(formatNumber(last.startOffsetMilliseconds)) ms and never answered again"
        } else if !o.ping.openEnded {
            evidence += "; the guest answered pings at the end of the run"
        }
        return Check(name: CheckName.guestLost, passed: !runsSomewhere && o.ping.openEnded,
                     evidence: runsSomewhere ? "the guest runs, although its QEMU died: " + evidence : evidence)
    }

    /// `migration-settings-restored`: after a failed migration, the source QEMU's migration
    /// capabilities and parameters are what they were before it. `nil` when they were not read.
    public static func migrationSettingsRestored(_ o: Observation) -> Check? {
        guard let settings = o.sourceMigrationSettings else { return nil }
        let before: QEMUMigrationSettings
        let after: QEMUMigrationSettings
        switch (settings.before, settings.after) {
        case (.notLooked(let reason), _):
            return .notMeasured(CheckName.migrationSettingsRestored, because: "not read before the migration: \(reason)")
        case (_, .notLooked(let reason)):
            return .notMeasured(CheckName.migrationSettingsRestored, because: "not read after the failure: \(reason)")
        case (.seen(let seenBefore), .seen(let seenAfter)):
            before = seenBefore
            after = seenAfter
        }
        let changed = after.differences(from: before)
        let on = after.capabilities.filter(\.value).keys.sorted()
        return Check(name: CheckName.migrationSettingsRestored, passed: changed.isEmpty,
                     evidence: changed.isEmpty
                         ? "query-migrate-capabilities and query-migrate-parameters on the source QEMU as before the migration (\(after.capabilities.count) capabilities, on: \(on.isEmpty ? "none" : on.joined(separator: ", ")); \(after.parameters.count) parameters)"
                         : "left set on the source QEMU after the failure: " + changed.joined(separator: "; "))
    }

    /// The checks whose data `o` lacks because a version before them stored it: `rejudge`
    /// leaves them out of a stored run that was never judged on them.
    public static func unrecorded(_ o: Observation) -> Set<String> {
        var names: Set<String> = []
        if o.placementTimeline == nil { names.insert(CheckName.noDualRunning) }
        if o.migrationStream == nil, o.parameters.migration.tls == true { names.insert(CheckName.streamEncrypted) }
        if o.migrationOptions == nil { names.insert(CheckName.bandwidthHonoured) }
        return names
    }

    /// `stream-encrypted`, for a run whose options ask for TLS (`nil` otherwise, and for a
    /// tunnelled run, whose stream never touches the migration ports): the capture of the
    /// destination's migration ports during the call saw at least one connection carrying
    /// data, every such connection began with a TLS handshake, and none began with QEMU's
    /// stream in clear (`QEVM`) or a multifd channel's magic. Without a capture it FAILs as
    /// not measured. `nil` too when nothing was sent: no connection carried data and libvirt
    /// reported no byte sent (a migration refused before its stream, e.g. prepare-fail); the
    /// note says so (``migrationStreamNote(_:)``).
    public static func streamEncrypted(_ o: Observation) -> Check? {
        let options = o.parameters.migration
        guard options.tls == true, options.tunnelled != true else { return nil }
        let name = CheckName.streamEncrypted
        guard let looked = o.migrationStream else {
            return .notMeasured(name, because: "the migration ports were not captured (stored before the check existed)")
        }
        let stream: MigrationStreamObservation
        switch looked {
        case .notLooked(let reason): return .notMeasured(name, because: "could not look at the wire: \(reason)")
        case .seen(let seen): stream = seen
        }
        let carrying = stream.carryingData
        guard !carrying.isEmpty else {
            guard let sent = migrationSent(o) else { return nil }
            return Check(name: name, passed: false,
                         evidence: "no connection to \(stream.portsDescription) carried data, though \(sent): "
                             + "the stream was not seen, so it is not shown to be encrypted (\(stream.coverage))")
        }
        // At least one connection carried data (above), every one began with TLS, none in clear.
        let clear = stream.connections.filter { $0.start.isClear }
        let notTLS = carrying.filter { $0.start != .tlsHandshake }
        let passed = notTLS.isEmpty && clear.isEmpty
        var problems: [String] = []
        if !clear.isEmpty {
            problems.append("in clear: " + clear.map { "\($0.start.shortName) on \($0.endpoints)" }.joined(separator: ", "))
        }
        let otherwise = notTLS.filter { !$0.start.isClear }
        if !otherwise.isEmpty {
            problems.append("not begun with a TLS handshake: " + otherwise.map { "\($0.endpoints) (\($0.start.phrase))" }.joined(separator: ", "))
        }
        let each = carrying.map(\.description).joined(separator: "; ")
        let connections = carrying.count == 1 ? "1 connection" : "\(carrying.count) connections"
        return Check(name: name, passed: passed,
                     evidence: (passed ? "\(connections) to \(stream.portsDescription) carried data, each began with a TLS handshake: "
                         : problems.joined(separator: "; ") + " (\(connections) carried data: ") + each
                         + (passed ? "" : ")") + "; \(stream.coverage)")
    }

    /// What libvirt said the migration sent, e.g. `libvirt sent 8388608 bytes` or `the
    /// migration completed` (`nil`: nothing: it did not complete and no job-stats reading
    /// showed a byte processed).
    static func migrationSent(_ o: Observation) -> String? {
        let processed = o.outcome.samples.compactMap(\.dataProcessedBytes).max() ?? 0
        if processed > 0 { return "libvirt sent \(processed) bytes" }
        return o.outcome.ending.migrated ? "the migration completed" : nil
    }

    /// What the capture of the migration ports showed, for a run `stream-encrypted` does not
    /// judge (a note; `nil` when it judges, or nothing was captured by this version): how each
    /// connection began (`stream in clear: QEVM on 198.18.0.1:41234→198.18.0.2:49152`), that
    /// a tunnelled stream has nothing there, that nothing was sent, or why it was not captured.
    public static func migrationStreamNote(_ o: Observation) -> String? {
        guard let looked = o.migrationStream else { return nil }
        let options = o.parameters.migration
        let seen: MigrationStreamObservation
        switch looked {
        case .notLooked(let reason):
            if options.tls == true, options.tunnelled != true { return nil }  // the check says why it could not look
            return "migration stream not captured: \(reason)"
        case .seen(let stream): seen = stream
        }
        if options.tunnelled == true {
            return "migration stream: tunnelled through the libvirt daemons' connection (VIR_MIGRATE_TUNNELLED), so nothing goes to "
                + "the migration ports and \(CheckName.streamEncrypted) is not judged; \(seen.carryingData.count) connections there carried data (\(seen.coverage))"
        }
        if options.tls == true {
            guard streamEncrypted(o) == nil else { return nil }
            return "\(CheckName.streamEncrypted) not judged: nothing was sent (no connection to \(seen.portsDescription) carried data and libvirt reported no byte sent)"
        }
        return seen.summary
    }

    /// `bandwidth-honoured` allows the limit plus this fraction of it and ``bandwidthSlackMiBPerSecond``.
    public static let bandwidthToleranceFraction = 0.10
    public static let bandwidthSlackMiBPerSecond = 1.0

    /// `bandwidth-honoured`: a migration with a bandwidth limit sent no faster than the limit
    /// (+ 10 % + 1 MiB/s) during pre-copy (``PreCopyTransfer``: the switch-over, which QEMU
    /// sends unlimited, is left out). `nil` without a limit, when nothing moved, or when under
    /// 1 s of pre-copy was sampled (too short to tell QEMU's bursts from its rate).
    public static func bandwidthHonoured(_ o: Observation) -> Check? {
        // An observation stored before the options were kept has only the parameters' limit.
        let options = o.migrationOptions ?? o.parameters.migration
        guard let limit = options.bandwidthMiBPerSecond, let transfer = PreCopyTransfer(outcome: o.outcome), transfer.isJudged else {
            return nil
        }
        let limitMiBPerSecond = Double(limit)
        let allowed = limitMiBPerSecond * (1 + bandwidthToleranceFraction) + bandwidthSlackMiBPerSecond
        let rate = transfer.mibPerSecond
        let passed = rate <= allowed
        let whose = o.parameters.migration.bandwidthMiBPerSecond == nil ? " (the scenario's, for its mid-stream fault)" : ""
        let measured = "\(oneDecimal(rate)) MiB/s over \(oneDecimal(transfer.windowMilliseconds / 1000)) s of pre-copy"
        return Check(name: CheckName.bandwidthHonoured, passed: passed,
                     evidence: (passed ? "\(measured) against a \(limit) MiB/s limit\(whose)"
                         : "\(measured) exceeds the \(limit) MiB/s limit\(whose)")
                         + " (\(transfer.description); allowed at most \(oneDecimal(allowed)) MiB/s: the limit + "
                         + "\(formatNumber(bandwidthToleranceFraction * 100)) % + \(formatNumber(bandwidthSlackMiBPerSecond)) MiB/s)")
    }

    /// `guest-freeze` allows the longer of libvirt's downtime and the pings' longest gap plus
    /// this fraction of it and ``guestFreezeSlackMilliseconds``.
    public static let guestFreezeToleranceFraction = 0.25
    public static let guestFreezeSlackMilliseconds = 20.0

    /// `guest-freeze`, for a run that landed with a downtime from libvirt (`nil` otherwise):
    /// the guest's own clock agrees with what was seen of its freeze from outside. A paused
    /// VM's clock stops, so the lag is the guest's own measure of how long it did not run. It
    /// may stand still no longer than the guest was seen not to run — the longer of libvirt's
    /// downtime and the pings' longest gap (at most), + 25 % + 20 ms: a frozen guest answers no
    /// ping — and must not run ahead of the host's clock by more than 20 ms. The lag's lower
    /// bound is judged against the allowance and its upper bound against running ahead, so a
    /// slow reply cannot fail it. On an idle lab the lag matches QEMU's downtime within a few
    /// ms; under load the destination's resume after QEMU's switch-over (libvirt's Finish)
    /// adds to it, and the evidence says by how much. FAILs as not measured when memeater's
    /// clock was not read around the call.
    public static func guestFreeze(_ o: Observation) -> Check? {
        guard o.expectation == .migrates, o.outcome.ending.migrated, o.outcome.postCopyStartedAtMilliseconds == nil,
              let downtime = o.libvirtDowntimeMilliseconds else { return nil }
        let name = CheckName.guestFreeze
        let lag: GuestClockLag
        switch o.memeater.duringMigration {
        case .seen(let during)?:
            guard let measured = during.guestClockLag else {
                return .notMeasured(name, because: during.guestClockMissingReason)
            }
            lag = measured
        case .notLooked(let reason)?:
            return .notMeasured(name, because: reason)
        case nil:
            return .notMeasured(name, because: "memeater's counter was not read around the call")
        }
        let pingGap = o.ping.received > 0 ? o.ping.longestGapUpperBoundMilliseconds : nil
        let seen = max(downtime, pingGap ?? 0)
        let allowed = seen * (1 + guestFreezeToleranceFraction) + guestFreezeSlackMilliseconds
        let tooLong = lag.lowerBoundMilliseconds > allowed
        let ahead = lag.upperBoundMilliseconds < -guestFreezeSlackMilliseconds
        let measured = "the guest's clock stood still \(formatNumber(lag.estimateMilliseconds)) ms "
            + "(\(formatNumber(lag.lowerBoundMilliseconds))–\(formatNumber(lag.upperBoundMilliseconds)) ms)"
        let outside = "libvirt's downtime \(formatNumber(downtime)) ms, the pings' longest gap "
            + (pingGap.map { "at most \(formatNumber($0)) ms" } ?? "not measured")
        var verdict: String
        if ahead {
            verdict = measured + ": the guest's clock ran ahead of the host's"
        } else if tooLong {
            verdict = measured + ", longer than it was seen not to run (\(outside))"
        } else {
            verdict = measured + " against \(outside)"
        }
        let beyondDowntime = lag.lowerBoundMilliseconds - (downtime * (1 + guestFreezeToleranceFraction) + guestFreezeSlackMilliseconds)
        if !ahead, !tooLong, beyondDowntime > 0 {
            verdict += "; at least \(formatNumber(lag.lowerBoundMilliseconds - downtime)) ms beyond libvirt's downtime: the destination's resume after QEMU's switch-over"
        }
        return Check(name: name, passed: !tooLong && !ahead,
                     evidence: verdict + " (allowed \(formatNumber(-guestFreezeSlackMilliseconds)) to \(formatNumber(allowed)) ms: the longer of the two + "
                         + "\(formatNumber(guestFreezeToleranceFraction * 100)) % + \(formatNumber(guestFreezeSlackMilliseconds)) ms; "
                         + "memeater's monotonic clock against the run clock just before the call and right after it)")
    }

    /// At least this many samples of both hosts must be read for `no-dual-running` (one
    /// before the migration call and one after the hosts were looked at, at the least).
    public static let dualRunningSamplesNeeded = 2

    /// `no-dual-running`: the guest never ran on both hosts at once. The sampler read both
    /// daemons' domain state from before the migration call until after it (a sample counts
    /// only when the source ran both before and after the destination's read), and the ping
    /// capture has no duplicate replies (the wire's evidence of two running copies).
    public static func noDualRunning(_ o: Observation) -> Check {
        let name = CheckName.noDualRunning
        guard let timeline = o.placementTimeline else { return .notMeasured(name, because: "not sampled (stored before the check existed)") }
        guard let duplicates = o.ping.duplicates, o.ping.sent > 0 else {
            return .notMeasured(name, because: "no ping data to look for duplicate replies in")
        }
        let callStart = o.outcome.startedAtMilliseconds
        let callEnd = callStart + o.outcome.wallMilliseconds
        let failed = "\(timeline.failedReadCount) failed reads" + (timeline.lastFailure.map { " (last: \($0))" } ?? "")
        guard timeline.sampleCount >= dualRunningSamplesNeeded, let first = timeline.firstSampleMilliseconds,
              let last = timeline.lastSampleMilliseconds else {
            return .notMeasured(name, because: "\(timeline.sampleCount) samples of both hosts' domain state read, \(failed)")
        }
        let sampled = "\(timeline.sampleCount) samples of both hosts' domain state from \(formatNumber(first)) to \(formatNumber(last)) ms "
            + "(the call ran \(formatNumber(callStart))-\(formatNumber(callEnd)) ms; every \(formatNumber(timeline.intervalMilliseconds)) ms), \(failed)"
        guard first <= callStart, last >= callEnd else {
            return .notMeasured(name, because: sampled + ": the samples do not span the migration call")
        }
        let wire = "\(duplicates) duplicate ping replies in \(o.ping.sent) probes"
        var problems: [String] = []
        if !timeline.overlaps.isEmpty {
            problems.append("the guest ran on both hosts: " + timeline.overlaps.map { window in
                "\(formatNumber(window.startMilliseconds))-\(formatNumber(window.endMilliseconds)) ms (\(window.sampleCount) samples: "
                    + window.states.joined(separator: "; ") + ")"
            }.joined(separator: ", "))
        }
        if duplicates > 0 { problems.append(wire + ": two copies answered") }
        return Check(name: name, passed: problems.isEmpty,
                     evidence: problems.isEmpty ? "on one host at a time: " + sampled + "; " + wire
                         : problems.joined(separator: "; ") + " (" + sampled + (duplicates > 0 ? "" : "; " + wire) + ")")
    }

    /// `control-connection`: memeater's control connection survived the move (or a new one answered).
    public static func controlConnection(_ o: Observation) -> Check {
        Check(name: CheckName.controlConnection, passed: o.memeater.statsAfter != nil, evidence: o.memeater.connection)
    }

    /// `memory-integrity`: memeater verified every page after the migration and found none stale.
    public static func memoryIntegrity(_ o: Observation) -> Check {
        guard o.memeater.statsAfter != nil else {
            return .notMeasured(CheckName.memoryIntegrity, because: "memeater cannot be reached: \(o.memeater.connection)")
        }
        switch o.memeater.verification {
        case .notLooked(let reason): return .notMeasured(CheckName.memoryIntegrity, because: reason)
        case .seen(let report):
            let whileDirtying = o.memeater.errorsWhileDirtying
            let total = Int(report.badPagesTotal) + whileDirtying
            let first = report.badPages.prefix(3).map { "page \($0.page) expected generation \($0.expectedGeneration) found \($0.foundGeneration)" }
            return Check(name: CheckName.memoryIntegrity, passed: total == 0 && report.pagesChecked > 0,
                         evidence: "verify-all checked \(report.pagesChecked) pages in \(formatNumber(report.elapsedMilliseconds)) ms: \(report.badPagesTotal) bad; \(whileDirtying) found while dirtying"
                             + (first.isEmpty ? "" : "; " + first.joined(separator: "; ")))
        }
    }

    /// `no-reboot`: the same boot and the same memeater process, and the guest's uptime grew.
    public static func noReboot(_ o: Observation) -> Check {
        guard o.memeater.statsAfter != nil else { return .notMeasured(CheckName.noReboot, because: "memeater cannot be reached") }
        let before = o.memeater.before
        switch o.memeater.infoAfter {
        case .notLooked(let reason): return .notMeasured(CheckName.noReboot, because: reason)
        case .seen(let after):
            let sameBoot = after.bootId != nil && after.bootId == before.bootId && after.pid == before.pid
            let uptimeGrew = (after.uptimeSeconds ?? 0) > (before.uptimeSeconds ?? .infinity)
            return Check(name: CheckName.noReboot, passed: sameBoot && uptimeGrew,
                         evidence: "boot id \(before.bootId ?? "?") -> \(after.bootId ?? "?"), memeater pid \(before.pid) -> \(after.pid), uptime \(formatNumber(before.uptimeSeconds ?? -1)) s -> \(formatNumber(after.uptimeSeconds ?? -1)) s")
        }
    }

    /// `guest-console`: no panic, Oops or BUG on the console. `nil` when the console cannot
    /// be read: nothing was looked at, so it is reported (a note), not passed.
    public static func guestConsole(_ o: Observation) -> Check? {
        guard case .read(let count, let bad) = o.console else { return nil }
        return Check(name: CheckName.guestConsole, passed: bad.isEmpty,
                     evidence: bad.isEmpty ? "no panic, Oops or BUG in \(count) new console lines"
                         : "\(bad.count) failure lines: " + bad.prefix(3).joined(separator: " | "))
    }

    /// `landing-intact`: the landing judged on three signals together (a guest that lost
    /// pages often dies before memeater can report): memeater's integrity check, the
    /// console, and whether the guest still runs on the destination and answers at the end.
    public static func landingIntact(_ o: Observation) -> Check {
        var good: [String] = []
        var reasons: [String] = []
        switch o.memeater.integrityErrors {
        case 0?: good.append("integrity: 0 stale pages")
        case let count?: reasons.append("stale pages: \(count) (integrityErrors)")
        case nil: reasons.append("integrity not measured (memeater did not answer)")
        }
        switch o.console {
        case .unreadable: good.append("console: not readable")
        case .read(_, let lines) where lines.isEmpty: good.append("console: no panic, Oops or BUG")
        case .read(_, let lines): reasons.append("console: " + lines.prefix(3).joined(separator: " | "))
        }
        let state = o.onDestination.description
        switch (o.onDestination.isRunning, o.answersAtEnd) {
        case (true, .seen(true)?): good.append("answers: \(state), replied to a ping at the end")
        case (true, .notLooked(let reason)?): reasons.append("guest dead/unreachable: \(state), \(reason)")
        case (true, _): reasons.append("guest dead/unreachable: \(state), no reply to a ping at the end")
        case (false, _): reasons.append("guest dead/unreachable: \(state)")
        }
        return Check(name: CheckName.landingIntact, passed: reasons.isEmpty,
                     evidence: reasons.isEmpty ? good.joined(separator: "; ")
                         : reasons.joined(separator: "; ") + (good.isEmpty ? "" : " (held: " + good.joined(separator: "; ") + ")"))
    }

    private static func waited(_ seconds: Double, passed: Bool) -> String {
        guard seconds >= 0.5 else { return "" }
        return passed ? " (after \(formatNumber(seconds)) s)" : " (still so after \(formatNumber(seconds)) s)"
    }
}
