import Foundation
import Lab
import Libvirt
import XCTest
@testable import Verifier

/// Output captured from iproute2 6.1 and nftables 1.0.6 in a scratch network namespace
/// (198.18.0.0/15 addresses), exactly as the commands printed it.
enum CapturedOutput {
    /// `ip -j link show`: loopback, a bridge, a veth whose peer is in another namespace (text
    /// form `vethA@if2 ... link-netns NAME`), a tap that is down.
    static let ipLinkShow = #"""
        [{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00"},{"ifindex":2,"ifname":"br0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"72:bb:ab:a6:9d:e2","broadcast":"ff:ff:ff:ff:ff:ff"},{"ifindex":3,"link_index":2,"ifname":"vethA","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","master":"br0","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"72:bb:ab:a6:9d:e2","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0},{"ifindex":7,"ifname":"vnet3","flags":["BROADCAST","MULTICAST"],"mtu":1500,"qdisc":"noop","master":"br0","operstate":"DOWN","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"ce:08:9b:3c:a0:c0","broadcast":"ff:ff:ff:ff:ff:ff"}]
        """#

    /// `ip -j link show dev vethA`: up.
    static let ipLinkShowUp = #"""
        [{"ifindex":3,"link_index":2,"ifname":"vethA","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","master":"br0","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"72:bb:ab:a6:9d:e2","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0}]
        """#

    /// `ip -j link show dev vnet3`: down.
    static let ipLinkShowDown = #"""
        [{"ifindex":7,"ifname":"vnet3","flags":["BROADCAST","MULTICAST"],"mtu":1500,"qdisc":"noop","master":"br0","operstate":"DOWN","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"ce:08:9b:3c:a0:c0","broadcast":"ff:ff:ff:ff:ff:ff"}]
        """#

    /// `ip -j link show dev veth0`, whose peer is in the same namespace (text form `veth0@tveth`), down.
    static let ipLinkShowPeerInSameNamespace = #"""
        [{"ifindex":9,"link":"tveth","ifname":"veth0","flags":["BROADCAST","MULTICAST","M-DOWN"],"mtu":1500,"qdisc":"noop","operstate":"DOWN","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"a2:c3:f0:b1:b2:58","broadcast":"ff:ff:ff:ff:ff:ff"}]
        """#

    /// `ip -j route get 198.18.0.7`: on a connected network.
    static let ipRouteGetConnected = #"""
        [{"dst":"198.18.0.7","dev":"br0","prefsrc":"198.18.0.1","flags":[],"uid":0,"cache":[]}]
        """#

    /// `ip -j route get 198.19.0.7`: through a gateway.
    static let ipRouteGetViaGateway = #"""
        [{"dst":"198.19.0.7","gateway":"198.18.0.254","dev":"br0","prefsrc":"198.18.0.1","flags":[],"uid":0,"cache":[]}]
        """#

    /// `ip -j route get 198.18.0.1`: an address of this host.
    static let ipRouteGetLocal = #"""
        [{"type":"local","dst":"198.18.0.1","dev":"lo","prefsrc":"198.18.0.1","flags":[],"uid":0,"cache":["local"]}]
        """#

    /// `nft -j list table inet migverify_fault` after three SYNs were dropped.
    static let nftCounted = #"""
        {"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "migverify_fault", "handle": 1}}, {"chain": {"family": "inet", "table": "migverify_fault", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": -10, "policy": "accept"}}, {"rule": {"family": "inet", "table": "migverify_fault", "chain": "input", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"range": [49152, 49215]}}}, {"counter": {"packets": 3, "bytes": 180}}, {"drop": null}]}}]}
        """#

    /// The same table just installed.
    static let nftFresh = #"""
        {"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "migverify_fault", "handle": 1}}, {"chain": {"family": "inet", "table": "migverify_fault", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": -10, "policy": "accept"}}, {"rule": {"family": "inet", "table": "migverify_fault", "chain": "input", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"range": [49152, 49215]}}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}]}
        """#

    /// A table whose rule has no counter.
    static let nftWithoutCounter = #"""
        {"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "nocounter", "handle": 2}}, {"chain": {"family": "inet", "table": "nocounter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": -10, "policy": "accept"}}, {"rule": {"family": "inet", "table": "nocounter", "chain": "input", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"range": [49152, 49215]}}}, {"drop": null}]}}]}
        """#
}

/// The verifier reads structure, not text: domain XML through the parser, `ip -j` and
/// `nft -j` through JSONDecoder, standard output apart from standard error.
final class StructuredSourcesTests: XCTestCase {
    // MARK: ip -j link show

    func testLinkNamesComeFromIfnameWithoutThePeerSuffix() throws {
        let links = try IPLink.list(fromJSON: CapturedOutput.ipLinkShow)
        XCTAssertEqual(links.map(\.ifname), ["lo", "br0", "vethA", "vnet3"], "no `@if2`")
        XCTAssertEqual(links.map(\.isUp), [true, true, true, false])
        XCTAssertEqual(links[3].flags, ["BROADCAST", "MULTICAST"])
        XCTAssertEqual(try IPLink.list(fromJSON: CapturedOutput.ipLinkShowPeerInSameNamespace),
                       [IPLink(ifname: "veth0", flags: ["BROADCAST", "MULTICAST", "M-DOWN"])], "no `@tveth`")
        XCTAssertEqual(try IPLink.list(fromJSON: "[]"), [])
        XCTAssertEqual(try IPLink.list(fromJSON: #"[{"ifindex":1,"ifname":"lo"}]"#), [IPLink(ifname: "lo")], "flags may be missing")
    }

    func testALinkIsUpWhenItsFlagsSaySo() {
        XCTAssertTrue(LinkCutFault.isUp("vethA", inIPLinkJSON: CapturedOutput.ipLinkShowUp))
        XCTAssertFalse(LinkCutFault.isUp("vnet3", inIPLinkJSON: CapturedOutput.ipLinkShowDown))
        XCTAssertFalse(LinkCutFault.isUp("veth0", inIPLinkJSON: CapturedOutput.ipLinkShowPeerInSameNamespace),
                       "M-DOWN is not UP")
        XCTAssertFalse(LinkCutFault.isUp("vnet3", inIPLinkJSON: CapturedOutput.ipLinkShowUp), "another link's flags")
        XCTAssertFalse(LinkCutFault.isUp("vethA", inIPLinkJSON: ""), "`ip` printed nothing (no such device)")
        XCTAssertFalse(LinkCutFault.isUp("vethA", inIPLinkJSON: "3: vethA@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500"),
                       "the text form is not read")
        XCTAssertTrue(LinkCutFault.isUp("lo", inIPLinkJSON: CapturedOutput.ipLinkShow), "a full listing")
    }

    func testOutputThatIsNoLinkListIsAnErrorNamingTheCommand() {
        for bad in ["", "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536", #"{"ifname":"lo"}"#, #"[{"flags":["UP"]}]"#] {
            XCTAssertThrowsError(try IPLink.list(fromJSON: bad), bad) { error in
                let text = (error as? VerifierError)?.description ?? ""
                XCTAssertTrue(text.hasPrefix("`ip -j link show` printed no JSON the verifier can read ("), text)
                XCTAssertFalse(text.contains("\n"), "one line: \(text)")
            }
        }
    }

    // MARK: ip -j route get

    func testTheRouteInterfaceIsItsDev() throws {
        XCTAssertEqual(try IPRoute.list(fromJSON: CapturedOutput.ipRouteGetConnected), [IPRoute(dst: "198.18.0.7", dev: "br0")])
        XCTAssertEqual(try IPRoute.list(fromJSON: CapturedOutput.ipRouteGetViaGateway),
                       [IPRoute(dst: "198.19.0.7", gateway: "198.18.0.254", dev: "br0")])
        XCTAssertEqual(try IPRoute.list(fromJSON: CapturedOutput.ipRouteGetLocal).first?.dev, "lo")
        XCTAssertEqual(try IPRoute.list(fromJSON: "[]"), [])
        XCTAssertThrowsError(try IPRoute.list(fromJSON: "198.18.0.7 dev br0 src 198.18.0.1 uid 0")) { error in
            XCTAssertTrue("\(error)".contains("`ip -j route get`"), "\(error)")
        }
    }

    // MARK: nft -j list table

    func testTheFaultCounterIsReadFromTheRule() throws {
        XCTAssertEqual(PortDropFault.droppedPackets(fromNFTJSON: CapturedOutput.nftCounted), 3)
        XCTAssertEqual(PortDropFault.droppedPackets(fromNFTJSON: CapturedOutput.nftFresh), 0)
        let listing = try NFTablesListing.decode(fromJSON: CapturedOutput.nftCounted)
        XCTAssertEqual(listing.rules.count, 1)
        XCTAssertEqual(listing.rules.first?.chain, "input")
        XCTAssertEqual(listing.rules.first?.counters, [NFTablesListing.Counter(packets: 3, bytes: 180)])
    }

    func testATableWithoutACounterOrNoListingGivesNoCount() throws {
        XCTAssertNil(PortDropFault.droppedPackets(fromNFTJSON: CapturedOutput.nftWithoutCounter))
        XCTAssertEqual(try NFTablesListing.decode(fromJSON: CapturedOutput.nftWithoutCounter).rules.first?.counters, [])
        XCTAssertNil(PortDropFault.droppedPackets(fromNFTJSON: ""), "the table is gone: nft printed nothing on standard output")
        XCTAssertNil(PortDropFault.droppedPackets(fromNFTJSON: "tcp dport 49152-49215 counter packets 3 bytes 180 drop"),
                     "the text form is not read")
        XCTAssertNil(PortDropFault.droppedPackets(fromNFTJSON: #"{"nftables": [{"metainfo": {"version": "1.0.6"}}]}"#), "no rule")
        // A reference to a named counter carries no numbers; other rules' anonymous counters add up.
        let twoRules = #"{"nftables": [{"rule": {"chain": "input", "expr": [{"counter": "named"}, {"accept": null}]}}, "#
            + #"{"rule": {"chain": "input", "expr": [{"counter": {"packets": 2, "bytes": 120}}]}}, "#
            + #"{"rule": {"chain": "output", "expr": [{"counter": {"packets": 5, "bytes": 300}}, {"drop": null}]}}]}"#
        XCTAssertEqual(PortDropFault.droppedPackets(fromNFTJSON: twoRules), 7)
        XCTAssertThrowsError(try NFTablesListing.decode(fromJSON: #"{"tables": []}"#)) { error in
            XCTAssertTrue("\(error)".contains("`nft -j list table`"), "\(error)")
            XCTAssertTrue("\(error)".contains("no 'nftables'"), "\(error)")
        }
    }

    // MARK: domain XML

    func testTheDomainXMLHelpersReadTheParsedXML() {
        let xml = """
            <domain type='kvm' id='4'><name>g</name><devices>
              <disk type='file' device='disk'><target dev='vda' bus='virtio'/></disk>
              <interface type='bridge'><source bridge='br0'/><target dev='vnet7'/></interface>
              <interface type="network"><target dev="vnet8"/></interface>
              <serial type='pty'><source path='/dev/pts/2'/><target port='0'/></serial>
              <console type='file'><source path="/var/log/g's console"/></console>
            </devices></domain>
            """
        XCTAssertEqual(((try? DomainDescription(xml: xml))?.interfaceTargets ?? []), ["vnet7", "vnet8"], "not the disk's target")
        XCTAssertEqual((try? DomainDescription(xml: xml))?.consoleLogPath, "/var/log/g's console")
        XCTAssertEqual(acceleratorName(domainType: (try? DomainDescription(xml: xml))?.accelerator), "kvm")
        XCTAssertEqual(acceleratorName(domainType: (try? DomainDescription(xml: "<domain type=\"qemu\"><name>g</name></domain>"))?.accelerator), "tcg")
        // The old text search took any `type='kvm'` for KVM.
        XCTAssertEqual(acceleratorName(domainType: (try? DomainDescription(xml: "<domain type='qemu'><devices><hostdev type='kvm'/></devices></domain>"))?.accelerator), "tcg")
        XCTAssertNil(acceleratorName(domainType: (try? DomainDescription(xml: "<domain type='test'/>"))?.accelerator))
        XCTAssertNil(acceleratorName(domainType: (try? DomainDescription(xml: "<domain><name>g</name></domain>"))?.accelerator))
        // XML that cannot be parsed is an error (the runner notes it), not a domain without taps.
        let broken = "<domain type='kvm'><devices><interface><target dev='vnet1'/></interface>"
        XCTAssertThrowsError(try DomainDescription(xml: broken))
    }

    // MARK: standard output and standard error

    func testHostCommandsParseStandardOutputOnly() throws {
        let host = HostInspector(hostName: "this machine", access: .local)
        XCTAssertEqual(try host.run("echo data; echo 'warning: noise' >&2", step: "print on both"), "data\n")
        let result = try host.capture("echo data; echo 'why it failed' >&2; exit 4", step: "fail")
        XCTAssertEqual(result.exitStatus, 4)
        XCTAssertEqual(result.output, "data\n")
        XCTAssertEqual(result.errorOutput, "why it failed\n")
        XCTAssertEqual(result.transcript, "data\nstandard error:\nwhy it failed\n")
        // The interfaces of this machine, through `ip -j`.
        XCTAssertTrue(try host.interfaces().contains("lo"))
    }

    func testAFailedHostCommandSaysWhyInOneLine() {
        let host = HostInspector(hostName: "dst", access: .local)
        XCTAssertThrowsError(try host.run("echo out; echo 'first reason' >&2; echo '  second  ' >&2; exit 3", step: "do a thing")) { error in
            let text = (error as? VerifierError)?.description ?? ""
            XCTAssertEqual(text, "do a thing on dst (this machine): lab step 'do a thing on dst' failed: exit status 3: first reason / second")
        }
        let long = String(repeating: "x", count: 1000)
        XCTAssertThrowsError(try host.run("echo \(long) >&2; exit 1", step: "say a lot")) { error in
            let text = (error as? VerifierError)?.description ?? ""
            XCTAssertTrue(text.hasSuffix("exit status 1: " + long.prefix(300) + "…"), text)
        }
    }

    /// `migverify run` finds the capture interface with `ip -j route get`: 127.0.0.1 goes
    /// through `lo`, so the run gets as far as asking memeater (nothing listens on port 9).
    func testTheCLIFindsTheCaptureInterfaceThroughIPJSON() throws {
        // The destination: libvirt's test driver with no domain (plan() connects to both hosts).
        let destination = FileManager.default.temporaryDirectory.appendingPathComponent("migverify-empty-node-\(getpid()).xml")
        try "<node/>\n".write(to: destination, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: destination) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: MigVerifyCLITests.binary)
        process.arguments = ["run", "--source-uri", "test:///default", "--dest-uri", "test://\(destination.path)", "--domain", "test",
                             "--guest-address", "127.0.0.1", "--memeater-port", "9"]
        let errorPipe = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errorPipe
        try process.run()
        let said = String(decoding: errorPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertFalse(said.contains("no route"), said)
        XCTAssertTrue(said.contains("no memeater answers at 127.0.0.1:9"), said)
    }
}
