import Foundation
import XCTest
@testable import PingMonitor

/// Bad input to the `pingmon` binary: one clear error line naming the problem and a non-zero
/// exit status, before anything is sent. Runs inside a namespace made by the test all the same,
/// so that even a bug could not send a packet anywhere else.
final class CommandLineTests: XCTestCase {
    override class func tearDown() {
        Synthetic.removeWrittenFiles()
        super.tearDown()
    }

    private var pair: NamespacePair?
    private var pingmon = ""

    override func setUpWithError() throws {
        pingmon = try Processes.pingmon()
        pair = try NamespacePair()
    }

    override func tearDown() {
        pair?.tearDown()
        pair = nil
    }

    /// Runs pingmon in the prober namespace and checks status and the first error line.
    private func expectFailure(_ arguments: [String], status: Int32, firstLineContains expected: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let pair = try XCTUnwrap(pair)
        let result = try pair.run(in: pair.prober, pingmon, arguments)
        XCTAssertEqual(result.status, status, "\(arguments): \(result.standardError)", file: file, line: line)
        let first = result.standardError.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertTrue(first.contains(expected), "expected '\(expected)' in '\(first)'", file: file, line: line)
        XCTAssertEqual(result.standardOutput, "", "nothing on standard output", file: file, line: line)
    }

    private var interface: String { pair?.proberInterface ?? "" }

    func testUsageErrors() throws {
        let target = NamespacePair.targetAddress
        try expectFailure(["--target", target, "--interface", "pmnosuch0"], status: 64,
                          firstLineContains: "Error: interface 'pmnosuch0' does not exist in this network namespace")
        try expectFailure(["--target", "guest.example.invalid", "--interface", interface], status: 64,
                          firstLineContains: "target 'guest.example.invalid' is not a numeric IPv4 address")
        try expectFailure(["--target", "198.18.13.300", "--interface", interface], status: 64, firstLineContains: "is not a numeric IPv4 address")
        // TEST-NET-1 outside the networks a user limited pingmon to: refused before any socket is opened.
        try expectFailure(["--target", "192.0.2.7", "--interface", interface, "--allowed-networks", "198.18.0.0/15,127.0.0.0/8"], status: 64,
                          firstLineContains: "target 192.0.2.7 is outside the allowed networks 198.18.0.0/15, 127.0.0.0/8")
        try expectFailure(["--target", "224.0.0.1", "--interface", interface], status: 64,
                          firstLineContains: "target 224.0.0.1 is a multicast address, not one host")
        try expectFailure(["--target", "255.255.255.255", "--interface", interface], status: 64,
                          firstLineContains: "target 255.255.255.255 is the broadcast address")
        try expectFailure(["--target", target, "--interface", interface, "--interval-microseconds", "0"], status: 64,
                          firstLineContains: "probe interval 0 µs is out of range")
        try expectFailure(["--target", target, "--interface", interface, "--interval-microseconds=-5"], status: 64,
                          firstLineContains: "probe interval -5 µs is out of range")
        try expectFailure(["--target", target, "--interface", interface, "--duration-seconds", "0"], status: 64,
                          firstLineContains: "--duration-seconds must be more than 0 and at most 31536000 seconds")
        try expectFailure(["--target", target, "--interface", interface, "--count", "0"], status: 64, firstLineContains: "--count must be between 1 and")
        try expectFailure(["--target", target, "--interface", interface, "--allowed-networks", "198.18.0.0/99"], status: 64,
                          firstLineContains: "'198.18.0.0/99' is not an IPv4 network")
        try expectFailure(["--target", target], status: 64, firstLineContains: "--interface is required")
        try expectFailure(["--interface", interface], status: 64, firstLineContains: "--target is required")
        try expectFailure(["--target", target, "--interface", interface, "--target-mac", "52:54:00"], status: 64,
                          firstLineContains: "is not a MAC address")
    }

    func testMissingPermissionsIsOneClearLine() throws {
        let pair = try XCTUnwrap(pair)
        let setpriv = try XCTUnwrap(Processes.which("setpriv"), "setpriv (util-linux) is not installed")
        // As nobody, without capabilities: the capture cannot be opened, so nothing is sent.
        let result = try pair.run(in: pair.prober, setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                                                             pingmon, "--target", NamespacePair.targetAddress, "--interface", interface, "--count", "1"])
        XCTAssertEqual(result.status, 2, result.standardError)
        let lines = result.standardError.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, result.standardError)
        XCTAssertTrue(result.standardError.hasPrefix("pingmon: error: permission denied to capture on \(interface): pingmon must run as root"),
                      result.standardError)
    }

    func testBrokenCaptureFilesAreOneClearLine() throws {
        let whole = Synthetic.pcapFile(SyntheticStream(count: 20).records)
        let truncated = try Synthetic.write(Array(whole.dropLast(7)), name: "cli-truncated.pcap")
        let garbage = try Synthetic.write(Array("this is not a capture file, just text\n".utf8), name: "cli-garbage.pcap")
        let target = NamespacePair.targetAddress
        for (path, expected) in [(truncated, "is damaged after 39 packets: truncated dump file"),
                                 (garbage, "cannot read capture file \(garbage): unknown file format"),
                                 ("/nonexistent/capture.pcap", "cannot read capture file /nonexistent/capture.pcap: No such file or directory")] {
            let pair = try XCTUnwrap(pair)
            let result = try pair.run(in: pair.prober, pingmon, ["analyze", path, "--target", target, "--json"])
            XCTAssertEqual(result.status, 2, result.standardError)
            XCTAssertEqual(result.standardError.split(separator: "\n").count, 1, result.standardError)
            XCTAssertTrue(result.standardError.hasPrefix("pingmon: error: "), result.standardError)
            XCTAssertTrue(result.standardError.contains(expected), "expected '\(expected)' in '\(result.standardError)'")
            XCTAssertEqual(result.standardOutput, "")
        }
        try expectFailure(["analyze", truncated], status: 64, firstLineContains: "--target is required")
    }

    func testAnalyzeOfAGoodFileFollowsTheVerdictFlags() throws {
        let stream = SyntheticStream(count: 1_000, lost: Set(100...299))
        let path = try Synthetic.write(Synthetic.pcapFile(stream.records), name: "cli-good.pcap")
        let pair = try XCTUnwrap(pair)
        let target = NamespacePair.targetAddress
        let passing = try pair.run(in: pair.prober, pingmon, ["analyze", path, "--target", target, "--json", "--max-downtime-ms", "250"])
        XCTAssertEqual(passing.status, 0, passing.standardError)
        let json = try passing.json()
        XCTAssertEqual(json.double("downtimeMilliseconds"), 200)
        XCTAssertEqual(json.double("longestGapMilliseconds"), 201)
        XCTAssertEqual(json.double("downtimeLowerBoundMilliseconds"), 199)
        XCTAssertEqual(json.double("downtimeUpperBoundMilliseconds"), 201)
        XCTAssertEqual(json.int("lost"), 200)
        let failing = try pair.run(in: pair.prober, pingmon, ["analyze", path, "--target", target, "--require-zero-loss"])
        XCTAssertEqual(failing.status, 1)
        XCTAssertTrue(failing.standardOutput.contains("FAIL: zero loss: 200 of 1000 probes lost"), failing.standardOutput)
    }
}
