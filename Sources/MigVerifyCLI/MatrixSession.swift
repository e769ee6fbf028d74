import ArgumentParser
import Foundation
import Lab
import Verifier

/// One `migverify run` or `sweep` carried out from its ``RunPlan``: the matrix as sweep
/// `--id` (a plain run's id is made up and printed), the runs without a result yet, in order,
/// reusing (a plain run) completed runs of equal parameters; prints the verdict table and
/// writes the files asked for. Exit status: 0 only if every check passed, 1 if a check failed,
/// 2 for a setup error, 64 for what the hosts or the lab refuse, 130 or 143 after a signal.
struct MatrixSession {
    let plan: RunPlan
    let outputs: OutputOptions
    let location: LabLocationOptions

    private var kind: SweepKind { plan.kind }

    /// Runs the plan; see ``MatrixSession``.
    func run() throws {
        // First: a journal another user could have written is a list of commands for root.
        let journal = FaultJournal(path: location.faultJournal)
        do { try journal.check() } catch { throw setupError(error.description) }
        if let evacuations = plan.evacuations {
            return kind == .sweep ? try runEvacuationSweep(evacuations, journal: journal) : try runEvacuations(evacuations, journal: journal)
        }
        let (testbed, runs) = try plan.resolve()
        let store = try openStore()
        let sweepID = outputs.id ?? SweepIdentifier.forRun()
        let printer = ProgressPrinter(interactive: isatty(STDERR_FILENO) == 1)
        let created = try openSweep(sweepID, runs: runs, in: store)
        printer.step("\(kind.rawValue) \(sweepID): \(runs.count) run(s)" + (created ? "" : ", resuming (runs with a result are kept)")
                     + " in \(outputs.database)")
        let runner = try makeRunner(testbed: testbed, store: store, sweepID: sweepID, printer: printer, journal: journal)
        let leftovers = LeftoverRemovalContext(connect: { uri in try testbed.libvirtConnection(uri) }, lab: testbed.lab,
                                               hosts: [testbed.host(.source)?.access, testbed.host(.destination)?.access].compactMap { $0 },
                                               uris: [testbed.endpoints.sourceURI, testbed.endpoints.destinationURI])
        do {
            for line in try journal.removeLeftovers(leftovers) { printer.step(line) }
        } catch {
            throw setupError(error.description)
        }
        let outcome = try runSlots(runner: runner, store: store, sweepID: sweepID, printer: printer)
        try finish(outcome, testbeds: [testbed], sweepID: sweepID, printer: printer)
    }

    /// What every evacuation path needs before its first run: the guests' testbeds (guest 1
    /// first, as many as the largest N) and the runs, the store, the printer, leftovers of an
    /// earlier run removed, signals caught and the capture directory made.
    private func prepareEvacuations(journal: FaultJournal) throws
        -> (guests: [any Testbed], runs: [ScenarioParameters], store: ResultsStore, printer: ProgressPrinter, captures: String?) {
        let (guests, runs) = try plan.resolveEvacuation()
        let store = try openStore()
        let printer = ProgressPrinter(interactive: isatty(STDERR_FILENO) == 1)
        let first = guests[0]
        let leftovers = LeftoverRemovalContext(connect: { uri in try first.libvirtConnection(uri) }, lab: first.lab,
                                               hosts: [first.host(.source)?.access, first.host(.destination)?.access].compactMap { $0 },
                                               uris: [first.endpoints.sourceURI, first.endpoints.destinationURI])
        do {
            for line in try journal.removeLeftovers(leftovers) { printer.step(line) }
        } catch {
            throw setupError(error.description)
        }
        do throws(VerifierError) {
            Interruption.shared.install { signal, count in
                printer.step(count == 1 ? "\(signalName(signal)): aborting the migrations, removing the faults and recording the runs as interrupted"
                                 : "\(signalName(signal)) again: still cleaning up")
            }
            return (guests, runs, store, printer, try captureDirectory())
        } catch {
            throw setupError(error.description)
        }
    }

