import Foundation
import PingMonitor

/// Whether an address answers ICMP echo, asked from a network namespace: the one reachability
/// check of the lab and the verifier ("does the guest answer a ping"), built on pingmon's
/// ``EchoProbe`` (no `/bin/ping`).
public enum Reachability {
    /// Sends up to `count` echo requests to `target` from `interface` inside network namespace
    /// `namespace` (`nil`: the current one), `intervalMilliseconds` apart, and returns at the
    /// first reply, or `replyTimeoutMilliseconds` after the last request.
    ///
    /// No reply is not an error: the result's `answered` is false. A probe that cannot run
    /// throws a `LabError` naming the target, the interface and the namespace, with pingmon's
    /// reason: the socket cannot be opened (not root, no such interface), the target is not a
    /// numeric unicast IPv4 or IPv6 address, or the namespace cannot be entered.
    public static func echo(namespace: String?, target: String, interface: String, count: Int = 3,
                            intervalMilliseconds: Int = 200,
                            replyTimeoutMilliseconds: Int = 1_000) throws(LabError) -> EchoProbeResult {
        let step = "probe \(target) with ICMP echo from \(interface)" + (namespace.map { " in \($0)" } ?? "")
        guard let address = IPAddress(target) else {
            throw LabError(step: step, reason: PingMonitorError.invalidTarget(target).description)
        }
        let probe: @Sendable () throws -> EchoProbeResult = {
            try EchoProbe(target: address, interface: interface)
                .run(count: count, intervalMilliseconds: intervalMilliseconds, replyTimeoutMilliseconds: replyTimeoutMilliseconds)
        }
        do {
            return try namespace.map { try NetworkNamespace.run(in: $0, probe) } ?? probe()
        } catch let error as PingMonitorError {
            throw LabError(step: step, reason: error.description)
        } catch let error as LabError {
            throw LabError(step: step, reason: "\(error.step): \(error.reason)")
        } catch {
            throw LabError(step: step, reason: "\(error)")
        }
    }
}
