import ArgumentParser
import Foundation
import Verifier

/// How the evacuations of `--guest-count N` (a matrix option, or the matrix file's
/// `guest-count`) run: N guests migrating at once (at most `--max-concurrent` at a time), each
/// run checked as a one-guest run is, tied together by an evacuation id. Without a guest count
/// nothing changes: one guest, as always.
struct EvacuationOptions: ParsableArguments {
    @Option(name: .customLong("max-concurrent"), help: ArgumentHelp("""
        Evacuation: at most K guests migrating at a time (default: all N); with several --guest-count values, K applies \
        to each N, capped at N.
        """, valueName: "K"))
    var maxConcurrent: Int?

    @Option(name: .customLong("fault-guest"), help: ArgumentHelp("""
        Evacuation: the scenario's fault acts on guest I alone (from 1, at most the smallest --guest-count; a fault that \
        acts on one guest, e.g. dst-qemu-killed), the others migrate live beside it. Without it the scenario runs on every guest.
        """, valueName: "I"))
    var faultGuest: Int?

    /// The plans of the matrix's guest counts (``SweepMatrix/evacuationGuestCounts``), one per
    /// N in order; `nil`: no evacuation (one guest). Rejects, in one line, --max-concurrent or
    /// --fault-guest without a guest count and values out of range
    /// (``EvacuationPlan/plans(guestCounts:maxConcurrent:faultGuest:)``).
    func plans(guestCounts: [Int]?) throws -> [EvacuationPlan]? {
        guard let guestCounts else {
            if maxConcurrent != nil || faultGuest != nil {
                throw ValidationError("--max-concurrent and --fault-guest need --guest-count")
            }
            return nil
        }
        do {
            return try EvacuationPlan.plans(guestCounts: guestCounts, maxConcurrent: maxConcurrent, faultGuest: faultGuest)
        } catch {
            throw ValidationError(error.description)
        }
    }
}
