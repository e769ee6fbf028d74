import Foundation
import Lab
import Libvirt
import MigrationModel
import Synchronization

/// finish-fail: every page arrives, and the destination fails in Finish — before it resumes
/// the guest. The migration is made persistent on the destination (`VIR_MIGRATE_PERSIST_DEST`),
/// and a directory stands where the destination daemon saves the domain's definition
/// (`/etc/libvirt/qemu/NAME.xml`), so that the save fails. By the seed's rule the guest must
/// then run on the source, not paused, with its memory intact, and the destination hold
/// nothing.
///
/// Why this hits Finish and nothing else (libvirt's `src/qemu/qemu_migration.c`): the
/// definition is saved only in the destination's Finish, after QEMU reported the incoming
/// migration completed (`qemuMigrationDstFinishFresh` → `qemuMigrationDstPersist` →
/// `virDomainDefSave`, whose `virFileRewrite` cannot rename `NAME.xml.new` onto a
/// directory). With the v3 protocol a failed persist fails Finish ("the source VM is still
/// available to restart during confirm() step, so we kill it off now"): the incoming QEMU is
/// killed and the transient domain removed. The source's `qemuMigrationSrcPerformPeer2Peer3`
/// keeps Finish3's error and calls Confirm3 with `cancelled`, and
/// `qemuMigrationSrcConfirmPhase` → `qemuMigrationSrcRestoreDomainState` resumes the guest,
/// which the switch-over had paused. The evidence that the fault landed in Finish and not in
/// Perform: the source's `suspended (migrated)` event — QEMU stopped the vCPUs for the
/// switch-over, which comes only after every pass was sent — before the call failed, and the
/// error naming the definition file, which only Finish writes.
public final class FinishFailFault: Fault {
    public static let scenario = ScenarioKind.finishFail
    public static let summary = "the destination fails in Finish, after every page arrived (its save of the persistent definition is blocked); the guest must run on the source, not paused, intact, and the destination hold nothing"
    public static let expectation = ExpectedOutcome.staysOnSource

    /// What the fault put in the destination's way.
    public struct Blocker: Sendable, Equatable {
        /// The directory made where the definition would be saved (the host's own path).
        public var path: String
        /// Why it could not be made (`nil`: it was).
        public var error: String?

        public init(path: String, error: String? = nil) {
            self.path = path
            self.error = error
        }
    }

    private struct State {
        var blocker: Blocker?
        var journalID: String?
        var removal: (removed: Bool, evidence: String)?
    }

    private let state = Mutex(State())

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? { FaultNeeds.destinationShell(testbed) }