    /// The runner of the evacuations of `evacuation`'s N guests: the first N of `guests`, each
    /// guest's run recorded into `store` with its membership (and as a run of sweep `sweepID`).
    private func evacuationRunner(_ evacuation: EvacuationPlan, guests: [any Testbed], store: ResultsStore, sweepID: String?,
                                  printer: ProgressPrinter, journal: FaultJournal, captures: String?) throws(VerifierError) -> EvacuationRunner {
        try EvacuationRunner(plan: evacuation, guests: plan.evacuationGuests(evacuation.guestCount, of: guests), recorder: { membership in
            FanOutRecorder([StoreRecorder(store: store, sweepID: sweepID, evacuation: membership), printer])
        }, journal: journal, interruption: .shared, captureDirectory: captures)
    }

    /// What the terminal says of the evacuations to come, e.g. `evacuation of 3 guest(s), 2 at a time`.
    private static func evacuationLine(_ evacuations: [EvacuationPlan]) -> String {
        guard evacuations.count > 1 else {
            return evacuations.first.map { "evacuation of \($0.guestCount) guest(s), \($0.maxConcurrent) at a time" } ?? "no evacuation"
        }
        return "evacuations of " + evacuations.map { "\($0.guestCount)" }.joined(separator: ", ") + " guest(s), "
            + evacuations.map { "\($0.maxConcurrent)" }.joined(separator: ", ") + " at a time"
    }

    /// `run --guest-count`: each run of the matrix as an evacuation of each N guests in turn,
    /// one after the other; each guest's run is stored as a run of its own (with the
    /// evacuation's id), nothing is reused and no sweep is recorded (`sweep --guest-count`
    /// records one). Prints each guest's verdict and the evacuation's figures, then the verdict
    /// table of every guest's run.
    private func runEvacuations(_ evacuations: [EvacuationPlan], journal: FaultJournal) throws {
        let (guests, runs, store, printer, captures) = try prepareEvacuations(journal: journal)
        let interruption = Interruption.shared
        printer.step(Self.evacuationLine(evacuations) + ": \(runs.count) run(s) in \(outputs.database)")
        var results: [ScenarioResult] = []
        for parameters in runs {
            for evacuation in evacuations where interruption.signal == nil {
                do {
                    let runner = try evacuationRunner(evacuation, guests: guests, store: store, sweepID: nil, printer: printer, journal: journal,
                                                  captures: captures)
                    let outcome = try runner.run(parameters)
                    for line in outcome.summaryLines { print(line) }
                    results += outcome.results
                } catch {
                    throw setupError(error.description)
                }
            }
        }
        for guest in guests { if let idle = guest.idleGuest() { printer.step(idle) } }
        if let signal = interruption.signal {
            try outputs.writeFiles(results, command: kind)
            throw ExitCode(Interruption.exitStatus(for: signal))
        }
        print("")
        print(ReportWriter.verdictTable(results, width: terminalColumns()))
        print("results: \(outputs.database)" + (outputs.json.map { ", \($0)" } ?? "") + (outputs.junit.map { ", \($0)" } ?? ""))
        try outputs.writeFiles(results, command: kind)
        if !results.allSatisfy(\.passed) { throw ExitCode(1) }
    }

