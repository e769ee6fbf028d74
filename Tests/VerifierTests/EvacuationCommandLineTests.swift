import ArgumentParser
import Foundation
@testable import MigVerifyCLI
import Verifier
import XCTest

/// `migverify run --guest-count N [--max-concurrent K] [--fault-guest I]` and, on real
/// hosts, `--domain a,b,c --guest-address x,y,z`: parsed and checked without reaching a host.
final class EvacuationCommandLineTests: XCTestCase {
    private let uris = ["--source-uri", "qemu+ssh://root@src.invalid/system", "--dest-uri", "qemu+ssh://root@dst.invalid/system"]

    private func rejection(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) -> (message: String, code: Int32) {
        do {
            _ = try RunCommand.parse(arguments)
            XCTFail("\(arguments) parsed, expected an error", file: file, line: line)
            return ("", 0)
        } catch {
            return (RunCommand.message(for: error), RunCommand.exitCode(for: error).rawValue)
        }
    }

    private func assertRejected(_ arguments: [String], _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        let (message, code) = rejection(arguments, file: file, line: line)
        XCTAssertEqual(code, 64, message, file: file, line: line)
        XCTAssertFalse(message.contains("\n"), "one line: \(message)", file: file, line: line)
        XCTAssertTrue(message.contains(expected), "expected '\(expected)' in: \(message)", file: file, line: line)
    }

    func testWithoutGuestCountNothingChanges() throws {
        let command = try RunCommand.parse([])
        XCTAssertNil(try XCTUnwrap(command.plan).evacuations)
        let real = try RunCommand.parse(uris + ["--domain", "guest", "--guest-address", "192.0.2.10", "--scenario", "live"])
        XCTAssertNil(try XCTUnwrap(real.plan).evacuations)
        XCTAssertEqual(try XCTUnwrap(real.plan).runs.map(\.endpoints.domainName), ["guest"])
    }

