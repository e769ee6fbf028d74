import Foundation

/// A check whose verdict a rejudgement changed: its stored verdict, today's, and today's evidence.
public struct CheckVerdictChange: Sendable, Equatable {
    /// The check's name as the result holds it (`back-` for the migration back).
    public var name: String
    /// The stored verdict; `nil`: the run has no such check (today's checks add it).
    public var storedPassed: Bool?
    /// Today's verdict; `nil`: today's checks no longer make it.
    public var rejudgedPassed: Bool?
    /// Today's evidence (`nil` when today's checks no longer make it).
    public var evidence: String?

    /// One line: `NAME: PASS → FAIL: EVIDENCE` (`—` for a check one side does not have).
    public var line: String {
        "\(name): \(Self.verdict(storedPassed)) → \(Self.verdict(rejudgedPassed))" + (evidence.map { ": \($0)" } ?? "")
    }

    static func verdict(_ passed: Bool?) -> String {
        passed.map { $0 ? "PASS" : "FAIL" } ?? "—"
    }
}

/// One run's stored checks against today's checks of its stored observations.
public struct Rejudgement: Sendable, Equatable {
    /// The checks whose verdict changed (in today's order, then those no longer made).
    public var changes: [CheckVerdictChange]
    /// The checks the run has after the rejudgement: today's for each rejudged leg, the
    /// stored ones for the rest (the runner's own `setup`, `interrupted`, `results-stored`,
    /// and a leg without an observation).
    public var checks: [Check]
    /// The stored verdict: at least one check and every one passed.
    public var storedPassed: Bool
    /// The verdict with today's checks.
    public var rejudgedPassed: Bool
    /// Today's checks left out (with the leg's prefix): the run never had them and its stored
    /// observation lacks their data (stored before they existed), so they cannot judge it.
    public var notJudged: [String]

    /// Compares `stored` (a run's checks as stored) with `rejudged` (today's checks of the
    /// observation of each leg, names without the leg's prefix), by name. The checks the
    /// runner adds itself are not the observation's and are kept as stored; so are the
    /// checks of a leg without an observation. A check in `unrecorded` (per leg, without the
    /// prefix: ``Checks/unrecorded(_:)``) that the run did not store is left out: an
    /// observation stored before a check existed neither passes nor fails it.
    public init(stored: [Check], rejudged: [(leg: MigrationLeg, checks: [Check])], unrecorded: [MigrationLeg: Set<String>] = [:]) {
        let judgedLegs = Set(rejudged.map(\.leg))
        var changes: [CheckVerdictChange] = []
        var today: [Check] = []
        var matched = Set<String>()
        var notJudged: [String] = []
        for (leg, checks) in rejudged {
            for check in checks {
                let name = leg.checkNamePrefix + check.name
                let before = stored.first { $0.name == name && Self.leg(of: $0, judged: judgedLegs) == leg }
                if before == nil, unrecorded[leg]?.contains(check.name) == true {
                    notJudged.append(name)
                    continue
                }
                today.append(Check(name: name, passed: check.passed, evidence: check.evidence))
                if before != nil { matched.insert(name) }
                if before?.passed != check.passed {
                    changes.append(CheckVerdictChange(name: name, storedPassed: before?.passed, rejudgedPassed: check.passed,
                                                      evidence: check.evidence))
                }
            }
        }
        var kept: [Check] = []
        for check in stored {
            if Self.leg(of: check, judged: judgedLegs) == nil {
                kept.append(check)
            } else if !matched.contains(check.name) {
                changes.append(CheckVerdictChange(name: check.name, storedPassed: check.passed, rejudgedPassed: nil, evidence: nil))
            }
        }
        self.changes = changes
        self.notJudged = notJudged
        checks = today + kept
        storedPassed = !stored.isEmpty && stored.allSatisfy(\.passed)
        rejudgedPassed = !checks.isEmpty && checks.allSatisfy(\.passed)
    }

    /// The leg whose observation judges `check` again; `nil` when none does (a check the
    /// runner adds itself, or one of a leg without an observation in `judged`).
    private static func leg(of check: Check, judged: Set<MigrationLeg>) -> MigrationLeg? {
        let leg = MigrationLeg.of(checkNamed: check.name)
        let bareName = String(check.name.dropFirst(leg.checkNamePrefix.count))
        return Rejudge.runnerCheckNames.contains(bareName) || !judged.contains(leg) ? nil : leg
    }
}

/// What `migverify rejudge` found for one run.
public struct RunRejudgement: Sendable, Equatable {
    /// The run.
    public var runID: Int64
    /// What it ran, e.g. `live 1024 MiB @ 50 MiB/s`.
    public var label: String
    /// The comparison, or why the run was not rejudged.
    public var outcome: Result<Rejudgement, NotRejudged>

    /// Why a run was not rejudged, in one line (e.g. `no stored observation`).
    public struct NotRejudged: Error, Sendable, Equatable {
        /// Why, e.g. `no stored observation`, or why the stored one cannot be read.
        public var reason: String
    }

    /// Whether a check's verdict changed.
    public var changed: Bool {
        if case .success(let rejudgement) = outcome { return !rejudgement.changes.isEmpty }
        return false
    }

