import ArgumentParser
import Foundation
import Lab
import MemeaterKit
import Verifier

/// Reads a sweep matrix file (`--matrix FILE`). ``SweepMatrix/load(path:)`` in the command;
/// tests pass one that counts its calls.
typealias MatrixFileReader = (String) throws(VerifierError) -> SweepMatrix

/// What `run` and `sweep` run: scenarios × guest sizes × dirty rates × bandwidths × loads ×
/// strategies × emulators × guests, repeated, as options or from a matrix file (`--matrix`).
/// ``sweepMatrix(kind:onRealHosts:readMatrixFile:)`` turns them into the ``SweepMatrix``.
struct MatrixOptions: ParsableArguments {
    /// The `--scenario` help: every scenario of the fault catalog with its fault's one line.
    static var scenarioHelp: String { FaultCatalog.standard.scenarioHelp }

    @Option(help: ArgumentHelp(MatrixOptions.scenarioHelp), transform: { try CommaSeparated<ScenarioKind>(parsing: $0) })
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

    @Option(name: .customLong("bandwidth-mib-per-second"), help: "Migration bandwidth limits in MiB/s, comma-separated; `unlimited` for none (the default).",
            transform: { try CommaSeparated<BandwidthLimit>(parsing: $0) })
    var bandwidthMiBPerSecond: CommaSeparated<BandwidthLimit>?

    @Option(help: "memeater's loads in the guest, comma-separated: sequential (default), random, hotset (10 % of the pages take 90 % of the writes) or hotset:FRACTION:PROBABILITY, each optionally followed by /threads=N (worker threads, 1-64) and /bytes=B (bytes rewritten per page, 32-4096), e.g. random/threads=4.",
            transform: { try CommaSeparated<MemeaterLoad>(parsing: $0) })
    var pattern: CommaSeparated<MemeaterLoad>?

