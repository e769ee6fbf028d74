import Foundation
import Lab
import Libvirt

/// A failure of the verifier itself (not a failed check): bad input, an unreachable host,
/// a lab step that failed. Its ``description`` is one line that names what was being done.
public enum VerifierError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Options that cannot be used (alone or together); the text says which and why.
    case invalidOptions(String)
    /// A libvirt call failed while the verifier was doing `step`.
    case libvirt(step: String, LibvirtError)
    /// A lab step failed (`LabError`'s first line is kept).
    case lab(step: String, reason: String)
    /// The environment cannot run what was asked (e.g. not enough memory on the host).
    case environment(String)
    /// The results database could not be opened or written.
    case store(path: String, reason: String)
    /// SIGINT or SIGTERM arrived while the verifier was doing `step`.
    case interrupted(signal: Int32, step: String)

    public var description: String {
        switch self {
        case .invalidOptions(let text): return text
        case .libvirt(let step, let error): return "\(step): \(error.description)"
        case .lab(let step, let reason): return "\(step): \(reason)"
        case .environment(let text): return text
        case .store(let path, let reason): return "results database \(path): \(reason)"
        case .interrupted(let signal, let step): return "interrupted by \(signalName(signal)) while \(step)"
        }
    }

    /// Wraps any error thrown while doing `step` into a ``VerifierError`` with that context.
    public static func wrap(_ error: any Error, step: String) -> VerifierError {
        switch error {
        case let verifier as VerifierError: return verifier
        case let libvirt as LibvirtError: return .libvirt(step: step, libvirt)
        case let lab as LabError:
            // A failed command's standard error says why: keep it, on one line.
            let said = (lab.errorOutput ?? "").split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " / ")
            let reason = said.isEmpty ? lab.reason : "\(lab.reason): \(said.count > 300 ? said.prefix(300) + "…" : Substring(said))"
            return .lab(step: step, reason: "lab step '\(lab.step)' failed: \(reason)")
        default: return .environment("\(step): \(error)")
        }
    }
}
