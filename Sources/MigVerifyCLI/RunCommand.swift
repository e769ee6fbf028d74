import ArgumentParser
import Foundation
import Lab
import MemeaterKit
import MigrationModel
import PingMonitor
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
            2 for a setup error, 64 for bad input (one line on stderr). More scenarios: abort, dst-already-active, dst-qemu-killed, link-cut, \
            guest-link-cut (see --scenario); --back migrates the live guest back and checks again. With --source-uri, --dest-uri, \
            --domain and --guest-address it runs against real hosts instead: the guest must already run on the \
            source with `memeater serve` inside, and host-side checks and faults go over ssh. See docs/verifier.md.
            """
    )

    @Option(help: """
        Scenarios, comma-separated: live, prepare-fail, perform-fail (the defaults), abort (the verifier aborts the \
        job once it transfers), dst-already-active (a domain of the guest's name already runs on the destination and \
        must be untouched), dst-qemu-killed (the incoming QEMU is SIGKILLed once the job transfers), link-cut (the \
        destination's management link, which carries the migration, is set down in the lab's switch once the job \
        transfers, restored afterwards; the guest network stays up, so the guest must answer throughout), \
        guest-link-cut (the lab's guest network is set down for 2 s once the job transfers; the migration must \
        complete, and only those 2 s of pings may be lost on top of the downtime limit). The \
        mid-stream faults limit the bandwidth to 32 MiB/s unless --bandwidth-mib-per-second is given.
        """, transform: { try CommaSeparated<ScenarioKind>(parsing: $0) })
    var scenario: CommaSeparated<ScenarioKind>?

    @Option(name: .customLong("memory-mib"), help: """
        Guest RAM sizes in MiB, comma-separated (default on the lab: 2048,1024,2111, the test case's procedure, or 1024 \
        with --quick; on real hosts the domain's RAM). On the lab at least 64 and at most what lets two QEMUs of that \
        size fit into this machine's memory.
        """, transform: { try CommaSeparated<Int>(parsing: $0) })
    var memoryMiB: CommaSeparated<Int>?

    @Option(name: .customLong("memeater-size-mib"), help: "Region memeater dirties and verifies, in MiB (default: half the guest RAM on the lab, memeater's region on real hosts).")
    var memeaterSizeMiB: Int?

    @Option(name: .customLong("dirty-rate-mib-per-second"), help: "memeater's dirty rates in MiB/s, comma-separated; 0 = unlimited (default: 50).",
            transform: { try CommaSeparated<Double>(parsing: $0) })
    var dirtyRateMiBPerSecond: CommaSeparated<Double>?

    @Option(help: "memeater's loads in the guest, comma-separated: sequential (default), random, hotset (10 % of the pages take 90 % of the writes) or hotset:FRACTION:PROBABILITY, each optionally followed by /threads=N (worker threads, 1-64) and /bytes=B (bytes rewritten per page, 32-4096), e.g. random/threads=4.",
            transform: { try CommaSeparated<MemeaterLoad>(parsing: $0) })
    var pattern: CommaSeparated<MemeaterLoad>?

    @Option(help: """
        Migration strategies, comma-separated, each words joined by +: precopy (default), auto-converge, postcopy,         parallel=N, compression=METHOD, max-downtime=MS; e.g. precopy,auto-converge,parallel=4+compression=zstd.         They apply on top of the single-strategy options below.
        """, transform: { try CommaSeparated<MigrationStrategy>(parsing: $0) })
    var strategy: CommaSeparated<MigrationStrategy>?

    @Option(help: """
        Guest kinds on the lab, comma-separated, or all: initramfs (busybox and the host's kernel), debian11 \
        (Debian 11, kernel 5.10), debian (Debian 12, kernel 6.1; also debian12), debian13 (Debian 13, kernel 6.12); \
        each Debian guest boots its own release's kernel. Default: initramfs,debian; initramfs with --quick.
        """, transform: { $0 == "all" ? CommaSeparated(GuestKind.allCases) : try CommaSeparated<GuestKind>(parsing: $0) })
    var guest: CommaSeparated<GuestKind>?

    @Flag(help: "One guest size (1024 MiB) on one guest kind (initramfs) instead of the test case's whole procedure, unless --memory-mib or --guest say otherwise.")
    var quick = false

    @Option(help: "Emulators on the lab, comma-separated: default (QEMU 10 from bookworm-backports), qemu-7.2 (loses dirty pages under TCG: the reproducer; expect live to FAIL landing-intact), or a path to qemu-system-x86_64.",
            transform: { try CommaSeparated<String>(parsing: $0) })
    var emulator: CommaSeparated<String>?

    @Option(name: .customLong("repeat"), help: "Run every scenario this many times (e.g. to measure how often an intermittent fault is caught; at most 1000).")
    var repeatCount: Int?

    @Option(help: """
        The matrix from a YAML (.yaml, .yml) or TOML (.toml) file with the keys scenario, memory-mib,         dirty-rate-mib-per-second, bandwidth-mib-per-second, pattern, strategy, emulator, guest and repeat         (docs/examples/sweep.yaml); those options cannot also be given on the command line.
        """)
    var matrix: String?

    @Option(name: .customLong("find-boundary"), help: """
        Then bisect the dirty rate between the lowest and highest rate of every memory size and bandwidth,         this many migrations each, to find where migration stops converging within --timeout-seconds.
        """)
    var boundarySteps: Int?

    @Option(help: "The id of this run's results (a sweep id: `migverify report ID` reads it; default: run-DATE-TIME). Giving an existing id resumes it.")
    var id: String?

    @Option(help: "Write the results as JSON (one object per scenario run) to this file.")
    var json: String?

    @Option(help: "Write the results as JUnit XML (one testcase per check) to this file.")
    var junit: String?

    @Option(name: .customLong("save-captures"), help: "Keep every run's ping capture in this directory (one pcapng file per run, nanosecond timestamps, named by start time and parameters; `pingmon analyze FILE --target ADDR` reads it again).")
    var saveCaptures: String?

    @Option(help: "The results database (SQLite); a re-run with the same database skips runs already completed with the same parameters.")
    var database = "migverify-results.sqlite"

    @Flag(help: "Run every scenario again even when the database has a completed run with the same parameters.")
    var fresh = false

    @Flag(help: "Run again the scenarios whose latest completed run in the database failed a check; reuse those that passed.")
    var retryFailed = false


    @Flag(name: .customLong("back"), help: "live: after landing, migrate back to the source and check the second landing too (checks prefixed back-).")
    var back = false

    @Option(help: """
        Who drives the migration: p2p (the default: the source's daemon talks to the destination's, \
        VIR_MIGRATE_PEER2PEER, `virsh migrate --p2p`) or client-managed (migverify drives both daemons, \
        `virsh migrate` without --p2p; not virsh's --direct, which is unmanaged direct migration).
        """)
    var migrationMode: MigrationMode?

    /// `--direct`, the old name of `--migration-mode client-managed`: hidden from the help,
    /// still accepted (it is not virsh's `--direct`).
    @Flag(name: .customLong("direct"), help: ArgumentHelp("Old name of --migration-mode client-managed.", visibility: .hidden))
    var direct = false

    @Option(name: .customLong("bandwidth-mib-per-second"), help: "Migration bandwidth limits in MiB/s, comma-separated; `unlimited` for none (the default).",
            transform: { try CommaSeparated<BandwidthLimit>(parsing: $0) })
    var bandwidthMiBPerSecond: CommaSeparated<BandwidthLimit>?

    @Option(name: .customLong("qemu-max-downtime-ms"), help: """
        Longest switch-over pause QEMU may plan for, in ms (virDomainMigrateSetMaxDowntime; default: QEMU's 300). \
        A setting of the migration, not a check: --max-ping-gap-ms is what the verifier checks.
        """)
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

    @Option(name: .customLong("max-ping-gap-ms"), help: """
        Longest gap between ping replies the live scenario accepts, in ms (default: 2000): a check the verifier \
        makes with pingmon, unlike --qemu-max-downtime-ms, which QEMU is told.
        """)
    var maxPingGapMilliseconds: Double?

    /// `--max-downtime-ms`, the old name of `--max-ping-gap-ms`: hidden from the help, still accepted.
    @Option(name: .customLong("max-downtime-ms"), help: ArgumentHelp("Old name of --max-ping-gap-ms.", visibility: .hidden))
    var oldMaxDowntimeMilliseconds: Double?

    @Option(name: .customLong("ping-interval-microseconds"), help: "pingmon's probe interval in µs.")
    var pingIntervalMicroseconds = 1000

    @OptionGroup var location: LabLocationOptions

    @Option(name: .customLong("source-uri"), help: "Real hosts: libvirt URI of the source, e.g. qemu+ssh://root@src/system.")
    var sourceURI: String?

    @Option(name: .customLong("dest-uri"), help: "Real hosts: libvirt URI of the destination, e.g. qemu+ssh://root@dst/system.")
    var destinationURI: String?

    @Option(help: "Real hosts: the domain to migrate; it must run on the source with `memeater serve` inside.")
    var domain: String?

    @Option(name: .customLong("guest-address"), help: "Real hosts: the guest's IPv4 or IPv6 address (pinged, with ICMP or ICMPv6; memeater's control port is there).")
    var guestAddress: String?

    @Option(name: .customLong("memeater-port"), help: "Real hosts: memeater's control port in the guest.")
    var memeaterPort = 7070

    @Option(name: .customLong("memeater-token-file"), help: ArgumentHelp(
        "Real hosts: file with the token memeater serve was started with (--token-file there; mode 0600). Without it no token is presented, which only a memeater started with --no-auth accepts.",
        valueName: "path"))
    var memeaterTokenFile: String?

    @Option(name: .customLong("capture-interface"), help: "Interface pings leave from and are captured on (the lab's up0; on real hosts the route to the guest's).")
    var captureInterface: String?

    @Option(name: .customLong("source-ssh"), help: "Real hosts: [USER@]HOST[:PORT] to ssh to for the source's checks (default: from a qemu+ssh:// --source-uri).")
    var sourceSSH: String?

    @Option(name: .customLong("dest-ssh"), help: "Real hosts: [USER@]HOST[:PORT] to ssh to for the destination's checks and faults (default: from a qemu+ssh:// --dest-uri).")
    var destinationSSH: String?

    @Option(name: .customLong("source-daemon-log"), help: ArgumentHelp("""
        Real hosts: the source libvirt daemon's log file, read over ssh after a failed migration: over qemu+ssh libvirt can \
        return its connection's end of file instead of the error that ended the migration, and the faults' checks then look \
        for that error in this log ('none': do not read). Needs log_outputs with a file in libvirtd.conf or virtqemud.conf.
        """, valueName: "path"))
    var sourceDaemonLog: String = RemoteHosts.defaultDaemonLogPath

    /// The migration mode asked for: `--migration-mode`, or client-managed for `--direct`.
    var chosenMigrationMode: MigrationMode {
        direct ? .clientManaged : migrationMode ?? .peerToPeer
    }

    /// The longest ping gap the live scenario accepts, in ms: `--max-ping-gap-ms` or its old name.
    var maxPingGap: Double {
        maxPingGapMilliseconds ?? oldMaxDowntimeMilliseconds ?? 2000
    }

    /// The lab the location options name.
    var lab: Lab { location.lab }

    /// Whether any real-host option is given.
    var realHosts: Bool {
        sourceURI != nil || destinationURI != nil || domain != nil || guestAddress != nil || sourceSSH != nil || destinationSSH != nil
            || memeaterTokenFile != nil
    }

    /// Rejects bad input before anything runs, in one line and exit 64: everything that
    /// needs neither the hosts nor the lab's state. ``plan()`` checks the rest (the domain,
    /// its RAM and memeater on real hosts, the route to the guest, the lab's free memory).
    func validate() throws {
        if let saveCaptures {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: saveCaptures, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw ValidationError("--save-captures: \(saveCaptures) is a file, not a directory")
            }
        }
        if let repeatCount, !(1...SweepMatrix.maximumRepeatCount).contains(repeatCount) {
            throw ValidationError("--repeat must be between 1 and \(SweepMatrix.maximumRepeatCount), not \(repeatCount)")
        }
        if let boundarySteps, !(1...20).contains(boundarySteps) {
            throw ValidationError("--find-boundary must be between 1 and 20 migrations, not \(boundarySteps)")
        }
        try Self.refuseSharedOutputs([("--json", json), ("--junit", junit), ("--database", database)])
        if let id, !SweepIdentifier.isValid(id) {
            throw ValidationError("--id must be 1-64 letters, digits, '.', '_' or '-', not '\(id)'")
        }
        if direct, migrationMode == .peerToPeer {
            throw ValidationError("--direct is the old name of --migration-mode client-managed and contradicts --migration-mode p2p")
        }
        if maxPingGapMilliseconds != nil, oldMaxDowntimeMilliseconds != nil {
            throw ValidationError("--max-downtime-ms is the old name of --max-ping-gap-ms: give only --max-ping-gap-ms")
        }
        let gapOption = oldMaxDowntimeMilliseconds != nil ? "--max-downtime-ms (old name of --max-ping-gap-ms)" : "--max-ping-gap-ms"
        guard maxPingGap > 0, maxPingGap <= ScenarioParameters.maximumPingGapMilliseconds else {
            throw ValidationError("\(gapOption) must be more than 0 and at most \(formatNumber(ScenarioParameters.maximumPingGapMilliseconds)), not \(maxPingGap)")
        }
        // Checked here too: on the lab the port is the lab's and the option would go unchecked.
        guard (1...65_535).contains(memeaterPort) else {
            throw ValidationError("--memeater-port must be between 1 and 65535, not \(memeaterPort)")
        }
        let matrix = try sweepMatrix()
        if back, !matrix.scenarios.contains(.live) {
            throw ValidationError("--back (round trip) only applies to the live scenario, and --scenario has no live")
        }
        do {
            let endpoints: Endpoints
            var memorySizes = matrix.memorySizesMiB
            var memeaterSize: (Int) -> Int = { [memeaterSizeMiB] in memeaterSizeMiB ?? max(16, $0 / 2) }
            // The capture interface is looked up by plan(): a stand-in does here.
            if let remote = try remoteHosts(interface: { _ in captureInterface ?? "lo" }) {
                for scenario in matrix.scenarios {
                    if let refusal = FaultCatalog.refusal(scenario, on: remote) { throw ValidationError(refusal) }
                }
                endpoints = remote.endpoints
                // The domain's RAM and memeater's region are read from the source by plan() and
                // checked there; stand-ins for them let every other parameter be checked now.
                if memoryMiB == nil { memorySizes = [GuestMemoryRange.realHostBoundsMiB.upperBound] }
                memeaterSize = { [memeaterSizeMiB] _ in memeaterSizeMiB ?? 16 }
            } else {
                do {
                    for emulator in matrix.emulators { _ = try EmulatorChoice(name: emulator) }
                } catch let error as LabError {
                    throw ValidationError(error.reason)
                }
                try validateLabGuestMemory(memorySizes)
                endpoints = LabTarget(lab: lab, captureInterface: captureInterface ?? "up0").endpoints
            }
            _ = try expandedRuns(matrix, endpoints: endpoints, memorySizesMiB: memorySizes, memeaterSizeMiB: memeaterSize)
        } catch let error as VerifierError {
            throw ValidationError(error.description)
        }
    }

    /// Refuses two output options naming one file (the same path spelled differently, a
    /// symbolic link or a hard link to it): each write would destroy the other.
    static func refuseSharedOutputs(_ outputs: [(option: String, path: String?)]) throws {
        var seen: [(option: String, identity: String)] = []
        for case let (option, path?) in outputs {
            let identity = fileIdentity(path)
            if let earlier = seen.first(where: { $0.identity == identity }) {
                throw ValidationError("\(earlier.option) and \(option) name the same file (\(path)): give each its own")
            }
            seen.append((option, identity))
        }
    }

    /// What `path` refers to: device and inode when it exists, else its resolved directory
    /// and its name.
    static func fileIdentity(_ path: String) -> String {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var info = stat()
        // The standardized path too: `a/missing/../f` names f, though the kernel cannot walk it.
        for candidate in [path, url.path] where stat(candidate, &info) == 0 { return "inode \(info.st_dev):\(info.st_ino)" }
        let directory = url.deletingLastPathComponent().path
        guard let resolved = realpath(directory, nil) else { return "path \(url.path)" }
        defer { free(resolved) }
        return "path \(String(cString: resolved))/\(url.lastPathComponent)"
    }

    private static func loadMatrix(_ path: String) throws -> SweepMatrix {
        do {
            return try SweepMatrix.load(path: path)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// The original test case's procedure (../shared/seed): a guest of at least 2 GiB first, then
    /// 1024 and 2111 MiB (odd sizes on purpose), each live under load, prepare-fail and
    /// perform-fail, on more than one guest OS. The default of `run` on the lab.
    static let procedureMemorySizesMiB = [2048, 1024, 2111]
    static let procedureGuests: [GuestKind] = [.initramfs, .debian]

    /// The matrix the options (or `--matrix FILE`) ask for; a dimension given both in the
    /// file and as an option is refused.
    /// Without sizes or guests given, a `run` on the lab is the test case's procedure
    /// (``procedureMemorySizesMiB`` on ``procedureGuests``); a `sweep` (and `--quick`) one
    /// size on one guest, since its other dimensions multiply it.
    func sweepMatrix(kind: SweepKind = .run) throws -> SweepMatrix {
        let procedure = kind == .run && !quick
        var result: SweepMatrix
        if let path = matrix {
            let given: [(String, Bool)] = [
                ("--scenario", scenario != nil), ("--memory-mib", memoryMiB != nil), ("--dirty-rate-mib-per-second", dirtyRateMiBPerSecond != nil),
                ("--bandwidth-mib-per-second", bandwidthMiBPerSecond != nil), ("--pattern", pattern != nil), ("--strategy", strategy != nil),
                ("--emulator", emulator != nil), ("--guest", guest != nil), ("--repeat", repeatCount != nil), ("--quick", quick),
            ]
            if let both = given.first(where: \.1) {
                throw ValidationError("\(both.0) cannot be given with --matrix: the matrix file sets it (or leaves its default)")
            }
            result = try Self.loadMatrix(path)
        } else {
            result = SweepMatrix(scenarios: scenario?.elements ?? ScenarioKind.defaults,
                                 memorySizesMiB: memoryMiB?.elements ?? (procedure ? Self.procedureMemorySizesMiB : [1024]),
                                 dirtyRatesMiBPerSecond: dirtyRateMiBPerSecond?.elements ?? [50],
                                 bandwidthsMiBPerSecond: bandwidthMiBPerSecond?.elements.map(\.mibPerSecond) ?? [nil],
                                 loads: pattern?.elements ?? [.sequential], strategies: strategy?.elements ?? [.precopy],
                                 emulators: emulator?.elements ?? ["default"],
                                 guestKinds: (guest?.elements ?? (procedure ? Self.procedureGuests : [.initramfs])).map(\.rawValue),
                                 repeatCount: repeatCount ?? 1)
        }
        if realHosts {
            result.emulators = ["existing"]
            result.guestKinds = ["existing"]
        }
        return result
    }

    /// The real hosts the options name, `nil` for the lab; rejects incomplete or conflicting
    /// real-host options, a guest address that is neither IPv4 nor IPv6 and malformed ssh destinations.
    /// `interface` gives the capture interface for the guest's address.
    func remoteHosts(interface: (String) throws -> String) throws -> RemoteHosts? {
        guard realHosts else { return nil }
        guard let sourceURI, let destinationURI, let domain, let guestAddress else {
            throw ValidationError("real hosts need all of --source-uri, --dest-uri, --domain and --guest-address")
        }
        if guest != nil || emulator != nil || pattern != nil {
            throw ValidationError("--guest, --emulator and --pattern choose the lab's guest, QEMU and memeater; with --source-uri the domain, its QEMU and memeater are the hosts' own")
        }
        // Checked as pingmon will check it, before anything runs.
        do {
            try PingConfiguration.checkTarget(PingConfiguration.parseTarget(guestAddress), allowedNetworks: nil)
        } catch {
            throw ValidationError("--guest-address: \(error.description)")
        }
        func ssh(_ text: String?, option: String) throws -> HostAccess? {
            guard let text else { return nil }
            guard let destination = SSHDestination.parse(text) else { throw ValidationError("--\(option) must be [USER@]HOST[:PORT], not '\(text)'") }
            return .ssh(destination)
        }
        let sourceAccess = try ssh(sourceSSH, option: "source-ssh")
        let destinationAccess = try ssh(destinationSSH, option: "dest-ssh")
        let endpoints = Endpoints(sourceURI: sourceURI, destinationURI: destinationURI, domainName: domain, guestAddress: guestAddress,
                                  memeaterPort: memeaterPort, captureInterface: try interface(guestAddress))
        var memeaterToken: ControlToken?
        if let memeaterTokenFile {
            do {
                memeaterToken = try ControlToken.read(fromFile: memeaterTokenFile)
            } catch {
                throw ValidationError("--memeater-token-file: \(error.description)")
            }
        }
        guard sourceDaemonLog == "none" || sourceDaemonLog.hasPrefix("/") else {
            throw ValidationError("--source-daemon-log must be an absolute path or 'none', not '\(sourceDaemonLog)'")
        }
        return RemoteHosts(endpoints: endpoints, sourceAccess: sourceAccess, destinationAccess: destinationAccess,
                           memeaterToken: memeaterToken, sourceDaemonLogPath: sourceDaemonLog == "none" ? nil : sourceDaemonLog)
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

    /// The runs of `matrix` on `endpoints`, in order, each checked by
    /// `ScenarioParameters.validate()` (and so `MigrationOptions.validate()`).
    func expandedRuns(_ matrix: SweepMatrix, endpoints: Endpoints, memorySizesMiB: [Int],
                      memeaterSizeMiB: (Int) -> Int) throws(VerifierError) -> [ScenarioParameters] {
        let migration = MigrationOptions(
            mode: chosenMigrationMode, bandwidthMiBPerSecond: nil,
            qemuMaxDowntimeMilliseconds: qemuMaxDowntimeMilliseconds, autoConverge: autoConverge, postCopy: postcopy,
            parallelConnections: parallelConnections,
            compressionMethods: compression.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? [])
        let template = ScenarioParameters(
            scenario: .live, memoryMiB: 1024, memeaterSizeMiB: 512, dirtyRateMiBPerSecond: 50,
            endpoints: endpoints, migration: migration, timeoutSeconds: timeoutSeconds,
            stallTimeoutSeconds: stallTimeoutSeconds, requireZeroLoss: requireZeroLoss,
            maxPingDowntimeMilliseconds: maxPingGap, pingIntervalMicroseconds: pingIntervalMicroseconds,
            roundTrip: back)
        var sized = matrix
        sized.memorySizesMiB = memorySizesMiB
        return try sized.cells(template: template, memeaterSizeMiB: memeaterSizeMiB)
    }

    /// The testbed and the runs the options ask for, after ``validate()``: what needs the
    /// hosts or the lab's state (an unreachable URI, an unknown domain, no route to the guest,
    /// more memory than the host has available) is a `ValidationError`, one line and exit 64.
    /// Real hosts are surveyed here, once.
    func plan(kind: SweepKind = .run) throws -> (testbed: any Testbed, runs: [ScenarioParameters]) {
        do {
            let testbed: any Testbed
            let matrix = try sweepMatrix(kind: kind)
            var memorySizes = matrix.memorySizesMiB
            var memeaterSize: (Int) -> Int = { [memeaterSizeMiB] in memeaterSizeMiB ?? max(16, $0 / 2) }
            if let remote = try remoteHosts(interface: { try captureInterface ?? routeInterface(to: $0) }) {
                // The domain and memeater as they are: the defaults of a real-host run. Every
                // check that needs the hosts is made here, before anything is changed.
                let survey = try remote.preflight(memorySizesMiB: memoryMiB?.elements, memeaterSizeMiB: memeaterSizeMiB)
                // The domain's RAM unless --memory-mib asks (and then checks) another: a matrix
                // file's sizes are the lab's, real hosts cannot resize a running guest.
                if memoryMiB == nil { memorySizes = [survey.memoryMiB] }
                memeaterSize = { [memeaterSizeMiB] _ in memeaterSizeMiB ?? survey.memeaterSizeMiB }
                testbed = remote
            } else {
                testbed = LabTarget(lab: lab, captureInterface: captureInterface ?? "up0")
            }
            let runs = try expandedRuns(matrix, endpoints: testbed.endpoints, memorySizesMiB: memorySizes, memeaterSizeMiB: memeaterSize)
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
        try execute(kind: .run)
    }

    /// Runs the matrix as sweep `--id` (a plain run's id is made up and printed): the runs
    /// without a result yet, in order, reusing (a plain run) completed runs of equal
    /// parameters; prints the verdict table and writes the files asked for.
    func execute(kind: SweepKind) throws {
        let (testbed, runs) = try plan(kind: kind)
        let store: ResultsStore
        let runner: ScenarioRunner
        let sweepID = id ?? SweepIdentifier.forRun()
        let printer = ProgressPrinter(interactive: isatty(STDERR_FILENO) == 1)
        let interruption = Interruption.shared
        let journal = FaultJournal(path: location.faultJournal)
        do throws(VerifierError) {
            guard getuid() == 0 else { throw VerifierError.environment("migverify \(kind.rawValue) needs root (the lab: namespaces, libvirt daemons; pingmon: raw sockets and capture)") }
            store = try ResultsStore(path: database)
        } catch {
            FileHandle.standardError.write(Data("migverify \(kind.rawValue): error: \(error.description)\n".utf8))
            throw ExitCode(2)
        }
        let matrix = try sweepMatrix(kind: kind)
        let definition: String
        do {
            definition = String(decoding: try resultsJSONEncoder(pretty: false).encode(matrix), as: UTF8.self)
        } catch {
            FileHandle.standardError.write(Data("migverify \(kind.rawValue): error: cannot encode the sweep's matrix: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let created: Bool
        do {
            created = try store.openSweep(id: sweepID, kind: kind, commandLine: CommandLine.arguments.joined(separator: " "),
                                          definitionJSON: definition, slots: runs)
        } catch {
            throw ValidationError(error.description)
        }
        printer.step("\(kind.rawValue) \(sweepID): \(runs.count) run(s)" + (created ? "" : ", resuming (runs with a result are kept)")
                     + " in \(database)")
        do throws(VerifierError) {
            interruption.install { signal, count in
                printer.step(count == 1 ? "\(signalName(signal)): aborting the migration, removing the fault and recording the run as interrupted"
                                 : "\(signalName(signal)) again: still cleaning up (a blocked migration call can take until the kernel's TCP connect timeout)")
            }
            var captureDirectory: String?
            if let saveCaptures {
                let absolute = URL(fileURLWithPath: saveCaptures).standardizedFileURL.path
                do {
                    try FileManager.default.createDirectory(atPath: absolute, withIntermediateDirectories: true)
                } catch {
                    throw VerifierError.environment("--save-captures: cannot create \(absolute): \(error.localizedDescription)")
                }
                captureDirectory = absolute
            }
            runner = try ScenarioRunner(testbed: testbed, recorder: FanOutRecorder([StoreRecorder(store: store, sweepID: sweepID), printer]),
                                        journal: journal, interruption: interruption, captureDirectory: captureDirectory)
        } catch {
            FileHandle.standardError.write(Data("migverify \(kind.rawValue): error: \(error.description)\n".utf8))
            throw ExitCode(2)
        }
        for line in journal.removeLeftovers(connect: { uri in try testbed.connect(uri) }) { printer.step(line) }
        let sweep = SweepRunner(store: store, runner: runner, sweepID: sweepID, policy: kind == .sweep ? .sweep : RunPolicy())
        let outcome: SweepOutcome
        do {
            outcome = try sweep.run(
                reuse: { parameters in
                    guard kind == .run else { return nil }
                    let found: (result: ScenarioResult, line: String)?
                    do {
                        found = try reusable(parameters, store: store)
                    } catch {
                        printer.step("not reusing an earlier run for \(parameters.label): \(error); running it")
                        return nil
                    }
                    guard let reused = found, let runID = reused.result.reusedFromRunID else { return nil }
                    printer.finish(reused.line)
                    return (reused.result, runID)
                },
                extend: { slots in boundarySteps.map { BoundarySearch.nextSlots(slots, stepBudget: $0) } ?? [] },
                onProgress: { printer.sweepProgress($0) },
                onResult: { result, reused in
                    guard !reused else { return }
                    printer.finish(ReportWriter.summaryLine(result))
                    let details = ReportWriter.details(result)
                    if !details.isEmpty { print(details) }
                })
        } catch {
            FileHandle.standardError.write(Data("migverify \(kind.rawValue): error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let results = outcome.results
        if outcome.ranCount > 0, let idle = testbed.idleGuest() { printer.step(idle) }
        if let signal = outcome.interruptedBy {
            FileHandle.standardError.write(Data("migverify \(kind.rawValue): \(signalName(signal)): the run was recorded as interrupted and its fault removed; `migverify \(kind == .sweep ? "sweep" : "run") --id \(sweepID)` with the same options resumes\n".utf8))
            try writeFiles(results)
            throw ExitCode(Interruption.exitStatus(for: signal))
        }
        if let setupError = outcome.setupError {
            FileHandle.standardError.write(Data("migverify \(kind.rawValue): error: \(setupError)\n".utf8))
            try writeFiles(results)
            throw ExitCode(2)
        }
        print("")
        print(ReportWriter.verdictTable(results, width: terminalColumns()))
        print("\(kind.rawValue) id: \(sweepID) (`migverify report \(sweepID) --output DIR`); results: \(database)"
              + (json.map { ", \($0)" } ?? "") + (junit.map { ", \($0)" } ?? ""))
        try writeFiles(results)
        if !results.allSatisfy(\.passed) { throw ExitCode(1) }
    }

    /// The stored result that stands for `parameters`, with the line that says which run is
    /// reused and why; `nil` when the run must be made (`--fresh`, no completed run, or
    /// `--retry-failed` and it failed). Setup failures and interrupted runs are never results.
    /// A database that cannot be read is an error, not "nothing to reuse".
    func reusable(_ parameters: ScenarioParameters, store: ResultsStore) throws(VerifierError) -> (result: ScenarioResult, line: String)? {
        guard !fresh, let done = try store.completedRun(matching: parameters), var previous = done.result,
              previous.status == .completed, !previous.checks.contains(where: { $0.name == CheckName.setup }) else { return nil }
        if retryFailed, !previous.passed { return nil }
        previous.reusedFromRunID = done.id
        let verdict = previous.passed ? "it passed" : "it failed \(previous.failedChecks.map(\.name).joined(separator: ", "))"
        let rerun = previous.passed ? "--fresh runs it again" : "--retry-failed or --fresh runs it again"
        return (previous, "reusing run #\(done.id) for \(parameters.label): completed at \(iso8601Text(done.finishedAt ?? done.startedAt)) with the same parameters and \(verdict) (\(rerun))")
    }

    func writeFiles(_ results: [ScenarioResult]) throws {
        do {
            // Temporary file and rename: a full disk leaves the previous results whole.
            if let json { try AtomicFile.write(try ReportWriter.json(results), to: json) }
            if let junit { try AtomicFile.write(ReportWriter.junit(results), to: junit) }
        } catch {
            FileHandle.standardError.write(Data("migverify run: error: cannot write results: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

/// The columns of the terminal on standard output, 0 when it is not a terminal (a file or a
/// pipe gets whole lines).
func terminalColumns() -> Int {
    guard isatty(STDOUT_FILENO) == 1 else { return 0 }
    var size = winsize()
    guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 100 }
    return Int(size.ws_col)
}

/// Shows a run's progress on the terminal: steps as lines, job-stats readings as one line
/// that overwrites itself on a terminal (elsewhere at most one per second).
final class ProgressPrinter: RunRecorder, @unchecked Sendable {
    private let lock = NSLock()
    private let interactive: Bool
    private var lastPrinted = Date.distantPast
    private var lineOpen = false

    init(interactive: Bool) { self.interactive = interactive }

    func begin(_ parameters: ScenarioParameters, clock: RunClock) {}

    func record(_ record: RunRecord) {
        switch record {
        case .step(let line): step(line)
        case .jobSample(let sample, let start): sampleLine(sample.progressLine(sinceMilliseconds: start))
        case .waiting(let line): sampleLine(line)
        case .pingSample, .event, .memeater, .observation: break
        }
    }

    /// A step, on a line of its own.
    func step(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        lastPrinted = Date()
        FileHandle.standardError.write(Data(((lineOpen ? "\n" : "") + line + "\n").utf8))
        lineOpen = false
    }

    private func sampleLine(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        if interactive {
            FileHandle.standardError.write(Data("\r\u{1B}[K  \(line)".utf8))
            lineOpen = true
            return
        }
        if Date().timeIntervalSince(lastPrinted) < 1 { return }
        lastPrinted = Date()
        FileHandle.standardError.write(Data(((lineOpen ? "\n" : "") + "  " + line + "\n").utf8))
        lineOpen = false
    }

    /// The sweep's bar, shown on a line of its own before each run: slots done, the current
    /// one and the estimated time left.
    func sweepProgress(_ progress: SweepProgress) {
        let width = 24
        let filled = progress.total == 0 ? 0 : width * progress.done / progress.total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let eta = progress.etaSeconds.map { seconds in
            let whole = Int(seconds.rounded())
            return whole >= 60 ? "\(whole / 60)m\(String(format: "%02d", whole % 60))s" : "\(whole)s"
        } ?? "?"
        step("[\(bar)] \(progress.done)/\(progress.total) done, ETA \(eta) | \(progress.current): \(progress.label)")
    }

    func finish(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        if lineOpen { FileHandle.standardError.write(Data("\n".utf8)) }
        lineOpen = false
        print(line)
        fflush(nil)  // a verdict line reaches a file or pipe when it is made, not at exit
    }
}