    @Option(help: """
        Migration strategies, comma-separated, each words joined by +: precopy (default), auto-converge, postcopy, \
        parallel=N, compression=METHOD, max-downtime=MS, tls (VIR_MIGRATE_TLS; the lab makes its certificates), \
        tunnelled (through the daemons' connection), client-managed (the client drives both daemons); \
        e.g. precopy,auto-converge,parallel=4+compression=zstd,tls. \
        They apply on top of the single-strategy options (--auto-converge, --postcopy, --parallel-connections, \
        --compression, --qemu-max-downtime-ms).
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

    @Option(name: .customLong("guest-count"), help: ArgumentHelp("""
        Evacuation: migrate N guests at once, each with its own ping, memeater load and checks, plus the evacuation's figures \
        (total time, per-guest migration time and downtime, speedup, ports); a comma-separated list (e.g. 1,2,4) runs every \
        run of the matrix as an evacuation of each N in turn, and a sweep's report then plots evacuation time and per-guest \
        downtime against N. On real hosts --domain, --guest-address and --memeater-token-file list as many values as the \
        largest N, comma-separated (an evacuation of N takes the first N); the lab boots lab-guest-1…N for each N.
        """, valueName: "N"), transform: { try CommaSeparated<Int>(parsing: $0) })
    var guestCount: CommaSeparated<Int>?

    @Option(name: .customLong("repeat"), help: "Run every scenario this many times (e.g. to measure how often an intermittent fault is caught; at most 1000).")
    var repeatCount: Int?

    @Option(name: .customLong("matrix"), help: """
        The matrix from a YAML (.yaml, .yml) or TOML (.toml) file with the keys scenario, memory-mib, \
        dirty-rate-mib-per-second, bandwidth-mib-per-second, pattern, strategy, emulator, guest, repeat and guest-count \
        (docs/examples/sweep.yaml); those options cannot also be given on the command line.
        """)
    var matrixFile: String?

    @Option(name: .customLong("find-boundary"), help: """
        Then bisect the dirty rate between the lowest and highest rate of every memory size and bandwidth, \
        this many migrations each, to find where migration stops converging within --timeout-seconds.
        """)
    var boundarySteps: Int?

    /// The checks that need no other group: the counts' bounds.
    func validate() throws {
        if let repeatCount, !(1...SweepMatrix.maximumRepeatCount).contains(repeatCount) {
            throw ValidationError("--repeat must be between 1 and \(SweepMatrix.maximumRepeatCount), not \(repeatCount)")
        }
        if let boundarySteps, !(1...20).contains(boundarySteps) {
            throw ValidationError("--find-boundary must be between 1 and 20 migrations, not \(boundarySteps)")
        }
    }

    /// The original test case's procedure (../shared/seed): a guest of at least 2 GiB first, then
    /// 1024 and 2111 MiB (odd sizes on purpose), each live under load, prepare-fail and
    /// perform-fail, on more than one guest OS. The default of `run` on the lab.
    static let procedureMemorySizesMiB = [2048, 1024, 2111]
    static let procedureGuests: [GuestKind] = [.initramfs, .debian]

    /// The matrix these options (or the `--matrix` file, read once with `readMatrixFile`)
    /// ask for; a dimension given both in the file and as an option is refused.
    /// Without sizes or guests given, a `run` on the lab is the test case's procedure
    /// (``procedureMemorySizesMiB`` on ``procedureGuests``); a `sweep` (and `--quick`) one
    /// size on one guest, since its other dimensions multiply it, and only the live scenario.
    /// On real hosts the emulator and the guest are the hosts' own (`existing`).
    func sweepMatrix(kind: SweepKind, onRealHosts: Bool, readMatrixFile: MatrixFileReader) throws -> SweepMatrix {
        var result: SweepMatrix
        if let matrixFile {
            if let both = dimensionsGivenAsOptions.first(where: \.given) {
                throw ValidationError("\(both.option) cannot be given with --matrix: the matrix file sets it (or leaves its default)")
            }
            do {
                result = try readMatrixFile(matrixFile)
            } catch {
                throw ValidationError(error.description)
            }
        } else {
            result = matrixFromOptions(kind: kind)
        }
        if onRealHosts {
            result.emulators = ["existing"]
            result.guestKinds = ["existing"]
        }
        return result
    }

    /// The options a matrix file sets, and whether each is given on the command line.
    private var dimensionsGivenAsOptions: [(option: String, given: Bool)] {
        [("--scenario", scenario != nil), ("--memory-mib", memoryMiB != nil), ("--dirty-rate-mib-per-second", dirtyRateMiBPerSecond != nil),
         ("--bandwidth-mib-per-second", bandwidthMiBPerSecond != nil), ("--pattern", pattern != nil), ("--strategy", strategy != nil),
         ("--emulator", emulator != nil), ("--guest", guest != nil), ("--repeat", repeatCount != nil), ("--quick", quick),
         ("--guest-count", guestCount != nil)]
    }

    private func matrixFromOptions(kind: SweepKind) -> SweepMatrix {
        let procedure = kind == .run && !quick
        return SweepMatrix(scenarios: scenario?.elements ?? (kind == .sweep ? [.live] : ScenarioKind.defaults),
                           memorySizesMiB: memoryMiB?.elements ?? (procedure ? Self.procedureMemorySizesMiB : [1024]),
                           dirtyRatesMiBPerSecond: dirtyRateMiBPerSecond?.elements ?? [50],
                           bandwidthsMiBPerSecond: bandwidthMiBPerSecond?.elements.map(\.mibPerSecond) ?? [nil],
                           loads: pattern?.elements ?? [.sequential], strategies: strategy?.elements ?? [.precopy],
                           emulators: emulator?.elements ?? ["default"],
                           guestKinds: (guest?.elements ?? (procedure ? Self.procedureGuests : [.initramfs])).map(\.rawValue),
                           repeatCount: repeatCount ?? 1, guestCounts: guestCount?.elements)
    }

    /// Refuses the options that choose the lab's guest, QEMU and memeater load: on real hosts
    /// the domain, its QEMU and memeater are the hosts' own.
    func refuseLabChoicesOnRealHosts() throws {
        if guest != nil || emulator != nil || pattern != nil {
            throw ValidationError("--guest, --emulator and --pattern choose the lab's guest, QEMU and memeater; with --source-uri the domain, its QEMU and memeater are the hosts' own")
        }
    }
}
