import Foundation

/// One migration host of the lab: a network namespace with a management interface (its
/// libvirt daemon, sshd and the migration stream) and a guest bridge without an address
/// (the guest's tap and the uplink to the guest network).
public struct LabHost: Sendable, Codable, Equatable {
    /// Short name used in paths, host names and messages: `src` or `dst`.
    public var name: String
    /// The network namespace the host lives in.
    public var namespace: String
    /// The host's address on the management network; the daemon, sshd and QEMU's migration
    /// stream listen here, and nowhere else.
    public var address: String
    /// libvirt's `host_uuid` for this host's daemon (libvirt refuses to migrate between two
    /// daemons with the same UUID).
    public var hostUUID: String
    /// The veth end in the switch namespace that leads to this host's guest bridge (guest network).
    public var switchPortName: String
    /// The veth end in the switch namespace that leads to this host's management interface.
    public var managementSwitchPortName: String

    /// The URI a user would type to reach this host's daemon over TCP.
    public var tcpURI: String { "qemu+tcp://\(address)/system" }
    /// The host's IPv6 lab address (``LabConfiguration/ipv6Address(matching:)``).
    public var ipv6Address: String { LabConfiguration.ipv6Address(matching: address) }
}

/// Everything the lab is made of: names, addresses, paths and timeouts, with defaults.
///
/// Two networks, as in real deployments: the management network 198.18.0.0/24 and
/// 2001:2::/64 (the hosts' daemons, sshd and the migration stream; the client) and the guest
/// network 198.18.1.0/24 and 2001:2:0:1::/64 (the guest and the client's pinger; the hosts
/// have no address there). Both are in the benchmarking ranges of RFC 2544 (198.18.0.0/15)
/// and RFC 5180 (2001:2::/48). The lab never configures an address in the root namespace.
public struct LabConfiguration: Sendable, Codable, Equatable {
    /// Prefix of every namespace the lab creates (`<prefix>-lan`, `-src`, `-dst`, `-client`).
    public var namePrefix: String
    /// Prefix length of both IPv4 subnets.
    public var prefixLength: Int
    /// The migration source host.
    public var source: LabHost
    /// The migration destination host.
    public var destination: LabHost
    /// The client's management address (libvirt clients run in the client namespace).
    public var clientAddress: String
    /// The client's address on the guest network (pings and memeater's control connection).
    public var clientGuestNetworkAddress: String
    /// The guest's address (guest network).
    public var guestAddress: String
    /// The guest NIC's fixed MAC address.
    public var guestMACAddress: String
    /// The libvirt domain name of the guest.
    public var guestName: String
    /// The TCP port memeater serves its control protocol on, inside the guest.
    public var memeaterPort: Int
    /// The bridge inside each host namespace that joins the guest's tap to the guest network
    /// (no address: the host is not reachable from the guest network).
    public var hostBridgeName: String
    /// The name of the guest's tap device inside each host namespace.
    public var guestTapName: String
    /// The guest network's switch bridge inside the switch namespace.
    public var switchBridgeName: String
    /// The management network's switch bridge inside the switch namespace.
    public var managementSwitchBridgeName: String
    /// Runtime state: PIDs, daemon directories, logs; removed by `lab down`.
    public var stateDirectory: String
    /// Built guest images, the accelerator probe result and private emulators; kept.
    public var cacheDirectory: String
    /// Longest wait for a daemon to answer after start.
    public var daemonStartTimeoutSeconds: Double
    /// Longest wait for a guest to report ready on its console after start.
    public var bootTimeoutSeconds: Double
    /// Longest wait for the accelerator probe (a bounded guest boot).
    public var acceleratorProbeTimeoutSeconds: Double
    /// Whether to run an sshd per host so that `qemu+ssh://` URIs work.
    public var startSSHDaemons: Bool

    /// The lab's defaults (see docs/lab.md for the diagram).
    public init(
        namePrefix: String = "mlab",
        stateDirectory: String = "/run/migration-lab",
        cacheDirectory: String = "/var/cache/migration-lab"
    ) {
        self.namePrefix = namePrefix
        prefixLength = 24
        source = LabHost(name: "src", namespace: "\(namePrefix)-src", address: "198.18.0.1",
                         hostUUID: "6c616273-7263-4000-8000-000000000001", switchPortName: "lan-src",
                         managementSwitchPortName: "mgmt-src")
        destination = LabHost(name: "dst", namespace: "\(namePrefix)-dst", address: "198.18.0.2",
                              hostUUID: "6c616264-7374-4000-8000-000000000002", switchPortName: "lan-dst",
                              managementSwitchPortName: "mgmt-dst")
        clientAddress = "198.18.0.100"
        clientGuestNetworkAddress = "198.18.1.100"
        guestAddress = "198.18.1.10"
        guestMACAddress = "52:54:00:c6:12:0a"
        guestName = "lab-guest"
        memeaterPort = 7070
        hostBridgeName = "br-guest"
        guestTapName = "labtap0"
        switchBridgeName = "br0"
        managementSwitchBridgeName = "br-mgmt"
        self.stateDirectory = stateDirectory
        self.cacheDirectory = cacheDirectory
        daemonStartTimeoutSeconds = 120
        bootTimeoutSeconds = 120
        acceleratorProbeTimeoutSeconds = 30
        startSSHDaemons = true
    }

