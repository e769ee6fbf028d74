import Foundation
import XCTest
@testable import PingMonitor

#if canImport(Glibc)
import Glibc
#endif

/// The built `pingmon`, run inside a network namespace made by the test, probing the other end
/// of a veth pair with real packets and real libpcap capture. Outages are injected at known
/// times in the target's namespace; the test's own clock readings around each injection bound
/// the true outage, and the measured downtime must agree within the probe interval plus a margin.
final class LiveNamespaceTests: XCTestCase {
    private var pair: NamespacePair?
    private var pingmon = ""
    /// Allowance for scheduling on a busy machine (the kernel's timestamps are exact; the margin
    /// covers when the target's kernel handled a probe relative to its capture on the prober).
    private let marginMilliseconds = 2.0

    override func setUpWithError() throws {
        pingmon = try Processes.pingmon()
        pair = try NamespacePair()
    }

    override func tearDown() {
        pair?.tearDown()
        pair = nil
    }

    private func arguments(_ pair: NamespacePair, _ extra: [String]) -> [String] {
        ["--target", NamespacePair.targetAddress, "--interface", pair.proberInterface, "--json", "--quiet"] + extra
    }

    func testCleanRunAnswersEveryProbeAndPrintsTheContract() throws {
        let pair = try XCTUnwrap(pair)
        let result = try pair.run(in: pair.prober, pingmon, arguments(pair, [
            "--count", "500", "--interval-microseconds", "1000", "--require-zero-loss", "--max-downtime-ms", "5000",
        ]))
        XCTAssertEqual(result.status, 0, result.standardError)
        let json = try result.json()
        XCTAssertEqual(json.int("sent"), 500)
        XCTAssertEqual(json.int("received"), 500)
        XCTAssertEqual(json.int("lost"), 0)
        XCTAssertEqual(json.int("requestsMissingFromCapture"), 0)
        XCTAssertEqual(json.double("intervalMicroseconds"), 1_000)
        XCTAssertEqual(json["timestampPrecision"] as? String, "nano", "veth capture offers nanosecond timestamps")
        XCTAssertEqual((json["announceFrames"] as? [Any])?.count, 0)
        XCTAssertEqual((json["sender"] as? [String: Any])?.int("probesSent"), 500)
        XCTAssertEqual((json["sender"] as? [String: Any])?.int("sendErrors"), 0)
        XCTAssertEqual((json["capture"] as? [String: Any])?.int("packetsDroppedByKernel"), 0)
        XCTAssertEqual((json["rttMicroseconds"] as? [String: Any])?.int("count"), 500, "every probe has a capture RTT")
        XCTAssertTrue(result.standardError.contains("probes: 500 sent, 500 received, 0 lost"), result.standardError)
        XCTAssertTrue(result.standardError.contains("pass: zero loss: 0 of 500 probes lost"), result.standardError)
        let summary = try JSONDecoder().decode(PingResultSummary.self, from: Data(result.lastLine.utf8))
        XCTAssertTrue(summary.verdict.passed)
        XCTAssertLessThanOrEqual(summary.downtimeLowerBoundMilliseconds, summary.downtimeUpperBoundMilliseconds)
    }

