import ArgumentParser
import Foundation
import Lab
import MemeaterKit
import PingMonitor
import Verifier

/// Real hosts instead of the lab: the libvirt URIs, the domain and its address, memeater's
/// port and token, ssh access and the source daemon's log (``remoteHosts(interface:)``, the
/// Verifier's `RemoteHosts`). Also the capture interface, which on the lab defaults to `up0`.
struct RealHostOptions: ParsableArguments {
    @Option(name: .customLong("source-uri"), help: "Real hosts: libvirt URI of the source, e.g. qemu+ssh://root@src/system.")
    var sourceURI: String?

    @Option(name: .customLong("dest-uri"), help: "Real hosts: libvirt URI of the destination, e.g. qemu+ssh://root@dst/system.")
    var destinationURI: String?

    @Option(help: "Real hosts: the domain to migrate; it must run on the source with `memeater serve` inside.")
    var domain: String?

    @Option(name: .customLong("guest-address"), help: "Real hosts: the guest's IPv4 or IPv6 address (pinged, with ICMP or ICMPv6; memeater's control port is there).")
    var guestAddress: String?

    @Option(name: .customLong("memeater-port"), help: "Real hosts: memeater's control port in the guest.")
    var memeaterPort = 7070

    @Option(name: .customLong("memeater-token-file"), help: ArgumentHelp(
        "Real hosts: file with the token memeater serve was started with (--token-file there; mode 0600). Without it no token is presented, which only a memeater started with --no-auth accepts.",
        valueName: "path"))
    var memeaterTokenFile: String?

    @Option(name: .customLong("capture-interface"), help: "Interface pings leave from and are captured on (the lab's up0; on real hosts the route to the guest's).")
    var captureInterface: String?

    @Option(name: .customLong("source-ssh"), help: "Real hosts: [USER@]HOST[:PORT] to ssh to for the source's checks (default: from a qemu+ssh:// --source-uri).")
    var sourceSSH: String?

    @Option(name: .customLong("dest-ssh"), help: "Real hosts: [USER@]HOST[:PORT] to ssh to for the destination's checks and faults (default: from a qemu+ssh:// --dest-uri).")
    var destinationSSH: String?

    @Option(name: .customLong("source-daemon-log"), help: ArgumentHelp("""
        Real hosts: the source libvirt daemon's log file, read over ssh after a failed migration: over qemu+ssh libvirt can \
        return its connection's end of file instead of the error that ended the migration, and the faults' checks then look \
        for that error in this log ('none': do not read). Needs log_outputs with a file in libvirtd.conf or virtqemud.conf.
        """, valueName: "path"))
    var sourceDaemonLog: String = RemoteHosts.defaultDaemonLogPath

    /// Whether any real-host option is given (the capture interface and memeater's port,
    /// which have a meaning on the lab too, do not count).
    var areGiven: Bool {
        sourceURI != nil || destinationURI != nil || domain != nil || guestAddress != nil || sourceSSH != nil || destinationSSH != nil
            || memeaterTokenFile != nil
    }

    /// Checked here too: on the lab the port is the lab's and the option would go unchecked.
    func validate() throws {
        guard (1...65_535).contains(memeaterPort) else {
            throw ValidationError("--memeater-port must be between 1 and 65535, not \(memeaterPort)")
        }
    }

    /// Refuses real-host options without all four of the URIs, the domain and its address.
    func requireComplete() throws {
        guard sourceURI != nil, destinationURI != nil, domain != nil, guestAddress != nil else { throw Self.incomplete }
    }

    private static var incomplete: ValidationError {
        ValidationError("real hosts need all of --source-uri, --dest-uri, --domain and --guest-address")
    }

    /// The real hosts the options name, `nil` for the lab; rejects incomplete real-host
    /// options, a guest address that is neither IPv4 nor IPv6, malformed ssh destinations, an
    /// unreadable or unsafe token file and a relative daemon log path. `interface` gives the
    /// capture interface for the guest's address. Reads the token file; reaches no host.
    func remoteHosts(interface: (String) throws -> String) throws -> RemoteHosts? {
        guard areGiven else { return nil }
        guard let domain, let guestAddress else { throw Self.incomplete }
        return try remoteHosts(domain: domain, guestAddress: guestAddress, tokenFile: memeaterTokenFile, interface: interface)
    }