    /// The run's lines: a heading, then one line per changed check.
    public var lines: [String] {
        let heading = "run #\(runID) \(label)"
        switch outcome {
        case .failure(let not):
            return ["\(heading): not rejudged: \(not.reason)"]
        case .success(let rejudgement) where rejudgement.changes.isEmpty:
            return ["\(heading): unchanged, \(Self.verdict(rejudgement.rejudgedPassed)) (\(rejudgement.checks.count) checks)"
                    + Self.notJudgedText(rejudgement)]
        case .success(let rejudgement):
            let count = rejudgement.changes.count
            return ["\(heading): \(Self.verdict(rejudgement.storedPassed)) → \(Self.verdict(rejudgement.rejudgedPassed)), "
                    + "\(count) check\(count == 1 ? "" : "s") changed" + Self.notJudgedText(rejudgement)]
                + rejudgement.changes.map { "  " + $0.line }
        }
    }

    static func verdict(_ passed: Bool) -> String { passed ? "PASS" : "FAIL" }

    static func notJudgedText(_ rejudgement: Rejudgement) -> String {
        rejudgement.notJudged.isEmpty ? ""
            : "; not judged: \(rejudgement.notJudged.joined(separator: ", ")) (stored before the check existed)"
    }
}

/// `migverify rejudge ID`: the stored observations of a run, or of every run of a sweep,
/// evaluated again with today's ``Checks``, next to the checks stored with them. A fixed
/// check reaches old runs this way.
public enum Rejudge {
    /// The checks the runner adds itself, not from an observation: never rejudged.
    static let runnerCheckNames: Set<String> = [CheckName.setup, CheckName.interrupted, CheckName.resultsStored]

    /// What an id names.
    public enum Target: Sendable, Equatable {
        /// One run.
        case run(Int64)
        /// Every run that stands for a slot of the sweep.
        case sweep(String)
    }

    /// What `id` names in `store`: a sweep of that id; else a run id (`12`, or `#12`, which is
    /// always a run). Neither is bad input (``VerifierError/invalidOptions(_:)``).
    public static func target(_ id: String, in store: ResultsStore) throws(VerifierError) -> Target {
        let runNumber = id.hasPrefix("#") ? Int64(id.dropFirst()) : Int64(id)
        if !id.hasPrefix("#"), try store.sweep(id: id) != nil { return .sweep(id) }
        if let runNumber, try store.run(id: runNumber) != nil { return .run(runNumber) }
        throw .invalidOptions("\(store.path) has no " + (runNumber == nil ? "sweep '\(id)'" : "run #\(runNumber ?? 0) and no sweep '\(id)'")
                              + ": give a run id (the number `migverify run` printed as #N) or a sweep id")
    }

    /// Run `runID` of `store`, judged again.
    public static func rejudge(runID: Int64, in store: ResultsStore) throws(VerifierError) -> RunRejudgement {
        let run = try store.run(id: runID)
        let stored = try store.observations(runID: runID)
        var label = run?.result?.parameters.label
        var judged: [(leg: MigrationLeg, checks: [Check])] = []
        var unrecorded: [MigrationLeg: Set<String>] = [:]
        var unreadable: [String] = []
        for entry in stored {
            switch entry.observation {
            case .success(let observation):
                label = label ?? observation.parameters.label
                judged.append((entry.leg, Checks.evaluate(observation)))
                unrecorded[entry.leg] = Checks.unrecorded(observation)
            case .failure(let error):
                unreadable.append(error.description)
            }
        }
        let outcome: Result<Rejudgement, RunRejudgement.NotRejudged>
        if stored.isEmpty {
            outcome = .failure(.init(reason: "no stored observation"))
        } else if !unreadable.isEmpty {
            outcome = .failure(.init(reason: unreadable.joined(separator: "; ")))
        } else {
            outcome = .success(Rejudgement(stored: try store.checks(runID: runID), rejudged: judged, unrecorded: unrecorded))
        }
        return RunRejudgement(runID: runID, label: label ?? run.map { "(\($0.status.rawValue), no result)" } ?? "(no such run)",
                              outcome: outcome)
    }

    /// The runs `target` names in `store`, each judged again: one run, or every run that
    /// stands for a slot of a sweep, in slot order (each once).
    public static func rejudge(_ target: Target, in store: ResultsStore) throws(VerifierError) -> [RunRejudgement] {
        switch target {
        case .run(let runID):
            return [try rejudge(runID: runID, in: store)]
        case .sweep(let sweepID):
            var seen = Set<Int64>()
            var runs: [RunRejudgement] = []
            for slot in try store.slots(sweepID: sweepID) {
                guard let runID = slot.run?.id, seen.insert(runID).inserted else { continue }
                runs.append(try rejudge(runID: runID, in: store))
            }
            return runs
        }
    }

    /// The lines `migverify rejudge` prints: each run's, then a summary line.
    public static func report(_ runs: [RunRejudgement]) -> [String] {
        let rejudged = runs.filter { if case .success = $0.outcome { return true } else { return false } }
        let changed = rejudged.filter(\.changed).count
        let notRejudged = runs.count - rejudged.count
        let withoutObservation = runs.filter { $0.outcome == .failure(.init(reason: "no stored observation")) }.count
        var summary = "rejudged \(rejudged.count) of \(runs.count) run\(runs.count == 1 ? "" : "s"): "
            + "\(changed) with a changed verdict, \(rejudged.count - changed) unchanged"
        if notRejudged > 0 {
            summary += "; \(notRejudged) not rejudged"
                + (withoutObservation > 0 ? " (\(withoutObservation) recorded without an observation, e.g. by a version before it was stored)" : "")
        }
        return runs.flatMap(\.lines) + [summary]
    }
}
