import Foundation
import Synchronization

/// The one clock of a run: every job sample, ping sample, memeater reading and event of a run
/// is stamped in milliseconds since ``startedAt`` on the monotonic clock, so a timeline of the
/// run lines them up exactly.
public struct RunClock: Sendable, Equatable {
    /// `CLOCK_MONOTONIC` at the start of the run, ns.
    public let originNanoseconds: UInt64
    /// The wall-clock time of the same instant (stored with the run).
    public let startedAt: Date

    /// A clock that starts now.
    public init() {
        originNanoseconds = monotonicNanoseconds()
        startedAt = Date()
    }

    /// A clock that started at `originNanoseconds` (monotonic) = `startedAt` (wall clock).
    public init(originNanoseconds: UInt64, startedAt: Date) {
        self.originNanoseconds = originNanoseconds
        self.startedAt = startedAt
    }

    /// Milliseconds since the start of the run at monotonic time `nanoseconds` (default: now).
    public func milliseconds(at nanoseconds: UInt64 = monotonicNanoseconds()) -> Double {
        Double(Int64(bitPattern: nanoseconds &- originNanoseconds)) / 1e6
    }
}

/// memeater's progress as the verifier read it before a migration (while its rate settles).
public struct MemeaterReading: Codable, Sendable, Equatable {
    /// When it was read, ms on the run clock.
    public var offsetMilliseconds: Double
    /// memeater's own seconds since it started dirtying.
    public var memeaterElapsedSeconds: Double
    /// Unique pages dirtied so far.
    public var pagesDirtied: UInt64
    /// memeater's achieved rate over its last window, pages/s.
    public var achievedPagesPerSecond: Double

    /// Creates a reading.
    public init(offsetMilliseconds: Double, memeaterElapsedSeconds: Double, pagesDirtied: UInt64, achievedPagesPerSecond: Double) {
        self.offsetMilliseconds = offsetMilliseconds
        self.memeaterElapsedSeconds = memeaterElapsedSeconds
        self.pagesDirtied = pagesDirtied
        self.achievedPagesPerSecond = achievedPagesPerSecond
    }
}

/// Which migration of a run: the run's own, or the migration back that `--back` adds (whose
/// checks the result holds with the prefix `back-`).
public enum MigrationLeg: String, Codable, Sendable, Equatable, CaseIterable {
    /// The run's migration.
    case forward
    /// `--back`: the migration back to the source after landing.
    case back
    /// The plain migration after a fault that must leave the hosts able to migrate
    /// (``Fault/migratesAgainAfterwards``).
    case again

    /// What the names of this leg's checks begin with in the result.
    public var checkNamePrefix: String {
        switch self {
        case .forward: return ""
        case .back: return "back-"
        case .again: return "again-"
        }
    }

    /// The leg a check of the run's result belongs to, by its name's prefix.
    static func of(checkNamed name: String) -> MigrationLeg {
        allCases.first { $0 != .forward && name.hasPrefix($0.checkNamePrefix) } ?? .forward
    }

    /// The order of legs in a run.
    var order: Int {
        switch self {
        case .forward: return 0
        case .back: return 1
        case .again: return 2
        }
    }
}

/// What a run produces while it goes, as typed values.
public enum RunRecord: Sendable, Equatable {
    /// A step of the run (preparing the guest, migrating, ...), one line for people.
    case step(String)
    /// A job-stats reading during the migration; `migrationStartMilliseconds` is when the
    /// migration call started on the run clock (the progress line counts from it).
    case jobSample(JobSample, migrationStartMilliseconds: Double)
    /// A reading of pingmon's live status.
    case pingSample(PingSample)
    /// A domain event from one of the daemons.
    case event(EventRecord)
    /// A reading of memeater's progress.
    case memeater(MemeaterReading)
    /// The run waits for something slow it cannot hurry (libvirt's migration call after an
    /// abort): what, and how long at most; once a second, for people.
    case waiting(String)
    /// Everything the checks of one migration judged, recorded right after they were
    /// evaluated: the store keeps it, so that `migverify rejudge` can evaluate it again with
    /// the checks of a later version.
    case observation(Observation, leg: MigrationLeg)
    /// The run enters a phase; recorders that act at a phase (the tests leave things behind
    /// there) do it before the runner goes on.
    case phase(RunPhase)
}

/// The phases of a run, in order, as ``RunRecord/phase(_:)`` announces them.
public enum RunPhase: String, Sendable, Equatable {
    /// The guest is being prepared.
    case preparing
    /// The fault is about to be installed (memeater at its rate, the ping running).
    case installing
    /// The fault is in place; the migration call is about to start.
    case migrating
    /// The migration call returned and the fault was lifted; the guest's place and the hosts
    /// are about to be looked at.
    case lookingAtHosts
    /// The hosts were looked at; memeater in the guest is about to be asked.
    case lookingAtGuest
    /// memeater is paused; its whole region is about to be verified.
    case verifyingMemory
    /// The checks were made.
    case judged
}

/// Where a run's records go as they are produced: the results database, the terminal, a test.
///
/// ``begin(_:clock:)`` and ``finish(_:)`` are called on the runner's thread;
/// ``record(_:)`` from any thread (the job-stats sampler, the ping sampler, libvirt's event
/// loop), and it must never block them for long.
public protocol RunRecorder: Sendable {
    /// A run starts.
    func begin(_ parameters: ScenarioParameters, clock: RunClock)
    /// One record of the current run.
    func record(_ record: RunRecord)
    /// The run ended with `result` (its status says whether it completed); returns the result
    /// as this recorder recorded it: a store adds the run's id and sweep, and a failed
    /// `results-stored` check when it lost records. A recorder that stores nothing returns
    /// it as it is (the default).
    func finish(_ result: ScenarioResult) -> ScenarioResult
}

