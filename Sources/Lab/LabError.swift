import Foundation
import Libvirt

/// A failed lab step: which step, what was run, and what it printed.
public struct LabError: Error, CustomStringConvertible, Sendable {
    /// The step that failed, e.g. "start libvirt daemon on src".
    public var step: String
    /// What went wrong, in one line.
    public var reason: String
    /// The command that was run, when the step ran one.
    public var command: [String]?
    /// What the command printed on standard output, or other evidence (a console log, a daemon log).
    public var output: String?
    /// What the command printed on standard error, usually why it failed.
    public var errorOutput: String?

    /// Creates an error from its parts.
    public init(step: String, reason: String, command: [String]? = nil, output: String? = nil, errorOutput: String? = nil) {
        self.step = step
        self.reason = reason
        self.command = command
        self.output = output
        self.errorOutput = errorOutput
    }

    /// Wraps a libvirt error with the step it happened in.
    public init(step: String, libvirt error: LibvirtError) {
        self.init(step: step, reason: error.description)
    }

    public var description: String {
        var text = "lab step '\(step)' failed: \(reason)"
        if let command { text += "\n  command: \(command.map(shellQuoted).joined(separator: " "))" }
        for (label, printed) in [("output", output), ("standard error", errorOutput)] {
            guard let printed, !printed.isEmpty else { continue }
            let trimmed = printed.count > 6000 ? "…" + printed.suffix(6000) : Substring(printed)
            text += "\n  \(label):\n" + trimmed.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
                .map { "    " + $0 }.joined(separator: "\n")
        }
        return text
    }
}

/// Quotes a word for `sh` (and for display as a shell command) when it needs it.
///
/// A word stays bare only when every Unicode scalar is plain ASCII from a small safe set:
/// judging by `Character` is not enough, since a scalar that combines with the next
/// (U+0D4E before `;id`) makes one "letter" out of a shell metacharacter.
public func shellQuoted(_ word: String) -> String {
    if !word.isEmpty, word.unicodeScalars.allSatisfy(isShellSafe) { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Whether `scalar` is one of the ASCII characters `sh` gives no meaning: `[A-Za-z0-9_./:=@%+,-]`.
private func isShellSafe(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar {
    case "a"..."z", "A"..."Z", "0"..."9": return true
    case "_", ".", "/", ":", "=", "@", "%", "+", ",", "-": return true
    default: return false
    }
}
