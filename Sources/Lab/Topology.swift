import Foundation

/// The lab's network: namespaces, bridges and veth pairs, all created inside namespaces
/// (veths are made straight between namespaces, so the root namespace never sees a lab
/// interface or address).
///
/// ```
/// client ns: up0 198.18.0.100 ── veth ── lan ns: br0 (the switch)
/// src ns:    br-host 198.18.0.1 + guest tap + uplink ── veth ── br0
/// dst ns:    br-host 198.18.0.2 + guest tap + uplink ── veth ── br0
/// ```
struct Topology {
    let configuration: LabConfiguration
    let journal: LabJournal

    /// The veth end inside a host namespace that leads to the switch.
    static let hostUplinkName = "uplink"
    /// The veth end inside the client namespace.
    static let clientInterfaceName = "up0"
    /// The veth end inside the switch namespace that leads to the client.
    static let clientSwitchPortName = "lan-client"

    private func linkExists(_ name: String, in namespace: String) -> Bool {
        guard NetworkNamespace.exists(namespace) else { return false }
        return (try? CommandRunner.capture(["ip", "-n", namespace, "link", "show", "dev", name],
                                           step: "look up \(name) in \(namespace)").succeeded) ?? false
    }

    /// Whether every namespace and link of the topology exists.
    func isComplete() -> Bool {
        configuration.namespaces.allSatisfy(NetworkNamespace.exists)
            && linkExists(configuration.switchBridgeName, in: configuration.switchNamespace)
            && linkExists(Self.clientInterfaceName, in: configuration.clientNamespace)
            && configuration.hosts.allSatisfy {
                linkExists(configuration.hostBridgeName, in: $0.namespace) && linkExists(Self.hostUplinkName, in: $0.namespace)
            }
    }

    /// Creates whatever part of the topology is missing and fixes addresses and link
    /// states; appends a line to `actions` for each thing it created.
    /// The fixed MAC of host `hostIndex`'s bridge (locally administered, `02:6c:61:62` = "lab").
    static func bridgeMACAddress(hostIndex: Int) -> String {
        String(format: "02:6c:61:62:00:%02x", hostIndex + 1)
    }

    /// `net.ipv4.tcp_syn_retries` inside the lab's namespaces: a connect whose SYNs go
    /// unanswered gives up after 1 + 2 + 4 = 7 s (the kernel's default 6 retries take 127 s).
    static let synRetries = 2

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
                settings += ["disable_ipv6=0", "accept_dad=0", "accept_ra=0", "autoconf=0", "router_solicitations=0"]
                    .map { "net.ipv6.conf.\(scope).\($0)" }
            }
            try CommandRunner.run(["ip", "netns", "exec", namespace, "sysctl", "-q", "-w"] + settings,
                                  step: "set the lab's sysctls in \(namespace)")
        }
        if !linkExists(c.switchBridgeName, in: c.switchNamespace) {
            try ip(["-n", c.switchNamespace, "link", "add", c.switchBridgeName, "type", "bridge",
                    "stp_state", "0", "forward_delay", "0"], step: "create switch bridge")
            actions.append("created bridge \(c.switchBridgeName) in \(c.switchNamespace)")
        }
        try ip(["-n", c.switchNamespace, "link", "set", c.switchBridgeName, "up"], step: "bring up switch bridge")

        if !linkExists(Self.clientSwitchPortName, in: c.switchNamespace) {
            try ip(["-n", c.switchNamespace, "link", "add", Self.clientSwitchPortName, "type", "veth",
                    "peer", "name", Self.clientInterfaceName, "netns", c.clientNamespace], step: "create client veth")
            actions.append("created veth \(Self.clientSwitchPortName) <-> \(c.clientNamespace)/\(Self.clientInterfaceName)")
        }
        try ip(["-n", c.switchNamespace, "link", "set", Self.clientSwitchPortName, "master", c.switchBridgeName, "up"],
               step: "attach client port to switch")
        try ip(["-n", c.clientNamespace, "addr", "replace", "\(c.clientAddress)/\(c.prefixLength)",
                "dev", Self.clientInterfaceName], step: "address the client")
        try ip(["-n", c.clientNamespace, "-6", "addr", "replace", "\(c.clientIPv6Address)/\(LabConfiguration.ipv6PrefixLength)",
                "dev", Self.clientInterfaceName, "nodad"], step: "give the client its IPv6 address")
        try ip(["-n", c.clientNamespace, "link", "set", Self.clientInterfaceName, "up"], step: "bring up client interface")

        for (index, host) in c.hosts.enumerated() {
            if !linkExists(c.hostBridgeName, in: host.namespace) {
                try ip(["-n", host.namespace, "link", "add", c.hostBridgeName, "type", "bridge",
                        "stp_state", "0", "forward_delay", "0"], step: "create bridge on \(host.name)")
                actions.append("created bridge \(c.hostBridgeName) in \(host.namespace)")
            }
            // A bridge without a MAC of its own takes its lowest port's, so the guest's tap
            // (fe:54:00:…, the same on both hosts while a migration runs) could become the
            // host's MAC, and the other host's bridge would then drop its frames as its own.
            try ip(["-n", host.namespace, "link", "set", c.hostBridgeName, "address", Self.bridgeMACAddress(hostIndex: index)],
                   step: "set the bridge MAC of \(host.name)")
            try ip(["-n", host.namespace, "addr", "replace", "\(host.address)/\(c.prefixLength)",
                    "dev", c.hostBridgeName], step: "address \(host.name)")
            try ip(["-n", host.namespace, "-6", "addr", "replace", "\(host.ipv6Address)/\(LabConfiguration.ipv6PrefixLength)",
                    "dev", c.hostBridgeName, "nodad"], step: "give \(host.name) its IPv6 address")
            try ip(["-n", host.namespace, "link", "set", c.hostBridgeName, "up"], step: "bring up bridge on \(host.name)")
            if !linkExists(host.switchPortName, in: c.switchNamespace) {
                try ip(["-n", c.switchNamespace, "link", "add", host.switchPortName, "type", "veth",
                        "peer", "name", Self.hostUplinkName, "netns", host.namespace], step: "create uplink of \(host.name)")
                actions.append("created veth \(host.switchPortName) <-> \(host.namespace)/\(Self.hostUplinkName)")
            }
            try ip(["-n", c.switchNamespace, "link", "set", host.switchPortName, "master", c.switchBridgeName, "up"],
                   step: "attach \(host.name) to switch")
            try ip(["-n", host.namespace, "link", "set", Self.hostUplinkName, "master", c.hostBridgeName, "up"],
                   step: "attach uplink of \(host.name) to its bridge")
        }
    }

    private func ip(_ arguments: [String], step: String) throws {
        try CommandRunner.run(["ip"] + arguments, step: step)
    }
}
