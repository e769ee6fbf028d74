import Foundation
import Lab
import Synchronization
import XCTest
@testable import Verifier

enum Fixtures {
    static let endpoints = Endpoints(sourceURI: "qemu+tcp://198.18.0.1/system", destinationURI: "qemu+tcp://198.18.0.2/system",
                                     domainName: "lab-guest", guestAddress: "198.18.1.10", captureInterface: "up0")

    static func parameters(_ scenario: ScenarioKind = .live, memoryMiB: Int = 333, rate: Double = 50) -> ScenarioParameters {
        ScenarioParameters(scenario: scenario, memoryMiB: memoryMiB, memeaterSizeMiB: 128, dirtyRateMiBPerSecond: rate,
                           endpoints: endpoints)
    }

    static func result(_ scenario: ScenarioKind = .live, checks: [Check]) -> ScenarioResult {
        var result = ScenarioResult(parameters: parameters(scenario), accel: "tcg", qemuVersion: "10.0.2", libvirtVersion: "11.3.0",
                                    startedAt: Date(timeIntervalSince1970: 1_700_000_000))
        result.finishedAt = Date(timeIntervalSince1970: 1_700_000_012.5)
        for check in checks { result.add(check) }
        result.migrationMilliseconds = 1234
        result.libvirtDowntimeMilliseconds = 120
        result.pingDowntimeMilliseconds = 140.5
        result.pingLost = 3
        result.integrityErrors = 0
        return result
    }
}

/// A lab of its own for one test class that runs scenarios for real: the class setUp calls
/// `start()`, the lab comes up with the first run, and the class tearDown calls `shutDown()`,
/// which removes it whatever happened.
final class LabScenarioHarness: @unchecked Sendable {
    // @unchecked: written only by the class setUp, before any test of the class reads it.
    let lab: Lab
    let databaseDirectory: URL
    private(set) var store: ResultsStore?
    private(set) var runner: ScenarioRunner?
    private(set) var setUpError: String?
    /// What a test asks to happen when a run enters a phase.
    let phaseActions = PhaseActions()
    /// Lab tests skipped for want of root.
    private(set) var skipped = 0

    /// A lab named `namePrefix`-*, with its state under `stateDirectory`, so that it never
    /// touches a lab brought up by hand or by another test class.
    /// `sshDaemons`: run an sshd per host, for tests that reach the hosts as real hosts.
    init(namePrefix: String, stateDirectory: String, sshDaemons: Bool = false) {
        var configuration = LabConfiguration(namePrefix: namePrefix, stateDirectory: stateDirectory)
        configuration.bootTimeoutSeconds = 180
        configuration.startSSHDaemons = sshDaemons
        lab = Lab(configuration: configuration)
        databaseDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("\(namePrefix)-results-\(getpid())")
    }

    /// Starts from nothing (a lab left by a killed run is removed) and opens the results store and the runner.
    func start() {
        guard getuid() == 0 else { return }
        _ = try? lab.down()
        do {
            try FileManager.default.createDirectory(at: databaseDirectory, withIntermediateDirectories: true)
            let store = try ResultsStore(path: databaseDirectory.appendingPathComponent("results.sqlite").path)
            self.store = store
            runner = try ScenarioRunner(testbed: LabTarget(lab: lab, memeaterPath: MemeaterBinary.find()),
                                        recorder: FanOutRecorder([StoreRecorder(store: store), StepPrinter(), phaseActions]),
                                        journal: FaultJournal(path: databaseDirectory.appendingPathComponent("fault-journal.json").path),
                                        interruption: Interruption())
        } catch {
            setUpError = "\(error)"
        }
    }

    /// Removes the lab and the results database; without root, says how many lab tests
    /// were skipped.
    func shutDown() {
        if skipped > 0 {
            print("[\(lab.configuration.namePrefix)] SKIPPED \(skipped) lab tests: they need root (namespaces, libvirt daemons, QEMU, raw sockets)")
        }
        if getuid() == 0 {
            do {
                let report = try lab.down()
                if !report.leftovers.isEmpty { print("lab down left: \(report.leftovers)") }
            } catch {
                print("lab down: \(error)")
            }
        }
        try? FileManager.default.removeItem(at: databaseDirectory)
    }

    /// For each test's setUp: skips without root (counted), fails when the class set-up failed.
    func requireReady() throws {
        guard getuid() == 0 else {
            skipped += 1
            throw XCTSkip("the lab needs root")
        }
        if let setUpError { XCTFail("class set-up failed: \(setUpError)") }
    }

    /// Prints the end of the guest console, for a test that failed.
    func printConsoleTail() {
        print("--- guest console (last 40 lines):\n" + lab.guestConsole().split(separator: "\n").suffix(40).joined(separator: "\n"))
    }

    /// Prints the daemons' keepalive, error and warning lines (their debug logs go with the
    /// lab on `lab down`): the evidence for the daemons losing each other, which is not
    /// understood yet.
    func printDaemonLogs() {
        let configuration = lab.configuration
        for host in [configuration.source, configuration.destination] {
            let path = "\(configuration.stateDirectory)/hosts/\(host.name)/log/libvirtd.log"
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(cannot read \(path))"
            let lines = text.split(separator: "\n").filter { line in
                ["keepalive", "error", "warning", "closed"].contains { line.localizedCaseInsensitiveContains($0) }
            }
            print("--- \(path), keepalive/error/warning lines (last 60 of \(lines.count)):\n" + lines.suffix(60).joined(separator: "\n"))
        }
    }

