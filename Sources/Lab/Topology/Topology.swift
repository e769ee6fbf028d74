import Foundation

/// The lab's two networks: namespaces, bridges and veth pairs, all created inside namespaces
/// (veths are made straight between namespaces, so the root namespace never sees a lab
/// interface or address).
///
/// ```
/// lan ns:    br-mgmt (management switch)           br0 (guest network switch)
/// client ns: mgmt0 198.18.0.100 ── br-mgmt          up0 198.18.1.100 ── br0
/// src ns:    mgmt0 198.18.0.1   ── br-mgmt          br-guest (no address) = guest tap + uplink ── br0
/// dst ns:    mgmt0 198.18.0.2   ── br-mgmt          br-guest (no address) = guest tap + uplink ── br0
/// ```
///
/// The hosts have no address on the guest network, so the guest reaches neither their
/// daemons nor their sshd, and nothing routes between the two networks.
struct Topology {
    let configuration: LabConfiguration
    let journal: LabJournal

    /// The veth end inside a host namespace that leads to the guest network's switch.
    static let hostUplinkName = "uplink"
    /// The veth end inside a host or the client namespace that carries its management address.
    static let managementInterfaceName = "mgmt0"
    /// The veth end inside the client namespace on the guest network.
    static let clientInterfaceName = "up0"
    /// The veth end inside the switch namespace that leads to the client's guest network interface.
    static let clientSwitchPortName = "lan-client"
    /// The veth end inside the switch namespace that leads to the client's management interface.
    static let clientManagementSwitchPortName = "mgmt-client"

    /// The names of the lab's veths, taps and host bridges (the root namespace's leftover
    /// check; the switch bridges and `mgmt0` are left out: real machines use such names).
    static func interfaceNames(_ c: LabConfiguration) -> [String] {
        [c.guestTapName, c.hostBridgeName, hostUplinkName, clientSwitchPortName, clientManagementSwitchPortName]
            + c.hosts.flatMap { [$0.switchPortName, $0.managementSwitchPortName] }
    }

    private func linkExists(_ name: String, in namespace: String) -> Bool {
        guard NetworkNamespace.exists(namespace) else { return false }
        return (try? CommandRunner.capture(["ip", "-n", namespace, "link", "show", "dev", name],
                                           step: "look up \(name) in \(namespace)").succeeded) ?? false
    }

    /// The fixed MAC of host `hostIndex`'s guest bridge (locally administered, `02:6c:61:62` = "lab").
    static func bridgeMACAddress(hostIndex: Int) -> String {
        String(format: "02:6c:61:62:00:%02x", hostIndex + 1)
    }

    /// `net.ipv4.tcp_syn_retries` inside the lab's namespaces: a connect whose SYNs go
    /// unanswered gives up after 1 + 2 + 4 = 7 s (the kernel's default 6 retries take 127 s).
    static let synRetries = 2

