import ArgumentParser
import Foundation
@testable import PingMonitor
@testable import PingMonitorCLI
import XCTest

/// IPv6 addresses and prefixes as text, and which targets pingmon accepts. Pure: nothing is
/// sent. The literals are documentation addresses (2001:db8::/32, RFC 3849) or the project's
/// own ranges, except where a kind of address is the point (ULA, link-local, multicast).
final class IPv6AddressTests: XCTestCase {
    func testParsesTheTextFormsAndPrintsTheCanonicalOne() {
        // (input, RFC 5952 form)
        let cases: [(String, String)] = [
            ("2001:db8::1", "2001:db8::1"),
            ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  // the first of two equal runs
            ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"),  // the longest run, not the first
            ("2001:db8:1:1:1:1:0:1", "2001:db8:1:1:1:1:0:1"),  // one zero group is not shortened
            ("::", "::"),
            ("::1", "::1"),
            ("1::", "1::"),
            ("fe80::1", "fe80::1"),
            ("::ffff:198.18.0.1", "::ffff:198.18.0.1"),
            ("::ffff:c612:1", "::ffff:198.18.0.1"),
            ("2001:2::10", "2001:2::10"),
            ("ff02::1", "ff02::1"),
        ]
        for (text, canonical) in cases {
            let address = IPv6Address(text)
            XCTAssertEqual(address?.description, canonical, text)
            // The canonical form reads back as the same address.
            XCTAssertEqual(IPv6Address(canonical), address, canonical)
        }
        XCTAssertEqual(IPv6Address("2001:db8::102:304"), IPv6Address(high: 0x2001_0DB8_0000_0000, low: 0x0102_0304))
        XCTAssertEqual(IPv6Address("2001:db8::102:304")?.bytes, [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 8) + [1, 2, 3, 4])
        XCTAssertEqual(IPv6Address(bytes: IPv6Address("2001:db8::7")!.bytes), IPv6Address("2001:db8::7"))
        XCTAssertNil(IPv6Address(bytes: [1, 2, 3]))
    }

    func testRejectsEverythingElse() {
        for bad in ["", ":", ":::", "1:::2", "1::2::3", "2001:db8::1::", ":1::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7",
                    "1:2:3:4:5:6:7:8::", "12345::", "g::1", "2001:db8::1%eth0", "[2001:db8::1]", "2001:db8::/32",
                    "1.2.3.4", "::1.2.3", "::1.2.3.4.5", "1.2.3.4::", "-1::", "+1::", " ::1", "::1 ", "２::1",
                    "guest.example.invalid"] {
            XCTAssertNil(IPv6Address(bad), bad)
        }
    }

