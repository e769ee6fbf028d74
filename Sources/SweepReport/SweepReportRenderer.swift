import Foundation

/// The files a report was written to.
public struct ReportFiles: Sendable, Equatable {
    /// The self-contained HTML page (`report.html`).
    public var html: URL
    /// The Markdown summary (`summary.md`), linking ``plots``.
    public var markdown: URL
    /// Every run (`runs.csv`) and every cell (`cells.csv`).
    public var runsCSV: URL
    public var cellsCSV: URL
    /// The SVG plots (`plots/<name>.svg`), in page order.
    public var plots: [URL]
    /// The plots left out, with the sentence the report gives for each.
    public var omittedPlots: [OmittedPlot]
}

/// Renders a sweep (and optionally a second sweep to compare it with) into a directory:
/// `report.html`, `summary.md`, `runs.csv`, `cells.csv` and `plots/*.svg`.
///
/// Plots are drawn by gnuplot as SVG; nothing else leaves the process. Everything shown
/// comes from the ``ReportDocument`` values: the renderer knows no database and no libvirt.
public struct SweepReportRenderer: Sendable {
    public static let htmlFileName = "report.html"
    public static let markdownFileName = "summary.md"
    public static let runsCSVFileName = "runs.csv"
    public static let cellsCSVFileName = "cells.csv"
    public static let plotsDirectoryName = "plots"

    public var document: ReportDocument
    /// The sweep to compare with; ratios are compare/document ("other/this").
    public var compare: ReportDocument?
    public var gnuplot: GnuplotRunner
    public var maximumTimelines: Int

    public init(document: ReportDocument, compare: ReportDocument? = nil, gnuplot: GnuplotRunner = GnuplotRunner(),
                maximumTimelines: Int = ReportPlots.defaultMaximumTimelines) {
        self.document = document
        self.compare = compare
        self.gnuplot = gnuplot
        self.maximumTimelines = maximumTimelines
    }

    /// Writes the report into `directory` (created when missing; files of an earlier report
    /// with the same names are replaced). A `plots` there that is a symbolic link is refused,
    /// not followed: the plots would be written wherever it points.
    ///
    /// - Throws: ``ReportError``: gnuplot missing (checked before anything is written), a
    ///   plot gnuplot could not draw (with its standard error), a file that cannot be written.
    @discardableResult
    public func write(to directory: URL) throws -> ReportFiles {
        _ = try gnuplot.locate()
        let plotsDirectory = directory.appendingPathComponent(Self.plotsDirectoryName, isDirectory: true)
        var status = stat()
        if lstat(plotsDirectory.path, &status) == 0, status.st_mode & S_IFMT == S_IFLNK {
            throw ReportError.cannotWrite(path: plotsDirectory.path,
                                          reason: "it is a symbolic link; the plots go only into a directory of the report's own (remove the link)")
        }
        try createDirectory(plotsDirectory)
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("sweep-report-\(UUID().uuidString)", isDirectory: true)
        try createDirectory(scratch)
        defer { try? FileManager.default.removeItem(at: scratch) }

        let plan = ReportPlots.plan(for: document, maximumTimelines: maximumTimelines)
        var plotFiles: [URL] = []
        func render(_ planned: PlannedPlot) throws -> RenderedPlot {
            let svg = try gnuplot.render(script: planned.script, plot: planned.name, scratchDirectory: scratch)
            let inline = try InlineSVG.inlinable(svg, plot: planned.name, idPrefix: "\(planned.name)-")
            let file = plotsDirectory.appendingPathComponent("\(planned.name).svg")
            try writeText(svg, to: file)
            plotFiles.append(file)
            return RenderedPlot(plan: planned, svg: svg, inlineSVG: inline)
        }
        let rendered = try plan.plots.map(render)

        var comparison: SweepComparison?
        var comparisonPlot: RenderedPlot?
        var comparisonOmission: OmittedPlot?
        if let compare {
            let sweepComparison = SweepComparison(this: document, other: compare)
            comparison = sweepComparison
            switch ReportPlots.comparisonRatios(sweepComparison) {
            case .drawn(let planned): comparisonPlot = try render(planned)
            case .omitted(let omission): comparisonOmission = omission
            }
        }

        let page = ReportPage(document: document, comparison: comparison, plots: rendered, omitted: plan.omitted,
                              comparisonPlot: comparisonPlot, comparisonOmission: comparisonOmission)
        let files = ReportFiles(
            html: directory.appendingPathComponent(Self.htmlFileName),
            markdown: directory.appendingPathComponent(Self.markdownFileName),
            runsCSV: directory.appendingPathComponent(Self.runsCSVFileName),
            cellsCSV: directory.appendingPathComponent(Self.cellsCSVFileName),
            plots: plotFiles,
            omittedPlots: plan.omitted + [comparisonOmission].compactMap { $0 })
        try writeText(page.html, to: files.html)
        try writeText(page.markdown(plotsDirectoryName: Self.plotsDirectoryName), to: files.markdown)
        try writeText(ReportCSV.runs(document), to: files.runsCSV)
        try writeText(ReportCSV.cells(document), to: files.cellsCSV)
        return files
    }

    private func createDirectory(_ directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ReportError.cannotWrite(path: directory.path, reason: ReportError.reason(of: error))
        }
    }

    private func writeText(_ text: String, to file: URL) throws {
        do {
            try Data(text.utf8).write(to: file, options: .atomic)
        } catch {
            throw ReportError.cannotWrite(path: file.path, reason: ReportError.reason(of: error))
        }
    }
}
