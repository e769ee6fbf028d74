import ArgumentParser
import CLITestSupport
import Foundation
import Lab
import MemeaterKit
@testable import MigVerifyCLI
import Verifier
import XCTest

/// The plan `run` and `sweep` make once in `validate()` and carry out in `run()`: the matrix
/// file is read once, both commands take the same option groups to the same runs, and the
/// real hosts are reached only when the command runs. Nothing here reaches a host or the lab.
final class RunPlanTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("run-plan-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// A lab location of this test's own: no lab there, so the lab of this machine is not looked at.
    private var isolatedLab: [String] {
        ["--state-directory", directory.appendingPathComponent("state").path, "--lab-name-prefix", "mvp\(getpid() % 100_000)",
         "--fault-journal", directory.appendingPathComponent("faults.json").path]
    }

    /// A matrix file of 2 scenarios × 2 sizes × 2 rates, small enough for any machine.
    private func writeMatrixFile() throws -> String {
        let path = directory.appendingPathComponent("m.yaml").path
        try "scenario: [live, abort]\nmemory-mib: [128, 256]\ndirty-rate-mib-per-second: [10, 20]\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    // MARK: the matrix file

    /// Parsed as the binary parses (main.swift: `parseAsRoot`, which validates once and hands
    /// over the validated command): the plan holds the file's matrix, and what `run()` does
    /// before it needs root works with the file gone.
    func testTheMatrixFileIsReadOnceThenTheCommandRunsWithoutIt() throws {
        for command in [["run"], ["sweep", "--id", "s1"]] {
            let path = try writeMatrixFile()
            let parsed = try Migverify.parseAsRoot(command + ["--matrix", path] + isolatedLab)
            let matrixCommand = try XCTUnwrap(parsed as? any MatrixCommand, "\(command)")
            let plan = try XCTUnwrap(matrixCommand.plan, "\(command): validate() made the plan")
            XCTAssertEqual(plan.matrix.scenarios, [.live, .abort])
            try FileManager.default.removeItem(atPath: path)

            let (testbed, runs) = try matrixCommand.validatedPlan().resolve()
            XCTAssertEqual(runs.count, 8, "\(command)")
            XCTAssertEqual(Set(runs.map(\.memoryMiB)), [128, 256])
            XCTAssertEqual(runs, plan.runs, "on the lab the runs are final when the plan is made")
            XCTAssertNotNil(testbed.lab)
        }
    }

    /// Making the plan and resolving it reads the file once, through the reader it is given.
    func testMakingAndResolvingAPlanReadsTheMatrixFileOnce() throws {
        let path = try writeMatrixFile()
        let command = try RunCommand.parse(["--matrix", path] + isolatedLab)
        var reads: [String] = []
        let plan = try command.makePlan(readMatrixFile: { path throws(VerifierError) in
            reads.append(path)
            return try SweepMatrix.load(path: path)
        })
        _ = try plan.resolve()
        XCTAssertEqual(reads, [path])
    }

    /// A bad file is refused by the reader's message, one line: the plan is not made.
    func testAMatrixFileTheReaderRefusesIsAValidationError() throws {
        let command = try RunCommand.parse(isolatedLab)
        var withFile = command.matrix
        withFile.matrixFile = "/nonexistent/m.yaml"
        XCTAssertThrowsError(try withFile.sweepMatrix(kind: .run, onRealHosts: false, readMatrixFile: { path throws(VerifierError) in
            throw VerifierError.invalidOptions("\(path):1: refused by the test")
        })) { error in
            XCTAssertEqual((error as? ValidationError)?.message, "/nonexistent/m.yaml:1: refused by the test")
        }
    }

    // MARK: run and sweep take the same groups

    /// Every option and flag `run` takes, hidden ones included, `sweep` takes too, and no other
    /// (the evacuation options too: the guest count is a sweep axis).
    func testRunAndSweepTakeTheSameOptions() throws {
        let names = try argumentNames(ofProduct: "migverify")
        let run = try XCTUnwrap(names["run"])
        XCTAssertGreaterThan(run.count, 40)
        XCTAssertTrue(run.isSuperset(of: ["matrix", "back", "direct", "max-downtime-ms", "json", "state-directory", "source-uri", "source-daemon-log"]))
        XCTAssertTrue(run.isSuperset(of: ["guest-count", "max-concurrent", "fault-guest"]))
        XCTAssertEqual(names["sweep"], run)
    }

    /// The same flags given to `run` and to `sweep` make the same runs, results options and lab.
    func testRunAndSweepMakeTheSameRunsOfTheSameFlags() throws {
        let outputs = ["--id", "s1", "--json", directory.appendingPathComponent("r.json").path,
                       "--junit", directory.appendingPathComponent("r.xml").path,
                       "--save-captures", directory.appendingPathComponent("captures").path,
                       "--database", directory.appendingPathComponent("r.sqlite").path, "--fresh", "--retry-failed"]
        let lab = ["--scenario", "live,abort", "--memory-mib", "128,256", "--memeater-size-mib", "32",
                   "--dirty-rate-mib-per-second", "10,0", "--bandwidth-mib-per-second", "64,unlimited",
                   "--pattern", "random/threads=2", "--strategy", "precopy,auto-converge", "--guest", "initramfs",
                   "--emulator", "default", "--repeat", "2", "--find-boundary", "3",
                   "--back", "--migration-mode", "client-managed", "--qemu-max-downtime-ms", "400", "--postcopy",
                   "--timeout-seconds", "60", "--stall-timeout-seconds", "10", "--require-zero-loss", "--max-ping-gap-ms", "900",
                   "--ping-interval-microseconds", "2000", "--capture-interface", "up1", "--memeater-port", "7071"]
        let oldNames = ["--scenario", "live", "--memory-mib", "128", "--guest", "initramfs", "--direct", "--max-downtime-ms", "700",
                        "--parallel-connections", "4", "--compression", "zstd"]
        for arguments in [lab + outputs, oldNames] {
            let run = try RunCommand.parse(arguments + isolatedLab)
            let sweep = try SweepCommand.parse(["--id", "s1"] + arguments + isolatedLab)
            let runPlan = try XCTUnwrap(run.plan), sweepPlan = try XCTUnwrap(sweep.plan)
            XCTAssertFalse(runPlan.runs.isEmpty)
            XCTAssertEqual(runPlan.runs, sweepPlan.runs, "\(arguments)")
            XCTAssertEqual(runPlan.matrix, sweepPlan.matrix)
            XCTAssertEqual(runPlan.boundarySteps, sweepPlan.boundarySteps)
            XCTAssertEqual(run.lab.configuration, sweep.lab.configuration)
            XCTAssertEqual(run.location.faultJournal, sweep.location.faultJournal)
            for option in [\OutputOptions.json, \.junit, \.saveCaptures] {
                XCTAssertEqual(run.outputs[keyPath: option], sweep.outputs[keyPath: option])
            }
            XCTAssertEqual(run.outputs.database, sweep.outputs.database)
            XCTAssertEqual(run.outputs.fresh, sweep.outputs.fresh)
            XCTAssertEqual(run.outputs.retryFailed, sweep.outputs.retryFailed)
        }
        let runs = try XCTUnwrap(try RunCommand.parse(lab + outputs + isolatedLab).plan).runs
        XCTAssertEqual(runs.count, 2 * 2 * 2 * 2 * 2 * 2, "scenarios × sizes × rates × bandwidths × strategies × repeat")
        let first = try XCTUnwrap(runs.first)
        XCTAssertEqual(first.migration.mode, .clientManaged)
        XCTAssertEqual(first.migration.qemuMaxDowntimeMilliseconds, 400)
        XCTAssertEqual(first.endpoints.captureInterface, "up1")
        XCTAssertEqual(first.endpoints.memeaterPort, LabConfiguration().memeaterPort, "the lab's memeater port is the lab's")
        XCTAssertEqual(first.maxPingDowntimeMilliseconds, 900)
        XCTAssertTrue(first.roundTrip && first.requireZeroLoss)
    }

    /// Real hosts: the same real-host options reach the same hosts from `run` and `sweep`.
    func testRunAndSweepNameTheSameRealHosts() throws {
        let tokenFile = directory.appendingPathComponent("token").path
        try ControlToken.generate().write(toFile: tokenFile)
        let real = ["--source-uri", "qemu+ssh://root@src.invalid/system", "--dest-uri", "qemu+tcp://dst.invalid/system",
                    "--domain", "guest", "--guest-address", "192.0.2.10", "--memeater-port", "7071", "--memeater-token-file", tokenFile,
                    "--source-ssh", "admin@src.invalid", "--dest-ssh", "root@dst.invalid:2222", "--source-daemon-log", "none",
                    "--scenario", "live,perform-fail", "--memory-mib", "1024", "--memeater-size-mib", "256"]
        let run = try XCTUnwrap(try RunCommand.parse(real + isolatedLab).plan)
        let sweep = try XCTUnwrap(try SweepCommand.parse(["--id", "s1"] + real + isolatedLab).plan)
        guard case .realHosts(let runHosts) = run.target, case .realHosts(let sweepHosts) = sweep.target else {
            return XCTFail("real-host options plan real hosts")
        }
        XCTAssertEqual(run.runs, sweep.runs)
        XCTAssertEqual(runHosts.hosts.endpoints, sweepHosts.hosts.endpoints)
        XCTAssertEqual(runHosts.hosts.endpoints.memeaterPort, 7071)
        XCTAssertNil(runHosts.hosts.sourceDaemonLogPath)
        XCTAssertEqual(runHosts.hosts.memeaterToken?.text, sweepHosts.hosts.memeaterToken?.text)
        XCTAssertNotNil(runHosts.hosts.memeaterToken)
        XCTAssertEqual(run.matrix.emulators, ["existing"])
        XCTAssertEqual(Set(run.runs.map(\.memeaterSizeMiB)), [256])
    }

    // MARK: the hosts are reached when the command runs

    /// Without --capture-interface the plan holds a stand-in; the route to the guest is
    /// looked up when the plan is resolved, before anything else is reached.
    func testTheRouteToARealGuestIsLookedUpWhenTheCommandRuns() throws {
        let real = ["--source-uri", "qemu+ssh://root@src.invalid/system", "--dest-uri", "qemu+ssh://root@dst.invalid/system",
                    "--domain", "guest", "--guest-address", "192.0.2.10"]
        let plan = try XCTUnwrap(try RunCommand.parse(real + isolatedLab).plan)
        XCTAssertEqual(plan.runs.first?.endpoints.captureInterface, "lo", "a stand-in until the command runs")
        var lookedUp: [String] = []
        XCTAssertThrowsError(try plan.resolve(lookUpRoute: { address in
            lookedUp.append(address)
            throw ValidationError("no route to the guest address \(address): give --capture-interface")
        })) { error in
            XCTAssertEqual((error as? ValidationError)?.message, "no route to the guest address 192.0.2.10: give --capture-interface")
        }
        XCTAssertEqual(lookedUp, ["192.0.2.10"])
    }

    // MARK: help

    func testTheRunHelpDescribesTheWholeProcedureAndTheScenarioHelpIsOneString() {
        let help = RunCommand.helpMessage(columns: 100_000)
        XCTAssertTrue(help.contains("live, prepare-fail and perform-fail at 2048, 1024 and 2111 MiB"), help)
        XCTAssertTrue(help.contains("--quick: 1024 MiB on initramfs only"), help)
        XCTAssertFalse(help.contains("perform-fail at 1024 MiB"), help)
        XCTAssertTrue(help.contains(MatrixOptions.scenarioHelp), "the --scenario help is MatrixOptions.scenarioHelp")
        XCTAssertTrue(SweepCommand.helpMessage(columns: 100_000).contains(MatrixOptions.scenarioHelp))
    }

    /// Per command, the long names of every option and flag (hidden ones included), from the
    /// built `product`'s `--experimental-dump-help`.
    private func argumentNames(ofProduct product: String) throws -> [String: Set<String>] {
        let process = Process()
        process.executableURL = builtProduct(product)
        process.arguments = ["--experimental-dump-help"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let root = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["command"] as? [String: Any])
        var names: [String: Set<String>] = [:]
        for subcommand in root["subcommands"] as? [[String: Any]] ?? [] {
            guard let name = subcommand["commandName"] as? String else { continue }
            let arguments = subcommand["arguments"] as? [[String: Any]] ?? []
            names[name] = Set(arguments.flatMap { argument in
                (argument["names"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "long" }.compactMap { $0["name"] as? String }
            })
        }
        return names
    }
}
