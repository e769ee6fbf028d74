import Foundation
import Lab
import Synchronization

/// Files of the destination's TLS credentials in the host's migration x509 directory —
/// QEMU's `server-cert.pem` and `server-key.pem`, and for tls-untrusted its `ca-cert.pem` too —
/// set aside by a TLS fault (and, for tls-untrusted, replaced) and put back afterwards.
/// Journaled before anything moves: the removal script moves every set-aside file back over
/// whatever stands in its place, so an interrupted run's next start restores them.
final class DestinationTLSCredentials: Sendable {
    /// The server's certificate and key: what the destination needs to receive a TLS migration.
    static let serverFileNames = ["server-cert.pem", "server-key.pem"]
    /// The files set aside.
    let fileNames: [String]
    /// The directory, inside the x509 directory, the originals wait in.
    static let stashName = ".migverify-set-aside"

    private struct State {
        var directory: String?
        var journalID: String?
        var setAside = false
        var removal: (removed: Bool, evidence: String)?
    }

    private let state = Mutex(State())

    init(fileNames: [String]) { self.fileNames = fileNames }

    /// The host's migration x509 directory: the lab's per-host directory, else what the host's
    /// `/etc/libvirt/qemu.conf` sets (`migrate_tls_x509_cert_dir`, then `default_tls_x509_cert_dir`),
    /// else libvirt's default `/etc/pki/qemu`.
    static func directory(testbed: any Testbed, host: any HostShell) throws(VerifierError) -> String {
        if let lab = testbed.lab { return lab.configuration.migrationTLSDirectory(lab.configuration.destination) }
        let setting = { (name: String) in
            #"sed -n 's/^[[:space:]]*\#(name)[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' /etc/libvirt/qemu.conf 2>/dev/null | tail -n 1"#
        }
        let script = "d=$(\(setting("migrate_tls_x509_cert_dir"))); [ -n \"$d\" ] || d=$(\(setting("default_tls_x509_cert_dir"))); "
            + "echo \"${d:-/etc/pki/qemu}\""
        return try host.run(script, step: "read the migration TLS directory from qemu.conf").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Moves every set-aside original back (over a stand-in), then removes the stash; does
    /// nothing when nothing is set aside.
    static func restoreScript(directory: String) -> String {
        let stash = shellQuoted("\(directory)/\(stashName)")
        return "if [ -d \(stash) ]; then for f in \(stash)/*; do [ -f \"$f\" ] && mv -f \"$f\" \(shellQuoted(directory))/; done; "
            + "rmdir \(stash); fi; ! [ -e \(stash) ]"
    }

    /// Sets the files aside; with `replacements` (file name → contents) writes those in their
    /// place. Throws when the destination lacks one of them (TLS is not set up there), or
    /// something of an earlier run is still set aside.
    func setAside(_ context: FaultContext, scenario: ScenarioKind, replacements: [String: String] = [:]) throws(VerifierError) {
        guard let host = context.destinationHost else {
            throw .invalidOptions("--scenario \(scenario.rawValue) \(FaultNeeds.destinationShell(context.testbed) ?? "needs a shell on the destination")")
        }
        let directory = try Self.directory(testbed: context.testbed, host: host)
        let quoted = shellQuoted(directory)
        let stash = shellQuoted("\(directory)/\(Self.stashName)")
        let journalID = try context.journal.add(
            scenario: scenario, fault: .tlsCredentialsSetAside(host: JournaledHost(host), directory: directory, files: fileNames),
            namespace: context.testbed.lab?.configuration.destination.namespace)
        state.withLock { $0.directory = directory; $0.journalID = journalID }
        do {
            let present = fileNames.map { "[ -f \(quoted)/\($0) ]" }.joined(separator: " && ")
            try host.run("if ! { \(present); }; then echo \"\(directory) has no \(fileNames.joined(separator: " and ")): "
                         + "TLS migration is not set up on the destination\" >&2; exit 1; fi; "
                         + "if [ -e \(stash) ]; then echo \"\(directory)/\(Self.stashName) exists: an earlier run's credentials are set aside\" >&2; exit 1; fi; "
                         + "mkdir \(stash) && " + fileNames.map { "mv \(quoted)/\($0) \(stash)/" }.joined(separator: " && "),
                         step: "set the destination's TLS credentials aside")
        } catch {
            // Nothing moved: the entry would move nothing back either, but says something was done.
            state.withLock { current in
                context.journal.strike(journalID)
                current.journalID = nil
            }
            throw error
        }
        state.withLock { $0.setAside = true }
        for (name, contents) in replacements.sorted(by: { $0.key < $1.key }) {
            try host.run("umask 077; cat > \(quoted)/\(shellQuoted(name))", step: "put a stand-in \(name) in place", input: contents)
        }
    }

    /// What was set aside, for evidence: `nil` when nothing was.
    var setAsideDirectory: String? { state.withLock { $0.setAside ? $0.directory : nil } }

    /// Puts the originals back; idempotent. Returns what the removal did (`nil`: nothing was set aside).
    @discardableResult
    func restore(_ context: FaultContext) -> (removed: Bool, evidence: String)? {
        state.withLock { current in
            guard let journalID = current.journalID, let directory = current.directory else { return current.removal }
            guard let host = context.destinationHost else { return current.removal }
            do {
                try host.run(Self.restoreScript(directory: directory)
                             + " && " + fileNames.map { "[ -f \(shellQuoted("\(directory)/\($0)")) ]" }.joined(separator: " && "),
                             step: "put the destination's TLS credentials back")
                context.journal.strike(journalID)
                current.journalID = nil
                current.removal = (true, "the destination's \(fileNames.joined(separator: ", ")) back in \(directory) on \(host.hostName)")
            } catch {
                current.removal = (false, "the destination's \(fileNames.joined(separator: ", ")) not put back in \(directory) on \(host.hostName): \(error)")
            }
            return current.removal
        }
    }
}

extension DestinationTLSCredentials {
    /// Whether the migration failed with an error holding one of `phrases`: in libvirt's error,
    /// or, when libvirt returned a generic one, in what the source daemon logged. Returns the
    /// answer and the `errorEvidence` line (`expected` says what was looked for).
    static func judgeError(_ outcome: MigrationOutcome, phrases: [String], expected: String) -> (asExpected: Bool, evidence: String) {
        func holds(_ message: String) -> Bool { phrases.contains { message.contains($0) } }
        guard case .failed(let message, _) = outcome.ending else {
            return (false, "\(expected); got \(outcome.ending.summary)")
        }
        if holds(message) { return (true, "libvirt: \(outcome.ending.summary)") }
        if case .success(let errors) = outcome.sourceDaemonErrors, let logged = errors.messages.first(where: holds) {
            return (true, "libvirt: \(outcome.ending.summary); the source daemon logged (\(errors.location)): \(logged)")
        }
        return (false, "\(expected); got \(outcome.ending.summary)")
    }
}