    /// Prints what the lab's network looks like now: MACs, the switch's forwarding table,
    /// neighbours, TCP connections, and whether src and dst still reach each other.
    func printNetworkState() {
        let configuration = lab.configuration
        let source = configuration.source.namespace, destination = configuration.destination.namespace
        let commands: [[String]] = [
            ["ip", "-n", source, "-br", "link"], ["ip", "-n", destination, "-br", "link"],
            ["ip", "-n", configuration.switchNamespace, "bridge", "fdb", "show", "br", configuration.switchBridgeName],
            ["ip", "-n", source, "neigh"], ["ip", "-n", destination, "neigh"], ["ip", "-n", configuration.clientNamespace, "neigh"],
            ["ip", "netns", "exec", source, "ss", "-tnoi"], ["ip", "netns", "exec", destination, "ss", "-tnoi"],
            ["ip", "netns", "exec", source, "ping", "-c", "3", "-W", "1", configuration.destination.address],
            ["ip", "netns", "exec", destination, "ping", "-c", "3", "-W", "1", configuration.source.address],
            ["ip", "netns", "exec", destination, "nft", "list", "ruleset"],
        ]
        for command in commands {
            let result = try? CommandRunner.capture(command, step: "look at the lab network", timeoutSeconds: 15)
            print("--- \(command.joined(separator: " ")) (exit \(result?.exitStatus ?? -1)):\n\(result?.transcript ?? "")")
        }
    }

    /// Parameters for a run on this lab: a small guest for TCG on 2 cores, memeater on 128 MiB.
    func parameters(_ scenario: ScenarioKind, memoryMiB: Int, rate: Double, emulator: String = "default") -> ScenarioParameters {
        ScenarioParameters(scenario: scenario, memoryMiB: memoryMiB, memeaterSizeMiB: 128, dirtyRateMiBPerSecond: rate,
                           emulator: emulator, endpoints: LabTarget(lab: lab).endpoints, timeoutSeconds: 90,
                           stallTimeoutSeconds: 20)
    }

    /// Runs one scenario and prints its verdict, details and notes. A run whose daemons lost
    /// each other ("client socket is closed") before the thing under test happened also
    /// prints the daemons' keepalive lines and the lab's network state: that was the symptom
    /// of the host bridges taking the guest tap's MAC (fixed in the lab's topology), and any
    /// other cause must be diagnosable from a CI log.
    ///
    /// `at` runs test actions when the run enters a phase (e.g. leaves something behind on
    /// a host just before the hosts are looked at, to show that a check FAILs on it).
    func run(_ parameters: ScenarioParameters, at actions: [RunPhase: @Sendable () -> Void] = [:]) throws -> ScenarioResult {
        let runner = try XCTUnwrap(runner, "no scenario runner: \(setUpError ?? "class set-up did not run")")
        phaseActions.set(actions)
        defer { phaseActions.set([:]) }
        let result = runner.run(parameters)
        let faultNeverCame = result.fault?.acted == false
        if parameters.scenario == .live || faultNeverCame, !result.passed,
           result.libvirtError?.contains("client socket is closed") == true {
            print("[harness] the lab's daemons lost each other (\(result.libvirtError ?? ""))")
            printDaemonLogs()
            printNetworkState()
        }
        print(ReportWriter.verdictTable([result]))
        print(ReportWriter.details(result))
        print("notes: " + result.notes.joined(separator: " | "))
        return result
    }
}

/// Runs a test's actions when a run enters a phase, on the runner's thread, before it goes on.
final class PhaseActions: RunRecorder {
    private let actions = Mutex<[RunPhase: @Sendable () -> Void]>([:])

    func set(_ new: [RunPhase: @Sendable () -> Void]) { actions.withLock { $0 = new } }
    func begin(_ parameters: ScenarioParameters, clock: RunClock) {}
    func record(_ record: RunRecord) {
        guard case .phase(let phase) = record, let action = actions.withLock({ $0[phase] }) else { return }
        action()
    }
}

/// Prints a run's steps (not its samples) as the tests go.
struct StepPrinter: RunRecorder {
    func begin(_ parameters: ScenarioParameters, clock: RunClock) {}
    func record(_ record: RunRecord) { if case .step(let line) = record { print("[verifier] \(line)") } }
}

extension FaultContext {
    /// A context on `lab` for a fault a test installs by hand (its own clock, a journal in
    /// the temporary directory).
    init(lab: Lab, parameters: ScenarioParameters) throws {
        let testbed = LabTarget(lab: lab)
        self.init(testbed: testbed, parameters: parameters, source: try testbed.connect(parameters.endpoints.sourceURI),
                  destination: try testbed.connect(parameters.endpoints.destinationURI), sourceHost: testbed.host(.source),
                  destinationHost: testbed.host(.destination), clock: RunClock(),
                  // In a directory of its own: the temporary directory itself is writable by all, and refused.
                  journal: FaultJournal(path: FileManager.default.temporaryDirectory
                      .appendingPathComponent("fault-journal-\(getpid())/fault-journal.json").path),
                  recorder: StepPrinter())
    }
}
