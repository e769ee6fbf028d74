import ArgumentParser
import Foundation
import SweepReport
import Verifier

/// Opens an existing results database read-only (a sweep may be writing it meanwhile); a
/// missing file or one that is no results database is bad input.
private func openExistingStore(_ path: String) throws -> ResultsStore {
    guard FileManager.default.fileExists(atPath: path) else {
        throw ValidationError("no results database at \(path): give --database FILE (the one `migverify run` or `sweep` wrote)")
    }
    do {
        return try ResultsStore.openForReading(path: path)
    } catch {
        throw ValidationError(error.description)
    }
}

/// Reads and analyses sweep `id`; an unknown id is bad input (exit 64).
private func analyse(_ id: String, store: ResultsStore) throws -> SweepAnalysis {
    do {
        return try SweepAnalysis(store: store, sweepID: id)
    } catch {
        throw ValidationError(error.description)
    }
}

/// `migverify correlate ID`: the pre-copy model fitted to a sweep, side by side with it.
struct CorrelateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "correlate",
        abstract: "Fit the pre-copy model to a sweep's converging runs, per strategy, and compare it with every cell.",
        discussion: """
            Prints the fitted parameters (setup cost, resume cost, effective dirty-rate factor, RAM scan cost), \
            R² and the held-out MAPE (leave one cell out), predicted vs measured time and downtime per cell with \
            95 % confidence intervals over repeats, the convergence boundary (measured and predicted), QEMU's \
            dirty-rate estimate next to memeater's, and the downtime decomposition. The downtime is predicted by \
            a downtime model fitted beside each pre-copy fit (a fixed cost plus the model's last pass at the \
            switch-over's own rate; the pre-copy model's downtime is an upper bound), with its held-out MAPE next \
            to that of QEMU's expected_downtime over the same runs. A sweep of several strategies \
            gets one fit per strategy (max-downtime=MS joins the rest of its strategy), each cell predicted by its \
            own; post-copy runs are listed as not described by the pre-copy model. Exit 0 when a model was \
            fitted (to at least one strategy), 1 when none could be (the reasons are printed), 64 for an unknown \
            sweep id.
            """
    )

    @Argument(help: "The sweep id (`migverify sweep --id`, or the id a plain `migverify run` printed).")
    var id: String

    @Option(help: "The results database.")
    var database = "migverify-results.sqlite"

    func run() throws {
        let analysis = try analyse(id, store: try openExistingStore(database))
        print(analysis.text)
        if analysis.anyFitted { return }
        throw ExitCode(1)
    }
}

/// `migverify report ID --output DIR`: HTML with plots, Markdown and CSV of a sweep.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a sweep's report: one self-contained HTML page with gnuplot SVG plots, a Markdown summary and CSV files.",
        discussion: """
            Plots: migration time vs the dirty rate the guest achieved per memory size with the fitted model, \
            downtime (ping gap and libvirt's) vs that rate, the convergence boundary, and a timeline per run \
            (a failure run's in lanes: the call, the job's phases, the fault, ping gaps, the daemons' events). \
            Failure scenarios have a table of their own. With --compare OTHER-ID \
            the two sweeps are matched cell by cell, with the ratio and whether the difference exceeds the \
            confidence intervals. Needs gnuplot (the set-up scripts install gnuplot-nox).
            """
    )

    @Argument(help: "The sweep id.")
    var id: String

    @Option(help: "Another sweep to compare with (e.g. the same matrix on QEMU 7.2, or with auto-converge).")
    var compare: String?

    @Option(help: "The directory to write report.html, summary.md, runs.csv, cells.csv and plots/ into (created if needed).")
    var output: String

    @Option(help: "The results database.")
    var database = "migverify-results.sqlite"

    @Option(help: "Timelines drawn, at most (the first runs of the sweep).")
    var timelines = 12

    func validate() throws {
        guard (0...200).contains(timelines) else { throw ValidationError("--timelines must be between 0 and 200, not \(timelines)") }
        if compare == id { throw ValidationError("--compare names the sweep itself (\(id))") }
    }

    func run() throws {
        let store = try openExistingStore(database)
        let document: ReportDocument
        var other: ReportDocument?
        do {
            document = try analyse(id, store: store).reportDocument(store: store, maximumTimelines: timelines)
            if let compare { other = try analyse(compare, store: store).reportDocument(store: store, maximumTimelines: timelines) }
        } catch let error as VerifierError {
            FileHandle.standardError.write(Data("migverify report: error: \(error.description)\n".utf8))
            throw ExitCode(2)
        }
        let directory = URL(fileURLWithPath: output, isDirectory: true)
        do {
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw ReportError.cannotWrite(path: directory.path, reason: ReportError.reason(of: error))
            }
            let files = try SweepReportRenderer(document: document, compare: other, maximumTimelines: timelines).write(to: directory)
            print("report: \(files.html.path)")
            print("summary: \(files.markdown.path); runs: \(files.runsCSV.path); cells: \(files.cellsCSV.path); \(files.plots.count) plot(s) in \(directory.appendingPathComponent("plots").path)")
            for omitted in files.omittedPlots { print("left out: \(omitted.reason)") }
        } catch {
            // One line: a ReportError says what and where; anything else is cut to its first line.
            let message = "\(error)".split(whereSeparator: \.isNewline).first.map(String.init) ?? "\(error)"
            FileHandle.standardError.write(Data("migverify report: error: \(message)\n".utf8))
            throw ExitCode(2)
        }
    }
}

/// `migverify rejudge ID`: stored runs judged again with today's checks.
struct RejudgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rejudge",
        abstract: "Judge stored runs again with today's checks and print where the verdict changed.",
        discussion: """
            Every run stores what its checks looked at (its observation; with --back also the migration \
            back's). rejudge evaluates the stored observations of run ID, or of every run of sweep ID, with the \
            checks of this version, compares them with the checks stored with the run by name, and prints per \
            run each check whose verdict changed (old → new, with the new evidence) and a summary line. The \
            checks the runner adds itself (setup, interrupted, results-stored) are kept as stored. Runs recorded \
            without an observation (by a version before it was stored) are listed as not rejudged. The database \
            is only read. Exit 0 when no verdict changed, 1 when one did, 64 for an unknown id or a missing \
            database, 2 when the database cannot be read.
            """
    )

    @Argument(help: "A run id (`12`, or `#12` when a sweep has that id too) or a sweep id.")
    var id: String

    @Option(help: "The results database.")
    var database = "migverify-results.sqlite"

    func run() throws {
        let store = try openExistingStore(database)
        let runs: [RunRejudgement]
        do {
            runs = try Rejudge.rejudge(try Rejudge.target(id, in: store), in: store)
        } catch {
            if case .invalidOptions = error { throw ValidationError(error.description) }
            FileHandle.standardError.write(Data("migverify rejudge: error: \(error.description)\n".utf8))
            throw ExitCode(2)
        }
        for line in Rejudge.report(runs) { print(line) }
        if runs.contains(where: \.changed) { throw ExitCode(1) }
    }
}
