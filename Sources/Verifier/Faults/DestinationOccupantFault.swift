import Foundation
import Lab
import Libvirt
import Synchronization

/// dst-already-active: a small transient domain with the guest's name already runs on the
/// destination, so Prepare must refuse the migration; the guest stays on the source and that
/// domain must be untouched (same UUID, id, QEMU process, still running). It is destroyed
/// afterwards.
public final class DestinationOccupantFault: Fault {
    public static let scenario = ScenarioKind.dstAlreadyActive
    public static let summary = "a domain of the guest's name already runs on the destination and must be untouched"
    public static let expectation = ExpectedOutcome.staysOnSource
    /// RAM of the stand-in domain, in MiB.
    public static let memoryMiB = 160
    /// Its MAC (not the guest's: the switch must keep sending the guest's traffic to the source).
    public static let macAddress = "52:54:00:c6:12:0b"
    /// Its tap (not the guest's: `destination-host-clean` looks for the guest's tap).
    public static let tapName = "labocc0"

    private struct State {
        var domain: (any HypervisorDomain)?
        var before: OccupantSnapshot?
        var journalID: String?
        var removal: (removed: Bool, note: String)?
    }

    private let state = Mutex(State())

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? {
        FaultNeeds.lab(testbed, "it starts a second domain of the guest's name on the destination from the lab's scratch image; on real hosts that would run a second copy of the guest on its disk")
            ?? FaultNeeds.destinationShell(testbed)
    }

    /// The stand-in domain as it was when the migration was called, and as it is now.
    public func findings(_ context: FaultContext) -> FaultFindings? {
        guard let before = state.withLock({ $0.before }) else { return nil }
        let after = OccupantSnapshot.take(destination: context.destination, inspector: context.destinationHost,
                                          name: context.parameters.endpoints.domainName)
        return FaultFindings(destinationDomain: OccupantObservation(before: before, after: after))
    }

    /// `destination-domain-untouched`, when the stand-in ran before the migration.
    public static func checks(_ observation: Observation) -> [Check] {
        guard let domain = observation.faultFindings?.destinationDomain else { return [] }
        return [untouchedCheck(before: domain.before, after: domain.after)]
    }

    /// The `destination-domain-untouched` check: `after` must be the same domain (UUID, id,
    /// QEMU process) and still running.
    public static func untouchedCheck(before: OccupantSnapshot, after: OccupantSnapshot?) -> Check {
        guard let after else {
            return Check(name: CheckName.destinationDomainUntouched, passed: false,
                         evidence: "the domain that ran on the destination before (\(before)) is gone")
        }
        var problems: [String] = []
        if after.uuid != before.uuid { problems.append("UUID \(before.uuid) -> \(after.uuid)") }
        if after.id != before.id { problems.append("id \(before.id.map(String.init) ?? "none") -> \(after.id.map(String.init) ?? "none")") }
        if after.state.state != .running { problems.append("now \(after.state)") }
        if after.qemuProcessIDs != before.qemuProcessIDs {
            problems.append("qemu \(before.qemuProcessIDs.map(String.init).joined(separator: ",")) -> \(after.qemuProcessIDs.map(String.init).joined(separator: ","))")
        }
        return Check(name: CheckName.destinationDomainUntouched, passed: problems.isEmpty,
                     evidence: problems.isEmpty ? "same domain before and after, still running: \(after)"
                         : "changed: " + problems.joined(separator: "; "))
    }

    public func install(_ context: FaultContext) throws(VerifierError) {
        guard let lab = context.testbed.lab, let inspector = context.destinationHost else {
            throw .invalidOptions("--scenario \(Self.scenario.rawValue) \(Self.refusal(on: context.testbed) ?? "needs the lab")")
        }
        let configuration = lab.configuration
        let step = "start a domain named \(configuration.guestName) on \(configuration.destination.name) (dst-already-active)"
        guard let record = lab.currentRecord(), let guest = record.guest(named: configuration.guestName) else {
            throw .environment("\(step): the lab has no guest record")
        }
        var definition = lab.guestDefinition(image: guest.image, memoryMiB: Self.memoryMiB, memeaterSizeMiB: 16,
                                             emulatorPath: record.emulatorPath, accelerator: record.accelerator.accelerator)
        definition.kernelArguments = []
        definition.image.diskPath = nil  // never share the guest's disk
        definition.macAddress = Self.macAddress
        definition.tapName = Self.tapName
        definition.consoleLogPath = "\(configuration.stateDirectory)/guests/\(configuration.guestName).dst-occupant.console.log"
        let domain: any HypervisorDomain
        do {
            domain = try context.destination.startTransientDomain(xml: definition.xml())
            let uuid = try domain.uuidString()
            let journalID = try context.journal.add(
                scenario: Self.scenario,
                fault: .standInDomain(uri: context.parameters.endpoints.destinationURI, uuid: uuid, name: configuration.guestName),
                namespace: configuration.destination.namespace)
            state.withLock { $0.domain = domain; $0.journalID = journalID }
        } catch {
            remove(context)
            throw VerifierError.wrap(error, step: step)
        }
        Thread.sleep(forTimeInterval: 1)
        guard let before = OccupantSnapshot.take(destination: context.destination, inspector: inspector, name: configuration.guestName),
              before.state.state == .running else {
            remove(context)
            throw .environment("\(step): it did not stay running")
        }
        state.withLock { $0.before = before }
        context.recorder.record(.step("dst-already-active: \(configuration.guestName) runs on \(configuration.destination.name): \(before)"))
    }

