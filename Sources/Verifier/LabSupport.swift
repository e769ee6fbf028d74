import Foundation
import Lab
import Libvirt
import MemeaterKit
import PingMonitor
import Synchronization

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

/// What identifies the domain that already runs on the destination in the
/// dst-already-active scenario: it must be the same domain, still running, afterwards.
public struct OccupantSnapshot: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The domain's UUID.
    public var uuid: String
    /// libvirt's id of the running domain (`nil`: not running).
    public var id: UInt32?
    /// Its state.
    public var state: DomainStateInfo
    /// Its QEMU processes in the destination namespace.
    public var qemuProcessIDs: [Int32]

    /// Creates a snapshot.
    public init(uuid: String, id: UInt32?, state: DomainStateInfo, qemuProcessIDs: [Int32]) {
        self.uuid = uuid
        self.id = id
        self.state = state
        self.qemuProcessIDs = qemuProcessIDs
    }

    public var description: String {
        "uuid \(uuid), id \(id.map(String.init) ?? "none"), \(state), qemu \(qemuProcessIDs.map(String.init).joined(separator: ","))"
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
}

/// pingmon run from the verifier: started inside the lab's client namespace (or the
/// current one), sampled every 100 ms for the time series, stopped for the report.
public final class PingMonitorRun: Sendable {
    private let session: PingSession
    private let stopFlag = StopFlag()
    private let samplerDone = DispatchSemaphore(value: 0)

    /// Starts probing `target` every `intervalMicroseconds` from `interface`; `onSample`
    /// gets the live status every `sampleIntervalMilliseconds`, stamped on `clock`.
    public init(namespace: String?, target: String, interface: String, intervalMicroseconds: Int,
                saveCapturePath: String? = nil, sampleIntervalMilliseconds: Double = 100, clock: RunClock = RunClock(),
                onSample: @escaping @Sendable (PingSample) -> Void) throws(VerifierError) {
        let step = "start pingmon against \(target) on \(interface)"
        do {
            let address = try PingConfiguration.parseTarget(target)
            let configuration = PingConfiguration(target: address, interface: interface, intervalMicroseconds: intervalMicroseconds,
                                                  saveCapturePath: saveCapturePath, lingerMilliseconds: 500)
            let open: @Sendable () throws -> PingSession = {
                let session = try PingSession(configuration: configuration)
                try session.start()
                return session
            }
            session = try namespace.map { try NetworkNamespace.run(in: $0, open) } ?? open()
        } catch {
            throw VerifierError.wrap(error, step: step)
        }
        let session = self.session
        let stop = stopFlag
        let done = samplerDone
        let interval = UInt32(max(10, sampleIntervalMilliseconds) * 1000)
        let thread = Thread {
            while !stop.isSet {
                usleep(interval)
                let status = session.status()
                onSample(PingSample(offsetMilliseconds: clock.milliseconds(),
                                    probesSent: status.probesSent, repliesReceived: status.repliesReceived, lost: status.lost,
                                    currentGapMilliseconds: status.currentGapMilliseconds,
                                    longestGapMilliseconds: status.longestGapMilliseconds))
            }
            done.signal()
        }
        thread.name = "migverify-ping-sampler"
        thread.start()
    }

    /// The live status now.
    public func status() -> LiveStatus { session.status() }

    /// Stops probing and returns pingmon's analysis of the whole run.
    public func finish() throws(VerifierError) -> PingReport {
        stopFlag.set()
        samplerDone.wait()
        session.stop()
        do {
            return try session.waitForReport()
        } catch {
            throw VerifierError.wrap(error, step: "finish pingmon")
        }
    }
}

/// Lines of a guest console that show the guest kernel died or is corrupt.
public func consoleFailureLines(_ console: String) -> [String] {
    let markers = ["Kernel panic", "Oops", "BUG:", "kernel BUG", "is not a head!", "list_add corruption", "general protection fault"]
    // Split on every line break: the serial console ends lines with CR LF, which Swift treats
    // as one Character that a split on "\n" does not see.
    return console.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        .filter { line in markers.contains { line.contains($0) } }
}

/// A flag one thread sets and another polls.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
