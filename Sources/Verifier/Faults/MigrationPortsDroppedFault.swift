import Foundation
import Lab
import Synchronization

/// perform-fail: the destination's firewall drops TCP to the migration ports 49152-49216 (as
/// in the original test case), so Perform cannot send the guest; the verifier's stall timeout
/// aborts the job, Finish must clean up the destination and the guest stays on the source.
public final class MigrationPortsDroppedFault: Fault {
    public static let scenario = ScenarioKind.performFail
    public static let summary = "the destination's firewall drops the migration ports, Perform stalls and the verifier aborts it; the guest stays on the source"
    public static let expectation = ExpectedOutcome.staysOnSource
    /// In an evacuation the firewall is installed once for the guests and removed by the last.
    public static let sharedInAnEvacuation = true
    /// The dropped ports: libvirt's migration range plus one, as the original test case has it.
    public static let droppedPorts = 49152...49216

    private struct State {
        var rule: PortDropFault?
        var journalID: String?
        /// The key of the evacuation's shared firewall this run holds, until it lets go.
        var sharedKey: String?
        var droppedPackets: Int?
        var removed: Bool?
    }

    /// The firewall as installed: its rule and its journal entry.
    private struct Installed: Sendable {
        var rule: PortDropFault
        var journalID: String
    }

    private let state = Mutex(State())

    public init() {}

    public static func refusal(on testbed: any Testbed) -> String? { FaultNeeds.destinationShell(testbed) }

    public func tune(_ plan: inout MigrationPlan, context: FaultContext) {
        // libvirt opens the migration connection itself; while its connect() waits for a SYN
        // answer the firewall drops, an abort does not take effect (and lifting the rule early
        // lets the migration complete). Wait for the kernel to give up on the connection
        // (about 2 minutes by default; 7 s on the lab, which lowers tcp_syn_retries).
        plan.driver.abortGraceSeconds = 240
        plan.driver.abortWaitReason = "the source kernel to give up the migration connection whose SYNs the firewall drops"
            + " (after net.ipv4.tcp_syn_retries; libvirt cannot abort it sooner)"
    }

    public func install(_ context: FaultContext) throws(VerifierError) {
        guard let host = context.destinationHost else {
            throw .invalidOptions("--scenario \(Self.scenario.rawValue) \(FaultNeeds.destinationShell(context.testbed) ?? "needs a shell on the destination")")
        }
        // In an evacuation the destination's firewall is every guest's: installed once, held
        // by each guest's run, removed by the last.
        if let shared = context.sharedFaults {
            let key = "\(Self.scenario.rawValue) on \(host.hostName)"
            let installed = try shared.acquire(key) { () throws(VerifierError) in try Self.installRule(context, host: host) }
            state.withLock {
                $0.rule = installed.rule
                $0.sharedKey = key
            }
            return
        }
        let installed = try Self.installRule(context, host: host)
        state.withLock {
            $0.journalID = installed.journalID
            $0.rule = installed.rule
        }
    }

    /// Journals the firewall table on `host` and installs it.
    private static func installRule(_ context: FaultContext, host: any HostShell) throws(VerifierError) -> Installed {
        let journalID = try context.journal.add(
            scenario: Self.scenario, fault: .firewallTable(host: JournaledHost(host), table: PortDropFault.tableName),
            namespace: context.testbed.lab?.configuration.destination.namespace)
        do {
            return Installed(rule: try PortDropFault.install(on: host, ports: Self.droppedPorts), journalID: journalID)
        } catch {
            // Nothing stays journaled that is not there: whatever half of the table nft made goes now.
            if PortDropFault(host: host, ports: Self.droppedPorts).remove() { context.journal.strike(journalID) }
            throw error
        }
    }

    public func afterMigration(_ context: FaultContext, outcome: MigrationOutcome) {
        guard let rule = state.withLock({ $0.rule }) else { return }
        let dropped = rule.droppedPackets()
        state.withLock { $0.droppedPackets = dropped }
        remove(context)
    }