    func testOutageAnnouncementsSignalStopAndOfflineReanalysis() throws {
        let pair = try XCTUnwrap(pair)
        let capturePath = FileManager.default.temporaryDirectory.appendingPathComponent("pingmon-live-\(getpid()).pcapng").path
        defer { try? FileManager.default.removeItem(atPath: capturePath) }
        let echo = try EchoSwitch(namespace: pair.target)
        let injector = try FrameInjector(namespace: pair.target, interface: pair.targetInterface)
        let targetMAC = try XCTUnwrap(MACAddress(NamespacePair.targetMAC))

        // No duration or count: the run ends on SIGINT, which must still give the summary and a
        // complete capture file. --max-downtime-ms makes the verdict fail on the outage.
        let child = try pair.start(in: pair.prober, pingmon, arguments(pair, [
            "--interval-microseconds", "1000", "--save-capture", capturePath, "--max-downtime-ms", "50",
        ]))
        usleep(500_000)
        let off = try echo.set(ignore: true)
        usleep(200_000)
        let announceBefore = Processes.realtimeNanoseconds()
        try injector.send(Synthetic.qemuRARP(mac: targetMAC))
        try injector.send(Synthetic.arpFrame(reverse: false, operation: 1, senderMAC: targetMAC, senderAddress: IPv4Address(198, 18, 13, 2),
                                             targetMAC: MACAddress(value: 0), targetAddress: IPv4Address(198, 18, 13, 2)))
        let announceAfter = Processes.realtimeNanoseconds()
        usleep(50_000)
        let on = try echo.set(ignore: false)
        usleep(400_000)
        child.signal(SIGINT)
        let result = child.wait()

        XCTAssertEqual(result.status, 1, "the 50 ms downtime limit must fail: \(result.standardError)")
        let json = try result.json()
        let analysis = try JSONDecoder().decode(PingResultSummary.self, from: Data(result.lastLine.utf8))
        XCTAssertFalse(analysis.verdict.passed)
        XCTAssertEqual(analysis.verdict.failures.count, 1)

        // The true outage lies between these two readings of the test's clock.
        let shortest = Double(on.before - off.after) / 1e6
        let longest = Double(on.after - off.before) / 1e6
        let interval = 1.0
        let estimate = analysis.downtimeMilliseconds
        let message = "outage \(shortest)...\(longest) ms; downtime \(estimate) ms in "
            + "[\(analysis.downtimeLowerBoundMilliseconds), \(analysis.downtimeUpperBoundMilliseconds)], longest gap \(analysis.longestGapMilliseconds) ms"
        print("pingmon outage (sysctl, 1 ms): \(message)")
        XCTAssertLessThanOrEqual(analysis.downtimeLowerBoundMilliseconds, longest + marginMilliseconds, message)
        XCTAssertGreaterThanOrEqual(analysis.downtimeUpperBoundMilliseconds, shortest - marginMilliseconds, message)
        XCTAssertLessThanOrEqual(abs(estimate - (shortest + longest) / 2), interval + marginMilliseconds, message)
        XCTAssertGreaterThanOrEqual(analysis.longestGapMilliseconds, shortest - marginMilliseconds, message)
        XCTAssertLessThanOrEqual(analysis.longestGapMilliseconds, longest + 2 * interval + marginMilliseconds, message)
        XCTAssertEqual(json["downtimeOpenEnded"] as? Bool, false)
        XCTAssertEqual(analysis.lost, json.int("downtimeLostProbes"), "all loss is in the outage")
        XCTAssertEqual(analysis.sent, analysis.received + analysis.lost)

        // Announcements: both frames, timed inside the window in which the test sent them.
        XCTAssertEqual(analysis.announceFrames.map(\.kind), [.rarp, .gratuitousARP])
        XCTAssertEqual(analysis.announceFrames.first?.sourceMac, targetMAC)
        let start = try XCTUnwrap(json.int64("startEpochNanoseconds"))
        let firstAnnounce = try XCTUnwrap(analysis.announceFrames.first?.offsetMilliseconds)
        XCTAssertGreaterThanOrEqual(firstAnnounce, Double(announceBefore - start) / 1e6 - marginMilliseconds)
        XCTAssertLessThanOrEqual(firstAnnounce, Double(announceAfter - start) / 1e6 + marginMilliseconds)
        let resumed = try XCTUnwrap(json.double("repliesResumedAfterFirstAnnounceMilliseconds"))
        XCTAssertGreaterThanOrEqual(resumed, Double(on.before - announceAfter) / 1e6 - marginMilliseconds)
        XCTAssertLessThanOrEqual(resumed, Double(on.after - announceBefore) / 1e6 + interval + marginMilliseconds)

        // The saved capture, analysed offline, gives the same figures.
        let offline = try pair.run(in: pair.prober, pingmon, ["analyze", capturePath, "--target", NamespacePair.targetAddress, "--json",
                                                              "--max-downtime-ms", "50"])
        XCTAssertEqual(offline.status, 1, offline.standardError)
        let offlineJSON = try offline.json()
        XCTAssertEqual(offlineJSON["mode"] as? String, "offline")
        let liveOnly: Set<String> = ["mode", "interface", "sender", "capture", "timestampSource", "warnings"]
        for key in json.keys.sorted() where !liveOnly.contains(key) {
            XCTAssertEqual(try canonical(offlineJSON[key]), try canonical(json[key]), "offline \(key) differs")
        }
        XCTAssertEqual(Set(offlineJSON.keys), Set(json.keys), "same keys live and offline")
    }

