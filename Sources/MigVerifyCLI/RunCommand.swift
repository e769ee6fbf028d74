import ArgumentParser
import Foundation
import Lab
import Verifier

/// `migverify run`: the migration test case end to end on the lab.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the migration test case: live migration under load, and clean-up after Prepare/Perform failures.",
        discussion: """
            Without arguments it brings the lab up (idempotent) and runs live, prepare-fail and perform-fail at \
            1024 MiB with memeater dirtying 50 MiB/s, prints the verdict table and stores every run, sample and \
            check in the results database. Exit status: 0 only if every check passed, 1 if a check failed, \
            2 for bad input or a setup error. More scenarios: abort, dst-already-active, dst-qemu-killed, link-cut \
            (see --scenario); --back migrates the live guest back and checks again. See docs/verifier.md.
            """
    )

    @Option(help: """
        Scenarios, comma-separated: live, prepare-fail, perform-fail (the defaults), abort (the verifier aborts the \
        job once it transfers), dst-already-active (a domain of the guest's name already runs on the destination and \
        must be untouched), dst-qemu-killed (the incoming QEMU is SIGKILLed once the job transfers), link-cut (the \
        destination's uplink is set down in the lab's switch once the job transfers, restored afterwards). The \
        mid-stream faults limit the bandwidth to 32 MiB/s unless --bandwidth-mib-per-second is given.
        """)
    var scenario = ScenarioKind.defaults.map(\.rawValue).joined(separator: ",")

    @Option(name: .customLong("memory-mib"), help: "Guest RAM sizes in MiB, comma-separated (e.g. 1024,2111).")
    var memoryMiB = "1024"

    @Option(name: .customLong("memeater-size-mib"), help: "Region memeater dirties and verifies, in MiB (default: half the guest RAM).")
    var memeaterSizeMiB: Int?

    @Option(name: .customLong("dirty-rate-mib-per-second"), help: "memeater's dirty rates in MiB/s, comma-separated; 0 = unlimited.")
    var dirtyRateMiBPerSecond = "50"

    @Option(help: "Guest kind on the lab: initramfs or debian.")
    var guest = "initramfs"

    @Option(help: "Emulator: default (QEMU 10 from bookworm-backports), qemu-7.2 (loses dirty pages under TCG: the reproducer; expect live to FAIL landing-intact), or a path to qemu-system-x86_64.")
    var emulator = "default"

    @Option(help: "Write the results as JSON (one object per scenario run) to this file.")
    var json: String?

    @Option(help: "Write the results as JUnit XML (one testcase per check) to this file.")
    var junit: String?

    @Option(help: "The results database (SQLite); a re-run with the same database skips runs already completed with the same parameters.")
    var database = "migverify-results.sqlite"

    @Flag(help: "Run every scenario again even when the database has a completed run with the same parameters.")
    var fresh = false

    @Flag(name: .customLong("back"), help: "live: after landing, migrate back to the source and check the second landing too (checks prefixed back-).")
    var back = false

    @Flag(help: "Direct (client-managed) migration instead of peer-to-peer.")
    var direct = false

    @Option(name: .customLong("bandwidth-mib-per-second"), help: "Migration bandwidth limit in MiB/s (default: unlimited).")
    var bandwidthMiBPerSecond: UInt64?

    @Option(name: .customLong("qemu-max-downtime-ms"), help: "Longest switch-over pause QEMU may take, in ms (default: QEMU's 300).")
    var qemuMaxDowntimeMilliseconds: UInt64?

    @Flag(help: "Throttle the guest's vCPUs when it dirties faster than the copy (auto-converge).")
    var autoConverge = false

    @Flag(help: "Allow post-copy; the verifier switches to it after the first pass.")
    var postcopy = false

    @Option(help: "Parallel (multifd) migration connections, 2-255.")
    var parallelConnections: Int?

    @Option(help: "Compression methods, comma-separated: xbzrle, mt (single stream); zlib, zstd (with --parallel-connections).")
    var compression: String?

    @Option(name: .customLong("timeout-seconds"), help: "Abort a migration still running after this many seconds.")
    var timeoutSeconds: Double = 120

    @Option(name: .customLong("stall-timeout-seconds"), help: "Abort a migration that transferred nothing new for this many seconds.")
    var stallTimeoutSeconds: Double = 15

    @Flag(help: "Any lost ping fails the ping check.")
    var requireZeroLoss = false

    @Option(name: .customLong("max-downtime-ms"), help: "Longest ping gap the live scenario accepts, in ms.")
    var maxDowntimeMilliseconds: Double = 2000

    @Option(name: .customLong("ping-interval-microseconds"), help: "pingmon's probe interval in µs.")
    var pingIntervalMicroseconds = 1000

    @Option(help: "Lab state directory (as for `migverify lab`).")
    var stateDirectory = "/run/migration-lab"

    @Option(help: "Lab cache directory (as for `migverify lab`).")
    var cacheDirectory = "/var/cache/migration-lab"

    @Option(help: "Prefix of the lab's namespace names.")
    var labNamePrefix = "mlab"

    @Option(name: .customLong("source-uri"), help: "Real hosts: libvirt URI of the source (not supported yet; the lab is used).")
    var sourceURI: String?

    @Option(name: .customLong("dest-uri"), help: "Real hosts: libvirt URI of the destination (not supported yet).")
    var destinationURI: String?

    @Option(help: "Real hosts: domain to migrate (on the lab it must be the lab's guest).")
    var domain: String?

    @Option(name: .customLong("guest-address"), help: "Real hosts: the guest's IPv4 address (not supported yet).")
    var guestAddress: String?

    @Option(name: .customLong("capture-interface"), help: "Interface pings leave from (the lab's client interface by default).")
    var captureInterface = "up0"

    func parsedScenarios() throws -> [ScenarioKind] {
        try scenario.split(separator: ",").map { word in
            let name = word.trimmingCharacters(in: .whitespaces)
            guard let kind = ScenarioKind(rawValue: name) else {
                throw ValidationError("unknown scenario '\(name)' (known: \(ScenarioKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return kind
        }
    }

    func parsedList<T>(_ text: String, option: String, _ parse: (String) -> T?) throws -> [T] {
        try text.split(separator: ",").map { word in
            let trimmed = word.trimmingCharacters(in: .whitespaces)
            guard let value = parse(trimmed) else { throw ValidationError("--\(option): '\(trimmed)' is not a number") }
            return value
        }
    }

    var lab: Lab {
        Lab(configuration: LabConfiguration(namePrefix: labNamePrefix, stateDirectory: stateDirectory, cacheDirectory: cacheDirectory))
    }

    func plan() throws -> [ScenarioParameters] {
        if sourceURI != nil || destinationURI != nil || guestAddress != nil {
            throw ValidationError("--source-uri, --dest-uri and --guest-address (real hosts) are not supported yet: this version runs on the lab only")
        }
        let target = LabTarget(lab: lab, captureInterface: captureInterface)
        if let domain, domain != target.endpoints.domainName {
            throw ValidationError("unknown domain '\(domain)': on the lab the guest is '\(target.endpoints.domainName)'")
        }
        guard ["initramfs", "debian"].contains(guest) else { throw ValidationError("--guest must be initramfs or debian, not \(guest)") }
        _ = try EmulatorChoice(name: emulator)
        let migration = MigrationOptions(
            mode: direct ? .direct : .peerToPeer, bandwidthMiBPerSecond: bandwidthMiBPerSecond,
            qemuMaxDowntimeMilliseconds: qemuMaxDowntimeMilliseconds, autoConverge: autoConverge, postCopy: postcopy,
            parallelConnections: parallelConnections,
            compressionMethods: compression.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? [])
        let template = ScenarioParameters(
            scenario: .live, memoryMiB: 1024, memeaterSizeMiB: 512, dirtyRateMiBPerSecond: 50, guestKind: guest, emulator: emulator,
            endpoints: target.endpoints, migration: migration, timeoutSeconds: timeoutSeconds,
            stallTimeoutSeconds: stallTimeoutSeconds, requireZeroLoss: requireZeroLoss,
            maxPingDowntimeMilliseconds: maxDowntimeMilliseconds, pingIntervalMicroseconds: pingIntervalMicroseconds,
            roundTrip: back)
        if back, !(try parsedScenarios()).contains(.live) {
            throw ValidationError("--back (round trip) only applies to the live scenario, and --scenario has no live")
        }
        let fixedMemeater = memeaterSizeMiB
        return try expandRuns(scenarios: parsedScenarios(), memorySizesMiB: parsedList(memoryMiB, option: "memory-mib") { Int($0) },
                              dirtyRatesMiBPerSecond: parsedList(dirtyRateMiBPerSecond, option: "dirty-rate-mib-per-second") { Double($0) },
                              template: template, memeaterSizeMiB: { fixedMemeater ?? max(16, $0 / 2) })
    }

    func validate() throws {
        do {
            let runs = try plan()
            if let available = hostAvailableMemoryMiB(), let largest = runs.map(\.memoryMiB).max() {
                let running = lab.currentRecord()?.guest?.memoryMiB ?? 0
                try checkMemoryFits(requestedMiB: largest, availableMiB: available + running)
            }
        } catch let error as VerifierError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        let runs: [ScenarioParameters]
        let store: ResultsStore
        let runner: ScenarioRunner
        let interactive = isatty(STDERR_FILENO) == 1
        let printer = ProgressPrinter(interactive: interactive)
        do {
            runs = try plan()
            guard getuid() == 0 else { throw VerifierError.environment("migverify run needs root (the lab: namespaces, libvirt daemons, raw sockets)") }
            store = try ResultsStore(path: database)
            runner = try ScenarioRunner(target: LabTarget(lab: lab, captureInterface: captureInterface), store: store) { line in
                printer.show(line)
            }
        } catch let error as VerifierError {
            FileHandle.standardError.write(Data("migverify run: error: \(error.description)\n".utf8))
            throw ExitCode(2)
        }
        var results: [ScenarioResult] = []
        for parameters in runs {
            if !fresh, let done = try? store.completedRun(matching: parameters), var previous = done.result {
                previous.reusedFromRunID = done.id
                printer.finish("skipping \(parameters.label): completed in run #\(done.id) of \(database) at \(iso8601Text(done.startedAt)) with the same parameters (--fresh runs it again)")
                results.append(previous)
                continue
            }
            let result = runner.run(parameters)
            printer.finish(ReportWriter.summaryLine(result))
            let details = ReportWriter.details(result)
            if !details.isEmpty { print(details) }
            results.append(result)
            if let setup = result.checks.first(where: { $0.name == "setup" }), runs.count == 1 || results.count == 1,
               result.checks.count == 1 {
                // The very first run could not even start: nothing else will either.
                FileHandle.standardError.write(Data("migverify run: error: \(setup.evidence)\n".utf8))
                try writeFiles(results)
                throw ExitCode(2)
            }
        }
        print("")
        print(ReportWriter.verdictTable(results))
        print("results: \(database)" + (json.map { ", \($0)" } ?? "") + (junit.map { ", \($0)" } ?? ""))
        try writeFiles(results)
        if !results.allSatisfy(\.passed) { throw ExitCode(1) }
    }

    func writeFiles(_ results: [ScenarioResult]) throws {
        do {
            if let json { try ReportWriter.json(results).write(to: URL(fileURLWithPath: json)) }
            if let junit { try ReportWriter.junit(results).write(toFile: junit, atomically: true, encoding: .utf8) }
        } catch {
            FileHandle.standardError.write(Data("migverify run: error: cannot write results: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

/// Shows progress: job-stats lines overwrite each other on a terminal; elsewhere one line
/// per second at most.
final class ProgressPrinter: @unchecked Sendable {
    private let lock = NSLock()
    private let interactive: Bool
    private var lastPrinted = Date.distantPast
    private var lineOpen = false

    init(interactive: Bool) { self.interactive = interactive }

    func show(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        let isSample = line.hasPrefix("  ")
        if interactive && isSample {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
            lineOpen = true
            return
        }
        if isSample && Date().timeIntervalSince(lastPrinted) < 1 { return }
        lastPrinted = Date()
        FileHandle.standardError.write(Data(((lineOpen ? "\n" : "") + line + "\n").utf8))
        lineOpen = false
    }

    func finish(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        if lineOpen { FileHandle.standardError.write(Data("\n".utf8)) }
        lineOpen = false
        print(line)
    }
}
