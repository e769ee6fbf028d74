import Foundation
import Lab
import Libvirt
import Synchronization

/// How to remove one installed fault without the process that installed it.
public enum FaultRemovalStep: Codable, Sendable, Equatable, CustomStringConvertible {
    /// A shell script run on a host (e.g. `nft delete table inet migverify_fault`).
    case hostScript(access: HostAccess, hostName: String, script: String)
    /// A command run on this machine (e.g. `ip -n SWITCH link set PORT up`).
    case localCommand([String])
    /// Destroy (and undefine) the domain with this UUID on the daemon at `uri`.
    case destroyDomain(uri: String, uuid: String, name: String)

    public var description: String {
        switch self {
        case .hostScript(_, let hostName, let script): return "`\(script)` on \(hostName)"
        case .localCommand(let command): return "`\(command.joined(separator: " "))`"
        case .destroyDomain(let uri, let uuid, let name): return "destroy domain \(name) (uuid \(uuid)) on \(uri)"
        }
    }
}

/// One fault that was installed and not yet removed.
public struct FaultJournalEntry: Codable, Sendable, Equatable {
    /// Unique per installation.
    public var id: String
    /// The name of the scenario that installed it (a name, not a ``ScenarioKind``: an entry
    /// of a scenario this version does not know must still be read and removed).
    public var scenario: String
    /// What was installed, one line.
    public var what: String
    /// When.
    public var installedAt: Date
    /// How to take it away.
    public var removal: FaultRemovalStep
    /// The lab namespace it lives in, if any: when that namespace is gone (`lab down`), the
    /// fault went with it.
    public var namespace: String?
}

/// The journal of installed faults: a fault is written here before it is installed and
/// struck off once removed, so that what a killed or interrupted run left on a host (a
/// firewall rule dropping the migration ports, a stand-in domain, a link set down) is removed
/// by the next `migverify run`, `lab up` or `lab down`, which say so.
public final class FaultJournal: Sendable {
    /// The default journal, shared by the lab and real hosts.
    public static let defaultPath = "/var/lib/migverify/fault-journal.json"

    /// The journal file (JSON array of entries).
    public let path: String
    private let lock = Mutex(())

    /// A journal kept at `path` (created when the first fault is installed).
    public init(path: String = FaultJournal.defaultPath) {
        self.path = path
    }

    /// The entries now in the journal (empty when there is no file).
    public func entries() throws(VerifierError) -> [FaultJournalEntry] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            if data.isEmpty { return [] }
            return try resultsJSONDecoder().decode([FaultJournalEntry].self, from: data)
        } catch {
            throw .environment("fault journal \(path) cannot be read: \(error)")
        }
    }

    private func write(_ entries: [FaultJournalEntry]) throws(VerifierError) {
        do {
            let directory = (path as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try AtomicFile.write(try resultsJSONEncoder().encode(entries), to: path)
        } catch {
            throw .environment("fault journal \(path) cannot be written: \(error)")
        }
    }

    /// Journals a fault about to be installed; returns its entry id (for ``strike(_:)``).
    @discardableResult
    public func add(scenario: ScenarioKind, what: String, removal: FaultRemovalStep, namespace: String? = nil) throws(VerifierError) -> String {
        let entry = FaultJournalEntry(id: UUID().uuidString, scenario: scenario.rawValue, what: what, installedAt: Date(), removal: removal,
                                      namespace: namespace)
        try lock.withLock { _ throws(VerifierError) in
            try write(try entries() + [entry])
        }
        return entry.id
    }

    /// Strikes an entry off once its fault is removed.
    public func strike(_ id: String) {
        lock.withLock { _ in
            guard let current = try? entries(), current.contains(where: { $0.id == id }) else { return }
            try? write(current.filter { $0.id != id })
        }
    }

    /// Removes every fault still in the journal and strikes off those that are gone; returns
    /// one line per entry (removed, or why not). `connect` opens a libvirt connection the
    /// way the caller reaches the hosts (the lab's client namespace, or directly).
    public func removeLeftovers(connect: (String) throws -> Connection) -> [String] {
        let current: [FaultJournalEntry]
        do { current = try entries() } catch { return ["cannot look for leftover faults: \(error.description)"] }
        guard !current.isEmpty else { return [] }
        var lines: [String] = []
        var kept: [FaultJournalEntry] = []
        for entry in current {
            let (removed, line): (Bool, String)
            if let namespace = entry.namespace, !FileManager.default.fileExists(atPath: "/run/netns/\(namespace)") {
                (removed, line) = (true, "gone with the lab's namespace \(namespace)")
            } else {
                (removed, line) = Self.remove(entry.removal, connect: connect)
            }
            lines.append("leftover fault of an interrupted \(entry.scenario) run (\(entry.what), \(iso8601Text(entry.installedAt))): "
                + (removed ? "removed (\(line))" : "NOT removed: \(line)"))
            if !removed { kept.append(entry) }
        }
        do {
            try lock.withLock { _ throws(VerifierError) in try write(kept) }
        } catch {
            lines.append("the removals above could not be struck off: \(error.description)")
        }
        return lines
    }

    /// Carries out one removal step; idempotent (a fault already gone counts as removed).
    static func remove(_ step: FaultRemovalStep, connect: (String) throws -> Connection) -> (removed: Bool, line: String) {
        switch step {
        case .hostScript(let access, let hostName, let script):
            let inspector = HostInspector(hostName: hostName, access: access)
            do {
                let result = try inspector.capture(script, step: "remove a leftover fault")
                return (result.succeeded, result.succeeded ? "ran \(step)" : "\(step) exited \(result.exitStatus)")
            } catch {
                return (false, error.description)
            }
        case .localCommand(let command):
            do {
                let result = try CommandRunner.capture(command, step: "remove a leftover fault", timeoutSeconds: 15)
                return (result.succeeded, result.succeeded ? "ran \(step)" : "\(step) exited \(result.exitStatus)")
            } catch {
                return (false, "\(error)")
            }
        case .destroyDomain(let uri, let uuid, let name):
            do {
                let connection = try connect(uri)
                guard let domain = try connection.domainIfPresent(name: name), try domain.uuidString() == uuid else {
                    return (true, "no domain \(name) with uuid \(uuid) on \(uri) any more")
                }
                if try domain.isActive() { try domain.destroy() }
                if (try? domain.isPersistent()) == true { try domain.undefine() }
                return (true, "destroyed \(name) (uuid \(uuid)) on \(uri)")
            } catch {
                return (false, "\(step): \(error)")
            }
        }
    }
}
