import Foundation
import Lab

/// How the verifier reaches a host's shell to look at it (QEMU processes, interfaces,
/// listening ports, console) and to inject faults (firewall rule, killed QEMU).
///
/// The same shell scripts run in every case, so the lab exercises exactly what real hosts run.
public enum HostAccess: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Inside a lab host's network namespace (`ip netns exec NAME sh -c ...`).
    case namespace(String)
    /// Over ssh: a real host, usually taken from a `qemu+ssh://` URI.
    case ssh(SSHDestination)
    /// This machine (`qemu:///system`).
    case local

    public var description: String {
        switch self {
        case .namespace(let name): return "namespace \(name)"
        case .ssh(let destination): return "ssh \(destination)"
        case .local: return "this machine"
        }
    }

    /// The command that runs `script` with `sh` on the host.
    public func command(_ script: String) -> [String] {
        switch self {
        case .namespace(let name): return ["ip", "netns", "exec", name, "sh", "-c", script]
        case .ssh(let destination): return destination.command(script)
        case .local: return ["sh", "-c", script]
        }
    }

    /// The host access a libvirt URI implies: ssh for `qemu+ssh://` (user, host, port,
    /// `keyfile` and `command` taken from the URI as libvirt takes them), this machine for a
    /// URI without a host, `nil` for other transports (they need ``SSHDestination/parse(_:)``) and
    /// for a host or user that is no valid ssh destination.
    public static func implied(by uri: String) -> HostAccess? {
        guard let components = URLComponents(string: uri), let scheme = components.scheme else { return nil }
        // An IPv6 host may come back in its brackets; ssh takes it bare.
        let host = (components.host ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if host.isEmpty { return .local }
        guard scheme.hasSuffix("+ssh") || scheme.hasSuffix("+libssh2") || scheme.hasSuffix("+libssh") else { return nil }
        // A host or user ssh could read as an option is no destination (libvirt's own ssh is not ours to judge).
        guard SSHDestination.isValidHost(host), components.user.map(SSHDestination.isValidUser) ?? true else { return nil }
        let query = components.queryItems ?? []
        func item(_ name: String) -> String? { query.first { $0.name == name }?.value.flatMap { $0.isEmpty ? nil : $0 } }
        return .ssh(SSHDestination(user: components.user, host: host, port: components.port,
                                   keyFile: item("keyfile"), sshCommand: scheme.hasSuffix("+ssh") ? item("command") : nil))
    }
}

/// Where and how to ssh to a host.
public struct SSHDestination: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Login name (`nil`: ssh's default).
    public var user: String?
    /// Host name or address.
    public var host: String
    /// Port (`nil`: 22).
    public var port: Int?
    /// Private key file (`-i`).
    public var keyFile: String?
    /// The ssh program to run (libvirt's `command=`); `nil`: `ssh`.
    public var sshCommand: String?

    /// Creates a destination.
    public init(user: String? = nil, host: String, port: Int? = nil, keyFile: String? = nil, sshCommand: String? = nil) {
        self.user = user
        self.host = host
        self.port = port
        self.keyFile = keyFile
        self.sshCommand = sshCommand
    }

    /// Parses `[user@]host[:port]` (an IPv6 address in brackets: `[user@][::1][:port]`);
    /// `nil` when it is not of that form or names a user or host ssh could take for an
    /// option (``isValidUser(_:)``, ``isValidHost(_:)``).
    public static func parse(_ text: String) -> SSHDestination? {
        var rest = Substring(text)
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            user = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        var port: Int?
        var host: Substring
        if rest.hasPrefix("[") {
            // An IPv6 literal: its colons are not the port's.
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let tail = rest[rest.index(after: close)...]
            if !tail.isEmpty {
                guard tail.hasPrefix(":"), let number = Int(tail.dropFirst()), (1...65535).contains(number) else { return nil }
                port = number
            }
            guard host.contains(":") else { return nil }
        } else {
            if let colon = rest.lastIndex(of: ":") {
                guard let number = Int(rest[rest.index(after: colon)...]), (1...65535).contains(number) else { return nil }
                port = number
                rest = rest[..<colon]
            }
            host = rest
        }
        guard isValidHost(String(host)), user.map(isValidUser) ?? true else { return nil }
        return SSHDestination(user: user, host: String(host), port: port)
    }

    /// Whether `host` is a host name or IPv4 address (`[A-Za-z0-9._-]`) or an IPv6 address
    /// (hex digits, `:`, `.`, a `%zone`), not starting with `-`: anything else could reach
    /// ssh as an option (`-oProxyCommand=…`) or a shell as a metacharacter.
    public static func isValidHost(_ host: String) -> Bool {
        guard let first = host.unicodeScalars.first, first != "-", host.utf8.count <= 253 else { return false }
        let isIPv6 = host.contains(":")
        return host.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", ".", "-": return true
            case "_": return !isIPv6
            case ":", "%": return isIPv6
            default: return false
            }
        }
    }

    /// Whether `user` is a login name (`[A-Za-z0-9._-]`, not starting with `-`).
    public static func isValidUser(_ user: String) -> Bool {
        guard let first = user.unicodeScalars.first, first != "-", user.utf8.count <= 64 else { return false }
        return user.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": return true
            default: return false
            }
        }
    }

    public var description: String {
        (user.map { "\($0)@" } ?? "") + (host.contains(":") ? "[\(host)]" : host) + (port.map { ":\($0)" } ?? "")
    }

    /// `ssh` with no prompts (BatchMode) and a connect timeout, running `script` on the host.
    /// `--` ends ssh's options, so the host is never read as one.
    public func command(_ script: String) -> [String] {
        var command = [sshCommand ?? "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        if let port { command += ["-p", String(port)] }
        if let keyFile { command += ["-i", keyFile] }
        if let user { command += ["-l", user] }
        return command + ["--", host, script]
    }
}

