import Foundation

/// Why a report could not be written. Each case names what it was doing: the plot, the
/// file, and what gnuplot said on standard error.
public enum ReportError: Error, Equatable, CustomStringConvertible {
    /// No `gnuplot` executable on the search path.
    case gnuplotNotFound(searchPath: [String])
    /// gnuplot could not be started for `plot`.
    case gnuplotNotStarted(plot: String, reason: String)
    /// gnuplot exited with a failure status while drawing `plot`.
    case gnuplotFailed(plot: String, exitStatus: Int32, standardError: String)
    /// gnuplot ran longer than allowed while drawing `plot` and was killed.
    case gnuplotTimedOut(plot: String, seconds: Double, standardError: String)
    /// gnuplot's output for `plot` is not an SVG the report can inline.
    case unusableSVG(plot: String, reason: String)
    /// A file or directory could not be written.
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .gnuplotNotFound:
            return "gnuplot not found: install gnuplot-nox"
        case let .gnuplotNotStarted(plot, reason):
            return "plot '\(plot)': could not start gnuplot: \(reason)"
        case let .gnuplotFailed(plot, exitStatus, standardError):
            return "plot '\(plot)': gnuplot exited with status \(exitStatus)"
                + Self.quoted(standardError)
        case let .gnuplotTimedOut(plot, seconds, standardError):
            return "plot '\(plot)': gnuplot killed after \(ReportFormat.number(seconds)) s" + Self.quoted(standardError)
        case let .unusableSVG(plot, reason):
            return "plot '\(plot)': unusable SVG from gnuplot: \(reason)"
        case let .cannotWrite(path, reason):
            return "cannot write \(path): \(reason)"
        }
    }

    /// Why a file operation failed, in a few words: the system's reason (`Permission denied`,
    /// `Not a directory`) instead of Foundation's whole error with its user info.
    public static func reason(of error: any Error) -> String {
        let error = error as NSError
        let underlying = error.userInfo[NSUnderlyingErrorKey].flatMap { $0 as? any Error }.map { $0 as NSError }
        for candidate in [underlying, error] {
            guard let candidate, candidate.domain == NSPOSIXErrorDomain, let code = Int32(exactly: candidate.code) else { continue }
            return code == EEXIST ? "it exists and is not a directory" : String(cString: strerror(code))
        }
        let text = error.localizedDescription.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return text.isEmpty ? "error \(error.code) of \(error.domain)" : text
    }

    /// gnuplot's standard error, trimmed, after a colon; nothing when it said nothing.
    private static func quoted(_ standardError: String) -> String {
        let trimmed = standardError.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? "" : ": \(trimmed)"
    }
}
