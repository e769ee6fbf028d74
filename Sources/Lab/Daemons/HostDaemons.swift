import Foundation
import Libvirt

/// The directories a libvirt daemon uses, each bind-mounted (inside the daemon's private
/// mount namespace only) from a per-host directory of the lab's state directory.
let libvirtSystemDirectories: [(system: String, hostSubdirectory: String)] = [
    ("/etc/libvirt", "etc"),
    ("/var/lib/libvirt", "lib"),
    ("/run/libvirt", "run"),
    ("/var/log/libvirt", "log"),
    ("/var/cache/libvirt", "cache"),
]

/// Starts, checks and describes the per-host libvirt daemons and sshds.
struct HostDaemons {
    let configuration: LabConfiguration
    let journal: LabJournal

    func directory(_ host: LabHost) -> String { configuration.hostDirectory(host) }
    func pidFilePath(_ host: LabHost) -> String { "\(directory(host))/run/libvirtd.pid" }
    func configPath(_ host: LabHost) -> String { "\(directory(host))/etc/libvirtd.conf" }
    func logPath(_ host: LabHost) -> String { configuration.daemonLogPath(host) }
    func startLogPath(_ host: LabHost) -> String { "\(directory(host))/daemon-start.log" }
    func guestQEMULogPath(_ host: LabHost) -> String {
        "\(directory(host))/log/qemu/\(configuration.guestName).log"
    }

