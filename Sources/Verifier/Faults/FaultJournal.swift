import Foundation
import Lab
import Libvirt
import MemeaterKit
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One fault that was installed and not yet removed.
public struct FaultJournalEntry: Codable, Sendable, Equatable {
    /// Unique per installation (a UUID).
    public var id: String
    /// The name of the scenario that installed it (a name, not a ``ScenarioKind``: an entry
    /// of a scenario this version does not know must still be read and removed).
    public var scenario: String
    /// When.
    public var installedAt: Date
    /// What was installed; its removal is derived from it.
    public var fault: InstalledFault
    /// The lab namespace it lives in, if any: when that namespace is gone (`lab down`), the
    /// fault went with it.
    public var namespace: String?

    /// What was installed, one line.
    public var what: String { fault.description }

    /// Throws unless every field is of the form this version writes (the fault's parameters
    /// too: ``InstalledFault/validate()``).
    func validate() throws(InstalledFaultError) {
        guard UUID(uuidString: id) != nil else { throw .invalid("id \"\(TextExcerpt.of(id))\" is no UUID") }
        try InstalledFault.requireName(scenario, what: "scenario", maximumBytes: 64)
        if let namespace { try InstalledFault.requireName(namespace, what: "namespace") }
        try fault.validate()
    }
}

/// Why the fault journal cannot be used; each is one line that names the file and says what to do.
public enum FaultJournalError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The journal or a directory it depends on could be written by another user.
    case untrusted(journal: String, UntrustedPathError)
    /// A journal of the format before typed records, with entries: their removals are command text.
    case oldFormat(journal: String)
    /// Not a journal this version can read.
    case unreadable(journal: String, reason: String)
    /// An entry that is not of the form this version writes.
    case invalidEntry(journal: String, index: Int, reason: String)
    /// The journal cannot be written.
    case unwritable(journal: String, reason: String)

    public var description: String {
        switch self {
        case .untrusted(let journal, let problem):
            let subject = problem.path == journal ? "it" : problem.path
            return "fault journal \(journal) refused: \(subject) \(problem.problem); its entries are run as this user, so the journal "
                + "and its directory must be this user's and writable by no one else (chown, chmod go-w, or another --fault-journal)"
        case .oldFormat(let journal):
            return "fault journal \(journal) is in the old format (removal steps as command text), which is no longer run: "
                + "undo by hand what its entries' \"what\" name (for a lab, `migverify lab down` removes it all), then delete the file"
        case .unreadable(let journal, let reason):
            return "fault journal \(journal) cannot be read: \(reason); undo by hand what it lists, then delete the file"
        case .invalidEntry(let journal, let index, let reason):
            return "fault journal \(journal) refused: entry \(index + 1) is not one this version writes (\(reason)); "
                + "undo by hand what it lists, then delete the file"
        case .unwritable(let journal, let reason):
            return "fault journal \(journal) cannot be written: \(reason)"
        }
    }
}

/// The journal of installed faults: a fault is written here before it is installed and
/// struck off once removed, so that what a killed or interrupted run left on a host (a
/// firewall rule dropping the migration ports, a stand-in domain, a link set down) is removed
/// by the next `migverify run`, `sweep`, `lab up` or `lab down`, which say so.
///
/// The journal is a list of what to undo as root, so it must be the user's own: the file
/// (mode 0600) and its directory owned by the user running the tool and writable by nobody
/// else, every directory above safe too (``PrivatePath``); otherwise every use is refused.
/// Its entries are typed records (``InstalledFault``) whose removal is derived in code, never
/// command text.
public final class FaultJournal: Sendable {
    /// The default journal, shared by the lab and real hosts.
    public static let defaultPath = "/var/lib/migverify/fault-journal.json"
    /// The format of the file: `{"format": 2, "faults": [...]}`. Format 1 was a bare array
    /// of entries whose removal steps were command text: an empty one is read as empty, one
    /// with entries is refused (``FaultJournalError/oldFormat(journal:)``).
    public static let format = 2
    /// A journal larger than this is no journal of ours (a run installs one or two faults).
    static let maximumBytes = 1 << 20

    /// The journal file.
    public let path: String
    private let lock = Mutex(())

    /// The file as written: the format number and the entries.
    private struct File: Codable {
        var format: Int
        var faults: [FaultJournalEntry]
    }

    /// A journal kept at `path` (created when the first fault is installed).
    public init(path: String = FaultJournal.defaultPath) {
        self.path = path
    }

    /// The journal's directory (a relative `path` taken from the working directory).
    private var directory: String { URL(fileURLWithPath: path).deletingLastPathComponent().path }

    /// Throws unless the journal can be used: its directory (when it exists) and the file
    /// (when it exists) trusted, and the file readable as this format. Run and sweep call it
    /// before anything else, so that a refused journal stops them before any change.
    public func check() throws(FaultJournalError) {
        _ = try entries()
    }

