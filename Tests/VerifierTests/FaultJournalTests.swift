import Foundation
import Lab
import Libvirt
import XCTest
@testable import Verifier

/// Issue 24, finding 4: the fault journal is a list of what root undoes at the next start, so
/// it holds typed records whose removal is derived in code, and it is refused unless it and
/// its directory are the user's own and writable by nobody else.
final class FaultJournalTests: XCTestCase {
    private var directory: URL!
    private var journalPath: String { directory.appendingPathComponent("journal/faults.json").path }
    /// A file that a command smuggled into a journal would create.
    private var marker: String { directory.appendingPathComponent("pwned").path }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fault-journal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func context(lab: Lab? = nil, hosts: [HostAccess] = [], uris: [String] = []) -> LeftoverRemovalContext {
        LeftoverRemovalContext(connect: { try Connection(uri: $0) }, lab: lab, hosts: hosts, uris: uris)
    }

    private func mode(_ path: String) throws -> Int {
        try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    private let local = JournaledHost(name: "here", access: .local)
    private let labDestination = JournaledHost(name: "dst", access: .namespace(name: "mlab-dst"))

    // MARK: removal at the next start

    /// What a killed run left is undone by the next start, from the records alone: a
    /// blocking directory removed, TLS files moved back, a stand-in looked for; what cannot be
    /// undone (a link in a namespace that does not exist) stays journaled.
    func testLeftoversAreRemovedAndStruckOffAndFailuresKept() throws {
        let journal = FaultJournal(path: journalPath)
        XCTAssertEqual(try journal.removeLeftovers(context()), [], "no journal, nothing to do")
        let blocker = directory.appendingPathComponent("etc/qemu/guest.xml").path
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: true)
        let pki = directory.appendingPathComponent("pki").path
        try FileManager.default.createDirectory(atPath: "\(pki)/.migverify-set-aside", withIntermediateDirectories: true)
        try "original\n".write(toFile: "\(pki)/.migverify-set-aside/server-cert.pem", atomically: true, encoding: .utf8)
        try "stand-in\n".write(toFile: "\(pki)/server-cert.pem", atomically: true, encoding: .utf8)

        let removable = try journal.add(scenario: .finishFail, fault: .definitionBlocker(host: local, path: blocker))
        _ = try journal.add(scenario: .linkCut, fault: .linkDown(namespace: "mvj-never-made-\(getpid())", interface: "mgmt-dst"))
        _ = try journal.add(scenario: .dstAlreadyActive,
                            fault: .standInDomain(uri: "test:///default", uuid: "00000000-0000-0000-0000-000000000000", name: "test"))
        _ = try journal.add(scenario: .tlsUntrusted, fault: .tlsCredentialsSetAside(host: local, directory: pki, files: ["server-cert.pem"]))
        XCTAssertEqual(try journal.entries().count, 4)
        XCTAssertEqual(try mode(journalPath), 0o600)

        let lines = try journal.removeLeftovers(context())
        XCTAssertEqual(lines.count, 4)
        XCTAssertTrue(lines[0].contains("finish-fail") && lines[0].contains("removed (ran `rmdir "), lines[0])
        XCTAssertFalse(FileManager.default.fileExists(atPath: blocker), "the blocking directory is gone")
        XCTAssertTrue(lines[1].contains("NOT removed"), lines[1])
        XCTAssertTrue(lines[2].contains("removed") && lines[2].contains("no domain test with uuid"), lines[2])
        XCTAssertTrue(lines[3].contains("removed"), lines[3])
        XCTAssertEqual(try String(contentsOfFile: "\(pki)/server-cert.pem", encoding: .utf8), "original\n", "put back over the stand-in")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(pki)/.migverify-set-aside"))
        XCTAssertEqual(try journal.entries().map(\.scenario), ["link-cut"], "only what could not be removed stays")
        journal.strike(removable)  // striking an entry already gone is harmless
        XCTAssertEqual(try journal.entries().count, 1)
    }

