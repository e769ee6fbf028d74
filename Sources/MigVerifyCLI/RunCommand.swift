import ArgumentParser
import Foundation
import Lab
import Verifier

/// `migverify run`: the migration test case end to end, on the lab or on real hosts.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the migration test case: live migration under load, and clean-up after Prepare/Perform failures.",
        discussion: """
            Without arguments it brings the lab up (idempotent) and runs live, prepare-fail and perform-fail at \
            1024 MiB with memeater dirtying 50 MiB/s, prints the verdict table and stores every run, sample and \
            check in the results database. Exit status: 0 only if every check passed, 1 if a check failed, \
            2 for a setup error, 64 for bad input (one line on stderr). More scenarios: abort, dst-already-active, dst-qemu-killed, link-cut \
            (see --scenario); --back migrates the live guest back and checks again. With --source-uri, --dest-uri, \
            --domain and --guest-address it runs against real hosts instead: the guest must already run on the \
            source with `memeater serve` inside, and host-side checks and faults go over ssh. See docs/verifier.md.
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

    @Option(name: .customLong("memory-mib"), help: "Guest RAM sizes in MiB, comma-separated (e.g. 1024,2111; default 1024 on the lab, the domain's RAM on real hosts).")
    var memoryMiB: String?

    @Option(name: .customLong("memeater-size-mib"), help: "Region memeater dirties and verifies, in MiB (default: half the guest RAM on the lab, memeater's region on real hosts).")
    var memeaterSizeMiB: Int?

    @Option(name: .customLong("dirty-rate-mib-per-second"), help: "memeater's dirty rates in MiB/s, comma-separated; 0 = unlimited.")
    var dirtyRateMiBPerSecond = "50"

    @Option(help: "Guest kind on the lab: initramfs (default) or debian.")
    var guest: String?

    @Option(help: "Emulator on the lab: default (QEMU 10 from bookworm-backports), qemu-7.2 (loses dirty pages under TCG: the reproducer; expect live to FAIL landing-intact), or a path to qemu-system-x86_64.")
    var emulator: String?

    @Option(name: .customLong("repeat"), help: "Run every scenario this many times (e.g. to measure how often an intermittent fault is caught).")
    var repeatCount = 1

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

    @Option(name: .customLong("source-uri"), help: "Real hosts: libvirt URI of the source, e.g. qemu+ssh://root@src/system.")
    var sourceURI: String?

    @Option(name: .customLong("dest-uri"), help: "Real hosts: libvirt URI of the destination, e.g. qemu+ssh://root@dst/system.")
    var destinationURI: String?

    @Option(help: "Real hosts: the domain to migrate; it must run on the source with `memeater serve` inside.")
    var domain: String?

    @Option(name: .customLong("guest-address"), help: "Real hosts: the guest's IPv4 address (pinged; memeater's control port is there).")
    var guestAddress: String?

    @Option(name: .customLong("memeater-port"), help: "Real hosts: memeater's control port in the guest.")
    var memeaterPort = 7070

    @Option(name: .customLong("capture-interface"), help: "Interface pings leave from and are captured on (the lab's up0; on real hosts the route to the guest's).")
    var captureInterface: String?

    @Option(name: .customLong("source-ssh"), help: "Real hosts: [USER@]HOST[:PORT] to ssh to for the source's checks (default: from a qemu+ssh:// --source-uri).")
    var sourceSSH: String?

    @Option(name: .customLong("dest-ssh"), help: "Real hosts: [USER@]HOST[:PORT] to ssh to for the destination's checks and faults (default: from a qemu+ssh:// --dest-uri).")
    var destinationSSH: String?

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

    /// Whether any real-host option is given.
    var realHosts: Bool { sourceURI != nil || destinationURI != nil || domain != nil || guestAddress != nil || sourceSSH != nil || destinationSSH != nil }

    /// The lab, or the real hosts the options name; rejects incomplete or conflicting options.
    func testbed() throws -> any Testbed {
        guard realHosts else {
            return LabTarget(lab: lab, captureInterface: captureInterface ?? "up0")
        }
        guard let sourceURI, let destinationURI, let domain, let guestAddress else {
            throw ValidationError("real hosts need all of --source-uri, --dest-uri, --domain and --guest-address")
        }
        if guest != nil || emulator != nil {
            throw ValidationError("--guest and --emulator choose the lab's guest and QEMU; with --source-uri the domain and its QEMU are the hosts' own")
        }
        var parsed = in_addr()
        guard inet_pton(AF_INET, guestAddress, &parsed) == 1 else {
            throw ValidationError("--guest-address must be an IPv4 address, not '\(guestAddress)'")
        }
        func ssh(_ text: String?, option: String) throws -> HostAccess? {
            guard let text else { return nil }
            guard let destination = SSHDestination.parse(text) else { throw ValidationError("--\(option) must be [USER@]HOST[:PORT], not '\(text)'") }
            return .ssh(destination)
        }
        let interface = try captureInterface ?? routeInterface(to: guestAddress)
        let endpoints = Endpoints(sourceURI: sourceURI, destinationURI: destinationURI, domainName: domain, guestAddress: guestAddress,
                                  memeaterPort: memeaterPort, captureInterface: interface)
        return RemoteHosts(endpoints: endpoints, sourceAccess: try ssh(sourceSSH, option: "source-ssh"),
                           destinationAccess: try ssh(destinationSSH, option: "dest-ssh"))
    }

    /// The interface the kernel routes `address` through (`ip -j route get`, its `dev`).
    func routeInterface(to address: String) throws -> String {
        let result = try? CommandRunner.capture(["ip", "-j", "route", "get", address], step: "find the route to \(address)", timeoutSeconds: 10)
        guard let result, result.succeeded, let device = (try? IPRoute.list(fromJSON: result.output))?.first?.dev else {
            // ip says why on standard error, e.g. "RTNETLINK answers: Network is unreachable".
            let said = result?.errorOutput.split(whereSeparator: \.isNewline).first.map { " (\($0))" } ?? ""
            throw ValidationError("no route to the guest address \(address)\(said): give --capture-interface")
        }
        return device
    }

    /// The testbed and the runs the options ask for, checked before anything starts: bad
    /// input (also an unreachable URI, an unknown domain, more memory than the host has) is a
    /// `ValidationError`, one line and exit 64. Real hosts are surveyed here, once.
    func plan() throws -> (testbed: any Testbed, runs: [ScenarioParameters]) {
        do {
            let testbed = try testbed()
            let scenarios = try parsedScenarios()
            var memorySizes = try memoryMiB.map { try parsedList($0, option: "memory-mib") { Int($0) } } ?? [1024]
            var memeaterSize: (Int) -> Int = { [memeaterSizeMiB] in memeaterSizeMiB ?? max(16, $0 / 2) }
            if let remote = testbed as? RemoteHosts {
                for scenario in scenarios { try remote.validate(scenario) }
                // The domain and memeater as they are: the defaults of a real-host run.
                let survey = try remote.survey()
                if memoryMiB == nil { memorySizes = [survey.memoryMiB] }
                memeaterSize = { [memeaterSizeMiB] _ in memeaterSizeMiB ?? survey.memeaterSizeMiB }
            } else {
                let guest = guest ?? "initramfs"
                guard ["initramfs", "debian"].contains(guest) else { throw ValidationError("--guest must be initramfs or debian, not \(guest)") }
                _ = try EmulatorChoice(name: emulator ?? "default")
            }
            guard repeatCount >= 1 else { throw ValidationError("--repeat must be at least 1, not \(repeatCount)") }
            let migration = MigrationOptions(
                mode: direct ? .direct : .peerToPeer, bandwidthMiBPerSecond: bandwidthMiBPerSecond,
                qemuMaxDowntimeMilliseconds: qemuMaxDowntimeMilliseconds, autoConverge: autoConverge, postCopy: postcopy,
                parallelConnections: parallelConnections,
                compressionMethods: compression.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? [])
            let remote = testbed is RemoteHosts
            let template = ScenarioParameters(
                scenario: .live, memoryMiB: 1024, memeaterSizeMiB: 512, dirtyRateMiBPerSecond: 50,
                guestKind: remote ? "existing" : guest ?? "initramfs", emulator: remote ? "existing" : emulator ?? "default",
                endpoints: testbed.endpoints, migration: migration, timeoutSeconds: timeoutSeconds,
                stallTimeoutSeconds: stallTimeoutSeconds, requireZeroLoss: requireZeroLoss,
                maxPingDowntimeMilliseconds: maxDowntimeMilliseconds, pingIntervalMicroseconds: pingIntervalMicroseconds,
                roundTrip: back)
            if back, !scenarios.contains(.live) {
                throw ValidationError("--back (round trip) only applies to the live scenario, and --scenario has no live")
            }
            let runs = try expandRuns(scenarios: scenarios, memorySizesMiB: memorySizes,
                                      dirtyRatesMiBPerSecond: parsedList(dirtyRateMiBPerSecond, option: "dirty-rate-mib-per-second") { Double($0) },
                                      template: template, memeaterSizeMiB: memeaterSize, repeatCount: repeatCount)
            if !realHosts, let available = hostAvailableMemoryMiB(), let largest = runs.map(\.memoryMiB).max() {
                let running = lab.currentRecord()?.guest?.memoryMiB ?? 0
                try checkMemoryFits(requestedMiB: largest, availableMiB: available + running)
            }
            return (testbed, runs)
        } catch let error as VerifierError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        let (testbed, runs) = try plan()
        let store: ResultsStore
        let runner: ScenarioRunner
        let interactive = isatty(STDERR_FILENO) == 1
        let printer = ProgressPrinter(interactive: interactive)
        do {
            guard getuid() == 0 else { throw VerifierError.environment("migverify run needs root (the lab: namespaces, libvirt daemons; pingmon: raw sockets and capture)") }
            store = try ResultsStore(path: database)
            runner = try ScenarioRunner(testbed: testbed, store: store) { line in
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
        fflush(nil)  // a verdict line reaches a file or pipe when it is made, not at exit
    }
}
