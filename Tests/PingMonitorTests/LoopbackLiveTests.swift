import Foundation
@testable import PingMonitor
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Real runs of the built `pingmon` and of ``EchoProbe`` on the loopback interface of the
/// namespace the tests run in: `::1`, and `127.0.0.1` as the IPv4 reference. Loopback is one of
/// the networks the project sends to; no namespace, address or route is made or changed, and
/// `--allowed-networks` limits every run to loopback as a safety net. Needs root (or
/// CAP_NET_RAW and CAP_NET_ADMIN) and `::1` on `lo`; skipped with the reason otherwise.
final class LoopbackLiveTests: XCTestCase {
    private static let loopbackOnly = "127.0.0.0/8,::1/128"

    override class func tearDown() {
        Synthetic.removeWrittenFiles()
        super.tearDown()
    }

    /// Skips unless raw sockets and capture are allowed and `lo` holds `address`.
    private func requireLiveLoopback(_ address: String) throws {
        if geteuid() != 0 {
            // CapEff of this process: CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13.
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let effective = status.split(separator: "\n").first { $0.hasPrefix("CapEff:") }
                .flatMap { UInt64($0.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16) } ?? 0
            guard effective & (1 << 12) != 0, effective & (1 << 13) != 0 else {
                throw XCTSkip("live loopback runs need root or CAP_NET_RAW and CAP_NET_ADMIN (raw socket and capture)")
            }
        }
        if address.contains(":") {
            // /proc/net/if_inet6: address in 32 hex digits, ..., interface name.
            let table = (try? String(contentsOfFile: "/proc/net/if_inet6", encoding: .utf8)) ?? ""
            let hasIPv6Loopback = table.split(separator: "\n").contains { line in
                let fields = line.split(separator: " ")
                return fields.first == "00000000000000000000000000000001" && fields.last == "lo"
            }
            guard hasIPv6Loopback else { throw XCTSkip("lo has no ::1 here (IPv6 disabled): nothing to probe") }
        }
    }

    /// Runs pingmon against `address` on lo, saving the capture, and checks that nothing was lost;
    /// then `pingmon analyze` on the saved capture must give the same figures. Returns the JSON.
    @discardableResult
    private func cleanRun(_ address: String, count: Int = 500, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        try requireLiveLoopback(address)
        let pingmon = try Processes.pingmon()
        try FileManager.default.createDirectory(at: Synthetic.directory, withIntermediateDirectories: true)
        let capture = Synthetic.directory.appendingPathComponent("lo-\(address.contains(":") ? "v6" : "v4").pcapng").path
        let live = try Processes.run(pingmon, ["--target", address, "--interface", "lo", "--count", String(count),
                                               "--interval-microseconds", "1000", "--allowed-networks", Self.loopbackOnly,
                                               "--save-capture", capture, "--quiet", "--json"], timeoutSeconds: 60)
        XCTAssertEqual(live.status, 0, live.standardError, file: file, line: line)
        let json = try live.json()
        XCTAssertEqual(json["target"] as? String, address, file: file, line: line)
        XCTAssertEqual(json.int("sent"), count, file: file, line: line)
        XCTAssertEqual(json.int("received"), count, file: file, line: line)
        XCTAssertEqual(json.int("lost"), 0, file: file, line: line)
        XCTAssertEqual(json.int("duplicates"), 0, file: file, line: line)
        XCTAssertEqual(json.int("requestsMissingFromCapture"), 0, file: file, line: line)
        XCTAssertEqual(json.double("downtimeMilliseconds"), 0, file: file, line: line)
        let rtt = try XCTUnwrap(json["rttMicroseconds"] as? [String: Any])
        XCTAssertEqual(rtt.int("count"), count, file: file, line: line)
        let sender = try XCTUnwrap(json["sender"] as? [String: Any])
        XCTAssertEqual(sender.int("probesSent"), count, file: file, line: line)
        XCTAssertEqual(sender.int("sendErrors"), 0, file: file, line: line)
        // Replies were seen within the run: the longest gap between them is a few intervals at most.
        XCTAssertLessThan(try XCTUnwrap(json.double("longestGapMilliseconds")), 50, file: file, line: line)

        let offline = try Processes.run(pingmon, ["analyze", capture, "--target", address, "--json"], timeoutSeconds: 60)
        XCTAssertEqual(offline.status, 0, offline.standardError, file: file, line: line)
        let again = try offline.json()
        for key in ["sent", "received", "lost", "duplicates", "outOfOrder"] {
            XCTAssertEqual(again.int(key), json.int(key), key, file: file, line: line)
        }
        for key in ["downtimeMilliseconds", "longestGapMilliseconds", "downtimeLowerBoundMilliseconds", "downtimeUpperBoundMilliseconds"] {
            XCTAssertEqual(again.double(key), json.double(key), key, file: file, line: line)
        }
        XCTAssertEqual((again["rttMicroseconds"] as? [String: Any])?.double("p50"), rtt.double("p50"), file: file, line: line)
        return json
    }

    func testPingmonOverIPv6LoopbackLosesNothingAndItsCaptureGivesTheSameFigures() throws {
        try cleanRun("::1")
    }

    /// The reference: the same run over IPv4 loopback.
    func testPingmonOverIPv4LoopbackLosesNothingAndItsCaptureGivesTheSameFigures() throws {
        try cleanRun("127.0.0.1")
    }

    func testEchoProbeIsAnsweredOverIPv6Loopback() throws {
        try requireLiveLoopback("::1")
        let probe = try EchoProbe(target: try XCTUnwrap(IPAddress("::1")), interface: "lo", allowedNetworks: IPNetwork.projectTestNetworks)
        let result = try probe.run(count: 3, intervalMilliseconds: 100, replyTimeoutMilliseconds: 1_000)
        XCTAssertTrue(result.answered, "\(result)")
        XCTAssertEqual(result.answeredSequence, 0)
        XCTAssertEqual(result.probesSent, 1, "it stops at the first reply")
        XCTAssertEqual(result.sendErrors, 0)
        XCTAssertTrue(result.description.hasPrefix("::1 answered echo request 1 of 1 sent on lo"), result.description)
    }

    /// Targets pingmon refuses: one line and exit status 64, before any socket or capture opens
    /// (so this needs no privileges).
    func testRefusedIPv6TargetsAreOneLineBeforeAnythingOpens() throws {
        let pingmon = try Processes.pingmon()
        let cases: [([String], String)] = [
            (["--target", "::"], "target :: is the unspecified address, not one host"),
            (["--target", "ff02::1"], "target ff02::1 is a multicast address, not one host"),
            (["--target", "::ffff:127.0.0.1"], "target ::ffff:127.0.0.1 is an IPv4-mapped IPv6 address (::ffff:0:0/96), which no host answers on the wire: give the IPv4 address 127.0.0.1 instead"),
            (["--target", "2001:db8::1", "--allowed-networks", Self.loopbackOnly],
             "target 2001:db8::1 is outside the allowed networks 127.0.0.0/8, ::1/128; widen them with --allowed-networks"),
            (["--target", "fe80::1%lo"], "target 'fe80::1%lo' has a zone"),
        ]
        for (arguments, expected) in cases {
            let result = try Processes.run(pingmon, arguments + ["--interface", "lo", "--count", "1"], timeoutSeconds: 30)
            XCTAssertEqual(result.status, 64, "\(arguments): \(result.standardError)")
            let lines = result.standardError.split(separator: "\n")
            XCTAssertTrue(lines.first?.contains(expected) == true, "expected '\(expected)' in '\(result.standardError)'")
            XCTAssertEqual(result.standardOutput, "")
        }
    }
}