    /// Prefix length of the lab's IPv6 subnet 2001:2::/64.
    public static let ipv6PrefixLength = 64

    /// The IPv6 address that goes with an IPv4 lab address: 198.18.N.X is 2001:2:0:N::X (N
    /// and X's decimal digits written as IPv6 groups, so 198.18.0.1 is 2001:2::1 and
    /// 198.18.1.10 is 2001:2:0:1::10): each IPv4 /24 has its own /64.
    public static func ipv6Address(matching ipv4Address: String) -> String {
        let parts = ipv4Address.split(separator: ".").map(String.init)
        let subnet = parts.count == 4 ? parts[2] : "0"
        let host = parts.last ?? "0"
        return subnet == "0" ? "2001:2::\(host)" : "2001:2:0:\(subnet)::\(host)"
    }

    /// The client's IPv6 address on the management network.
    public var clientIPv6Address: String { Self.ipv6Address(matching: clientAddress) }
    /// The client's IPv6 address on the guest network.
    public var clientGuestNetworkIPv6Address: String { Self.ipv6Address(matching: clientGuestNetworkAddress) }
    /// The guest's IPv6 address.
    public var guestIPv6Address: String { Self.ipv6Address(matching: guestAddress) }

    /// The namespace holding both switches (the guest network's and the management network's bridge).
    public var switchNamespace: String { "\(namePrefix)-lan" }
    /// The namespace of the client (pinger, libvirt client).
    public var clientNamespace: String { "\(namePrefix)-client" }
    /// Every namespace the lab creates, in creation order.
    public var namespaces: [String] { [switchNamespace, clientNamespace, source.namespace, destination.namespace] }
    /// Both hosts, source first.
    public var hosts: [LabHost] { [source, destination] }

    /// The host with this name (`src` or `dst`), if any.
    public func host(named name: String) -> LabHost? { hosts.first { $0.name == name } }

    /// Directory of a host's daemon: its config, state, runtime, log and cache directories.
    public func hostDirectory(_ host: LabHost) -> String { "\(stateDirectory)/hosts/\(host.name)" }
    /// `host`'s directory of QEMU's x509 files for migration TLS (its qemu.conf's
    /// `migrate_tls_x509_cert_dir`; not bind-mounted, the daemon reads it where it is).
    public func migrationTLSDirectory(_ host: LabHost) -> String { "\(hostDirectory(host))/pki/qemu" }
    /// The log file of `host`'s libvirt daemon (its `/var/log/libvirt/libvirtd.log`).
    public func daemonLogPath(_ host: LabHost) -> String { "\(hostDirectory(host))/log/libvirtd.log" }
    /// The file the guest's serial console is written to (appended across migrations).
    public var guestConsoleLogPath: String { "\(stateDirectory)/guests/\(guestName).console.log" }
    /// The token of the running guest's memeater (mode 0600), written by
    /// ``Lab/startGuest(definition:kind:on:actions:)`` and read by every client of the lab.
    public var memeaterTokenPath: String { "\(stateDirectory)/guests/\(guestName).memeater-token" }
    /// The journal of everything the lab created, read by `lab down`.
    public var journalPath: String { "\(stateDirectory)/journal" }
    /// The status written by `lab up`.
    public var statusPath: String { "\(stateDirectory)/lab.json" }
    /// The KVM probe QEMU's serial console log (its `-serial file:` argument finds a probe left by a crash).
    public var acceleratorProbeConsolePath: String { "\(stateDirectory)/accelerator-probe.console.log" }
    /// The lab's private ssh key (for `qemu+ssh://`).
    public var sshKeyPath: String { "\(stateDirectory)/ssh/id_ed25519" }
    /// The ssh wrapper libvirt runs for `qemu+ssh://` URIs (key, no host key checks, no
    /// known_hosts writes).
    public var sshCommandPath: String { "\(stateDirectory)/ssh/lab-ssh" }

    /// The `qemu+ssh://` URI of a host's daemon, through the lab's sshd and key.
    public func sshURI(_ host: LabHost) -> String {
        "qemu+ssh://root@\(host.address)/system?command=\(sshCommandPath)"
    }

    /// The same over the host's IPv6 address.
    public func sshIPv6URI(_ host: LabHost) -> String {
        "qemu+ssh://root@[\(host.ipv6Address)]/system?command=\(sshCommandPath)"
    }
}