    func testEitherFamilyAsOneAddress() throws {
        XCTAssertEqual(IPAddress("198.18.0.10"), .v4(IPv4Address(198, 18, 0, 10)))
        XCTAssertEqual(IPAddress("2001:2::10"), .v6(IPv6Address(high: 0x2001_0002_0000_0000, low: 0x10)))
        XCTAssertEqual(IPAddress("2001:2::10")?.family, .ipv6)
        XCTAssertEqual(IPAddress("127.0.0.1")?.family, .ipv4)
        XCTAssertNil(IPAddress("guest"))
        // JSON: the text form, as the report's "target" has always been.
        let encoded = try JSONEncoder().encode([IPAddress.v6(Synthetic.target6), .v4(Synthetic.target)])
        XCTAssertEqual(String(decoding: encoded, as: UTF8.self), #"["2001:2::2","198.18.13.2"]"#)
        XCTAssertEqual(try JSONDecoder().decode([IPAddress].self, from: encoded), [.v6(Synthetic.target6), .v4(Synthetic.target)])
        XCTAssertThrowsError(try JSONDecoder().decode([IPAddress].self, from: Data(#"["guest"]"#.utf8)))
    }

    func testPrefixes() {
        let range = IPv6Network("2001:2::/48")
        XCTAssertEqual(range?.description, "2001:2::/48")
        XCTAssertEqual(range?.contains(IPv6Address("2001:2:0:ffff::1")!), true)
        XCTAssertEqual(range?.contains(IPv6Address("2001:2:1::1")!), false)
        XCTAssertEqual(IPv6Network("2001:db8::1/32")?.description, "2001:db8::/32", "host bits cleared")
        XCTAssertEqual(IPv6Network("2001:db8::1")?.prefixLength, 128)
        XCTAssertEqual(IPv6Network("::/0")?.contains(IPv6Address("2001:db8::1")!), true)
        XCTAssertEqual(IPv6Network("2001:db8::8/125")?.contains(IPv6Address("2001:db8::f")!), true)
        XCTAssertEqual(IPv6Network("2001:db8::8/125")?.contains(IPv6Address("2001:db8::10")!), false)
        XCTAssertEqual(IPv6Network("2001:db8:0:0:8000::/65")?.contains(IPv6Address("2001:db8::ffff:0:0:1")!), true)
        XCTAssertEqual(IPv6Network("2001:db8:0:0:8000::/65")?.contains(IPv6Address("2001:db8::7fff:0:0:1")!), false)
        for bad in ["2001:db8::/129", "2001:db8::/", "2001:db8::/-1", "2001:db8::/+8", "2001:db8::/1/2", "/64", "guest/64"] {
            XCTAssertNil(IPv6Network(bad), bad)
        }
        // Either family in one list; an address never lies in the other family's network.
        XCTAssertEqual(IPNetwork("198.18.0.0/15"), .v4(IPv4Network("198.18.0.0/15")!))
        XCTAssertEqual(IPNetwork("2001:2::/48"), .v6(IPv6Network("2001:2::/48")!))
        XCTAssertEqual(IPNetwork("::/0")?.contains(.v4(IPv4Address(198, 18, 0, 1))), false)
        XCTAssertEqual(IPNetwork("0.0.0.0/0")?.contains(.v6(Synthetic.target6)), false)
        XCTAssertEqual(IPNetwork.projectTestNetworks.map(\.description), ["198.18.0.0/15", "127.0.0.0/8", "2001:2::/48", "::1/128"])
    }

    /// checkTarget for IPv6, one row per kind of address: accepted (nil) or the one line it gives.
    func testTargetChecks() {
        let rows: [(String, String?)] = [
            ("2001:db8::10", nil),  // global unicast
            ("2001:2::2", nil),  // the benchmarking range
            ("fd12:3456:789a::1", nil),  // unique local
            ("fe80::5054:ff:fe12:3456", nil),  // link-local: the interface is its zone
            ("::1", nil),
            ("::", "target :: is the unspecified address, not one host: name the guest's unicast address"),
            ("ff02::1", "target ff02::1 is a multicast address, not one host: name the guest's unicast address"),
            ("ff0e::1234", "target ff0e::1234 is a multicast address, not one host: name the guest's unicast address"),
            ("::ffff:198.18.0.1", "target ::ffff:198.18.0.1 is an IPv4-mapped IPv6 address (::ffff:0:0/96), which no host answers on the wire: give the IPv4 address 198.18.0.1 instead"),
            ("::ffff:0.0.0.0", "target ::ffff:0.0.0.0 is an IPv4-mapped IPv6 address (::ffff:0:0/96), which no host answers on the wire: give the IPv4 address 0.0.0.0 instead"),
        ]
        for (text, expected) in rows {
            guard let address = IPAddress(text) else { XCTFail("\(text) does not parse"); continue }
            do {
                try PingConfiguration.checkTarget(address, allowedNetworks: nil)
                XCTAssertNil(expected, "\(text) was accepted")
            } catch {
                XCTAssertEqual(error.description, expected, text)
                XCTAssertFalse(error.description.contains("\n"), text)
            }
        }
    }

    func testAllowedNetworksTakeIPv6Prefixes() throws {
        let projectOnly = IPNetwork.projectTestNetworks
        XCTAssertNoThrow(try PingConfiguration.checkTarget(.v6(Synthetic.target6), allowedNetworks: projectOnly))
        XCTAssertNoThrow(try PingConfiguration.checkTarget(try XCTUnwrap(IPAddress("::1")), allowedNetworks: projectOnly))
        XCTAssertNoThrow(try PingConfiguration.checkTarget(.v4(Synthetic.target), allowedNetworks: projectOnly))
        let outside = try XCTUnwrap(IPAddress("2001:db8::1"))
        XCTAssertThrowsError(try PingConfiguration.checkTarget(outside, allowedNetworks: projectOnly)) { error in
            XCTAssertEqual((error as? PingMonitorError)?.description,
                           "target 2001:db8::1 is outside the allowed networks 198.18.0.0/15, 127.0.0.0/8, 2001:2::/48, ::1/128; widen them with --allowed-networks")
        }
        // IPv4 networks alone let no IPv6 target through, and the reverse.
        XCTAssertThrowsError(try PingConfiguration.checkTarget(.v6(Synthetic.target6), allowedNetworks: [.v4(IPv4Network("0.0.0.0/0")!)]))
        XCTAssertThrowsError(try PingConfiguration.checkTarget(.v4(Synthetic.target), allowedNetworks: [.v6(IPv6Network("::/0")!)]))
        // A refusal of the address itself comes first, whatever the networks.
        XCTAssertThrowsError(try PingConfiguration.checkTarget(try XCTUnwrap(IPAddress("ff02::1")), allowedNetworks: [.v6(IPv6Network("::/0")!)])) { error in
            guard case .targetNotUnicast? = error as? PingMonitorError else { return XCTFail("\(error)") }
        }
    }

    func testCommandLineTargetsAndTheirErrors() throws {
        XCTAssertEqual(try PingConfiguration.parseTarget("2001:2::2"), .v6(Synthetic.target6))
        XCTAssertEqual(try PingConfiguration.parseTarget("198.18.13.2"), .v4(Synthetic.target))
        XCTAssertThrowsError(try PingConfiguration.parseTarget("fe80::1%eth0")) { error in
            XCTAssertEqual((error as? PingMonitorError)?.description,
                           "target 'fe80::1%eth0' has a zone: give the address without its '%...' part; pingmon sends from --interface, which is its zone")
        }
        for bad in ["guest", "2001:db8::1::2", "%eth0", "198.18.0.1%eth0"] {
            XCTAssertThrowsError(try PingConfiguration.parseTarget(bad)) { error in
                XCTAssertEqual((error as? PingMonitorError)?.description,
                               "target '\(bad)' is not a numeric IPv4 address or IPv6 address (names are not resolved, so that no DNS query is sent)")
            }
        }
    }

    /// The CLI's parsing (no run): IPv6 targets and prefixes are accepted, bad ones are usage errors.
    func testTheCommandLineTakesIPv6() throws {
        XCTAssertNoThrow(try PingMon.parseAsRoot(["--target", "2001:2::2", "--allowed-networks", "198.18.0.0/15, 2001:2::/48"]))
        XCTAssertNoThrow(try PingMon.parseAsRoot(["analyze", "capture.pcap", "--target", "::1"]))
        for (arguments, expected) in [
            (["--target", "2001:2::2", "--allowed-networks", "2001:2::/129"],
             "--allowed-networks: '2001:2::/129' is not an IPv4 network or IPv6 prefix in CIDR form (like 198.18.0.0/15 or 2001:2::/48)"),
            (["--target", "2001:2::2::1"], "target '2001:2::2::1' is not a numeric IPv4 address or IPv6 address"),
            (["--target", "fe80::1%lo"], "target 'fe80::1%lo' has a zone"),
        ] {
            XCTAssertThrowsError(try PingMon.parseAsRoot(arguments), "\(arguments)") { error in
                XCTAssertEqual(PingMon.exitCode(for: error).rawValue, 64)
                XCTAssertTrue(PingMon.message(for: error).contains(expected), PingMon.message(for: error))
            }
        }
    }
}