    /// The entries now in the journal (empty when there is no file).
    public func entries() throws(FaultJournalError) -> [FaultJournalEntry] {
        let data: Data?
        do {
            guard FileManager.default.fileExists(atPath: directory) else { return [] }
            try PrivatePath.checkDirectory(directory)
            data = try PrivatePath.read(path, maximumBytes: Self.maximumBytes)
        } catch {
            throw .untrusted(journal: path, error)
        }
        guard let data, !data.isEmpty else { return [] }
        let file: File
        do {
            file = try resultsJSONDecoder().decode(File.self, from: data)
        } catch {
            // Format 1, a bare array: empty, it maps to no record (and is rewritten as format 2
            // by the next write); with entries it is refused, since their removals are
            // command text, which is never parsed back into records.
            if let old = try? JSONSerialization.jsonObject(with: data) as? [Any] {
                if old.isEmpty { return [] }
                throw .oldFormat(journal: path)
            }
            throw .unreadable(journal: path, reason: TextExcerpt.of("\(error)", maximumCharacters: 300))
        }
        guard file.format == Self.format else {
            throw .unreadable(journal: path, reason: "format \(file.format), this version reads \(Self.format)")
        }
        for (index, entry) in file.faults.enumerated() {
            do {
                try entry.validate()
            } catch {
                throw .invalidEntry(journal: path, index: index, reason: error.description)
            }
        }
        return file.faults
    }

    private func write(_ entries: [FaultJournalEntry]) throws(FaultJournalError) {
        do {
            if !FileManager.default.fileExists(atPath: directory) {
                // Made for the journal: nobody else's to write.
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            }
        } catch {
            throw .unwritable(journal: path, reason: "cannot create \(directory): \(error.localizedDescription)")
        }
        do {
            try PrivatePath.checkDirectory(directory)
            try PrivatePath.checkFile(path)
        } catch {
            throw .untrusted(journal: path, error)
        }
        do {
            try AtomicFile.write(try resultsJSONEncoder().encode(File(format: Self.format, faults: entries)), to: path, mode: 0o600)
        } catch {
            throw .unwritable(journal: path, reason: "\(error)")
        }
    }

    /// Journals a fault about to be installed; returns its entry id (for ``strike(_:)``).
    @discardableResult
    public func add(scenario: ScenarioKind, fault: InstalledFault, namespace: String? = nil) throws(VerifierError) -> String {
        let entry = FaultJournalEntry(id: UUID().uuidString, scenario: scenario.rawValue, installedAt: Date(), fault: fault,
                                      namespace: namespace)
        do {
            // What this version could not read back must not be written.
            try entry.validate()
        } catch {
            throw .environment("fault journal \(path): cannot journal \(fault): \(error)")
        }
        do {
            try lock.withLock { _ throws(FaultJournalError) in
                try write(try entries() + [entry])
            }
        } catch {
            throw .environment(error.description)
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
    /// one line per entry (removed, or why not). Throws, before anything runs, when the
    /// journal is refused.
    public func removeLeftovers(_ context: LeftoverRemovalContext) throws(FaultJournalError) -> [String] {
        let current = try entries()
        guard !current.isEmpty else { return [] }
        var lines: [String] = []
        var kept: [FaultJournalEntry] = []
        for entry in current {
            let (removed, line): (Bool, String)
            if let namespace = entry.namespace, !FileManager.default.fileExists(atPath: "/run/netns/\(namespace)") {
                (removed, line) = (true, "gone with the lab's namespace \(namespace)")
            } else {
                (removed, line) = Self.remove(entry.fault.removal(in: context), connect: context.connect)
            }
            lines.append("leftover fault of an interrupted \(entry.scenario) run (\(entry.what), \(iso8601Text(entry.installedAt))): "
                + (removed ? "removed (\(line))" : "NOT removed: \(line)"))
            if !removed { kept.append(entry) }
        }
        do {
            try lock.withLock { _ throws(FaultJournalError) in try write(kept) }
        } catch {
            lines.append("the removals above could not be struck off: \(error.description)")
        }
        return lines
    }

    /// Carries out one removal; idempotent (a fault already gone counts as removed).
    static func remove(_ removal: FaultRemoval, connect: (String) throws -> Connection) -> (removed: Bool, line: String) {
        switch removal {
        case .hostScript(let access, let hostName, let script):
            let inspector = HostInspector(hostName: hostName, access: access)
            do {
                let result = try inspector.capture(script, step: "remove a leftover fault")
                return (result.succeeded, result.succeeded ? "ran \(removal)" : "\(removal) exited \(result.exitStatus)")
            } catch {
                return (false, error.description)
            }
        case .localCommand(let command):
            do {
                let result = try CommandRunner.capture(command, step: "remove a leftover fault", timeoutSeconds: 15)
                return (result.succeeded, result.succeeded ? "ran \(removal)" : "\(removal) exited \(result.exitStatus)")
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
                return (false, "\(removal): \(error)")
            }
        case .notHere(let reason):
            return (false, reason)
        }
    }
}
