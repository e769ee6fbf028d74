import ArgumentParser
import Foundation
import Verifier

/// `migverify run --guest-count N`: a host evacuation, N guests migrating at once (at most
/// `--max-concurrent` at a time), each run checked as a one-guest run is, tied together by an
/// evacuation id. Without `--guest-count` nothing changes: one guest, as always.
struct EvacuationOptions: ParsableArguments {
    @Option(name: .customLong("guest-count"), help: ArgumentHelp("""
        Evacuation: migrate N guests at once, each with its own ping, memeater load and checks, plus the evacuation's figures \
        (total time, per-guest migration time and downtime, speedup, ports). On real hosts --domain, --guest-address and \
        --memeater-token-file then list N values each, comma-separated; the lab boots lab-guest-1…N for it.
        """, valueName: "N"))
    var guestCount: Int?

    @Option(name: .customLong("max-concurrent"), help: ArgumentHelp("Evacuation: at most K guests migrating at a time (default: all N).", valueName: "K"))
    var maxConcurrent: Int?

    @Option(name: .customLong("fault-guest"), help: ArgumentHelp("""
        Evacuation: the scenario's fault acts on guest I alone (from 1; a fault that acts on one guest, e.g. dst-qemu-killed), \
        the others migrate live beside it. Without it the scenario runs on every guest.
        """, valueName: "I"))
    var faultGuest: Int?

    /// The plan the options ask for; `nil`: no evacuation (one guest). Rejects, in one line,
    /// --max-concurrent or --fault-guest without --guest-count and values out of range.
    func plan() throws -> EvacuationPlan? {
        guard let guestCount else {
            if maxConcurrent != nil || faultGuest != nil {
                throw ValidationError("--max-concurrent and --fault-guest need --guest-count")
            }
            return nil
        }
        let plan = EvacuationPlan(guestCount: guestCount, maxConcurrent: maxConcurrent, faultGuest: faultGuest)
        do {
            try plan.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return plan
    }

    func validate() throws {
        _ = try plan()
    }
}
