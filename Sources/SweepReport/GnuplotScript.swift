import Foundation

/// A gnuplot script being assembled: settings, inline data blocks and plot clauses.
///
/// Data goes in as `$name << EOD` blocks, so a script is self-contained and can be rerun
/// by hand from the scratch directory. Every series gets a title (tests and readers find
/// series by it); text that came from the data is marked `noenhanced`, so a `_` or `^`
/// in a label is printed, not read as markup.
struct GnuplotScript {
    /// The terminal every plot uses; the SVG prints to standard output.
    static let terminal = terminal(heightPixels: 450)

    /// The terminal at `heightPixels` high, for a plot whose rows grow with the data.
    static func terminal(heightPixels: Int) -> String {
        "set terminal svg enhanced size 800,\(heightPixels) dynamic font 'sans,11' background '#ffffff'"
    }

    private(set) var settings: [String] = [terminal, "set encoding utf8", "set grid", "set key outside right top"]
    private(set) var dataBlocks: [String] = []
    private(set) var clauses: [String] = []
    /// The titles of the series in ``clauses``, in order.
    private(set) var seriesTitles: [String] = []

    mutating func set(_ line: String) { settings.append(line) }

    /// Adds a data block of `rows` (each a list of numbers) and a clause plotting it;
    /// `clause` holds everything after the block's name except the title. `companion`, when
    /// given, is a second clause drawn from the same block without a title (a line through
    /// the points' means, say). Rows with a non-finite value are left out. Nothing is added
    /// when no row is left.
    mutating func addSeries(title: String, rows: [[Double]], clause: String, companion: String? = nil) {
        let finiteRows = rows.filter { $0.allSatisfy(\.isFinite) }
        guard !finiteRows.isEmpty else { return }
        let name = "$D\(dataBlocks.count + 1)"
        let lines = finiteRows.map { $0.map { String($0) }.joined(separator: " ") }
        dataBlocks.append("\(name) << EOD\n" + lines.joined(separator: "\n") + "\nEOD")
        clauses.append("\(name) \(clause) title \(Self.quoted(title)) noenhanced")
        if let companion { clauses.append("\(name) \(companion) notitle") }
        seriesTitles.append(title)
    }

    var isEmpty: Bool { clauses.isEmpty }

    /// The whole script.
    var text: String {
        (settings + dataBlocks + ["plot " + clauses.joined(separator: ", \\\n     ")]).joined(separator: "\n") + "\n"
    }

    /// `text` as a gnuplot single-quoted string: quotes doubled, line breaks folded.
    static func quoted(_ text: String) -> String {
        let oneLine = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        return "'" + oneLine.replacingOccurrences(of: "'", with: "''") + "'"
    }
}