    public func remove(_ context: FaultContext) {
        // A shared firewall is let go of once: the last holder removes it, the others wait for that.
        let sharedKey = state.withLock { current -> String? in
            defer { current.sharedKey = nil }
            return current.sharedKey
        }
        if let sharedKey, let shared = context.sharedFaults {
            let removed = shared.release(sharedKey) { (installed: Installed) -> Bool in
                let removed = installed.rule.remove()
                if removed { context.journal.strike(installed.journalID) }
                return removed
            }
            state.withLock { $0.removed = removed }
            return
        }
        let (rule, journalID, removedBefore) = state.withLock { ($0.rule, $0.journalID, $0.removed) }
        // A shared one already let go of says what its removal said.
        guard let rule, !(journalID == nil && removedBefore != nil) else { return }
        let removed = rule.remove()
        state.withLock { $0.removed = removed }
        if removed, let journalID { context.journal.strike(journalID) }
    }

    public func evidence(_ context: FaultContext, outcome: MigrationOutcome) -> FaultEvidence? {
        let (dropped, removed) = state.withLock { ($0.droppedPackets, $0.removed) }
        var evidence = Self.judge(droppedPackets: dropped, ending: outcome.ending, hostName: context.destinationHost?.hostName ?? "the destination",
                                  removed: removed, sent: JobTransfer(samples: outcome.samples),
                                  daemonErrors: outcome.sourceDaemonErrors)
        if context.sharedFaults != nil {
            // One firewall for the evacuation: its counter is every guest's; this guest's own
            // part is its libvirt error on the dropped ports.
            evidence.evidence += " (the firewall is shared by the evacuation's guests: the count is theirs together)"
        }
        return evidence
    }

    /// Acted when the rule dropped packets to the migration ports; the error is this fault's
    /// when the job stalled (aborted by the verifier, or still blocked) or libvirt could not
    /// connect to the migration port.
    ///
    /// Over a qemu+ssh destination URI libvirt sometimes returns the end of file of its
    /// connection to the destination instead of the connect error (``DaemonLogMark``). That
    /// message is this fault's only when no sample shows a byte of the guest sent (`sent`) and
    /// the source daemon logged the failed connect to a dropped port (`daemonErrors`); when
    /// its log could not be read, the job statistics alone must prove that not one byte was
    /// sent: then the migration never got past the connection the firewall dropped. A log
    /// that was read and has no such connect error is evidence against the fault.
    public static func judge(droppedPackets: Int?, ending: MigrationEnding, hostName: String, removed: Bool?,
                             sent: JobTransfer? = nil,
                             daemonErrors: Result<DaemonLogErrors, DaemonLogUnavailable>? = nil) -> FaultEvidence {
        let acted = (droppedPackets ?? 0) > 0
        var errorAsExpected: Bool
        var explanation = ""
        switch ending {
        case .aborted, .hung: errorAsExpected = true
        case .failed(let message, _):
            errorAsExpected = message.localizedCaseInsensitiveContains("connect") || message.localizedCaseInsensitiveContains("timed out")
            if !errorAsExpected, acted, ending.isTransportEndOfFile, (sent?.largestBytes ?? 0) == 0 {
                let stoodIn = "; libvirt returned its connection's end of file in place of the connect error"
                if case .success(let logged) = daemonErrors {
                    if let connect = logged.messages.first(where: isConnectToADroppedPort) {
                        errorAsExpected = true
                        explanation = "\(stoodIn), which the source daemon logged (\(logged.location)): \(connect)"
                    }
                } else if let sent {
                    errorAsExpected = true
                    explanation = "\(stoodIn); the job sent 0 bytes of the guest in \(sent.samples) job-stats samples:"
                        + " it never got past the dropped connection"
                }
            }
        case .completed, .completedDespiteAbort: errorAsExpected = false
        }
        let ports = "TCP \(droppedPorts.lowerBound)-\(droppedPorts.upperBound)"
        let expected = "expected the migration to stall on the dropped ports (aborted by the verifier, or libvirt unable to connect)"
        return FaultEvidence(
            scenario: scenario, acted: acted,
            evidence: "the firewall on \(hostName) dropped \(droppedPackets.map(String.init) ?? "an unknown number of") packets to \(ports)",
            errorAsExpected: errorAsExpected,
            errorEvidence: errorAsExpected ? "libvirt: \(ending.summary)\(explanation)" : "\(expected); got \(ending.summary)",
            removed: removed ?? false,
            removalEvidence: removed == true ? "the nft table \(PortDropFault.tableName) is gone from \(hostName)"
                : removed == false ? "the nft table \(PortDropFault.tableName) is STILL in \(hostName)" : "the rule was never installed")
    }