/// Looks at one host and injects faults into it, through its ``HostAccess``.
public struct HostInspector: HostShell {
    /// The host's role or name (`source`, `dst`), for messages.
    public let hostName: String
    /// How its shell is reached.
    public let access: HostAccess

    /// Creates an inspector.
    public init(hostName: String, access: HostAccess) {
        self.hostName = hostName
        self.access = access
    }

    /// Runs `script` on the host; throws unless it exits 0.
    @discardableResult
    public func run(_ script: String, step: String, input: String?) throws(VerifierError) -> String {
        do {
            return try CommandRunner.run(access.command(script), step: "\(step) on \(hostName)", timeoutSeconds: 30, input: input).output
        } catch {
            throw VerifierError.wrap(error, step: "\(step) on \(hostName) (\(access))")
        }
    }

    /// Starts `script` on the host in the background (``HostShell/startBackground(_:step:standardOutputPath:)``).
    public func startBackground(_ script: String, step: String, standardOutputPath: String) throws(VerifierError) -> any HostProcess {
        do {
            return try BackgroundCommand.start(access.command(script), step: "\(step) on \(hostName)", standardOutputPath: standardOutputPath)
        } catch {
            throw VerifierError.wrap(error, step: "\(step) on \(hostName) (\(access))")
        }
    }

    /// Runs `script` on the host and returns its result whatever the exit status.
    public func capture(_ script: String, step: String) throws(VerifierError) -> CommandResult {
        do {
            return try CommandRunner.capture(access.command(script), step: "\(step) on \(hostName)", timeoutSeconds: 30)
        } catch {
            throw VerifierError.wrap(error, step: "\(step) on \(hostName) (\(access))")
        }
    }

    /// The script listing `PID COMMAND [incoming]` of every QEMU process in the shell's own network
    /// namespace whose command line names domain `domainName` (`-name guest=NAME,...`). The
    /// namespace filter matters on the lab, where all hosts share one process table; on a
    /// real host QEMU runs in the host's namespace. A process whose namespace cannot be
    /// read prints `unreadable PID`, so that a missing permission never looks like "clean".
    /// `incoming` marks a QEMU started to receive a migration (`-incoming` on its command line).
    /// Each name is read with the shell's own `read`: no process is started for the hundreds of
    /// processes that are not QEMU (the CPU sampler runs this while a migration runs).
    static func qemuProcessScript(domainName: String) -> String {
        """
            name=\(shellQuoted(domainName))
            me=$(readlink /proc/self/ns/net)
            for d in /proc/[0-9]*; do
              { read -r comm < "$d/comm"; } 2>/dev/null || continue
              case "$comm" in qemu-system*) ;; *) continue ;; esac
              tr '\\000' ' ' < "$d/cmdline" 2>/dev/null | grep -qF -e "guest=$name," -e "guest=$name " || continue
              ns=$(readlink "$d/ns/net" 2>/dev/null) || { echo "unreadable ${d#/proc/}"; continue; }
              incoming=; tr '\\000' ' ' < "$d/cmdline" 2>/dev/null | grep -qF -e " -incoming " && incoming=" incoming"
              [ "$ns" = "$me" ] && echo "${d#/proc/} $comm$incoming"
            done
            true
            """
    }