    func testAFaultInALabNamespaceThatIsGoneWentWithIt() throws {
        let journal = FaultJournal(path: journalPath)
        _ = try journal.add(scenario: .linkCut, fault: .linkDown(namespace: "mvj-gone-\(getpid())", interface: "mgmt-dst"),
                            namespace: "mvj-gone-\(getpid())")
        let lines = try journal.removeLeftovers(context())
        XCTAssertTrue(lines.first?.contains("gone with the lab's namespace mvj-gone-") ?? false, "\(lines)")
        XCTAssertEqual(try journal.entries(), [])
    }

    /// Each kind of record reads back as written, and its removal is the one the fault's own
    /// removal would do, derived from the kind: the same actions the lab tests rely on.
    func testEachFaultKindRoundTripsAndYieldsItsRemoval() throws {
        let lab = Lab(configuration: LabConfiguration(namePrefix: "mvj", stateDirectory: "/run/mvj-state"))
        let here = context(lab: lab)
        let cases: [(InstalledFault, FaultRemoval)] = [
            (.firewallTable(host: labDestination, table: "migverify_fault"),
             .hostScript(access: .namespace("mlab-dst"), hostName: "dst", script: "nft delete table inet migverify_fault 2>/dev/null; true")),
            (.definitionBlocker(host: labDestination, path: "/run/mvj-state/hosts/dst/etc/qemu/lab-guest.xml"),
             .hostScript(access: .namespace("mlab-dst"), hostName: "dst", script: "rmdir /run/mvj-state/hosts/dst/etc/qemu/lab-guest.xml 2>/dev/null; true")),
            (.tlsCredentialsSetAside(host: labDestination, directory: "/etc/pki/qemu", files: ["server-cert.pem", "server-key.pem"]),
             .hostScript(access: .namespace("mlab-dst"), hostName: "dst", script: DestinationTLSCredentials.restoreScript(directory: "/etc/pki/qemu"))),
            (.linkDown(namespace: "mvj-lan", interface: "mgmt-dst"), .localCommand(["ip", "-n", "mvj-lan", "link", "set", "mgmt-dst", "up"])),
            (.daemonKilled(role: .destination, labNamePrefix: "mvj", stateDirectory: "/run/mvj-state"),
             .localCommand(lab.daemonStartCommand(of: lab.configuration.destination))),
            (.daemonKilled(role: .source, labNamePrefix: "mvj", stateDirectory: "/run/mvj-state"),
             .localCommand(lab.daemonStartCommand(of: lab.configuration.source))),
            (.standInDomain(uri: "qemu+tcp://198.18.0.2/system", uuid: "6f1c7d2e-0000-4000-8000-000000000001", name: "lab-guest"),
             .destroyDomain(uri: "qemu+tcp://198.18.0.2/system", uuid: "6f1c7d2e-0000-4000-8000-000000000001", name: "lab-guest")),
        ]
        let journal = FaultJournal(path: journalPath)
        for (fault, _) in cases { _ = try journal.add(scenario: .live, fault: fault, namespace: "mvj-dst") }
        let entries = try journal.entries()
        XCTAssertEqual(entries.map(\.fault), cases.map(\.0), "every record reads back as written")
        for (entry, (fault, removal)) in zip(entries, cases) {
            XCTAssertEqual(entry.fault.removal(in: here), removal, "\(fault)")
            XCTAssertEqual(entry.namespace, "mvj-dst")
        }
        XCTAssertEqual(entries[0].what, "nft table inet migverify_fault on dst")
        // The file holds the kind and its parameters, no script and no command.
        let text = try String(contentsOfFile: journalPath, encoding: .utf8)
        for word in ["nft delete", "rmdir", "mv ", "\"ip\"", "sh -c", "script", "command"] {
            XCTAssertFalse(text.contains(word), "the journal holds \(word): \(text)")
        }
        XCTAssertTrue(text.contains(#""format" : 2"#) || text.contains(#""format":2"#), text)

        // A killed daemon of another lab, or with no lab at hand, is not started from here.
        let daemon = InstalledFault.daemonKilled(role: .destination, labNamePrefix: "mvj", stateDirectory: "/run/mvj-state")
        let other = Lab(configuration: LabConfiguration(namePrefix: "mvj", stateDirectory: "/run/elsewhere"))
        for context in [context(), context(lab: other)] {
            guard case .notHere(let reason) = daemon.removal(in: context) else { return XCTFail("\(daemon.removal(in: context))") }
            XCTAssertTrue(reason.contains("migverify lab up --lab-name-prefix mvj --state-directory /run/mvj-state"), reason)
        }
    }

    /// The ssh program of a host and a URI's `command=` come from the current command line,
    /// never from the journal: the record keeps neither.
    func testProgramsComeFromTheCommandLineNotTheJournal() throws {
        let wrapped = SSHDestination(user: "root", host: "dst.example", port: 2222, keyFile: "/root/.ssh/id", sshCommand: "/opt/ssh-wrapper")
        let host = JournaledHost(name: "dst", access: JournaledAccess(.ssh(wrapped)))
        XCTAssertEqual(host.access, .ssh(user: "root", host: "dst.example", port: 2222, keyFile: "/root/.ssh/id"), "no ssh program kept")
        let fault = InstalledFault.firewallTable(host: host, table: "migverify_fault")
        var plain = wrapped
        plain.sshCommand = nil
        XCTAssertEqual(fault.removal(in: context()), .hostScript(access: .ssh(plain), hostName: "dst", script: "nft delete table inet migverify_fault 2>/dev/null; true"))
        XCTAssertEqual(fault.removal(in: context(hosts: [.ssh(wrapped)])),
                       .hostScript(access: .ssh(wrapped), hostName: "dst", script: "nft delete table inet migverify_fault 2>/dev/null; true"),
                       "the same host on this command line keeps its ssh program")
        let journal = FaultJournal(path: journalPath)
        _ = try journal.add(scenario: .performFail, fault: fault)
        XCTAssertFalse(try String(contentsOfFile: journalPath, encoding: .utf8).contains("ssh-wrapper"))

        let uri = "qemu+ssh://root@dst.example/system?command=/opt/ssh-wrapper&keyfile=/root/.ssh/id"
        let standIn = InstalledFault.standInDomain(uri: uri, uuid: "6f1c7d2e-0000-4000-8000-000000000001", name: "lab-guest")
        guard case .notHere = standIn.removal(in: context()) else { return XCTFail("a journaled command= was used") }
        XCTAssertEqual(standIn.removal(in: context(uris: [uri])), .destroyDomain(uri: uri, uuid: "6f1c7d2e-0000-4000-8000-000000000001", name: "lab-guest"))
    }

    // MARK: a journal someone else could write

    /// Loose modes and foreign owners of the journal, its directory or a directory above are
    /// refused, one line naming the path and the problem; nothing of the journal runs.
    func testAJournalOthersCouldWriteIsRefusedAndNothingRuns() throws {
        XCTAssertEqual(getuid(), 0, "the owner cases chown to nobody, which only root can")
        let nobody: uid_t = 65_534
        let blocker = directory.appendingPathComponent("etc/qemu/guest.xml").path
        let cases: [(String, (String, String) throws -> Void, String)] = [
            ("a journal writable by all", { file, _ in XCTAssertEqual(chmod(file, 0o666), 0) }, "refused: it is writable by group and others (mode 0666)"),
            ("a journal writable by its group", { file, _ in XCTAssertEqual(chmod(file, 0o620), 0) }, "refused: it is writable by group (mode 0620)"),
            ("a directory writable by all", { _, dir in XCTAssertEqual(chmod(dir, 0o777), 0) }, "is writable by group and others (mode 0777)"),
            ("a sticky directory writable by all", { _, dir in XCTAssertEqual(chmod(dir, 0o1777), 0) }, "is writable by group and others (mode 01777)"),
            ("a journal of another user", { file, _ in XCTAssertEqual(chown(file, nobody, 0), 0) }, "refused: it is owned by uid 65534, not by uid 0 who runs this"),
            ("a directory of another user", { _, dir in XCTAssertEqual(chown(dir, nobody, 0), 0) }, "is owned by uid 65534, not by uid 0 who runs this"),
            ("a directory above writable by all", { _, dir in
                XCTAssertEqual(chmod((dir as NSString).deletingLastPathComponent, 0o777), 0) }, "is writable by group and others (mode 0777)"),
            ("a directory above of another user", { _, dir in
                XCTAssertEqual(chown((dir as NSString).deletingLastPathComponent, nobody, 0), 0) }, "is owned by uid 65534, not by uid 0 who runs this (nor by root)"),
            ("a journal that is a symbolic link", { file, _ in
                try FileManager.default.moveItem(atPath: file, toPath: file + ".real")
                try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: file + ".real") }, "refused: it is a symbolic link"),
        ]
        for (name, loosen, problem) in cases {
            let base = directory.appendingPathComponent(UUID().uuidString)
            let journalDirectory = base.appendingPathComponent("journal").path
            let path = "\(journalDirectory)/faults.json"
            try FileManager.default.createDirectory(atPath: journalDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            XCTAssertEqual(chmod(base.path, 0o755), 0)
            try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: true)
            let journal = FaultJournal(path: path)
            _ = try journal.add(scenario: .finishFail, fault: .definitionBlocker(host: local, path: blocker))
            try loosen(path, journalDirectory)

            XCTAssertThrowsError(try journal.check(), name) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("fault journal \(path) refused: "), "\(name): \(text)")
                XCTAssertTrue(text.contains(problem), "\(name): \(text)")
                XCTAssertFalse(text.contains("\n"), "\(name): one line")
            }
            XCTAssertThrowsError(try journal.removeLeftovers(context()), name)
            XCTAssertTrue(FileManager.default.fileExists(atPath: blocker), "\(name): nothing of the journal ran")
            XCTAssertThrowsError(try journal.add(scenario: .performFail, fault: .firewallTable(host: local, table: "migverify_fault")), name) { error in
                XCTAssertTrue("\(error)".contains("refused"), "\(name): \(error)")
            }
            XCTAssertEqual(chmod(base.path, 0o755), 0)
            XCTAssertEqual(chown(base.path, 0, 0), 0)
        }
        // The temporary directory itself is writable by all (sticky): no place for a journal.
        let shared = FaultJournal(path: FileManager.default.temporaryDirectory.appendingPathComponent("faults-\(UUID().uuidString).json").path)
        XCTAssertThrowsError(try shared.check()) { error in
            XCTAssertTrue("\(error)".contains("is writable by group and others (mode 01777)"), "\(error)")
        }
    }

    /// The journal is written 0600 whatever the file had before, in a directory made 0700.
    func testTheJournalIsWrittenPrivate() throws {
        let journal = FaultJournal(path: journalPath)
        let id = try journal.add(scenario: .linkCut, fault: .linkDown(namespace: "mvj-lan", interface: "br0"))
        XCTAssertEqual(try mode(journalPath), 0o600)
        XCTAssertEqual(try mode((journalPath as NSString).deletingLastPathComponent), 0o700, "the directory made for it")
        XCTAssertEqual(chmod(journalPath, 0o644), 0, "readable by others, writable by none: allowed")
        journal.strike(id)
        XCTAssertEqual(try mode(journalPath), 0o600, "rewritten 0600, not with the mode it had")
        XCTAssertEqual(try journal.entries(), [])
    }

    // MARK: a crafted journal

    /// Command text in a journal never runs: the old format is refused whole, a command
    /// where a record belongs is no record, and a record's parameters are checked before a
    /// removal is derived from them (and quoted where a script holds them).
    func testACraftedJournalCannotRunACommand() throws {
        let touch = ["touch", marker]
        let crafted: [(String, String)] = [
            // Format 1, as the previous version wrote it.
            (#"[{"id":"\#(UUID().uuidString)","scenario":"link-cut","what":"a link","installedAt":"2026-01-01T00:00:00Z","#
                + #""removal":{"localCommand":{"_0":["touch","\#(marker)"]}}}]"#, "is in the old format (removal steps as command text), which is no longer run"),
            (#"{"format":2,"faults":[{"id":"\#(UUID().uuidString)","scenario":"link-cut","installedAt":"2026-01-01T00:00:00Z","#
                + #""fault":{"localCommand":{"_0":["touch","\#(marker)"]}}}]}"#, "cannot be read"),
            (journal(.firewallTable(host: local, table: "x; touch \(marker)")), "is not migverify_fault, the only one a fault installs"),
            (journal(.tlsCredentialsSetAside(host: local, directory: directory.path, files: ["../../etc/passwd"])), "are not among ca-cert.pem"),
            (journal(.linkDown(namespace: "x; touch \(marker)", interface: "br0")), "is not a name"),
            (journal(.linkDown(namespace: "mvj-lan", interface: "-f")), "interface \"-f\" is not a name"),
            (journal(.firewallTable(host: JournaledHost(name: "dst", access: .ssh(user: nil, host: "-oProxyCommand=\(touch.joined(separator: " "))",
                                                                               port: nil, keyFile: nil)), table: "migverify_fault")), "is no host name or address"),
            (journal(.standInDomain(uri: "qemu+ext:///system?command=/usr/bin/touch", uuid: UUID().uuidString, name: "g")), "is not one of the transports"),
            (journal(.definitionBlocker(host: local, path: "/etc/passwd")), "is not a domain definition"),
            (journal(.definitionBlocker(host: local, path: "/etc/../tmp/qemu/a.xml")), "is not an absolute path without ., .. or control characters"),
            (journal(.daemonKilled(role: .source, labNamePrefix: "mlab", stateDirectory: "relative/state")), "is not an absolute path"),
            (journal(.firewallTable(host: JournaledHost(name: "dst\n\u{1B}[2J", access: .local), table: "migverify_fault")), "holds control characters"),
            (journal(.linkDown(namespace: "mvj-lan", interface: "br0"), scenario: "$(touch)"), "scenario \"$(touch)\" is not a name"),
        ]
        for (text, problem) in crafted {
            try FileManager.default.createDirectory(atPath: (journalPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            XCTAssertTrue(FileManager.default.createFile(atPath: journalPath, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]))
            let journal = FaultJournal(path: journalPath)
            XCTAssertThrowsError(try journal.check()) { error in
                XCTAssertTrue("\(error)".contains(problem), "\(text)\n→ \(error)")
                XCTAssertFalse("\(error)".contains("\n"), "one line: \(error)")
            }
            XCTAssertThrowsError(try journal.removeLeftovers(context()))
            XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "\(text) ran a command")
        }
        // An empty journal of the old format (what the previous version left after removing
        // everything) holds no record: read as empty, and written anew as format 2.
        XCTAssertTrue(FileManager.default.createFile(atPath: journalPath, contents: Data("[\n\n]".utf8), attributes: [.posixPermissions: 0o600]))
        XCTAssertEqual(try FaultJournal(path: journalPath).entries(), [])
        XCTAssertEqual(try FaultJournal(path: journalPath).removeLeftovers(context()), [])
        // What does pass the checks is quoted where a script holds it: a path with $(...) is a path.
        try? FileManager.default.removeItem(atPath: journalPath)
        let odd = directory.appendingPathComponent("$(touch \(marker))/qemu/a.xml").path
        let journal = FaultJournal(path: journalPath)
        _ = try journal.add(scenario: .finishFail, fault: .definitionBlocker(host: local, path: odd))
        XCTAssertTrue(try journal.removeLeftovers(context()).first?.contains("removed") ?? false)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the path was not run")
        // And what this version could not read back is never written.
        XCTAssertThrowsError(try journal.add(scenario: .performFail, fault: .firewallTable(host: local, table: "filter")))
    }

    /// A journal file of format 2 holding one entry with `fault`.
    private func journal(_ fault: InstalledFault, scenario: String = "link-cut") -> String {
        let entry = FaultJournalEntry(id: UUID().uuidString, scenario: scenario, installedAt: Date(timeIntervalSince1970: 0), fault: fault)
        let faults = (try? resultsJSONEncoder().encode([entry])).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        return #"{"format":2,"faults":\#(faults)}"#
    }
}
