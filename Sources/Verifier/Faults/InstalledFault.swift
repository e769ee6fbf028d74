import Foundation
import Lab
import Libvirt
import MemeaterKit

/// How a journaled fault's host is reached: ``HostAccess`` without the ssh program, which a
/// journal never supplies (``LeftoverRemovalContext`` takes it from the current command line).
public enum JournaledAccess: Codable, Sendable, Equatable, CustomStringConvertible {
    /// A lab host's network namespace.
    case namespace(name: String)
    /// A real host over ssh.
    case ssh(user: String?, host: String, port: Int?, keyFile: String?)
    /// This machine.
    case local

    /// The journal's form of `access`.
    public init(_ access: HostAccess) {
        switch access {
        case .namespace(let name): self = .namespace(name: name)
        case .ssh(let destination): self = .ssh(user: destination.user, host: destination.host, port: destination.port, keyFile: destination.keyFile)
        case .local: self = .local
        }
    }

    /// The access to use now: an ssh host of the current command line (`known`) with the same
    /// user, host, port and key keeps its ssh program; any other host gets `ssh`.
    func access(known: [HostAccess]) -> HostAccess {
        switch self {
        case .namespace(let name): return .namespace(name)
        case .local: return .local
        case .ssh(let user, let host, let port, let keyFile):
            let plain = SSHDestination(user: user, host: host, port: port, keyFile: keyFile)
            for case .ssh(let candidate) in known where candidate.user == user && candidate.host == host
                && candidate.port == port && candidate.keyFile == keyFile {
                return .ssh(candidate)
            }
            return .ssh(plain)
        }
    }

    /// Throws unless every part is of the form the verifier itself would have written.
    func validate() throws(InstalledFaultError) {
        switch self {
        case .namespace(let name):
            try InstalledFault.requireName(name, what: "namespace")
        case .local:
            break
        case .ssh(let user, let host, let port, let keyFile):
            guard SSHDestination.isValidHost(host) else { throw .invalid("ssh host \"\(TextExcerpt.of(host))\" is no host name or address") }
            if let user, !SSHDestination.isValidUser(user) { throw .invalid("ssh user \"\(TextExcerpt.of(user))\" is no login name") }
            if let port, !(1...65_535).contains(port) { throw .invalid("ssh port \(port) is not 1-65535") }
            if let keyFile { try InstalledFault.requirePath(keyFile, what: "ssh key file") }
        }
    }

    public var description: String { access(known: []).description }
}

/// A host a journaled fault was installed on.
public struct JournaledHost: Codable, Sendable, Equatable {
    /// The host's role or name, for messages.
    public var name: String
    /// How its shell is reached.
    public var access: JournaledAccess

    /// Creates a host.
    public init(name: String, access: JournaledAccess) {
        self.name = name
        self.access = access
    }

    /// The host `shell` reaches.
    public init(_ shell: any HostShell) {
        self.init(name: shell.hostName, access: JournaledAccess(shell.access))
    }

    func validate() throws(InstalledFaultError) {
        guard !name.isEmpty, name.utf8.count <= 255, TextExcerpt.of(name, maximumCharacters: 255) == name else {
            throw .invalid("host name \"\(TextExcerpt.of(name))\" is empty, long or holds control characters")
        }
        try access.validate()
    }
}

/// What a fault installed, as its journal entry records it: the fault's kind and its
/// parameters, never a command. The removal is derived from the kind in code
/// (``removal(in:)``), so a journal file can make the verifier undo only what a fault of this
/// version installs, in the way it would, and each parameter is checked (``validate()``)
/// before anything is derived from it.
public enum InstalledFault: Codable, Sendable, Equatable, CustomStringConvertible {
    /// migration-ports-dropped: an nft table (``PortDropFault/tableName``) on a host.
    case firewallTable(host: JournaledHost, table: String)
    /// finish-fail: a directory where the destination daemon saves the domain's definition.
    case definitionBlocker(host: JournaledHost, path: String)
    /// tls-missing-cert, tls-untrusted: the destination's TLS files moved into
    /// ``DestinationTLSCredentials/stashName`` of their directory (stand-ins in their place).
    case tlsCredentialsSetAside(host: JournaledHost, directory: String, files: [String])
    /// link-cut, guest-link-cut, post-copy's link cut: a link of the lab's switch set down.
    case linkDown(namespace: String, interface: String)
    /// dst-daemon-killed, src-daemon-killed: a lab host's libvirtd SIGKILLed.
    case daemonKilled(role: HostRole, labNamePrefix: String, stateDirectory: String)
    /// dst-already-active: a transient stand-in domain on the destination.
    case standInDomain(uri: String, uuid: String, name: String)