    /// QEMU processes of domain `domainName` on the host.
    public func qemuProcesses(domainName: String) throws(VerifierError) -> [QEMUProcess] {
        let output = try run(Self.qemuProcessScript(domainName: domainName), step: "list the qemu processes of \(domainName)")
        let lines = output.split(separator: "\n")
        if let unreadable = lines.first(where: { $0.hasPrefix("unreadable ") }) {
            throw .environment("cannot tell which network namespace qemu process \(unreadable.dropFirst(11)) on \(hostName) is in: reach the host as root")
        }
        return lines.compactMap(QEMUProcess.init(scriptLine:))
    }

    /// Sends SIGKILL to `processIDs` on the host and waits up to 5 s for them to go; returns
    /// those still alive.
    public func kill(processIDs: [Int32]) throws(VerifierError) -> [Int32] {
        guard !processIDs.isEmpty else { return [] }
        let list = processIDs.map(String.init).joined(separator: " ")
        let script = "kill -9 \(list); i=0; while [ $i -lt 50 ]; do left=; for p in \(list); do [ -d /proc/$p ] && left=\"$left $p\"; done; "
            + "[ -z \"$left\" ] && break; sleep 0.1; i=$((i+1)); done; echo $left"
        return try run(script, step: "kill qemu \(list)").split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The names of the host's network interfaces (`ip -j link show`).
    public func interfaces() throws(VerifierError) -> Set<String> {
        let output = try run("ip -j link show", step: "list the network interfaces")
        do {
            return Set(try IPLink.list(fromJSON: output).map(\.ifname))
        } catch {
            throw .environment("list the network interfaces on \(hostName) (\(access)): \(error.description)")
        }
    }

    /// TCP ports in `range` something listens on (`ss -Htln`).
    public func listeningPorts(in range: ClosedRange<Int>) throws(VerifierError) -> [Int] {
        Self.ports(fromSSOutput: try run("ss -Htln", step: "list listening TCP ports")).filter(range.contains)
    }

    /// The local ports of `ss -Htln` lines (`LISTEN 0 1 198.18.0.2:49152 0.0.0.0:*`).
    static func ports(fromSSOutput output: String) -> [Int] {
        output.split(separator: "\n").compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 4, let colon = fields[3].lastIndex(of: ":") else { return nil }
            return Int(fields[3][fields[3].index(after: colon)...])
        }
    }

    /// The local ports of `ss -Htlnp` lines and the processes listening on them
    /// (`LISTEN 0 1 198.18.0.2:49152 0.0.0.0:* users:(("qemu-system-x86",pid=812,fd=31))`).
    static func portOwners(fromSSOutput output: String) -> [Int: Set<Int32>] {
        var owners: [Int: Set<Int32>] = [:]
        for line in output.split(separator: "\n") {
            guard let port = ports(fromSSOutput: String(line)).first else { continue }
            var pids = owners[port] ?? []
            var rest = line[...]
            while let marker = rest.range(of: "pid=") {
                let digits = rest[marker.upperBound...].prefix { $0.isNumber }
                if let pid = Int32(digits) { pids.insert(pid) }
                rest = rest[marker.upperBound...]
            }
            owners[port] = pids
        }
        return owners
    }

    /// The size of a file on the host, in bytes (`nil`: missing or unreadable).
    public func fileSize(_ path: String) -> UInt64? {
        guard let result = try? capture("wc -c < \(shellQuoted(path))", step: "read the size of \(path)"), result.succeeded else { return nil }
        return UInt64(result.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// A file's contents from byte `offset` on (`nil`: missing or unreadable).
    public func readFile(_ path: String, fromOffset offset: UInt64) -> String? {
        guard let result = try? capture("tail -c +\(offset + 1) \(shellQuoted(path))", step: "read \(path)"), result.succeeded else { return nil }
        return result.output
    }
}
