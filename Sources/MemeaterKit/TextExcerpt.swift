/// Text from outside (a file, an argument) as an error message may show it: control and
/// format characters escaped (`\n`, `\t`, `\u{1B}`), so that a message stays one line and
/// cannot drive the terminal, and at most ``maximumCharacters`` of it, so that a 10 MB value
/// is not echoed back whole.
public enum TextExcerpt {
    /// The characters shown before the excerpt is cut.
    public static let maximumCharacters = 60

    /// `text` escaped and cut: `abc…` followed by ` (N characters)` when it was longer.
    public static func of(_ text: String, maximumCharacters: Int = TextExcerpt.maximumCharacters) -> String {
        var shown = ""
        var count = 0
        for character in text {
            count += 1
            guard count <= maximumCharacters else { continue }
            for scalar in character.unicodeScalars { shown += escaped(scalar) }
        }
        return count > maximumCharacters ? "\(shown)… (\(count) characters)" : shown
    }

    private static func escaped(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        default:
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator:
                return "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default:
                return String(scalar)
            }
        }
    }
}