    func testRealHostsTakeOneDomainAddressAndTokenPerGuest() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("evac-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var tokens: [String] = []
        for index in 1...3 {
            let path = directory.appendingPathComponent("token-\(index)").path
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("0123456789abcdef0123456789abcde\(index)\n".utf8),
                                                        attributes: [.posixPermissions: 0o600]))
            tokens.append(path)
        }
        let command = try RunCommand.parse(uris + ["--domain", "a,b,c", "--guest-address", "192.0.2.1, 192.0.2.2,192.0.2.3",
                                                   "--memeater-token-file", tokens.joined(separator: ","), "--scenario", "live,dst-qemu-killed",
                                                   "--dest-ssh", "root@dst.invalid",
                                                   "--guest-count", "3", "--max-concurrent", "2", "--fault-guest", "2"])
        let plan = try XCTUnwrap(command.plan)
        XCTAssertEqual(plan.evacuations, [EvacuationPlan(guestCount: 3, maxConcurrent: 2, faultGuest: 2)])
        guard case .realHosts(let hosts) = plan.target else { return XCTFail("real hosts") }
        let guests = try XCTUnwrap(hosts.guests)
        XCTAssertEqual(guests.map(\.endpoints.domainName), ["a", "b", "c"])
        XCTAssertEqual(guests.map(\.endpoints.guestAddress), ["192.0.2.1", "192.0.2.2", "192.0.2.3"])
        XCTAssertEqual(Set(guests.compactMap(\.memeaterToken).map(\.text)).count, 3, "each guest's own token")
        XCTAssertEqual(plan.runs.map(\.endpoints.domainName), ["a", "a"], "the runs' template is guest 1; each guest's own is set per guest")
    }

    func testBadEvacuationOptionsAreRefusedInOneLine() {
        let real = uris + ["--domain", "a,b,c", "--guest-address", "192.0.2.1,192.0.2.2,192.0.2.3"]
        assertRejected(["--guest-count", "0"], "--guest-count must be between 1 and 256, not 0")
        for option in [["--id", "e1"], ["--fresh"], ["--retry-failed"], ["--find-boundary", "3"]] {
            assertRejected(real + ["--guest-count", "3", "--scenario", "live"] + option,
                           "--id, --fresh, --retry-failed and --find-boundary do not apply to an evacuation (--guest-count)")
        }
        assertRejected(real + ["--guest-count", "3", "--max-concurrent", "4"], "--max-concurrent must be between 1 and --guest-count (3), not 4")
        assertRejected(real + ["--guest-count", "3", "--fault-guest", "4", "--scenario", "prepare-fail"],
                       "--fault-guest must be between 1 and --guest-count (3), not 4")
        assertRejected(["--max-concurrent", "2"], "--max-concurrent and --fault-guest need --guest-count")
        assertRejected(["--fault-guest", "1"], "--max-concurrent and --fault-guest need --guest-count")
        assertRejected(uris + ["--domain", "a,b", "--guest-address", "192.0.2.1,192.0.2.2,192.0.2.3", "--guest-count", "3", "--scenario", "live"],
                       "--domain lists 2 value(s) and --guest-count is 3")
        assertRejected(uris + ["--domain", "a,b,c", "--guest-address", "192.0.2.1,192.0.2.2", "--guest-count", "3", "--scenario", "live"],
                       "--guest-address lists 2 value(s) and --guest-count is 3")
        assertRejected(real + ["--memeater-token-file", "/x/1,/x/2", "--guest-count", "3", "--scenario", "live"],
                       "--memeater-token-file lists 2 value(s) and --guest-count is 3")
        assertRejected(uris + ["--domain", "a,a,c", "--guest-address", "192.0.2.1,192.0.2.2,192.0.2.3", "--guest-count", "3", "--scenario", "live"],
                       "--domain names a guest twice")
        assertRejected(uris + ["--domain", "a,b,c", "--guest-address", "192.0.2.1,bogus,192.0.2.3", "--guest-count", "3", "--scenario", "live"],
                       "--guest-address: target 'bogus'")
        assertRejected(real + ["--guest-count", "3", "--fault-guest", "1", "--scenario", "perform-fail", "--dest-ssh", "root@dst.invalid"],
                       "--fault-guest needs a fault that acts on one guest alone")
        assertRejected(["--guest-count", "90", "--scenario", "live", "--memory-mib", "64"], "--guest-count must be between 1 and")
    }

    func testTheLabRunsEachGuestCountOnAFleetOfThatCount() throws {
        let plan = try XCTUnwrap(RunCommand.parse(["--guest-count", "1,2,4", "--scenario", "live", "--memory-mib", "256",
                                                   "--state-directory", "/nonexistent/mlabq"]).plan)
        let (largest, _) = try plan.resolveEvacuation()
        XCTAssertEqual(largest.count, 4)
        XCTAssertEqual(plan.evacuationGuests(1, of: largest).map(\.endpoints.domainName), ["lab-guest"])
        XCTAssertEqual(plan.evacuationGuests(2, of: largest).map(\.endpoints.domainName), ["lab-guest-1", "lab-guest-2"])
        XCTAssertEqual(plan.evacuationGuests(2, of: largest).compactMap { ($0 as? LabTarget)?.guestCount }, [2, 2],
                       "an evacuation of 2 brings the lab to exactly 2 guests")
    }

    func testTheLabRunsOneTargetPerGuestOfItsFleet() throws {
        let plan = try XCTUnwrap(RunCommand.parse(["--guest-count", "3", "--scenario", "live", "--memory-mib", "256",
                                                   "--state-directory", "/nonexistent/mlabq"]).plan)
        guard case .lab(let first, _) = plan.target else { return XCTFail("the lab") }
        XCTAssertEqual(first.guestCount, 3)
        XCTAssertEqual(first.endpoints.domainName, "lab-guest-1", "the runs' template is guest 1")
        let (guests, runs) = try plan.resolveEvacuation()
        XCTAssertEqual(guests.map(\.endpoints.domainName), ["lab-guest-1", "lab-guest-2", "lab-guest-3"])
        XCTAssertEqual(guests.map(\.endpoints.guestAddress), ["198.18.1.11", "198.18.1.12", "198.18.1.13"])
        XCTAssertEqual(Set(guests.compactMap { $0.lab?.configuration.memeaterTokenPath }).count, 3, "each guest's own token")
        XCTAssertEqual(Set(runs.map(\.memoryMiB)), [256])
        let single = try XCTUnwrap(RunCommand.parse(["--scenario", "live", "--memory-mib", "256"]).plan)
        XCTAssertEqual(try single.resolveEvacuation().guests.map(\.endpoints.domainName), ["lab-guest"], "one guest: the lab's own, as always")
    }

    // MARK: the guest-count axis

    private let fourGuests = ["--source-uri", "qemu+ssh://root@src.invalid/system", "--dest-uri", "qemu+ssh://root@dst.invalid/system",
                              "--domain", "a,b,c,d", "--guest-address", "198.18.1.11,198.18.1.12,198.18.1.13,198.18.1.14"]

    private func sweepRejection(_ arguments: [String]) -> (message: String, code: Int32) {
        do {
            _ = try SweepCommand.parse(["--id", "evac-sweep"] + arguments)
            XCTFail("\(arguments) parsed, expected an error")
            return ("", 0)
        } catch {
            return (SweepCommand.message(for: error), SweepCommand.exitCode(for: error).rawValue)
        }
    }

    private func assertSweepRejected(_ arguments: [String], _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        let (message, code) = sweepRejection(arguments)
        XCTAssertEqual(code, 64, message, file: file, line: line)
        XCTAssertFalse(message.contains("\n"), "one line: \(message)", file: file, line: line)
        XCTAssertTrue(message.contains(expected), "expected '\(expected)' in: \(message)", file: file, line: line)
    }

    /// `--guest-count 1,2,4`: one plan per N, in order, K capped at each N; the hosts list as
    /// many guests as the largest N (an evacuation of N takes the first N).
    func testAGuestCountListIsOnePlanPerCountWithTheConcurrencyCappedAtEach() throws {
        let sweep = try SweepCommand.parse(["--id", "evac-sweep", "--scenario", "live", "--guest-count", "1,2,4", "--max-concurrent", "3"] + fourGuests)
        let plan = try XCTUnwrap(sweep.plan)
        XCTAssertEqual(plan.evacuations, [EvacuationPlan(guestCount: 1, maxConcurrent: 1), EvacuationPlan(guestCount: 2, maxConcurrent: 2),
                                          EvacuationPlan(guestCount: 4, maxConcurrent: 3)])
        XCTAssertEqual(plan.matrix.guestCounts, [1, 2, 4], "the axis is part of the sweep's stored matrix")
        guard case .realHosts(let hosts) = plan.target else { return XCTFail("real hosts") }
        XCTAssertEqual(try XCTUnwrap(hosts.guests).map(\.endpoints.domainName), ["a", "b", "c", "d"])

        let faulted = try RunCommand.parse(["--scenario", "live,dst-qemu-killed", "--dest-ssh", "root@dst.invalid",
                                            "--guest-count", "2,4", "--fault-guest", "2"] + fourGuests)
        XCTAssertEqual(try XCTUnwrap(faulted.plan).evacuations, [EvacuationPlan(guestCount: 2, faultGuest: 2), EvacuationPlan(guestCount: 4, faultGuest: 2)])
        let repeated = try SweepCommand.parse(["--id", "evac-sweep", "--guest-count", "4,1,4"] + fourGuests)
        XCTAssertEqual(try XCTUnwrap(repeated.plan).evacuations?.map(\.guestCount), [4, 1], "each count once, in the order given")
        let single = try SweepCommand.parse(["--id", "evac-sweep", "--guest-count", "1"])
        XCTAssertEqual(try XCTUnwrap(single.plan).evacuations, [EvacuationPlan(guestCount: 1)], "one guest on the lab is an evacuation of one")
    }

    func testBadGuestCountListsAreRefusedInOneLine() throws {
        assertSweepRejected(["--guest-count", "1,,4"] + fourGuests, "--guest-count")
        assertSweepRejected(["--guest-count", "1,two"] + fourGuests, "--guest-count")
        assertSweepRejected(["--guest-count", "0,2"] + fourGuests, "--guest-count must be between 1 and 256, not 0")
        assertSweepRejected(["--guest-count", "2,4", "--max-concurrent", "5"] + fourGuests,
                            "--max-concurrent must be between 1 and the largest --guest-count (4), not 5")
        assertSweepRejected(["--guest-count", "2,4", "--fault-guest", "3", "--scenario", "prepare-fail"] + fourGuests,
                            "--fault-guest must be between 1 and the smallest --guest-count (2), not 3")
        assertSweepRejected(["--guest-count", "2,4"] + fourGuests.dropLast(2) + ["--guest-address", "198.18.1.11,198.18.1.12"],
                            "--guest-address lists 2 value(s) and --guest-count is 4")
        assertSweepRejected(["--guest-count", "1,2"] + fourGuests, "--domain lists 4 value(s) and --guest-count is 2")
        assertSweepRejected(["--guest-count", "1,90", "--memory-mib", "64"], "--guest-count must be between 1 and")
        assertSweepRejected(["--guest-count", "1,4", "--find-boundary", "3"] + fourGuests,
                            "--find-boundary does not apply to an evacuation sweep (--guest-count)")
        assertSweepRejected(["--max-concurrent", "2"], "--max-concurrent and --fault-guest need --guest-count")

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("evac-matrix-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("m.yaml").path
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data("scenario: live\nguest-count: [1, 2, 4]\n".utf8)))
        assertSweepRejected(["--matrix", file, "--guest-count", "2"] + fourGuests, "--guest-count cannot be given with --matrix")
        let fromFile = try SweepCommand.parse(["--id", "evac-sweep", "--matrix", file, "--max-concurrent", "2"] + fourGuests)
        XCTAssertEqual(try XCTUnwrap(fromFile.plan).evacuations?.map(\.guestCount), [1, 2, 4], "the matrix file's guest-count is the axis")
        XCTAssertEqual(try XCTUnwrap(fromFile.plan).evacuations?.map(\.maxConcurrent), [1, 2, 2])
    }

    func testTheSummaryShowsEachGuestAndTheFigures() {
        let endpoints = Endpoints(sourceURI: "a", destinationURI: "b", domainName: "g2", guestAddress: "192.0.2.2", captureInterface: "eth0")
        var result = ScenarioResult(parameters: ScenarioParameters(scenario: .live, memoryMiB: 512, memeaterSizeMiB: 128, dirtyRateMiBPerSecond: 10,
                                                                   endpoints: endpoints),
                                    accel: "kvm", qemuVersion: "x", libvirtVersion: "y")
        result.add(Check(name: CheckName.guestOnDestination, passed: true, evidence: "runs"))
        result.evacuation = EvacuationMembership(evacuationID: "evac-s", guestIndex: 2, guestCount: 2)
        let outcome = EvacuationResult(evacuationID: "evac-s", results: [result], figures: EvacuationFigures([EvacuationGuestTiming(result)]))
        let lines = outcome.summaryLines
        XCTAssertEqual(lines.first, "evacuation evac-s: PASS")
        XCTAssertTrue(lines[1].hasPrefix("  guest 2/2 g2: "), lines[1])
        XCTAssertTrue(lines.contains { $0.contains("1 of 1 guests landed") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains("speedup") }, "\(lines)")
    }
}