    /// Creates whatever part of the topology is missing and fixes addresses and link
    /// states; appends a line to `actions` for each thing it created.
    func ensure(actions: inout [String]) throws {
        let c = configuration
        for namespace in c.namespaces where !NetworkNamespace.exists(namespace) {
            try journal.record(.namespace(namespace))
            try ip(["netns", "add", namespace], step: "create namespace \(namespace)")
            actions.append("created namespace \(namespace)")
            try ip(["-n", namespace, "link", "set", "lo", "up"], step: "bring up lo in \(namespace)")
        }
        for namespace in c.namespaces {
            // Set on every `lab up`, so a lab made before it had IPv6 gets it too.
            // IPv6 with fixed addresses only: no router solicitations, autoconfiguration or
            // DAD (whose 1 s wait would delay the first packets), so nearly all traffic is ours.
            // A TCP connect to a port whose SYNs are dropped gives up after 2 retries (7 s)
            // instead of the kernel's 6 (127 s): the perform-fail firewall stalls libvirt's
            // connect, which cannot be aborted, so this bounds the scenario's length. The
            // lab's links lose no packets, so no connect needs more retries.
            var settings = ["net.ipv4.tcp_syn_retries=\(Self.synRetries)"]
            for scope in ["all", "default"] {
                settings += ["accept_dad=0", "accept_ra=0", "autoconf=0", "router_solicitations=0"]
                    .map { "net.ipv6.conf.\(scope).\($0)" }
            }
            // In a host, every new interface (the guest bridge, its uplink, libvirt's taps)
            // starts without IPv6, so the host has no address at all on the guest network;
            // only `mgmt0` gets it back (``address(_:in:ipv4:ipv6:)``). `all.disable_ipv6` is
            // never written there: writing it sets every existing interface, for a moment too.
            let isHost = c.hosts.contains { $0.namespace == namespace }
            settings += isHost ? ["net.ipv6.conf.default.disable_ipv6=1"]
                : ["net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0"]
            try CommandRunner.run(["ip", "netns", "exec", namespace, "sysctl", "-q", "-w"] + settings,
                                  step: "set the lab's sysctls in \(namespace)")
        }
        for bridge in [c.switchBridgeName, c.managementSwitchBridgeName] {
            try ensureBridge(bridge, in: c.switchNamespace, actions: &actions)
        }

        // The client: on the management network (libvirt clients) and on the guest network (pings, memeater).
        try ensureVeth(switchPort: Self.clientManagementSwitchPortName, bridge: c.managementSwitchBridgeName,
                       end: Self.managementInterfaceName, in: c.clientNamespace, actions: &actions)
        try address(Self.managementInterfaceName, in: c.clientNamespace, ipv4: c.clientAddress, ipv6: c.clientIPv6Address)
        try ensureVeth(switchPort: Self.clientSwitchPortName, bridge: c.switchBridgeName,
                       end: Self.clientInterfaceName, in: c.clientNamespace, actions: &actions)
        try address(Self.clientInterfaceName, in: c.clientNamespace, ipv4: c.clientGuestNetworkAddress,
                    ipv6: c.clientGuestNetworkIPv6Address)

        for (index, host) in c.hosts.enumerated() {
            try ensureVeth(switchPort: host.managementSwitchPortName, bridge: c.managementSwitchBridgeName,
                           end: Self.managementInterfaceName, in: host.namespace, actions: &actions)
            try address(Self.managementInterfaceName, in: host.namespace, ipv4: host.address, ipv6: host.ipv6Address)

            try ensureBridge(c.hostBridgeName, in: host.namespace, actions: &actions)
            // A bridge without a MAC of its own takes its lowest port's, so the guest's tap
            // (fe:54:00:…, the same on both hosts while a migration runs) could become the
            // host's MAC, and the other host's bridge would then drop its frames as its own.
            try ip(["-n", host.namespace, "link", "set", c.hostBridgeName, "address", Self.bridgeMACAddress(hostIndex: index)],
                   step: "set the guest bridge MAC of \(host.name)")
            try ensureVeth(switchPort: host.switchPortName, bridge: c.switchBridgeName,
                           end: Self.hostUplinkName, in: host.namespace, actions: &actions)
            try ip(["-n", host.namespace, "link", "set", Self.hostUplinkName, "master", c.hostBridgeName, "up"],
                   step: "attach the guest network uplink of \(host.name) to its guest bridge")
            // No address at all on the guest network, not even an IPv6 link-local one: the
            // guest must not reach the host. (New interfaces start without IPv6; these two
            // may predate that setting.)
            for device in [c.hostBridgeName, Self.hostUplinkName] {
                try CommandRunner.run(["ip", "netns", "exec", host.namespace, "sysctl", "-q", "-w",
                                       "net.ipv6.conf.\(device).disable_ipv6=1"],
                                      step: "keep \(host.name)'s \(device) without an IPv6 address")
            }
            try ip(["-n", host.namespace, "addr", "flush", "dev", c.hostBridgeName], step: "keep \(host.name)'s guest bridge without an address")
        }
    }

    private func ensureBridge(_ name: String, in namespace: String, actions: inout [String]) throws {
        if !linkExists(name, in: namespace) {
            try ip(["-n", namespace, "link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0"],
                   step: "create bridge \(name) in \(namespace)")
            actions.append("created bridge \(name) in \(namespace)")
        }
        try ip(["-n", namespace, "link", "set", name, "up"], step: "bring up bridge \(name) in \(namespace)")
    }

    /// A veth from switch port `switchPort` (attached to `bridge` in the switch namespace) to `end` in `namespace`.
    private func ensureVeth(switchPort: String, bridge: String, end: String, in namespace: String, actions: inout [String]) throws {
        let switchNamespace = configuration.switchNamespace
        if !linkExists(switchPort, in: switchNamespace) {
            try ip(["-n", switchNamespace, "link", "add", switchPort, "type", "veth", "peer", "name", end, "netns", namespace],
                   step: "create veth \(switchPort) to \(namespace)")
            actions.append("created veth \(switchPort) <-> \(namespace)/\(end)")
        }
        try ip(["-n", switchNamespace, "link", "set", switchPort, "master", bridge, "up"],
               step: "attach \(switchPort) to \(bridge)")
        try ip(["-n", namespace, "link", "set", end, "up"], step: "bring up \(end) in \(namespace)")
    }

    private func address(_ interface: String, in namespace: String, ipv4: String, ipv6: String) throws {
        try CommandRunner.run(["ip", "netns", "exec", namespace, "sysctl", "-q", "-w", "net.ipv6.conf.\(interface).disable_ipv6=0"],
                              step: "enable IPv6 on \(interface) in \(namespace)")
        try ip(["-n", namespace, "addr", "replace", "\(ipv4)/\(configuration.prefixLength)", "dev", interface],
               step: "give \(interface) in \(namespace) the address \(ipv4)")
        try ip(["-n", namespace, "-6", "addr", "replace", "\(ipv6)/\(LabConfiguration.ipv6PrefixLength)", "dev", interface, "nodad"],
               step: "give \(interface) in \(namespace) the address \(ipv6)")
    }

    private func ip(_ arguments: [String], step: String) throws {
        try CommandRunner.run(["ip"] + arguments, step: step)
    }
}
