import Foundation
import Lab
import Libvirt
import MemeaterKit
import PingMonitor

/// Where the guest and the hosts were found after the migration.
struct Placement {
    var onSource: DomainSighting
    var sourceWaitedSeconds: Double
    var onDestination: DomainSighting
    var sourceHost: Looked<HostSnapshot>
    var destinationHost: Looked<HostSnapshot>
    var hostsWaitedSeconds: Double
    var faultFindings: FaultFindings?
}

extension ScenarioRunner {
    /// Looks at everything the checks judge, after the migration call returned and the
    /// fault was lifted: where the guest runs, what the hosts have (waiting for libvirt's
    /// asynchronous clean-up), memeater's verification, the console, the fault's evidence;
    /// `placement` samples until the hosts were looked at.
    func gather(_ leg: Leg, driven: Driven, fault: any Fault, context: FaultContext, baseline: LegBaseline, load: Load,
                ping report: PingReport, placement sampler: PlacementSampler) throws(VerifierError) -> Gathered {
        let captureStart = Double(report.analysis.startEpochNanoseconds) / 1e6 - leg.clock.startedAt.timeIntervalSince1970 * 1000
        var ping = PingSummary(report)
        ping.gapsOnRunClock = report.analysis.gaps.map {
            TimedSpan(startOffsetMilliseconds: captureStart + $0.startOffsetMilliseconds, lengthMilliseconds: $0.lengthMilliseconds)
        }
        // Fresh connections: the ones used for the migration may have crossed a cut link,
        // been closed by libvirt's keepalive, or lost their daemon (a fault killed it).
        let source = try testbed.connect(leg.endpoints.sourceURI)
        let destination = try testbed.connect(leg.endpoints.destinationURI)
        sampler.follow(source: source, destination: destination)
        recorder.record(.phase(.lookingAtHosts))
        let placement = lookAtHosts(leg, driven: driven, fault: fault, context: context, baseline: baseline, source: source,
                                    destination: destination)
        let timeline = sampler.stop()
        recorder.record(.phase(.lookingAtGuest))
        var memeater = driven.expectation == .guestLost ? MemeaterObservation(lostGuestBefore: load.infoBefore)
            : observeMemeater(load.control, before: load.infoBefore)
        memeater.integrityErrorsBefore = load.integrityErrorsBefore
        memeater.duringMigration = driven.guestLoad
        let console = ConsoleObservation(text: testbed.console(since: baseline.consoleMark), unavailable: baseline.consoleMark.unavailable)
        let answersAtEnd: Looked<Bool>? = driven.expectation != .migrates ? nil
            : !placement.onDestination.isRunning ? .seen(false)
            : look { () throws(VerifierError) in try testbed.guestAnswersEcho() }
        var observation = Observation(
            expectation: driven.expectation, parameters: leg.parameters,
            call: leg.parameters.migration.mode == .peerToPeer ? "virDomainMigrateToURI3 (p2p)" : "virDomainMigrate3 (client-managed)",
            outcome: driven.outcome, onSource: placement.onSource, sourceWaitedSeconds: placement.sourceWaitedSeconds,
            onDestination: placement.onDestination, sourceHost: placement.sourceHost, destinationHost: placement.destinationHost,
            hostsWaitedSeconds: placement.hostsWaitedSeconds, destinationInterfacesBefore: driven.interfacesBefore,
            sourceTaps: baseline.facts.sourceTaps, faultFindings: placement.faultFindings, ping: ping, memeater: memeater,
            console: console, answersAtEnd: answersAtEnd, fault: fault.evidence(context, outcome: driven.outcome),
            didNotConverge: driven.didNotConverge, timeoutIsResult: leg.policy.nonConvergenceIsResult, placementTimeline: timeline,
            migrationStream: driven.migrationStream, migrationOptions: driven.plan.options)
        observation.destinationEchoes = driven.destinationEchoes
        observation.destinationDomainBefore = driven.destinationDomainBefore
        if let before = driven.settingsBefore, driven.expectation == .staysOnSource {
            observation.sourceMigrationSettings = MigrationSettingsObservation(
                before: before, after: settings(of: leg.endpoints.domainName, on: source, sighting: placement.onSource))
        }
        return Gathered(observation: observation, destination: destination, captureStartMilliseconds: captureStart)
    }