    /// Where the destination daemon saves a persistent definition of `domainName`, as the
    /// host's shell sees it: the lab's per-host `etc/qemu` (bind-mounted over
    /// `/etc/libvirt` for its daemon only), libvirt's `/etc/libvirt/qemu` on real hosts.
    static func definitionPath(domainName: String, testbed: any Testbed) -> String {
        let directory = testbed.lab.map { "\($0.configuration.hostDirectory($0.configuration.destination))/etc/qemu" } ?? "/etc/libvirt/qemu"
        return "\(directory)/\(domainName).xml"
    }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        plan.options.persistOnDestination = true
        plan.notes.append("persistent on the destination (VIR_MIGRATE_PERSIST_DEST), so that Finish saves the definition; a directory stands in its place")
    }

    public func install(_ context: FaultContext) throws(VerifierError) {
        guard let host = context.destinationHost else {
            throw .invalidOptions("--scenario \(Self.scenario.rawValue) \(FaultNeeds.destinationShell(context.testbed) ?? "needs a shell on the destination")")
        }
        let path = Self.definitionPath(domainName: context.parameters.endpoints.domainName, testbed: context.testbed)
        let quoted = shellQuoted(path)
        let journalID = try context.journal.add(
            scenario: Self.scenario, fault: .definitionBlocker(host: JournaledHost(host), path: path),
            namespace: context.testbed.lab?.configuration.destination.namespace)
        state.withLock { $0.journalID = journalID }
        do {
            // A definition already there is the user's: never replace it.
            // libvirt makes its configuration directory when it first saves a definition: so may we.
            try host.run("if [ -e \(quoted) ]; then echo \"\(path) exists: the destination has a definition of the domain\" >&2; exit 1; fi; "
                         + "mkdir -p \(shellQuoted((path as NSString).deletingLastPathComponent)) && mkdir \(quoted)",
                         step: "block the destination's definition file")
            state.withLock { $0.blocker = Blocker(path: path) }
        } catch {
            state.withLock {
                $0.blocker = Blocker(path: path, error: error.description)
                // Nothing was made: the entry would remove the user's file's directory namesake, if any.
                context.journal.strike(journalID)
                $0.journalID = nil
            }
            throw error
        }
    }

    public func afterMigration(_ context: FaultContext, outcome: MigrationOutcome) { remove(context) }

    public func remove(_ context: FaultContext) {
        state.withLock { current in
            guard let journalID = current.journalID, let blocker = current.blocker, blocker.error == nil,
                  let host = context.destinationHost else { return }
            let quoted = shellQuoted(blocker.path)
            do {
                try host.run("rmdir \(quoted) && ! [ -e \(quoted) ]", step: "remove the blocking directory")
                context.journal.strike(journalID)
                current.journalID = nil
                current.removal = (true, "directory \(blocker.path) removed from \(host.hostName)")
            } catch {
                current.removal = (false, "directory \(blocker.path) not removed from \(host.hostName): \(error)")
            }
        }
    }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        remove(context)
        let (blocker, removal) = state.withLock { ($0.blocker, $0.removal) }
        return Self.judge(blocker, events: context.lifecycleEvents(), outcome: outcome,
                          domainName: context.parameters.endpoints.domainName, removal: removal)
    }

    /// Acted when the definition's place was blocked and the source paused for the
    /// switch-over (`suspended (migrated)`) before the call returned: the failure came
    /// after every page was sent. Without that event the failure came in Perform (or could
    /// not be placed), and `fault-acted` fails. The error is this fault's when the call failed
    /// naming the definition file (`NAME.xml`). The guest network was not touched, but the
    /// source kept the guest paused from the switch-over until Confirm resumed it (events):
    /// the gap over that pause may last the pause plus the limit, every other gap the limit
    /// (without the resume event, every gap is held to the limit).
    public static func judge(_ blocker: Blocker?, events: [SeenDomainEvent], outcome: MigrationOutcome, domainName: String,
                             removal: (removed: Bool, evidence: String)?) -> FaultEvidence {
        let file = "\(domainName).xml"
        var errorAsExpected = false
        if case .failed(let message, _) = outcome.ending { errorAsExpected = message.contains(file) }
        let errorEvidence = errorAsExpected ? "libvirt: \(outcome.ending.summary)"
            : "expected the call to fail on saving the definition \(file) in Finish; got \(outcome.ending.summary)"
        let returned = outcome.endedAtMilliseconds
        let switchOver = events.first(from: .source, .suspended, detail: LifecycleEventDetail.suspendedMigrated,
                                      within: -Double.infinity...returned)
        let stopped = events.first(from: .destination, .stopped, detail: LifecycleEventDetail.stoppedFailed)
        var evidence: String
        switch blocker {
        case nil: evidence = "nothing was put in the destination's way"
        case let blocker? where blocker.error != nil: evidence = "\(blocker.path) could not be made: \(blocker.error ?? "")"
        case let blocker?: evidence = "a directory stood at \(blocker.path)"
        }
        if let switchOver {
            evidence += "; the source paused for the switch-over (suspended, migrated) at \(formatNumber(switchOver.offsetMilliseconds)) ms, so every page was sent: the failure came in Finish"
        } else {
            evidence += "; the source never paused for the switch-over before the call returned at \(formatNumber(returned)) ms: the migration failed before Finish (in Perform), or its events were not seen"
        }
        if let stopped { evidence += "; the destination stopped its domain (stopped, failed) at \(formatNumber(stopped.offsetMilliseconds)) ms" }
        // The source stays paused from the switch-over until Confirm resumes it: that pause
        // (the failed Finish and the destination's teardown) is the failure's cost in the ping.
        let resumed = switchOver.flatMap { pause in
            events.first(from: .source, .resumed, within: pause.offsetMilliseconds.nextUp...Double.infinity)
        }
        var guestNetwork = GuestNetworkEffect.untouched
        if let switchOver, let resumed {
            let pause = resumed.offsetMilliseconds - switchOver.offsetMilliseconds
            guestNetwork = .paused(atMilliseconds: switchOver.offsetMilliseconds, milliseconds: pause)
            evidence += "; the source resumed the guest at \(formatNumber(resumed.offsetMilliseconds)) ms, paused \(formatNumber(pause)) ms in all"
        }
        let acted = blocker != nil && blocker?.error == nil && switchOver != nil
        return FaultEvidence(scenario: scenario, acted: acted, evidence: evidence, actedAtMilliseconds: switchOver?.offsetMilliseconds,
                             errorAsExpected: errorAsExpected, errorEvidence: errorEvidence, removed: removal?.removed,
                             removalEvidence: removal?.evidence, guestNetwork: guestNetwork)
    }
}

extension ScenarioKind {
    /// The destination fails in Finish, after every page arrived.
    public static let finishFail = ScenarioKind(declaring: "finish-fail")
}