    func testOutageByDropRuleAtFiveKilohertz() throws {
        let pair = try XCTUnwrap(pair)
        let nft = try XCTUnwrap(Processes.which("nft"), "nft (nftables) is not installed")
        try nftables(pair, nft, ["add", "table", "inet", "pingmon"])
        try nftables(pair, nft, ["add", "chain", "inet", "pingmon", "input", "{ type filter hook input priority 0 ; }"])

        let child = try pair.start(in: pair.prober, pingmon, arguments(pair, ["--interval-microseconds", "200", "--duration-seconds", "1.5"]))
        usleep(500_000)
        let dropStart = Processes.realtimeNanoseconds()
        try nftables(pair, nft, ["add", "rule", "inet", "pingmon", "input", "icmp", "type", "echo-request", "drop"])
        let dropInPlace = Processes.realtimeNanoseconds()
        usleep(300_000)
        let flushStart = Processes.realtimeNanoseconds()
        try nftables(pair, nft, ["flush", "chain", "inet", "pingmon", "input"])
        let flushed = Processes.realtimeNanoseconds()
        let result = child.wait()

        XCTAssertEqual(result.status, 0, result.standardError)
        let analysis = try JSONDecoder().decode(PingResultSummary.self, from: Data(result.lastLine.utf8))
        // nft is a process: the rule took effect somewhere between its start and its exit.
        let shortest = Double(flushStart - dropInPlace) / 1e6
        let longest = Double(flushed - dropStart) / 1e6
        let interval = 0.2
        let message = "outage \(shortest)...\(longest) ms; downtime \(analysis.downtimeMilliseconds) ms in "
            + "[\(analysis.downtimeLowerBoundMilliseconds), \(analysis.downtimeUpperBoundMilliseconds)], longest gap \(analysis.longestGapMilliseconds) ms"
        print("pingmon outage (nft, 200 µs): \(message)")
        XCTAssertEqual(analysis.intervalMicroseconds, 200)
        XCTAssertGreaterThan(analysis.lost, 0, message)
        XCTAssertLessThanOrEqual(analysis.downtimeLowerBoundMilliseconds, longest + marginMilliseconds, message)
        XCTAssertGreaterThanOrEqual(analysis.downtimeUpperBoundMilliseconds, shortest - marginMilliseconds, message)
        XCTAssertGreaterThanOrEqual(analysis.longestGapMilliseconds, shortest - marginMilliseconds, message)
        XCTAssertLessThanOrEqual(analysis.longestGapMilliseconds, longest + 2 * interval + marginMilliseconds, message)
        XCTAssertGreaterThanOrEqual(analysis.downtimeMilliseconds, shortest - interval - marginMilliseconds, message)
        XCTAssertLessThanOrEqual(analysis.downtimeMilliseconds, longest + interval + marginMilliseconds, message)
        // No check of lost × interval against the outage: a starved sender sends fewer probes than
        // scheduled, which is exactly why pingmon times the gap from the capture instead.
    }

    func testRegularLossWithoutLongGapIsCounted() throws {
        let pair = try XCTUnwrap(pair)
        let nft = try XCTUnwrap(Processes.which("nft"), "nft (nftables) is not installed")
        try nftables(pair, nft, ["add", "table", "inet", "pingmon"])
        try nftables(pair, nft, ["add", "chain", "inet", "pingmon", "input", "{ type filter hook input priority 0 ; }"])
        // Every tenth echo request (the 1st, 11th, ...) is dropped: exactly 100 of 1000, each alone.
        try nftables(pair, nft, ["add", "rule", "inet", "pingmon", "input", "icmp", "type", "echo-request", "numgen", "inc", "mod", "10", "==", "0", "drop"])

        let result = try pair.run(in: pair.prober, pingmon, arguments(pair, ["--count", "1000", "--interval-microseconds", "1000", "--require-zero-loss"]))
        XCTAssertEqual(result.status, 1, "zero loss was required: \(result.standardError)")
        let json = try result.json()
        XCTAssertEqual(json.int("sent"), 1_000)
        XCTAssertEqual(json.int("received"), 900)
        XCTAssertEqual(json.int("lost"), 100)
        XCTAssertEqual(json.int("lossRunCount"), 100)
        XCTAssertEqual(json.int("longestLossRunProbes"), 1)
        let runs = try XCTUnwrap(json["lossRuns"] as? [[String: Any]])
        XCTAssertEqual(runs.compactMap { $0.int("firstSequence") }, Array(stride(from: 0, to: 1_000, by: 10)))
        XCTAssertLessThanOrEqual(json.int("downtimeLostProbes") ?? 99, 1)
        XCTAssertTrue(result.standardError.contains("FAIL: zero loss: 100 of 1000 probes lost in 100 runs"), result.standardError)
    }

    /// A JSON value as sorted-key JSON text, for comparing parsed values.
    private func canonical(_ value: Any?) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: [value ?? NSNull()], options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    private func nftables(_ pair: NamespacePair, _ nft: String, _ arguments: [String]) throws {
        let result = try pair.run(in: pair.target, nft, arguments)
        guard result.status == 0 else { throw TestSetupError("nft \(arguments.joined(separator: " ")): \(result.standardError)") }
    }
}