    /// Where the guest runs (after a failed job QEMU may need a moment to resume the vCPUs),
    /// and the hosts, until libvirt's clean-up is done or the plan's wait is over.
    private func lookAtHosts(_ leg: Leg, driven: Driven, fault: any Fault, context: FaultContext, baseline: LegBaseline,
                             source: any Hypervisor, destination: any Hypervisor) -> Placement {
        let name = leg.endpoints.domainName
        let clock = leg.clock
        var onSource = sighting(name, on: source)
        let sourceWait = clock.milliseconds()
        if driven.expectation == .staysOnSource {
            while !onSource.isRunning, clock.milliseconds() - sourceWait < 10_000 {
                Thread.sleep(forTimeInterval: pauses.hostLookSeconds)
                onSource = sighting(name, on: source)
            }
        }
        var placement = Placement(onSource: onSource, sourceWaitedSeconds: 0, onDestination: sighting(name, on: destination),
                                  sourceHost: .notLooked("not needed"), destinationHost: .notLooked("not needed"), hostsWaitedSeconds: 0)
        if driven.expectation == .staysOnSource { placement.sourceWaitedSeconds = (clock.milliseconds() - sourceWait) / 1000 }
        let hostWait = clock.milliseconds()
        while true {
            placement.onDestination = sighting(name, on: destination)
            placement.faultFindings = fault.findings(context)
            let settled: Bool
            switch driven.expectation {
            case .migrates:
                placement.sourceHost = snapshot(baseline.sourceHost, role: .source, domainName: name)
                settled = Checks.sourceHostClean(host: placement.sourceHost, taps: baseline.facts.sourceTaps, domainName: name,
                                                 waitedSeconds: 0).passed
            case .staysOnSource:
                placement.destinationHost = withOtherGuests(snapshot(baseline.destinationHost, role: .destination, domainName: name), on: destination,
                                                           host: baseline.destinationHost)
                settled = Checks.destinationHostClean(sighting: placement.onDestination, host: placement.destinationHost,
                                                      interfacesBefore: driven.interfacesBefore,
                                                      occupant: placement.faultFindings?.destinationDomain, domainName: name,
                                                      waitedSeconds: 0, domainBefore: driven.destinationDomainBefore).passed
                    && Checks.migrationPortFree(host: placement.destinationHost, waitedSeconds: 0).passed
            case .guestLost:
                // Both hosts: what the lost guest leaves on the source is the fault's to judge.
                placement.onSource = sighting(name, on: source)
                placement.sourceHost = snapshot(baseline.sourceHost, role: .source, domainName: name)
                placement.destinationHost = withOtherGuests(snapshot(baseline.destinationHost, role: .destination, domainName: name), on: destination,
                                                           host: baseline.destinationHost)
                settled = Checks.destinationHostClean(sighting: placement.onDestination, host: placement.destinationHost,
                                                      interfacesBefore: driven.interfacesBefore, occupant: nil, domainName: name,
                                                      waitedSeconds: 0, domainBefore: driven.destinationDomainBefore).passed
                    && Checks.migrationPortFree(host: placement.destinationHost, waitedSeconds: 0).passed
            }
            if settled || clock.milliseconds() - hostWait >= (pauses.cleanUpWaitSeconds ?? driven.plan.cleanUpWaitSeconds) * 1000 { break }
            Thread.sleep(forTimeInterval: pauses.hostLookSeconds)
        }
        placement.hostsWaitedSeconds = (clock.milliseconds() - hostWait) / 1000
        return placement
    }