    /// `sweep --guest-count`: sweep `--id` of evacuations, each run of the matrix on each N
    /// guests in turn, one slot per guest (``EvacuationSlots``), every guest's run stored with
    /// its evacuation id and as a run of the sweep, so that `migverify report` finds them. A
    /// resumed sweep keeps each complete evacuation and runs any other again whole
    /// (``EvacuationSweepRunner``). Every guest starts on the source (an evacuation empties one
    /// host) and a migration the timeout ends is a result, as in a sweep.
    private func runEvacuationSweep(_ evacuations: [EvacuationPlan], journal: FaultJournal) throws {
        let (guests, runs, store, printer, captures) = try prepareEvacuations(journal: journal)
        let sweepID = outputs.id ?? SweepIdentifier.forRun()
        var runnerOfCount: [Int: EvacuationRunner] = [:]
        do throws(VerifierError) {
            for evacuation in evacuations {
                runnerOfCount[evacuation.guestCount] = try evacuationRunner(evacuation, guests: guests, store: store, sweepID: sweepID,
                                                                            printer: printer, journal: journal, captures: captures)
            }
        } catch {
            throw setupError(error.description)
        }
        let runners = runnerOfCount
        let layout = EvacuationSlots.layout(runs, guestCounts: evacuations.map(\.guestCount)) { count, index, run in
            runners[count]?.parameters(ofGuest: index, run) ?? run
        }
        let created = try openSweep(sweepID, runs: layout.slots, in: store)
        printer.step("\(kind.rawValue) \(sweepID): \(Self.evacuationLine(evacuations)), \(layout.evacuations.count) evacuation(s) of "
                     + "\(layout.slots.count) guest run(s)" + (created ? "" : ", resuming (complete evacuations are kept)") + " in \(outputs.database)")
        let sweep = EvacuationSweepRunner(store: store, sweepID: sweepID, evacuations: layout.evacuations, runEvacuation: { slots throws(VerifierError) in
            guard let runner = runners[slots.guestCount] else { throw .invalidOptions("no evacuation of \(slots.guestCount) guests was planned") }
            return try runner.run(slots.parameters, policy: RunPolicy(placement: .sourceOnly, nonConvergenceIsResult: true))
        }, signal: { Interruption.shared.signal })
        let outcome: SweepOutcome
        do {
            outcome = try sweep.run(onProgress: { printer.sweepProgress($0) },
                                    onEvacuation: { result in for line in result.summaryLines { print(line) } })
        } catch {
            throw setupError("\(error)")
        }
        try finish(outcome, testbeds: guests, sweepID: sweepID, printer: printer)
    }

