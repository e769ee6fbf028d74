import ArgumentParser
import Foundation
import Verifier

/// `migverify sweep --id ID`: a matrix of migrations, resumable, made for analysis.
struct SweepCommand: MatrixCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a matrix of migrations for analysis: memory sizes × dirty rates × bandwidths × patterns × strategies × emulators × guests, repeated.",
        discussion: """
            Takes the options of `migverify run`, each dimension as a comma-separated list (or all of them from \
            --matrix FILE), and runs every cell --repeat times under sweep --id ID in the results database. \
            Rerunning the same command resumes: runs with a result are kept, an interrupted one is run again. \
            The guest is kept between cells and migrated back and forth; it is rebooted only when memory size, \
            pattern, guest kind or emulator change. A live migration that the timeout ends while it still copies \
            is a result, "did not converge", not a failure. Scenarios default to live. Then `migverify correlate ID` \
            fits the pre-copy model and `migverify report ID --output DIR` draws the plots. With --guest-count 1,2,4 \
            (real hosts) every run is an evacuation of each N guests in turn, one slot per guest; a resumed sweep \
            keeps an evacuation only when every guest's run of it completed, else runs it again whole, and the \
            report plots evacuation time and per-guest downtime against N.
            """
    )

    static let kind = SweepKind.sweep

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

    /// `run`'s checks (``RunCommand/validate()``) with a sweep's defaults, after the id a
    /// sweep needs.
    mutating func validate() throws {
        guard outputs.id != nil else {
            throw ValidationError("migverify sweep needs --id ID (the same id later resumes the sweep)")
        }
        plan = try makePlan()
        if plan?.evacuations != nil, matrix.boundarySteps != nil {
            throw ValidationError("--find-boundary does not apply to an evacuation sweep (--guest-count)")
        }
    }

    func run() throws {
        try runPlan()
    }
}