    /// The TLS files a fault may set aside.
    static let tlsFileNames: Set<String> = ["server-cert.pem", "server-key.pem", "ca-cert.pem"]

    /// Libvirt URI parameters that name no program: a journaled URI with any other (`command`,
    /// `netcat`) is used only when the current command line names the very same URI.
    static let harmlessURIParameters: Set<String> = [
        "keyfile", "no_verify", "no_tty", "known_hosts", "known_hosts_verify", "pkipath", "sshauth", "mode", "proxy", "name",
        "tls_priority",
    ]

    /// Libvirt transports that run no program named in the URI (`ext` runs `command=`).
    static let uriSchemes: Set<String> = ["qemu", "qemu+unix", "qemu+tcp", "qemu+tls", "qemu+ssh", "qemu+libssh", "qemu+libssh2", "test"]

    /// What was installed, one line.
    public var description: String {
        switch self {
        case .firewallTable(let host, let table): return "nft table inet \(table) on \(host.name)"
        case .definitionBlocker(let host, let path): return "directory \(path) on \(host.name)"
        case .tlsCredentialsSetAside(let host, let directory, let files):
            return "\(files.joined(separator: ", ")) of \(directory) set aside on \(host.name)"
        case .linkDown(let namespace, let interface): return "\(interface) down in \(namespace)"
        case .daemonKilled(let role, let prefix, let state): return "libvirtd of the \(role.rawValue) of lab \(prefix) (\(state)) SIGKILLed"
        case .standInDomain(let uri, _, let name): return "stand-in domain \(name) on \(uri)"
        }
    }

    /// Throws unless every parameter is of the form this version writes: names as names,
    /// absolute paths without `.`, `..` or control characters, only the table and TLS files
    /// this version installs, a UUID, a libvirt URI whose transport runs no program.
    public func validate() throws(InstalledFaultError) {
        switch self {
        case .firewallTable(let host, let table):
            try host.validate()
            guard table == PortDropFault.tableName else {
                throw .invalid("nft table \"\(TextExcerpt.of(table))\" is not \(PortDropFault.tableName), the only one a fault installs")
            }
        case .definitionBlocker(let host, let path):
            try host.validate()
            try Self.requirePath(path, what: "definition path")
            let url = URL(fileURLWithPath: path)
            guard url.pathExtension == "xml", url.deletingLastPathComponent().lastPathComponent == "qemu" else {
                throw .invalid("definition path \(TextExcerpt.of(path)) is not a domain definition (…/qemu/NAME.xml)")
            }
        case .tlsCredentialsSetAside(let host, let directory, let files):
            try host.validate()
            try Self.requirePath(directory, what: "TLS directory")
            guard !files.isEmpty, files.allSatisfy(Self.tlsFileNames.contains) else {
                throw .invalid("TLS files \(files.map { "\"\(TextExcerpt.of($0))\"" }.joined(separator: ", ")) are not among "
                               + Self.tlsFileNames.sorted().joined(separator: ", "))
            }
        case .linkDown(let namespace, let interface):
            try Self.requireName(namespace, what: "namespace")
            try Self.requireName(interface, what: "interface", maximumBytes: 15)
        case .daemonKilled(_, let prefix, let stateDirectory):
            try Self.requireName(prefix, what: "lab name prefix")
            try Self.requirePath(stateDirectory, what: "lab state directory")
        case .standInDomain(let uri, let uuid, let name):
            try Self.requireURI(uri)
            guard UUID(uuidString: uuid) != nil else { throw .invalid("\"\(TextExcerpt.of(uuid))\" is no UUID") }
            try Self.requireName(name, what: "domain name")
        }
    }

    /// How to take it away here and now; `context` supplies the lab and the ssh programs and
    /// URIs of the current command line.
    public func removal(in context: LeftoverRemovalContext) -> FaultRemoval {
        switch self {
        case .firewallTable(let host, let table):
            return .hostScript(access: host.access.access(known: context.hosts), hostName: host.name,
                               script: "nft delete table inet \(table) 2>/dev/null; true")
        case .definitionBlocker(let host, let path):
            return .hostScript(access: host.access.access(known: context.hosts), hostName: host.name,
                               script: "rmdir \(shellQuoted(path)) 2>/dev/null; true")
        case .tlsCredentialsSetAside(let host, let directory, _):
            return .hostScript(access: host.access.access(known: context.hosts), hostName: host.name,
                               script: DestinationTLSCredentials.restoreScript(directory: directory))
        case .linkDown(let namespace, let interface):
            return .localCommand(["ip", "-n", namespace, "link", "set", interface, "up"])
        case .daemonKilled(let role, let prefix, let stateDirectory):
            guard let lab = context.lab, lab.configuration.namePrefix == prefix, lab.configuration.stateDirectory == stateDirectory else {
                return .notHere("it is the lab \(prefix) in \(stateDirectory), not this command's: "
                                + "`migverify lab up --lab-name-prefix \(prefix) --state-directory \(stateDirectory)` starts its daemons")
            }
            return .localCommand(lab.daemonStartCommand(of: role == .source ? lab.configuration.source : lab.configuration.destination))
        case .standInDomain(let uri, let uuid, let name):
            if Self.namesAProgram(uri) && !context.uris.contains(uri) {
                return .notHere("its URI runs a program of its own (command= or netcat=), taken only from this command's own URIs")
            }
            return .destroyDomain(uri: uri, uuid: uuid, name: name)
        }
    }

    /// A name: letters, digits, `.`, `_`, `-`, not starting with `-` or being `.`/`..`.
    static func requireName(_ name: String, what: String, maximumBytes: Int = 255) throws(InstalledFaultError) {
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": return true
            default: return false
            }
        }
        guard allowed, !name.isEmpty, name.utf8.count <= maximumBytes, !name.hasPrefix("-"), name != ".", name != ".." else {
            throw .invalid("\(what) \"\(TextExcerpt.of(name))\" is not a name (letters, digits, . _ -, at most \(maximumBytes) bytes)")
        }
    }

    /// An absolute path without `.` or `..` components, empty ones or control characters.
    static func requirePath(_ path: String, what: String) throws(InstalledFaultError) {
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), path.utf8.count <= 4096, TextExcerpt.of(path, maximumCharacters: 4096) == path,
              !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw .invalid("\(what) \"\(TextExcerpt.of(path))\" is not an absolute path without ., .. or control characters")
        }
    }

    /// A libvirt URI of a transport this version uses.
    static func requireURI(_ uri: String) throws(InstalledFaultError) {
        guard TextExcerpt.of(uri, maximumCharacters: 4096) == uri, let components = URLComponents(string: uri),
              let scheme = components.scheme, uriSchemes.contains(scheme) else {
            throw .invalid("libvirt URI \"\(TextExcerpt.of(uri))\" is not one of the transports " + uriSchemes.sorted().joined(separator: ", "))
        }
    }

    /// Whether a URI has a parameter that may name a program.
    static func namesAProgram(_ uri: String) -> Bool {
        (URLComponents(string: uri)?.queryItems ?? []).contains { !harmlessURIParameters.contains($0.name) }
    }
}

