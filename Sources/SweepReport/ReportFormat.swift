import Foundation

/// How figures and text are written into the report's formats. Numbers are formatted
/// without a locale, so a report reads the same on every machine.
public enum ReportFormat {
    /// `value` with `decimals` digits after the point, or as an integer when it is one
    /// (so "512", not "512.0"); "–" when absent or not finite.
    public static func number(_ value: Double?, decimals: Int = 1) -> String {
        guard let value, value.isFinite else { return "–" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%.\(decimals)f", value)
    }

    /// A bandwidth limit: "unlimited" for `nil`.
    public static func bandwidth(_ mebibytesPerSecond: Double?) -> String {
        guard let mebibytesPerSecond else { return "unlimited" }
        return number(mebibytesPerSecond)
    }

    /// A target dirty rate: "unlimited" for 0 (memeater's "as fast as it can").
    public static func dirtyRateTarget(_ mebibytesPerSecond: Double) -> String {
        mebibytesPerSecond <= 0 ? "unlimited" : number(mebibytesPerSecond)
    }

    /// "mean [low, high]" for a statistic, with the count.
    public static func statistic(_ statistic: ReportStatistic) -> String {
        guard let mean = statistic.mean else { return "– (n=\(statistic.count))" }
        var text = number(mean)
        if let low = statistic.confidenceLow, let high = statistic.confidenceHigh {
            text += " [\(number(low)), \(number(high))]"
        }
        return text + " (n=\(statistic.count))"
    }

    /// A ratio, e.g. "1.25×"; "–" when absent.
    public static func ratio(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "–" }
        return String(format: "%.2f×", value)
    }

    /// An ISO 8601 date in UTC.
    public static func date(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// `text` safe inside HTML element content and attribute values (quoted either way).
    public static func html(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// `text` safe inside a Markdown table cell: `&`, `<` and `>` as entities (Markdown
    /// passes raw HTML through; quotes are harmless outside tags and stay readable), pipes,
    /// brackets and backslashes escaped, line breaks folded to spaces.
    public static func markdownCell(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;")
            .replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "|", with: "\\|")
            .replacingOccurrences(of: "[", with: "\\[")
            .replacingOccurrences(of: "]", with: "\\]")
            .replacingOccurrences(of: "\r\n", with: " ")
            .replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "\r", with: " ")
    }

    /// One CSV field, RFC 4180: quoted when it holds a comma, a quote or a line break,
    /// with inner quotes doubled. Text a spreadsheet would run as a formula (starting with
    /// `=`, `+`, `-`, `@`, a tab or a carriage return) gets a `'` before it; a finite number
    /// (`-12.5`) stays as it is.
    public static func csvField(_ text: String) -> String {
        let text = defusingFormula(text)
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `text` with a `'` before it when a spreadsheet would take it for a formula.
    static func defusingFormula(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return text }
        if let number = Double(text), number.isFinite { return text }
        return "'" + text
    }

    /// A CSV number: empty when absent, full precision otherwise (for spreadsheets, not people).
    public static func csvNumber(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "" }
        return String(value)
    }
}