    /// One line on standard error and exit 2: a setup error, nothing was run.
    private func setupError(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("migverify \(kind.rawValue): error: \(message)\n".utf8))
        return ExitCode(2)
    }

    private func openStore() throws -> ResultsStore {
        do throws(VerifierError) {
            guard getuid() == 0 else { throw VerifierError.environment("migverify \(kind.rawValue) needs root (the lab: namespaces, libvirt daemons; pingmon: raw sockets and capture)") }
            return try ResultsStore(path: outputs.database)
        } catch {
            throw setupError(error.description)
        }
    }

    /// Opens sweep `sweepID` with the plan's matrix as its definition; `true` when it is new.
    /// An existing id with another matrix is refused (exit 64).
    private func openSweep(_ sweepID: String, runs: [ScenarioParameters], in store: ResultsStore) throws -> Bool {
        let definition: String
        do {
            definition = String(decoding: try resultsJSONEncoder(pretty: false).encode(plan.matrix), as: UTF8.self)
        } catch {
            throw setupError("cannot encode the sweep's matrix: \(error)")
        }
        do {
            return try store.openSweep(id: sweepID, kind: kind, commandLine: CommandLine.arguments.joined(separator: " "),
                                       definitionJSON: definition, slots: runs)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// The runner, with signals caught (the first aborts the running migration, removes its
    /// fault and records the run as interrupted) and the capture directory made.
    private func makeRunner(testbed: any Testbed, store: ResultsStore, sweepID: String, printer: ProgressPrinter,
                            journal: FaultJournal) throws -> ScenarioRunner {
        let interruption = Interruption.shared
        do throws(VerifierError) {
            interruption.install { signal, count in
                printer.step(count == 1 ? "\(signalName(signal)): aborting the migration, removing the fault and recording the run as interrupted"
                                 : "\(signalName(signal)) again: still cleaning up (a blocked migration call can take until the kernel's TCP connect timeout)")
            }
            return try ScenarioRunner(testbed: testbed, recorder: FanOutRecorder([StoreRecorder(store: store, sweepID: sweepID), printer]),
                                      journal: journal, interruption: interruption, captureDirectory: try captureDirectory())
        } catch {
            throw setupError(error.description)
        }
    }

    /// `--save-captures` as an absolute path, created; `nil` without the option.
    private func captureDirectory() throws(VerifierError) -> String? {
        guard let saveCaptures = outputs.saveCaptures else { return nil }
        let absolute = URL(fileURLWithPath: saveCaptures).standardizedFileURL.path
        do {
            try FileManager.default.createDirectory(atPath: absolute, withIntermediateDirectories: true)
        } catch {
            throw VerifierError.environment("--save-captures: cannot create \(absolute): \(error.localizedDescription)")
        }
        return absolute
    }

    /// Runs the slots without a result, printing each verdict as it is made.
    private func runSlots(runner: ScenarioRunner, store: ResultsStore, sweepID: String, printer: ProgressPrinter) throws -> SweepOutcome {
        let sweep = SweepRunner(store: store, runner: runner, sweepID: sweepID, policy: kind == .sweep ? .sweep : RunPolicy())
        do {
            return try sweep.run(
                reuse: { parameters in reuse(parameters, store: store, printer: printer) },
                extend: { slots in plan.boundarySteps.map { BoundarySearch.nextSlots(slots, stepBudget: $0) } ?? [] },
                onProgress: { printer.sweepProgress($0) },
                onResult: { result, reused in
                    guard !reused else { return }
                    printer.finish(ReportWriter.summaryLine(result))
                    let details = ReportWriter.details(result)
                    if !details.isEmpty { print(details) }
                })
        } catch {
            throw setupError("\(error)")
        }
    }

    /// A plain run's stand-in for `parameters`: a completed run of equal parameters, said on
    /// the terminal; a sweep reuses nothing (its slots are its own).
    private func reuse(_ parameters: ScenarioParameters, store: ResultsStore, printer: ProgressPrinter) -> (result: ScenarioResult, runID: Int64)? {
        guard kind == .run else { return nil }
        let found: (result: ScenarioResult, line: String)?
        do {
            found = try outputs.reusable(parameters, store: store)
        } catch {
            printer.step("not reusing an earlier run for \(parameters.label): \(error); running it")
            return nil
        }
        guard let reused = found, let runID = reused.result.reusedFromRunID else { return nil }
        printer.finish(reused.line)
        return (reused.result, runID)
    }

    /// Prints the verdict table (or why the sweep stopped), writes the files and ends with
    /// the exit status the outcome calls for.
    private func finish(_ outcome: SweepOutcome, testbeds: [any Testbed], sweepID: String, printer: ProgressPrinter) throws {
        let results = outcome.results
        for testbed in testbeds where outcome.ranCount > 0 { if let idle = testbed.idleGuest() { printer.step(idle) } }
        if let signal = outcome.interruptedBy {
            FileHandle.standardError.write(Data("migverify \(kind.rawValue): \(signalName(signal)): the run was recorded as interrupted and its fault removed; `migverify \(kind.rawValue) --id \(sweepID)` with the same options resumes\n".utf8))
            try outputs.writeFiles(results, command: kind)
            throw ExitCode(Interruption.exitStatus(for: signal))
        }
        if let setupError = outcome.setupError {
            FileHandle.standardError.write(Data("migverify \(kind.rawValue): error: \(setupError)\n".utf8))
            try outputs.writeFiles(results, command: kind)
            throw ExitCode(2)
        }
        print("")
        print(ReportWriter.verdictTable(results, width: terminalColumns()))
        print("\(kind.rawValue) id: \(sweepID) (`migverify report \(sweepID) --output DIR`); results: \(outputs.database)"
              + (outputs.json.map { ", \($0)" } ?? "") + (outputs.junit.map { ", \($0)" } ?? ""))
        try outputs.writeFiles(results, command: kind)
        if !results.allSatisfy(\.passed) { throw ExitCode(1) }
    }
}
