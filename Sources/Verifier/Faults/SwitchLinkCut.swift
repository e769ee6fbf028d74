import Foundation
import Lab
import Synchronization

/// What a link-cut fault did to a link of the lab's switch, on the run clock.
public struct LinkCutRecord: Sendable, Equatable {
    /// The link: a switch port (`mgmt-dst`) or a switch bridge (`br0`).
    public var interface: String
    /// When it was set down, ms on the run clock.
    public var downAtMilliseconds: Double
    /// Whether it read as down right after.
    public var confirmedDown: Bool
    /// When it was set up again, ms on the run clock (`nil`: not yet).
    public var restoredAtMilliseconds: Double?
    /// Whether it read as up after the restore.
    public var upAgain: Bool?
    /// Why it could not be cut (`nil`: it was).
    public var error: String?

    /// Creates a record.
    public init(interface: String, downAtMilliseconds: Double, confirmedDown: Bool, restoredAtMilliseconds: Double? = nil,
                upAgain: Bool? = nil, error: String? = nil) {
        self.interface = interface
        self.downAtMilliseconds = downAtMilliseconds
        self.confirmedDown = confirmedDown
        self.restoredAtMilliseconds = restoredAtMilliseconds
        self.upAgain = upAgain
        self.error = error
    }

    /// How long it was down, ms (`nil`: not restored, or never cut).
    public var downMilliseconds: Double? {
        guard error == nil, let restored = restoredAtMilliseconds else { return nil }
        return restored - downAtMilliseconds
    }

    /// Notes an attempt, at `milliseconds` on the run clock, to set the link up again, which
    /// left it `up` or not. The restore instant is the attempt that brought the link up: a
    /// failed attempt's instant stands only until a later one succeeds (kept, it would
    /// shorten the outage).
    mutating func noteRestore(up: Bool, atMilliseconds milliseconds: Double) {
        if up || restoredAtMilliseconds == nil { restoredAtMilliseconds = milliseconds }
        upAgain = up
    }

    /// `fault-removed`'s line: whether the link is up again.
    var removalEvidence: String { upAgain == true ? "\(interface) is up again" : "\(interface) is STILL DOWN" }
}

/// One link of the lab's switch that a fault sets down while the migration runs: journaled
/// before it is cut (a killed run leaves a journal entry that the next start removes), set up
/// again exactly once from whichever thread comes first (a timer, the migration's return,
/// an interruption), with both instants on the run clock.
final class SwitchLinkCut: Sendable {
    private struct State {
        var link: LinkCutFault?
        var journalID: String?
        var record: LinkCutRecord?
    }

    let scenario: ScenarioKind
    private let state = Mutex(State())
    /// Serialises restores, so that the one that brings the link up records the instant and
    /// later ones find it done.
    private let restoring = Mutex(())

    init(scenario: ScenarioKind) {
        self.scenario = scenario
    }

    /// Sets `interface` in `namespace` down now; returns the mid-stream note.
    func cut(interface: String, in namespace: String, context: FaultContext) -> String {
        let at = context.clock.milliseconds()
        let journalID: String
        do {
            journalID = try context.journal.add(scenario: scenario, fault: .linkDown(namespace: namespace, interface: interface),
                                                namespace: namespace)
        } catch {
            state.withLock { $0.record = LinkCutRecord(interface: interface, downAtMilliseconds: at, confirmedDown: false, error: "not cut: \(error)") }
            return "did not cut \(interface): \(error)"
        }
        do {
            let link = try LinkCutFault.cut(namespace: namespace, interface: interface)
            let record = LinkCutRecord(interface: interface, downAtMilliseconds: at, confirmedDown: !link.isUp())
            state.withLock { $0 = State(link: link, journalID: journalID, record: record) }
            return "set \(interface) down in \(namespace)" + (record.confirmedDown ? "" : ", but it still reads as up")
        } catch {
            state.withLock {
                $0 = State(link: nil, journalID: journalID,
                           record: LinkCutRecord(interface: interface, downAtMilliseconds: at, confirmedDown: false, error: "\(error)"))
            }
            context.journal.strike(journalID)
            return "could not cut \(interface): \(error)"
        }
    }

    /// Sets the link up again unless it already is (once up, later calls return that
    /// record), strikes it off the journal when it is up; `nil` when it was never cut.
    @discardableResult
    func restore(_ context: FaultContext) -> LinkCutRecord? {
        restoring.withLock { _ in
            let (link, journalID, current) = state.withLock { ($0.link, $0.journalID, $0.record) }
            guard let link, var record = current else { return current }
            if record.restoredAtMilliseconds != nil, record.upAgain == true { return record }
            let up = link.restore()
            record.noteRestore(up: up, atMilliseconds: context.clock.milliseconds())
            state.withLock { $0.record = record }
            if up, let journalID { context.journal.strike(journalID) }
            return record
        }
    }
}

/// A link of the lab's switch namespace set down (the link-cut faults): a switch port such
/// as `mgmt-dst`, or a whole switch bridge such as the guest network's `br0`, stops carrying
/// anything. ``restore()`` sets it up again.
public struct LinkCutFault: Sendable {
    /// The switch namespace (the only namespace touched).
    public let namespace: String
    /// The port or bridge, e.g. `mgmt-dst` or `br0`.
    public let interface: String

    /// Sets the port down (`ip -n NAMESPACE link set INTERFACE down`).
    public static func cut(namespace: String, interface: String) throws(VerifierError) -> LinkCutFault {
        let fault = LinkCutFault(namespace: namespace, interface: interface)
        do {
            try CommandRunner.run(["ip", "-n", namespace, "link", "set", interface, "down"],
                                  step: "set \(interface) down in \(namespace)", timeoutSeconds: 10)
        } catch {
            fault.restore()
            throw VerifierError.wrap(error, step: "cut the link \(interface) in \(namespace)")
        }
        return fault
    }

    /// Whether the port is up now (`ip -j link show dev` lists `UP` in its flags).
    public func isUp() -> Bool {
        guard let result = try? CommandRunner.capture(["ip", "-n", namespace, "-j", "link", "show", "dev", interface],
                                                      step: "read \(interface) in \(namespace)", timeoutSeconds: 10),
              result.succeeded else { return false }
        return Self.isUp(interface, inIPLinkJSON: result.output)
    }

    /// Whether `ip -j link show` output lists `interface` with `UP` among its flags; `false`
    /// when it is not listed or the output is no link list.
    public static func isUp(_ interface: String, inIPLinkJSON json: String) -> Bool {
        ((try? IPLink.list(fromJSON: json)) ?? []).contains { $0.ifname == interface && $0.isUp }
    }

    /// Sets the port up again; returns whether it is up afterwards. Idempotent.
    @discardableResult
    public func restore() -> Bool {
        _ = try? CommandRunner.capture(["ip", "-n", namespace, "link", "set", interface, "up"],
                                       step: "set \(interface) up in \(namespace)", timeoutSeconds: 10)
        return isUp()
    }
}
