import Foundation

/// A plot as gnuplot drew it.
public struct RenderedPlot: Sendable, Equatable {
    public var plan: PlannedPlot
    /// The SVG file as gnuplot wrote it (for `plots/<name>.svg`).
    public var svg: String
    /// The SVG ready to sit in the HTML page (see ``InlineSVG/inlinable(_:plot:idPrefix:)``).
    public var inlineSVG: String
}

/// Everything one report page shows, in page order; rendered as HTML or Markdown.
struct ReportPage {
    var document: ReportDocument
    var comparison: SweepComparison?
    /// Plots and omissions of the sweep (time, downtime, boundary, timelines).
    var plots: [RenderedPlot]
    var omitted: [OmittedPlot]
    /// The comparison's ratio plot, or why it is left out.
    var comparisonPlot: RenderedPlot?
    var comparisonOmission: OmittedPlot?

    /// The sections between the plots, as tables, or a sentence where a table would be empty.
    enum Block {
        case table(ReportTable)
        case sentence(heading: String, text: String)
    }

    var analysisBlocks: [Block] {
        var blocks: [Block] = []
        if document.liveCells.isEmpty && !document.failureCells.isEmpty {
            blocks.append(.sentence(heading: "Cells", text: "No live cells: every run of this sweep injects a fault (see Failure scenarios)."))
        } else {
            blocks.append(.table(ReportTables.cells(document)))
        }
        if let failures = ReportTables.failures(document) { blocks.append(.table(failures)) }
        if let fit = ReportTables.fit(document) {
            blocks.append(.table(fit))
        } else {
            blocks.append(.sentence(heading: "Model fit", text: "No model was fitted to this sweep: no R², no MAPE, no model curve."))
        }
        if document.boundaries.isEmpty {
            blocks.append(.sentence(heading: "Convergence boundary", text: "No convergence boundary: the sweep found none."))
        } else {
            blocks.append(.table(ReportTables.boundaries(document)))
        }
        blocks.append(.table(ReportTables.runs(document)))
        if let hostCPU = ReportTables.hostCPU(document) { blocks.append(.table(hostCPU)) }
        blocks.append(.table(ReportTables.downtimeDecomposition(document)))
        blocks.append(.table(ReportTables.dirtyRateCrossCheck(document)))
        return blocks
    }

    var summaryPlots: [RenderedPlot] { plots.filter { !$0.plan.name.hasPrefix("timeline-") && !Self.isEvacuation($0.plan.name) } }
    var timelinePlots: [RenderedPlot] { plots.filter { $0.plan.name.hasPrefix("timeline-") } }
    var evacuationPlots: [RenderedPlot] { plots.filter { Self.isEvacuation($0.plan.name) } }
    var summaryOmissions: [OmittedPlot] { omitted.filter { !$0.name.hasPrefix("timeline-") && !Self.isEvacuation($0.name) } }
    var timelineOmissions: [OmittedPlot] { omitted.filter { $0.name.hasPrefix("timeline-") } }
    var evacuationOmissions: [OmittedPlot] { omitted.filter { Self.isEvacuation($0.name) } }

    /// Whether plot `name` belongs in the Evacuation section.
    static func isEvacuation(_ name: String) -> Bool { name.hasPrefix(ReportPlots.evacuationPlotPrefix) }

    // MARK: - HTML