    /// The PID in the daemon's pid file, when that process is alive.
    func daemonPID(_ host: LabHost) -> Int32? {
        guard let text = try? String(contentsOfFile: pidFilePath(host), encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              ProcessTable.isAlive(pid), ProcessTable.name(of: pid) == "libvirtd" else { return nil }
        return pid
    }

    func libvirtdConfiguration(for host: LabHost) -> String {
        """
        # Written by the migration lab for host \(host.name); see docs/lab.md.
        listen_tls = 0
        listen_tcp = 1
        listen_addr = "\(host.address)"
        auth_tcp = "none"
        auth_unix_rw = "none"
        auth_unix_ro = "none"
        host_uuid = "\(host.hostUUID)"
        # Warnings and errors from everything; migration steps and keepalive in detail.
        log_level = 3
        log_filters = "1:qemu.qemu_migration 1:rpc.keepalive 2:qemu.qemu_process"
        log_outputs = "1:file:/var/log/libvirt/libvirtd.log"

        """
    }

    func qemuConfiguration(for host: LabHost) -> String {
        """
        # Written by the migration lab for host \(host.name); see docs/lab.md.
        user = "root"
        group = "root"
        dynamic_ownership = 0
        remember_owner = 0
        security_driver = "none"
        # Both daemons share one cgroup tree and would both name the domain cgroup qemu-1-NAME.
        cgroup_controllers = [ ]
        namespaces = [ ]
        stdio_handler = "file"
        # Lab host names do not resolve: QEMU's migration stream uses the lab address.
        migration_address = "\(host.address)"
        migration_host = "\(host.address)"
        # Both hosts really share these directories (one machine): guest disks there may
        # migrate without copying storage.
        shared_filesystems = [ "\(configuration.stateDirectory)/guests", "\(configuration.cacheDirectory)/images" ]
        # Migration with VIR_MIGRATE_TLS: the lab CA's files for this host; each side checks the other's certificate.
        migrate_tls_x509_cert_dir = "\(configuration.migrationTLSDirectory(host))"
        migrate_tls_x509_verify = 1

        """
    }

    /// Makes sure the host's daemon runs and answers; starts it when it does not.
    func ensureLibvirtDaemon(_ host: LabHost, actions: inout [String]) throws {
        let configurationCurrent = (try? String(contentsOfFile: configPath(host), encoding: .utf8)) == libvirtdConfiguration(for: host)
            && (try? String(contentsOfFile: "\(directory(host))/etc/qemu.conf", encoding: .utf8)) == qemuConfiguration(for: host)
        if configurationCurrent, daemonPID(host) != nil, (try? probe(host)) != nil { return }
        if !configurationCurrent, daemonPID(host) != nil {
            actions.append("configuration of libvirtd on \(host.name) changed: restarting it")
        }
        // A half-dead daemon (pid file without a working daemon, or a daemon that does not
        // answer): stop what runs as libvirtd in the namespace and start afresh. Guests that
        // still run are picked up again by the new daemon.
        let stale = ProcessTable.processes(inNamespace: host.namespace).filter { ProcessTable.name(of: $0) == "libvirtd" }
        if !stale.isEmpty {
            ProcessTable.terminate(stale)
            actions.append("stopped libvirtd on \(host.name) (pids \(stale))")
        }
        try startLibvirtDaemon(host)
        actions.append("started libvirtd on \(host.name) at \(host.tcpURI)")
    }

    private func startLibvirtDaemon(_ host: LabHost) throws {
        let step = "start libvirt daemon on \(host.name)"
        let base = directory(host)
        let fileManager = FileManager.default
        for (system, sub) in libvirtSystemDirectories {
            try fileManager.createDirectory(atPath: "\(base)/\(sub)", withIntermediateDirectories: true)
            if !fileManager.fileExists(atPath: system) {
                // A mount point is needed; /run/libvirt does not exist where no daemon ever ran.
                try journal.record(.directory(system))
                try fileManager.createDirectory(atPath: system, withIntermediateDirectories: true)
            }
        }
        try libvirtdConfiguration(for: host).write(toFile: configPath(host), atomically: true, encoding: .utf8)
        try qemuConfiguration(for: host).write(toFile: "\(base)/etc/qemu.conf", atomically: true, encoding: .utf8)
        try? fileManager.removeItem(atPath: pidFilePath(host))

        let outer = startScript(host)
        let result = try CommandRunner.capture(["sh", "-c", outer], step: step, timeoutSeconds: 60)
        guard result.succeeded else {
            // libvirtd --daemon says only "Unable to initialize network sockets"; its log says which.
            throw LabError(step: step, reason: "exit status \(result.exitStatus)", command: ["sh", "-c", outer],
                           output: diagnostics(host), errorOutput: result.errorOutput)
        }
        let deadline = Date().addingTimeInterval(10)
        var pid: Int32?
        while pid == nil, Date() < deadline {
            pid = daemonPID(host)
            if pid == nil { usleep(100_000) }
        }
        guard let pid, let start = ProcessTable.startTime(of: pid) else {
            throw LabError(step: step, reason: "libvirtd wrote no pid file at \(pidFilePath(host))",
                           command: ["sh", "-c", outer], output: diagnostics(host))
        }
        try journal.record(.process(pid: pid, startTime: start, label: "libvirtd-\(host.name)"))
        try waitUntilAnswering(host)
    }

    /// The shell script that starts the host's daemon: in its network namespace, in a
    /// private mount and UTS namespace with the per-host directories bound over the system
    /// ones; its output goes to the start log. `libvirtd --daemon` returns once the daemon
    /// is set up (its drivers still initialise).
    func startScript(_ host: LabHost) -> String {
        let base = directory(host)
        var inner = ["hostname lab-\(host.name)"]
        for (system, sub) in libvirtSystemDirectories {
            inner.append("mount --bind \(shellQuoted("\(base)/\(sub)")) \(system)")
        }
        inner.append("exec libvirtd --listen --daemon --config \(shellQuoted(configPath(host))) --pid-file /run/libvirt/libvirtd.pid")
        return "exec >>\(shellQuoted(startLogPath(host))) 2>&1 </dev/null; "
            + "exec ip netns exec \(shellQuoted(host.namespace)) unshare --mount --uts --propagation private "
            + "sh -c \(shellQuoted(inner.joined(separator: " && ")))"
    }

    /// Connects to the daemon once from the client namespace and reads its versions.
    func probe(_ host: LabHost) throws -> DaemonFacts {
        try NetworkNamespace.run(in: configuration.clientNamespace) {
            let connection = try Connection(uri: host.tcpURI)
            return DaemonFacts(libvirtVersion: try connection.libvirtVersion().description,
                               hypervisorVersion: try connection.hypervisorVersion().description,
                               hostname: try connection.hostname())
        }
    }

    private func waitUntilAnswering(_ host: LabHost) throws {
        let deadline = Date().addingTimeInterval(configuration.daemonStartTimeoutSeconds)
        var lastError: Error?
        while Date() < deadline {
            do {
                _ = try probe(host)
                return
            } catch {
                lastError = error
                guard daemonPID(host) != nil else { break }
                usleep(250_000)
            }
        }
        throw LabError(step: "wait for libvirt daemon on \(host.name) to answer at \(host.tcpURI)",
                       reason: daemonPID(host) == nil ? "the daemon exited" :
                           "no answer within \(Int(configuration.daemonStartTimeoutSeconds)) s: \(lastError.map { "\($0)" } ?? "")",
                       output: diagnostics(host))
    }

    /// The end of the daemon's start output and log, for error messages.
    func diagnostics(_ host: LabHost) -> String {
        var text = ""
        for path in [startLogPath(host), logPath(host)] {
            if let content = try? String(contentsOfFile: path, encoding: .utf8), !content.isEmpty {
                text += "--- \(path) (last lines)\n" + content.split(whereSeparator: \.isNewline).suffix(30).joined(separator: "\n") + "\n"
            }
        }
        return text
    }

    // MARK: sshd for qemu+ssh://

    var sshDirectory: String { "\(configuration.stateDirectory)/ssh" }
    func sshdPIDFilePath(_ host: LabHost) -> String { "\(directory(host))/sshd.pid" }

    func sshdPID(_ host: LabHost) -> Int32? {
        guard let text = try? String(contentsOfFile: sshdPIDFilePath(host), encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              ProcessTable.isAlive(pid), ProcessTable.name(of: pid) == "sshd" else { return nil }
        return pid
    }

    /// Makes the lab's ssh key pair, host key and the ssh wrapper libvirt runs.
    func ensureSSHKeys(actions: inout [String]) throws {
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: sshDirectory, withIntermediateDirectories: true)
        if !fileManager.fileExists(atPath: configuration.sshKeyPath) {
            try CommandRunner.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "migration-lab",
                                   "-f", configuration.sshKeyPath], step: "make the lab's ssh key")
            actions.append("made ssh key \(configuration.sshKeyPath)")
        }
        if !fileManager.fileExists(atPath: "\(sshDirectory)/host_ed25519") {
            try CommandRunner.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "migration-lab-host",
                                   "-f", "\(sshDirectory)/host_ed25519"], step: "make the lab's ssh host key")
        }
        let publicKey = try String(contentsOfFile: configuration.sshKeyPath + ".pub", encoding: .utf8)
        try publicKey.write(toFile: "\(sshDirectory)/authorized_keys", atomically: true, encoding: .utf8)
        let wrapper = """
            #!/bin/sh
            # ssh as libvirt's qemu+ssh:// transport runs it for the lab: the lab key, no host
            # key prompts, nothing written to ~/.ssh/known_hosts.
            exec ssh -i \(shellQuoted(configuration.sshKeyPath)) -o IdentitiesOnly=yes -o BatchMode=yes \
             -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "$@"

            """
        try wrapper.write(toFile: configuration.sshCommandPath, atomically: true, encoding: .utf8)
        try fileManager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: configuration.sshCommandPath)
    }

    /// Makes sure an sshd runs for the host, inside its daemon's network and mount
    /// namespaces (so that `virt-ssh-helper` reaches this host's daemon socket).
    func ensureSSHDaemon(_ host: LabHost, actions: inout [String]) throws {
        if sshdPID(host) != nil { return }
        let step = "start sshd on \(host.name)"
        guard let daemon = daemonPID(host) else {
            throw LabError(step: step, reason: "the libvirt daemon of \(host.name) is not running")
        }
        if !FileManager.default.fileExists(atPath: "/run/sshd") {
            try journal.record(.directory("/run/sshd"))
            try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        }
        let configPath = "\(directory(host))/sshd_config"
        let config = """
            # Written by the migration lab for host \(host.name).
            ListenAddress \(host.address):22
            ListenAddress [\(host.ipv6Address)]:22
            HostKey \(sshDirectory)/host_ed25519
            PidFile \(sshdPIDFilePath(host))
            AuthorizedKeysFile \(sshDirectory)/authorized_keys
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            PrintMotd no
            UseDNS no
            AcceptEnv LANG LC_*

            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let command = ["nsenter", "--target", String(daemon), "--net", "--mount", "--uts",
                       "/usr/sbin/sshd", "-f", configPath, "-E", "\(directory(host))/sshd.log"]
        try CommandRunner.run(command, step: step, timeoutSeconds: 30)
        let deadline = Date().addingTimeInterval(5)
        while sshdPID(host) == nil, Date() < deadline { usleep(50_000) }
        guard let pid = sshdPID(host), let start = ProcessTable.startTime(of: pid) else {
            throw LabError(step: step, reason: "sshd wrote no pid file", command: command,
                           output: try? String(contentsOfFile: "\(directory(host))/sshd.log", encoding: .utf8))
        }
        try journal.record(.process(pid: pid, startTime: start, label: "sshd-\(host.name)"))
        actions.append("started sshd on \(host.name) for \(configuration.sshURI(host))")
    }
}

// MARK: a host's daemon, for faults that stop it

extension Lab {
    /// The PID of `host`'s libvirt daemon while it runs: the live `libvirtd` its pid file
    /// names; `nil` when none runs (never started, stopped, or killed: a killed daemon leaves
    /// its pid file behind, naming a process that is gone).
    public func daemonProcessID(of host: LabHost) -> Int32? {
        daemons.daemonPID(host)
    }

    /// Makes sure `host`'s libvirt daemon runs, answers and has the lab's configuration, as
    /// `lab up` does: a daemon that does is left alone; otherwise what runs as `libvirtd` in
    /// the host's namespace is stopped and a daemon is started afresh, then waited for until
    /// it answers from the client namespace (``LabConfiguration/daemonStartTimeoutSeconds``).
    /// Domains whose QEMU still runs are taken over by the new daemon (libvirt's
    /// `qemuProcessReconnect`). Returns what was done (empty: the daemon was fine); throws a
    /// ``LabError`` when the daemon cannot be started or does not answer.
    public func ensureDaemon(of host: LabHost) throws -> [String] {
        var actions: [String] = []
        try daemons.ensureLibvirtDaemon(host, actions: &actions)
        return actions
    }

    /// A command for this machine that starts `host`'s libvirt daemon the way `lab up` does,
    /// unless the daemon its pid file names still runs; it exits 0 when a daemon was started or
    /// ran already. It does not wait for the daemon to answer (``ensureDaemon(of:)`` does) and
    /// needs the lab's namespaces and configuration files, i.e. a lab that is up. For records
    /// that outlive this process: the verifier's fault journal runs it to restart a daemon
    /// that a killed run had stopped.
    public func daemonStartCommand(of host: LabHost) -> [String] {
        let pidFile = shellQuoted(daemons.pidFilePath(host))
        // A killed daemon's leader is a zombie before its other threads have let go of its
        // sockets: wait (up to 5 s) for them, or the new daemon cannot listen.
        let running = "pid=$(cat \(pidFile) 2>/dev/null); "
            + #"if [ -n "$pid" ] && [ "$(cat /proc/$pid/comm 2>/dev/null)" = libvirtd ]; then "#
            + #"grep -qs '^State:[[:space:]]*Z' /proc/$pid/status || exit 0; n=0; "#
            + #"while [ "$(ls /proc/$pid/task 2>/dev/null | wc -l)" -gt 1 ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n+1)); done; fi; "#
        return ["sh", "-c", running + "rm -f \(pidFile); " + daemons.startScript(host)]
    }
}

/// What a daemon said about itself.
public struct DaemonFacts: Sendable, Codable, Equatable {
    /// libvirt version of the daemon.
    public var libvirtVersion: String
    /// QEMU version the daemon probed.
    public var hypervisorVersion: String
    /// The daemon's host name (lab-src, lab-dst).
    public var hostname: String
}