    /// Destroys the stand-in (transient: destroying removes it) and checks that no domain of
    /// its UUID is left on the destination; idempotent.
    public func remove(_ context: FaultContext) {
        let (domain, journalID, done) = state.withLock { ($0.domain, $0.journalID, $0.removal) }
        guard let domain, done?.removed != true else { return }
        let name = context.parameters.endpoints.domainName
        var note: String
        do {
            if try domain.isActive() { try domain.destroy() }
            note = "destroyed the pre-existing domain"
        } catch let error as LibvirtError where error.kind == .noDomain {
            note = "the pre-existing domain was already gone"
        } catch {
            note = "could not destroy the pre-existing domain: \(error)"
        }
        let removed: Bool
        do {
            let ours = try domain.uuidString()
            if let left = try context.destination.guestDomain(named: name), try left.uuidString() == ours, try left.isPersistent() {
                try left.removeDefinition()
            }
            let remaining = try context.destination.guestDomain(named: name)?.uuidString()
            removed = remaining != ours
            note += removed ? "; none of it left on \(context.destination.uri)" : "; a domain \(name) with its uuid is STILL on \(context.destination.uri)"
        } catch {
            // Not looked at is not removed: the journal keeps it for the next start.
            removed = false
            note += "; cannot tell whether it is gone from \(context.destination.uri): \(error)"
        }
        state.withLock { $0.removal = (removed, note) }
        if removed, let journalID { context.journal.strike(journalID) }
    }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        remove(context)
        let (before, removal) = state.withLock { ($0.before, $0.removal) }
        return Self.judge(before: before, ending: outcome.ending, removal: removal)
    }

    /// Acted when the stand-in domain ran on the destination when the migration was called;
    /// the error is this fault's when Prepare refused a domain that is already active.
    public static func judge(before: OccupantSnapshot?, ending: MigrationEnding, removal: (removed: Bool, note: String)?) -> FaultEvidence {
        var refused = false
        if case .failed(let message, let kind) = ending {
            // Not any VIR_ERR_OPERATION_INVALID: "domain is not running" is another failure.
            refused = kind == .domainExists || message.localizedCaseInsensitiveContains("already")
        }
        let acted = before?.state.state == .running
        return FaultEvidence(
            scenario: scenario, acted: acted,
            evidence: before.map { "a domain of the guest's name ran on the destination when the migration was called: \($0)" }
                ?? "no domain of the guest's name ran on the destination",
            errorAsExpected: refused,
            errorEvidence: refused ? "libvirt: \(ending.summary)" : "expected Prepare to refuse a domain that is already active; got \(ending.summary)",
            removed: removal?.removed ?? false, removalEvidence: removal?.note ?? "the stand-in domain was never removed")
    }
}

extension OccupantSnapshot {
    /// The identity of the domain named `name` on the destination now, if any.
    public static func take(destination: any Hypervisor, inspector: (any HostShell)?, name: String) -> OccupantSnapshot? {
        guard let domain = try? destination.guestDomain(named: name),
              let uuid = try? domain.uuidString(), let state = try? domain.state() else { return nil }
        return OccupantSnapshot(uuid: uuid, id: domain.id(), state: state,
                                qemuProcessIDs: ((try? inspector?.qemuProcessIDs(domainName: name)) ?? []).sorted())
    }
}

extension ScenarioKind {
    /// A domain with the guest's name already runs on the destination; it must be untouched.
    public static let dstAlreadyActive = ScenarioKind(declaring: "dst-already-active")
}