    /// An evacuation's guests on the real hosts: `--domain`, `--guest-address` and (if given)
    /// `--memeater-token-file` each list `count` values, comma-separated, guest 1 first; each
    /// guest is checked as ``remoteHosts(interface:)`` checks one. Reaches no host.
    func evacuationHosts(count: Int, interface: (String) throws -> String) throws -> [RemoteHosts] {
        guard let domain, let guestAddress else { throw Self.incomplete }
        func list(_ text: String, _ option: String) throws -> [String] {
            let values = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard values.count == count else {
                throw ValidationError("--\(option) lists \(values.count) value(s) and --guest-count is \(count): give one per guest, comma-separated")
            }
            guard !values.contains("") else { throw ValidationError("--\(option) has an empty entry: '\(text)'") }
            return values
        }
        let domains = try list(domain, "domain")
        let addresses = try list(guestAddress, "guest-address")
        let tokens = try memeaterTokenFile.map { try list($0, "memeater-token-file") }
        guard Set(domains).count == count else { throw ValidationError("--domain names a guest twice: '\(domain)'") }
        guard Set(addresses).count == count else { throw ValidationError("--guest-address names an address twice: '\(guestAddress)'") }
        return try (0..<count).map { index in
            try remoteHosts(domain: domains[index], guestAddress: addresses[index], tokenFile: tokens?[index], interface: interface)
        }
    }

    /// One guest on the real hosts (see ``remoteHosts(interface:)``).
    private func remoteHosts(domain: String, guestAddress: String, tokenFile memeaterTokenFile: String?,
                             interface: (String) throws -> String) throws -> RemoteHosts {
        guard let sourceURI, let destinationURI else { throw Self.incomplete }
        // Checked as pingmon will check it, before anything runs.
        do {
            try PingConfiguration.checkTarget(PingConfiguration.parseTarget(guestAddress), allowedNetworks: nil)
        } catch {
            throw ValidationError("--guest-address: \(error.description)")
        }
        let sourceAccess = try Self.sshAccess(sourceSSH, option: "source-ssh")
        let destinationAccess = try Self.sshAccess(destinationSSH, option: "dest-ssh")
        let endpoints = Endpoints(sourceURI: sourceURI, destinationURI: destinationURI, domainName: domain, guestAddress: guestAddress,
                                  memeaterPort: memeaterPort, captureInterface: try interface(guestAddress))
        var memeaterToken: ControlToken?
        if let memeaterTokenFile {
            do {
                memeaterToken = try ControlToken.read(fromFile: memeaterTokenFile)
            } catch {
                throw ValidationError("--memeater-token-file: \(error.description)")
            }
        }
        guard sourceDaemonLog == "none" || sourceDaemonLog.hasPrefix("/") else {
            throw ValidationError("--source-daemon-log must be an absolute path or 'none', not '\(sourceDaemonLog)'")
        }
        return RemoteHosts(endpoints: endpoints, sourceAccess: sourceAccess, destinationAccess: destinationAccess,
                           memeaterToken: memeaterToken, sourceDaemonLogPath: sourceDaemonLog == "none" ? nil : sourceDaemonLog)
    }

    /// `--source-ssh` or `--dest-ssh` read as an ssh destination; `nil` when not given.
    private static func sshAccess(_ text: String?, option: String) throws -> HostAccess? {
        guard let text else { return nil }
        guard let destination = SSHDestination.parse(text) else { throw ValidationError("--\(option) must be [USER@]HOST[:PORT], not '\(text)'") }
        return .ssh(destination)
    }
}

extension RemoteHosts {
    /// The same hosts with pings captured on `interface`: the plan's stand-in replaced by the
    /// interface the route to the guest leaves through.
    func capturing(on interface: String) -> RemoteHosts {
        var endpoints = self.endpoints
        endpoints.captureInterface = interface
        return RemoteHosts(endpoints: endpoints, sourceAccess: sourceAccess, destinationAccess: destinationAccess,
                           memeaterToken: memeaterToken, sourceDaemonLogPath: sourceDaemonLogPath)
    }
}

/// The interface the kernel routes `address` through (`ip -j route get`, its `dev`).
func routeInterface(to address: String) throws -> String {
    let result = try? CommandRunner.capture(["ip", "-j", "route", "get", address], step: "find the route to \(address)", timeoutSeconds: 10)
    guard let result, result.succeeded, let device = (try? IPRoute.list(fromJSON: result.output))?.first?.dev else {
        // ip says why on standard error, e.g. "RTNETLINK answers: Network is unreachable".
        let said = result?.errorOutput.split(whereSeparator: \.isNewline).first.map { " (\($0))" } ?? ""
        throw ValidationError("no route to the guest address \(address)\(said): give --capture-interface")
    }
    return device
}
