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
public func shellQuoted(_ word: String) -> String {
    if !word.isEmpty, word.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@+%".contains($0) }) { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