    /// Whether a logged error is libvirt's failed connect to one of the dropped ports:
    /// `unable to connect to server at '198.18.0.2:49152': Connection timed out`.
    static func isConnectToADroppedPort(_ message: String) -> Bool {
        let marker = "unable to connect to server at '"
        guard let start = message.range(of: marker),
              let end = message[start.upperBound...].firstIndex(of: "'"),
              let colon = message[start.upperBound..<end].lastIndex(of: ":"),
              let port = Int(message[message.index(after: colon)..<end]) else { return false }
        return droppedPorts.contains(port)
    }
}

/// How much of the guest a migration job sent, from its job-stats samples.
public struct JobTransfer: Sendable, Equatable {
    /// The largest `data_processed` of any sample, bytes.
    public var largestBytes: UInt64
    /// The samples that reported `data_processed`.
    public var samples: Int

    /// Creates a transfer figure.
    public init(largestBytes: UInt64, samples: Int) {
        self.largestBytes = largestBytes
        self.samples = samples
    }

    /// From job-stats samples; `nil` when no sample reported `data_processed` (nothing is known).
    public init?(samples: [JobSample]) {
        let processed = samples.compactMap(\.dataProcessedBytes)
        guard let largest = processed.max() else { return nil }
        self.init(largestBytes: largest, samples: processed.count)
    }
}

extension ScenarioKind {
    /// The destination's firewall drops the migration ports, so Perform stalls and the
    /// verifier's own timeout aborts the job.
    public static let performFail = ScenarioKind(declaring: "perform-fail")
}

/// A firewall rule set on one host that drops incoming TCP to a port range (the
/// perform-fail fault). ``remove()`` deletes the whole table; callers call it in a `defer`,
/// so the fault goes whatever happens.
public struct PortDropFault: Sendable {
    /// The host it lives on.
    public let host: any HostShell
    /// The dropped destination ports.
    public let ports: ClosedRange<Int>
    /// The nftables table that holds the rule (only this table is ever touched).
    public static let tableName = "migverify_fault"
    /// The same, per rule.
    public var table: String { Self.tableName }

    /// The nft script that installs the rule.
    public var script: String {
        """
        table inet \(table) {
          chain input {
            type filter hook input priority -10; policy accept;
            tcp dport \(ports.lowerBound)-\(ports.upperBound) counter drop
          }
        }
        """
    }

    /// Installs the rule with `nft -f -` on the host.
    public static func install(on host: any HostShell, ports: ClosedRange<Int>) throws(VerifierError) -> PortDropFault {
        let fault = PortDropFault(host: host, ports: ports)
        fault.remove()  // a table left by a killed earlier run
        try host.run("nft -f -", step: "install the firewall fault (drop TCP \(ports))", input: fault.script)
        return fault
    }

    /// Packets the rule dropped so far (its counter, from `nft -j list table`), if readable.
    public func droppedPackets() -> Int? {
        guard let result = try? host.capture("nft -j list table inet \(table)", step: "read the fault counter"),
              result.succeeded else { return nil }
        return Self.droppedPackets(fromNFTJSON: result.output)
    }

    /// The packets counted by the rules of `nft -j list table` output; `nil` when it is no
    /// listing or holds no counter.
    public static func droppedPackets(fromNFTJSON json: String) -> Int? {
        (try? NFTablesListing.decode(fromJSON: json))?.countedPackets
    }

    /// Deletes the table; returns whether it is gone afterwards.
    @discardableResult
    public func remove() -> Bool {
        _ = try? host.capture("nft delete table inet \(table)", step: "remove the firewall fault")
        let check = try? host.capture("nft list table inet \(table)", step: "check the firewall fault is gone")
        return check.map { !$0.succeeded } ?? false
    }
}