extension RunRecorder {
    /// Returns `result` as it is: nothing is stored.
    public func finish(_ result: ScenarioResult) -> ScenarioResult { result }
}

/// Hands every call to each of `recorders`, in order.
public struct FanOutRecorder: RunRecorder {
    public let recorders: [any RunRecorder]

    /// Creates a recorder that forwards to `recorders`.
    public init(_ recorders: [any RunRecorder]) { self.recorders = recorders }

    public func begin(_ parameters: ScenarioParameters, clock: RunClock) {
        for recorder in recorders { recorder.begin(parameters, clock: clock) }
    }

    public func record(_ record: RunRecord) {
        for recorder in recorders { recorder.record(record) }
    }

    /// Each recorder gets what the one before returned; returns what the last one returned.
    public func finish(_ result: ScenarioResult) -> ScenarioResult {
        recorders.reduce(result) { result, recorder in recorder.finish(result) }
    }
}

/// Keeps every record in memory (tests, and callers that want the series afterwards).
public final class MemoryRecorder: RunRecorder {
    private let state = Mutex<[RunRecord]>([])

    public init() {}

    /// Everything recorded so far, in order.
    public var records: [RunRecord] { state.withLock { $0 } }

    public func begin(_ parameters: ScenarioParameters, clock: RunClock) {}
    public func record(_ record: RunRecord) { state.withLock { $0.append(record) } }
}

/// Writes a run into a ``ResultsStore`` as it is produced. Records are written on a queue of
/// their own, so a slow disk never delays a sampler; a write that fails is kept and turns
/// into a failed `results-stored` check of the run (and so into the verdict and the exit
/// status), never a warning that scrolls by.
public final class StoreRecorder: RunRecorder {
    private struct State {
        var runID: Int64?
        /// Every failed write, counted.
        var failureCount = 0
        /// The first few of them, for the evidence.
        var failures: [String] = []
        var written = 0

        mutating func failed(_ reason: String) {
            failureCount += 1
            if failures.count < StoreRecorder.failuresKept { failures.append(reason) }
        }
    }

    /// The failed writes whose reasons are kept (all are counted).
    static let failuresKept = 2

    /// The database.
    public let store: ResultsStore
    private let queue = DispatchQueue(label: "migverify.store-recorder")
    private let state = Mutex(State())

    /// The sweep the runs are made for, if any.
    public let sweepID: String?

    /// The evacuation whose one guest the runs are, if any.
    public let evacuation: EvacuationMembership?

    /// Records into `store`, each run marked as made for `sweepID` (and as guest
    /// `evacuation.guestIndex` of `evacuation`).
    public init(store: ResultsStore, sweepID: String? = nil, evacuation: EvacuationMembership? = nil) {
        self.store = store
        self.sweepID = sweepID
        self.evacuation = evacuation
    }

    public func begin(_ parameters: ScenarioParameters, clock: RunClock) {
        queue.sync {
            state.withLock { $0 = State() }
            do {
                let id = try store.beginRun(parameters, startedAt: clock.startedAt, sweepID: sweepID, evacuation: evacuation)
                state.withLock { $0.runID = id }
            } catch {
                state.withLock { $0.failed("\(error)") }
            }
        }
    }

    public func record(_ record: RunRecord) {
        switch record {
        case .step, .waiting, .phase: return  // for people and tests; the database has the records
        default: break
        }
        queue.async { [self] in write(record) }
    }

    private func write(_ record: RunRecord) {
        guard let runID = state.withLock({ $0.runID }) else { return }
        do {
            switch record {
            case .step, .waiting, .phase: return
            case .jobSample(let sample, _): try store.add(sample, runID: runID)
            case .pingSample(let sample): try store.add(sample, runID: runID)
            case .event(let event): try store.add(event, runID: runID)
            case .memeater(let reading): try store.add(reading, runID: runID)
            case .observation(let observation, let leg): try store.add(observation, leg: leg, runID: runID)
            }
            state.withLock { $0.written += 1 }
        } catch {
            state.withLock { $0.failed(error.description) }
        }
    }

    /// Stores `result` as the run's (once every record of the run is written) and returns it
    /// as stored: with the run's id and sweep, and a failed `results-stored` check when a
    /// write failed.
    public func finish(_ result: ScenarioResult) -> ScenarioResult {
        queue.sync {}  // every record of the run is written (or has failed) before the result
        let runID = state.withLock { $0.runID }
        var stored = result
        stored.runID = runID
        stored.sweepID = sweepID
        if let runID {
            do { try store.finishRun(runID, result: stored) } catch { state.withLock { $0.failed(error.description) } }
        }
        let (failureCount, failures) = state.withLock { ($0.failureCount, $0.failures) }
        if failureCount > 0 {
            // Every lost write counted; the first reasons only, or the evidence would be pages long.
            stored.add(Check(name: CheckName.resultsStored, passed: false,
                             evidence: "\(failureCount) write(s) to \(store.path) failed: " + failures.joined(separator: "; ")
                                 + (failureCount > failures.count ? "; …" : "")))
            // The verdict changed: store it as it is now, if the database still takes it.
            if let runID { _ = try? store.finishRun(runID, result: stored) }
        }
        return stored
    }
}