    /// `snapshot` with the interfaces of the evacuation's other guests that run on `daemon`
    /// now (their live XML's interface targets) and the migration ports their QEMUs listen on
    /// `host`; unchanged in a run of one guest.
    private func withOtherGuests(_ snapshot: Looked<HostSnapshot>, on daemon: any Hypervisor, host: (any HostShell)?) -> Looked<HostSnapshot> {
        guard !otherGuests.isEmpty, case .seen(var seen) = snapshot else { return snapshot }
        var unread: [String] = []
        var interfaces = Set<String>()
        for other in otherGuests {
            do {
                // A guest that is not there has no interface to leave out.
                guard let domain = try daemon.guestDomain(named: other) else { continue }
                interfaces.formUnion(try DomainDescription(xml: domain.liveXML()).interfaceTargets)
            } catch {
                unread.append("\(other)'s interfaces on \(daemon.uri): \(error)")
            }
        }
        seen.otherGuestsInterfaces = interfaces
        var ports: [Int] = []
        if !seen.listeningMigrationPorts.isEmpty, let host {
            // Their QEMUs by process id: a port no other guest's QEMU holds stays this guest's to answer for.
            var theirs = Set<Int32>()
            for other in otherGuests {
                do {
                    theirs.formUnion(try host.qemuProcesses(domainName: other).map(\.pid))
                } catch {
                    unread.append("\(other)'s QEMUs on \(seen.hostName): \(error)")
                }
            }
            do {
                let owners = try host.listeningPortOwners(in: Self.migrationPorts)
                ports = owners.filter { !$0.value.isEmpty && $0.value.isSubset(of: theirs) }.map(\.key).sorted()
            } catch {
                unread.append("the migration ports' owners on \(seen.hostName): \(error)")
            }
        }
        seen.otherGuestsUnread = unread.isEmpty ? nil : unread
        seen.otherGuestsListeningPorts = ports
        return .seen(seen)
    }

    func sighting(_ name: String, on daemon: any Hypervisor) -> DomainSighting {
        do {
            guard let domain = try daemon.guestDomain(named: name) else {
                return DomainSighting(uri: daemon.uri, name: name, state: nil)
            }
            return DomainSighting(uri: daemon.uri, name: name, state: try domain.state())
        } catch {
            return DomainSighting(uri: daemon.uri, name: name, state: nil, error: "\(error)")
        }
    }

    /// QEMU's migration settings of the guest on the source after the failure (asked through
    /// the monitor whenever its QEMU is there, running or paused: a gone one has none).
    private func settings(of name: String, on source: any Hypervisor, sighting: DomainSighting) -> Looked<QEMUMigrationSettings> {
        guard sighting.state?.isActive == true else { return .notLooked("the guest has no QEMU on the source: \(sighting.description)") }
        do {
            guard let domain = try source.guestDomain(named: name) else { return .notLooked("no domain \(name) on \(source.uri)") }
            return migrationSettings(of: domain)
        } catch {
            return .notLooked(VerifierError.wrap(error, step: "look up \(name) on \(source.uri)").description)
        }
    }

    /// The host's QEMU processes of the guest, interfaces and migration-port listeners.
    private func snapshot(_ host: (any HostShell)?, role: HostRole, domainName: String) -> Looked<HostSnapshot> {
        guard let host else {
            return .notLooked("no shell on the \(role.rawValue) host to look at its processes and interfaces: use a qemu+ssh:// URI or --\(role == .source ? "source" : "dest")-ssh USER@HOST")
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
    private func observeMemeater(_ memeater: any MemeaterControl, before: ControlInfo) -> MemeaterObservation {
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
            recorder.record(.phase(.verifyingMemory))
            verification = .seen(try client.verifyAll())
            infoAfter = .seen(try client.info())
        } catch {
            verification = .notLooked("\(error)")
            infoAfter = .notLooked("\(error)")
        }
        return MemeaterObservation(before: before, connection: connection, statsAfter: statsAfter, verification: verification,
                                   infoAfter: infoAfter)
    }
}
