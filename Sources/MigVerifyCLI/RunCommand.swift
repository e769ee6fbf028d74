import ArgumentParser
import Foundation
import Lab
import Verifier

/// A command that runs a matrix of migrations, `run` or `sweep`: both compose the same option
/// groups, make one ``RunPlan`` of them in `validate()` and carry it out with a ``MatrixSession``.
///
/// The plan is kept in a stored property that is not an option: `validate()` is `mutating`,
/// and ArgumentParser hands `run()` the validated value (`parseAsRoot`). The conforming types
/// leave it out of their `CodingKeys`, so that ArgumentParser's decoder neither asks for it
/// nor needs it to be `Decodable`.
protocol MatrixCommand: ParsableCommand {
    /// How the sweep is stored and which defaults apply (``MatrixOptions``).
    static var kind: SweepKind { get }
    var matrix: MatrixOptions { get }
    var migration: MigrationRunOptions { get }
    var outputs: OutputOptions { get }
    var location: LabLocationOptions { get }
    var hosts: RealHostOptions { get }
    /// The plan `validate()` made; `nil` before.
    var plan: RunPlan? { get }
    /// How evacuations run (`--max-concurrent`, `--fault-guest`), when the matrix has guest counts.
    var evacuation: EvacuationOptions { get }
}

extension MatrixCommand {
    /// Makes and checks the plan of these options (see ``RunPlan``).
    func makePlan(readMatrixFile: MatrixFileReader = SweepMatrix.load(path:)) throws -> RunPlan {
        try RunPlan(kind: Self.kind, matrix: matrix, migration: migration, hosts: hosts, location: location,
                    evacuation: evacuation, readMatrixFile: readMatrixFile)
    }

    /// The plan `validate()` made; made now if `validate()` was not called (a test that
    /// builds the command by hand).
    func validatedPlan() throws -> RunPlan {
        try plan ?? makePlan()
    }

    /// Carries out the plan: the runs, the verdict table, the files.
    func runPlan() throws {
        try MatrixSession(plan: validatedPlan(), outputs: outputs, location: location).run()
    }

    /// The lab the location options name.
    var lab: Lab { location.lab }
}

/// `migverify run`: the migration test case end to end, on the lab or on real hosts.
struct RunCommand: MatrixCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the migration test case: live migration under load, and clean-up after Prepare/Perform failures.",
        discussion: discussion
    )

    /// The scenarios beyond the defaults, from the fault catalog.
    private static var moreScenarios: String {
        ScenarioKind.allCases.filter { !ScenarioKind.defaults.contains($0) }.map(\.rawValue).joined(separator: ", ")
    }

    private static let discussion = """
            Without arguments it brings the lab up (idempotent) and runs the test case's whole procedure: live, \
            prepare-fail and perform-fail at 2048, 1024 and 2111 MiB, on the initramfs guest and then on Debian 12 \
            (18 runs), with memeater dirtying 50 MiB/s (--quick: 1024 MiB on initramfs only, 3 runs); it prints the \
            verdict table and stores every run, sample and check in the results database. Exit status: 0 only if \
            every check passed, 1 if a check failed, 2 for a setup error, 64 for bad input (one line on stderr). \
            More scenarios: \(moreScenarios) (see --scenario); --back migrates the live guest back and checks again. With --source-uri, --dest-uri, \
            --domain and --guest-address it runs against real hosts instead: the guest must already run on the \
            source with `memeater serve` inside, and host-side checks and faults go over ssh. See docs/verifier.md.
            """

    static let kind = SweepKind.run

    @OptionGroup(title: "Matrix options") var matrix: MatrixOptions
    @OptionGroup(title: "Migration options") var migration: MigrationRunOptions
    @OptionGroup(title: "Result options") var outputs: OutputOptions
    @OptionGroup(title: "Lab options") var location: LabLocationOptions
    @OptionGroup(title: "Real host options") var hosts: RealHostOptions
    @OptionGroup(title: "Evacuation options") var evacuation: EvacuationOptions

    private(set) var plan: RunPlan? = nil

    /// The option groups; ``plan`` is not an option.
    enum CodingKeys: CodingKey {
        case matrix, migration, outputs, location, hosts, evacuation
    }

    /// Rejects bad input before anything runs, in one line and exit 64, and keeps the plan
    /// for ``run()``: each group checks its own options when it is parsed, the plan what
    /// needs several (the matrix file, the runs' parameters, the real hosts' options). What
    /// needs the hosts or the lab's state is checked when the command runs
    /// (``RunPlan/resolve(lookUpRoute:)``).
    mutating func validate() throws {
        plan = try makePlan()
        if plan?.evacuations != nil, outputs.id != nil || outputs.fresh || outputs.retryFailed || matrix.boundarySteps != nil {
            throw ValidationError("--id, --fresh, --retry-failed and --find-boundary do not apply to an evacuation (--guest-count): "
                                  + "its runs are never reused and are stored with their evacuation id (`migverify sweep --id ID` resumes evacuations)")
        }
    }

    func run() throws {
        try runPlan()
    }
}