/// A journal record that is not of the form this version writes.
public enum InstalledFaultError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The reason, naming the parameter.
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let reason): return reason
        }
    }
}

/// What the current command knows that a journal must not supply: the lab it works on, and
/// the hosts and libvirt URIs its command line names (their ssh programs and `command=`).
public struct LeftoverRemovalContext {
    /// Opens a libvirt connection the way the caller reaches the hosts.
    public var connect: (String) throws -> Connection
    /// The lab of this command (`nil`: real hosts).
    public var lab: Lab?
    /// The host accesses of this command line.
    public var hosts: [HostAccess]
    /// The libvirt URIs of this command line.
    public var uris: [String]

    /// Creates a context.
    public init(connect: @escaping (String) throws -> Connection, lab: Lab? = nil, hosts: [HostAccess] = [], uris: [String] = []) {
        self.connect = connect
        self.lab = lab
        self.hosts = hosts
        self.uris = uris
    }
}

/// How to remove one installed fault, derived from its ``InstalledFault`` record in code.
public enum FaultRemoval: Sendable, Equatable, CustomStringConvertible {
    /// A script of this version run on a host.
    case hostScript(access: HostAccess, hostName: String, script: String)
    /// A command of this version run on this machine.
    case localCommand([String])
    /// Destroy (and undefine) the domain with this UUID on the daemon at `uri`.
    case destroyDomain(uri: String, uuid: String, name: String)
    /// Nothing can be done from this command; the text says what would.
    case notHere(String)

    public var description: String {
        switch self {
        case .hostScript(_, let hostName, let script): return "`\(script)` on \(hostName)"
        case .localCommand(let command): return "`\(command.map(shellQuoted).joined(separator: " "))`"
        case .destroyDomain(let uri, let uuid, let name): return "destroy domain \(name) (uuid \(uuid)) on \(uri)"
        case .notHere(let reason): return reason
        }
    }
}