    /// The page as one self-contained HTML file: inline style, inline SVG, nothing fetched.
    var html: String {
        let escape = ReportFormat.html
        var out = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>\(escape(document.title)) — \(escape(document.sweepID))</title>
        <style>
        body { font-family: sans-serif; margin: 1.5em; color: #222; }
        table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
        th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: right; }
        th { background: #eee; } td:first-child, th:first-child { text-align: left; }
        figure { margin: 1em 0; } figcaption, .note { font-size: 0.9em; color: #555; }
        .omitted { font-style: italic; color: #8a4b00; }
        svg { max-width: 100%; height: auto; }
        </style>
        </head>
        <body>
        <h1>\(escape(document.title))</h1>
        <p>Sweep <code>\(escape(document.sweepID))</code>, created \(escape(ReportFormat.date(document.createdAt)))</p>

        """
        out += "<ul class=\"environment\">\n"
        for line in document.environment.lines { out += "<li>\(escape(line))</li>\n" }
        out += "</ul>\n"
        for note in document.notes { out += "<p class=\"note\">\(escape(note))</p>\n" }

        out += "<h2>Headline</h2>\n<table class=\"headline\">\n"
        for line in ReportTables.headline(document) {
            out += "<tr><th>\(escape(line.name))</th><td>\(escape(line.value))</td></tr>\n"
        }
        out += "</table>\n"

        out += "<h2>Plots</h2>\n"
        for plot in summaryPlots { out += htmlFigure(plot) }
        for omission in summaryOmissions { out += "<p class=\"omitted\">\(escape(omission.reason))</p>\n" }

        for block in analysisBlocks {
            switch block {
            case .table(let table): out += htmlTable(table)
            case let .sentence(heading, text): out += "<h2>\(escape(heading))</h2>\n<p class=\"omitted\">\(escape(text))</p>\n"
            }
        }

        if let evacuations = ReportTables.evacuations(document) {
            out += "<h2>Evacuation</h2>\n"
            for plot in evacuationPlots { out += htmlFigure(plot) }
            for omission in evacuationOmissions { out += "<p class=\"omitted\">\(escape(omission.reason))</p>\n" }
            out += htmlTable(evacuations, level: 3)
        }

        out += "<h2>Timelines</h2>\n"
        if document.timelines.isEmpty { out += "<p class=\"omitted\">No timelines were recorded for this sweep.</p>\n" }
        for plot in timelinePlots { out += htmlFigure(plot) }
        for omission in timelineOmissions { out += "<p class=\"omitted\">\(escape(omission.reason))</p>\n" }

        if let comparison {
            out += "<h2>Comparison with \(escape(comparison.otherSweepID))</h2>\n"
            if let comparisonPlot { out += htmlFigure(comparisonPlot) }
            if let comparisonOmission { out += "<p class=\"omitted\">\(escape(comparisonOmission.reason))</p>\n" }
            out += htmlTable(ReportTables.comparison(comparison), level: 3)
            out += htmlTable(ReportTables.unmatched(comparison), level: 3)
        }

        out += "<h2>Limits</h2>\n"
        if document.limits.isEmpty { out += "<p>No limits were stated for this sweep.</p>\n" }
        out += document.limits.isEmpty ? "" : "<ul>\n" + document.limits.map { "<li>\(escape($0))</li>\n" }.joined() + "</ul>\n"
        out += "</body>\n</html>\n"
        return out
    }

    private func htmlFigure(_ plot: RenderedPlot) -> String {
        var out = "<figure id=\"plot-\(ReportFormat.html(plot.plan.name))\">\n\(plot.inlineSVG)\n"
        out += "<figcaption>\(ReportFormat.html(plot.plan.caption))"
        for note in plot.plan.notes { out += "<br><span class=\"omitted\">\(ReportFormat.html(note))</span>" }
        return out + "</figcaption>\n</figure>\n"
    }

    private func htmlTable(_ table: ReportTable, level: Int = 2) -> String {
        let escape = ReportFormat.html
        var out = "<h\(level)>\(escape(table.title))</h\(level)>\n"
        if !table.explanation.isEmpty { out += "<p class=\"note\">\(escape(table.explanation))</p>\n" }
        if table.rows.isEmpty { return out + "<p class=\"omitted\">None.</p>\n" }
        out += "<table>\n<tr>" + table.headers.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
        for row in table.rows { out += "<tr>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n" }
        return out + "</table>\n"
    }

    // MARK: - Markdown

    /// The page as Markdown, linking the SVG files in `plotsDirectoryName`.
    func markdown(plotsDirectoryName: String) -> String {
        let cell = ReportFormat.markdownCell
        var out = "# \(cell(document.title))\n\n"
        out += "Sweep `\(document.sweepID.replacingOccurrences(of: "`", with: "'"))`, created \(ReportFormat.date(document.createdAt))\n\n"
        for line in document.environment.lines { out += "- \(cell(line))\n" }
        out += "\n"
        for note in document.notes { out += "\(cell(note))\n\n" }

        out += "## Headline\n\n| figure | value |\n|---|---|\n"
        for line in ReportTables.headline(document) { out += "| \(cell(line.name)) | \(cell(line.value)) |\n" }
        out += "\n## Plots\n\n"
        for plot in summaryPlots { out += markdownFigure(plot, plotsDirectoryName: plotsDirectoryName) }
        for omission in summaryOmissions { out += "*\(cell(omission.reason))*\n\n" }

        for block in analysisBlocks {
            switch block {
            case .table(let table): out += markdownTable(table)
            case let .sentence(heading, text): out += "## \(cell(heading))\n\n*\(cell(text))*\n\n"
            }
        }

        if let evacuations = ReportTables.evacuations(document) {
            out += "## Evacuation\n\n"
            for plot in evacuationPlots { out += markdownFigure(plot, plotsDirectoryName: plotsDirectoryName) }
            for omission in evacuationOmissions { out += "*\(cell(omission.reason))*\n\n" }
            out += markdownTable(evacuations, level: 3)
        }

        out += "## Timelines\n\n"
        if document.timelines.isEmpty { out += "*No timelines were recorded for this sweep.*\n\n" }
        for plot in timelinePlots { out += markdownFigure(plot, plotsDirectoryName: plotsDirectoryName) }
        for omission in timelineOmissions { out += "*\(cell(omission.reason))*\n\n" }

        if let comparison {
            out += "## Comparison with \(cell(comparison.otherSweepID))\n\n"
            if let comparisonPlot { out += markdownFigure(comparisonPlot, plotsDirectoryName: plotsDirectoryName) }
            if let comparisonOmission { out += "*\(cell(comparisonOmission.reason))*\n\n" }
            out += markdownTable(ReportTables.comparison(comparison), level: 3)
            out += markdownTable(ReportTables.unmatched(comparison), level: 3)
        }

        out += "## Limits\n\n"
        out += document.limits.isEmpty ? "No limits were stated for this sweep.\n" : document.limits.map { "- \(cell($0))\n" }.joined()
        return out
    }

    private func markdownFigure(_ plot: RenderedPlot, plotsDirectoryName: String) -> String {
        let cell = ReportFormat.markdownCell
        var out = "![\(cell(plot.plan.caption))](\(plotsDirectoryName)/\(plot.plan.name).svg)\n\n\(cell(plot.plan.caption))\n\n"
        for note in plot.plan.notes { out += "*\(cell(note))*\n\n" }
        return out
    }

    private func markdownTable(_ table: ReportTable, level: Int = 2) -> String {
        let cell = ReportFormat.markdownCell
        var out = String(repeating: "#", count: level) + " \(cell(table.title))\n\n"
        if !table.explanation.isEmpty { out += "\(cell(table.explanation))\n\n" }
        if table.rows.isEmpty { return out + "*None.*\n\n" }
        out += "| " + table.headers.map(cell).joined(separator: " | ") + " |\n"
        out += "|" + String(repeating: "---|", count: table.headers.count) + "\n"
        for row in table.rows { out += "| " + row.map(cell).joined(separator: " | ") + " |\n" }
        return out + "\n"
    }
}
