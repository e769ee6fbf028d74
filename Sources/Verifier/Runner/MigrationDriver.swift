import Foundation
import Libvirt
import MigrationModel
import Synchronization

/// A migration the driver can run, watch and abort. ``LibvirtMigration`` is the real one;
/// tests use fakes.
public protocol MigrationJob: Sendable {
    /// Runs the migration; blocks until it ends; throws libvirt's error when it fails.
    func perform() throws
    /// Asks libvirt to abort the running job.
    func abort() throws
    /// The running job's stats.
    func stats() throws -> JobStats
    /// Switches the running migration to post-copy.
    func startPostCopy() throws
}

/// A migration of `domain` over the libvirt API: peer-to-peer to a URI
/// (`virDomainMigrateToURI3`) or managed direct to a connection (`virDomainMigrate3`).
public struct LibvirtMigration: MigrationJob {
    /// Where to: a destination URI for peer-to-peer, a connection for direct.
    public enum Target: Sendable {
        /// Peer-to-peer: the destination daemon's URI (`virDomainMigrateToURI3`).
        case uri(String)
        /// Managed direct: an open connection to the destination (`virDomainMigrate3`).
        case connection(Connection)
    }

    public let domain: Domain
    public let target: Target
    public let parameters: MigrationParameters
    public let flags: MigrationFlags

    /// Creates the job from verifier options (`migrationURI` overrides where QEMU sends
    /// the memory; the prepare-fail scenario gives a bogus one).
    public init(domain: Domain, destination: Connection, options: MigrationOptions, migrationURI: String? = nil) {
        self.init(domain: domain, target: options.mode == .peerToPeer ? .uri(destination.uri) : .connection(destination),
                  options: options, migrationURI: migrationURI)
    }

    /// Creates the job to `target`.
    public init(domain: Domain, target: Target, options: MigrationOptions, migrationURI: String? = nil) {
        self.domain = domain
        self.target = target
        self.parameters = options.libvirtParameters(migrationURI: migrationURI)
        self.flags = options.libvirtFlags
    }

    public func perform() throws {
        switch target {
        case .uri(let uri): try domain.migrate(toURI: uri, parameters: parameters, flags: flags)
        case .connection(let connection): _ = try domain.migrate(to: connection, parameters: parameters, flags: flags)
        }
    }

    public func abort() throws { try domain.abortJob() }
    public func stats() throws -> JobStats { try domain.jobStats() }
    public func startPostCopy() throws { try domain.startPostCopy() }
}

/// How a migration run by ``MigrationDriver`` ended.
public enum MigrationEnding: Sendable, Equatable, Codable {
    /// The migration call returned success.
    case completed
    /// The migration call failed by itself; libvirt's message.
    case failed(message: String, kind: LibvirtError.Kind?)
    /// The verifier aborted it (timeout or stall); `reason` says which, `callError` is the
    /// migration call's error after the abort, `abortError` the abort call's error if any.
    case aborted(reason: String, callError: String?, abortError: String?)
    /// The verifier aborted it but the migration call did not return within the grace time.
    case hung(reason: String, graceSeconds: Double)
    /// The verifier wanted to abort but the migration completed anyway at the same moment.
    case completedDespiteAbort(reason: String)

    /// Whether the guest was migrated.
    public var migrated: Bool {
        switch self {
        case .completed, .completedDespiteAbort: return true
        default: return false
        }
    }

    /// libvirt's message for a failed or aborted migration.
    public var libvirtMessage: String? {
        switch self {
        case .failed(let message, _): return message
        case .aborted(_, let callError, _): return callError
        default: return nil
        }
    }

    /// One line.
    public var summary: String {
        switch self {
        case .completed: return "completed"
        case .failed(let message, _): return "failed: \(message)"
        case .aborted(let reason, let callError, let abortError):
            return "aborted by the verifier (\(reason)); the call then returned: \(callError ?? "success")"
                + (abortError.map { "; abort call: \($0)" } ?? "")
        case .hung(let reason, let grace):
            return "aborted by the verifier (\(reason)) but the migration call had not returned \(formatNumber(grace)) s later"
        case .completedDespiteAbort(let reason):
            return "completed while being aborted (\(reason))"
        }
    }
}

/// What the driver saw of one migration.
public struct MigrationOutcome: Sendable, Equatable, Codable {
    public var ending: MigrationEnding
    /// When the migration call started, ms on the run clock.
    public var startedAtMilliseconds: Double = 0
    /// Wall time of the migration call by the verifier's monotonic clock, ms (until the
    /// call returned, or until the driver gave up waiting).
    public var wallMilliseconds: Double
    /// Job-stats samples taken while it ran.
    public var samples: [JobSample]
    /// Job-stats reads that failed (normal just before the job starts and after it ends).
    public var failedSampleReads: Int
    /// When the verifier aborted, ms on the run clock.
    public var abortedAtMilliseconds: Double?
    /// When the driver switched to post-copy, ms on the run clock.
    public var postCopyStartedAtMilliseconds: Double?
    /// What happened when the abort did not take effect at once (``MigrationDriver/onAbortStuck``).
    public var abortNote: String? = nil
    /// When the mid-stream fault (``MigrationDriver/midStreamFault``) was injected, ms on the run clock.
    public var faultInjectedAtMilliseconds: Double? = nil
    /// What the mid-stream fault's action reported (or why it was never injected).
    public var faultNote: String? = nil
    /// Why the verifier aborted the job, when it did.
    public var abortCause: AbortCause? = nil
    /// The errors the source's libvirt daemon logged during a migration that did not
    /// complete, read by the scenario runner (`nil`: not looked; a failure says why not).
    public var sourceDaemonErrors: Result<DaemonLogErrors, DaemonLogUnavailable>? = nil

    /// The verifier's timeout ended a job that was still copying: it did not converge.
    public var didNotConverge: Bool { abortCause == .timeout && !ending.migrated }
}

/// Why the verifier aborted a migration job.
public enum AbortCause: String, Sendable, Equatable, Codable {
    /// Still running at the overall timeout: the guest dirtied faster than the copy.
    case timeout
    /// Nothing new was transferred for the stall timeout (e.g. a firewall dropping the stream).
    case stall
    /// SIGINT/SIGTERM.
    case interruption
}

/// A fault the driver injects once the migration is transferring: when a job-stats sample
/// shows at least ``afterProcessedBytes`` transferred, ``inject`` runs once on the driver's
/// thread (it gets the job, so it can abort it) and returns a line for the report.
public struct MidStreamFault: Sendable {
    /// Bytes of `data_processed` after which the fault is injected (at least 1: the job is
    /// really transferring, past Prepare).
    public var afterProcessedBytes: UInt64
    /// When set, the fault also waits for the driver's switch to post-copy and this long after
    /// it, ms (QEMU needs a moment to go from the request to `postcopy-active`).
    public var afterPostCopySwitchMilliseconds: Double?
    /// Injects the fault; returns what it did, in one line.
    public var inject: @Sendable (any MigrationJob) -> String

    /// Creates a fault.
    public init(afterProcessedBytes: UInt64, afterPostCopySwitchMilliseconds: Double? = nil,
                inject: @escaping @Sendable (any MigrationJob) -> String) {
        self.afterProcessedBytes = max(1, afterProcessedBytes)
        self.afterPostCopySwitchMilliseconds = afterPostCopySwitchMilliseconds
        self.inject = inject
    }

    /// Whether the fault is due: enough transferred, and post-copy running long enough when
    /// it waits for it (`switchedAt`: when the driver switched, run clock; `now` likewise).
    func isDue(processedBytes: UInt64, switchedAt: Double?, now: Double) -> Bool {
        guard processedBytes >= afterProcessedBytes else { return false }
        guard let wait = afterPostCopySwitchMilliseconds else { return true }
        guard let switchedAt else { return false }
        return now - switchedAt >= wait
    }
}

/// Runs a migration on a thread of its own while a ``JobStatsSampler`` reads its progress,
/// and aborts it when it runs longer than the overall timeout or transfers nothing for the
/// stall timeout (a migration whose packets a firewall drops stalls silently).
public struct MigrationDriver: Sendable {
    /// The job is aborted when still running after this long.
    public var timeoutSeconds: Double
    /// The job is aborted when its transferred byte count has not grown for this long.
    public var stallTimeoutSeconds: Double
    /// Time between job-stats reads, ms.
    public var sampleIntervalMilliseconds: Double
    /// After an abort, how long to wait for the migration call to return.
    public var abortGraceSeconds: Double
    /// Switch to post-copy once the first pass is done (needs ``MigrationFlags/postCopy``).
    public var switchToPostCopy: Bool
    /// When the migration call has not returned this many seconds after the abort, run
    /// ``onAbortStuck`` (e.g. lift the injected fault so the blocked connection attempt
    /// ends and libvirt can act on the abort). `nil`: just wait the grace time.
    public var abortStuckAfterSeconds: Double?
    /// What to do when the abort is stuck; returns a line for the report.
    public var onAbortStuck: (@Sendable () -> String)?
    /// What the wait after an abort is for, said while waiting (e.g. the source kernel's
    /// TCP connect timeout, which no libvirt call can cut short).
    public var abortWaitReason = "libvirt's migration call to return after the abort"
    /// Told once a second while waiting after an abort: what for, and the seconds left of
    /// ``abortGraceSeconds`` (so a progress line counts down instead of freezing).
    public var onAbortWait: (@Sendable (_ reason: String, _ secondsLeft: Int) -> Void)?
    /// A fault to inject once the job is transferring (abort, link cut, killed QEMU).
    public var midStreamFault: MidStreamFault?
    /// Asked every 50 ms while the job runs: a reason (e.g. "interrupted by SIGINT") aborts
    /// the job like a timeout does.
    public var interruption: (@Sendable () -> String?)?

    /// Creates a driver.
    public init(timeoutSeconds: Double, stallTimeoutSeconds: Double, sampleIntervalMilliseconds: Double = 100,
                abortGraceSeconds: Double = 60, switchToPostCopy: Bool = false,
                abortStuckAfterSeconds: Double? = nil, onAbortStuck: (@Sendable () -> String)? = nil) {
        self.abortStuckAfterSeconds = abortStuckAfterSeconds
        self.onAbortStuck = onAbortStuck
        self.timeoutSeconds = timeoutSeconds
        self.stallTimeoutSeconds = stallTimeoutSeconds
        self.sampleIntervalMilliseconds = sampleIntervalMilliseconds
        self.abortGraceSeconds = abortGraceSeconds
        self.switchToPostCopy = switchToPostCopy
    }

    /// Runs `job` to its end. `onSample` gets every job-stats sample (on the sampler thread);
    /// samples and moments are stamped on `clock`, the run's one clock (no default: a clock
    /// of its own would put the migration on another timeline than the rest of the run).
    public func run(_ job: any MigrationJob, clock: RunClock,
                    onSample: @escaping @Sendable (JobSample) -> Void = { _ in }) -> MigrationOutcome {
        let running = RunningMigration(job: job, clock: clock, sampleIntervalMilliseconds: sampleIntervalMilliseconds,
                                       switchToPostCopy: switchToPostCopy, onSample: onSample)
        running.start()
        let watched = watchUntilTheCallReturnsOrIsAborted(running)
        let afterAbort = watched.abort.map { _ in waitForTheCallAfterAbort(running) }
        return outcome(of: running, watched: watched, afterAbort: afterAbort)
    }

    static func message(_ error: any Error) -> String {
        if let libvirt = error as? LibvirtError { return libvirt.description }
        return "\(error)"
    }
}

// MARK: - one run of the driver

/// What the sampler thread tells the driver's thread: when the driver switched the job to
/// post-copy, and the most bytes any sample showed transferred (the mid-stream fault waits
/// for it).
private final class SampledProgress: Sendable {
    private let postCopyStartedAt = Mutex<Double?>(nil)
    private let largestProcessed = Mutex<UInt64>(0)

    /// When the driver switched to post-copy, ms on the run clock.
    var postCopyStartedAtMilliseconds: Double? { postCopyStartedAt.withLock { $0 } }
    /// The largest `data_processed` seen so far.
    var largestProcessedBytes: UInt64 { largestProcessed.withLock { $0 } }

    /// True for the first sample past the first pass (`memory_iteration` ≥ 2), whose time
    /// becomes the post-copy switch's: the switch is asked for once, not on every sample.
    func claimPostCopySwitch(at sample: JobSample) -> Bool {
        guard (sample.memoryIteration ?? 0) >= 2 else { return false }
        return postCopyStartedAt.withLock { startedAt -> Bool in
            guard startedAt == nil else { return false }
            startedAt = sample.offsetMilliseconds
            return true
        }
    }

    /// Keeps the sample's transferred bytes when they are the most so far.
    func noteProcessedBytes(of sample: JobSample) {
        guard let processed = sample.dataProcessedBytes else { return }
        largestProcessed.withLock { $0 = max($0, processed) }
    }
}

/// One call of ``MigrationDriver/run(_:clock:onSample:)``: the migration call on a thread of
/// its own, the job-stats sampler, and what the call returned.
private final class RunningMigration: Sendable {
    let job: any MigrationJob
    let clock: RunClock
    /// Monotonic time the run started: the overall and stall timeouts and the wall time count from it.
    let originNanoseconds: UInt64
    let progress: SampledProgress
    let sampler: JobStatsSampler
    private let callResult = Mutex<Result<Void, any Error>?>(nil)
    private let callReturned = DispatchSemaphore(value: 0)

    init(job: any MigrationJob, clock: RunClock, sampleIntervalMilliseconds: Double, switchToPostCopy: Bool,
         onSample: @escaping @Sendable (JobSample) -> Void) {
        self.job = job
        self.clock = clock
        originNanoseconds = monotonicNanoseconds()
        let progress = SampledProgress()
        self.progress = progress
        sampler = JobStatsSampler(intervalMilliseconds: sampleIntervalMilliseconds, read: { try job.stats() }) { sample in
            // A refused switch leaves the job copying in pre-copy, which its samples show; the
            // moment stays recorded as the one the switch was asked for.
            if switchToPostCopy, progress.claimPostCopySwitch(at: sample) { try? job.startPostCopy() }
            progress.noteProcessedBytes(of: sample)
            onSample(sample)
        }
    }

    /// Starts the migration call on its own thread (it blocks until the migration ends)
    /// and the sampler.
    func start() {
        let thread = Thread { [self] in
            let result = Result { try job.perform() }
            callResult.withLock { $0 = result }
            callReturned.signal()
        }
        thread.name = "migverify-migrate"
        thread.stackSize = 4 << 20
        thread.start()
        sampler.start(originNanoseconds: clock.originNanoseconds)
    }

    /// Waits up to `seconds` for the migration call to return; true when it did (told once:
    /// a later wait does not see the same return again).
    func waitForTheCall(seconds: Double) -> Bool {
        callReturned.wait(timeout: .now() + seconds) == .success
    }

    /// What the migration call returned; `nil` while it runs.
    var returned: Result<Void, any Error>? { callResult.withLock { $0 } }

    /// Milliseconds since the run started, by the monotonic clock.
    func elapsedMilliseconds() -> Double { Double(monotonicNanoseconds() - originNanoseconds) / 1e6 }
}

/// The verifier's abort of a job: why, when, and what the abort call said.
private struct DriverAbort {
    var reason: String
    var cause: AbortCause
    /// When the abort was asked for, ms on the run clock.
    var atMilliseconds: Double = 0
    /// The abort call's own error, if it failed.
    var abortCallError: String?
}

/// What the driver did while the migration call ran.
private struct WatchedMigration {
    /// When the mid-stream fault was injected, ms on the run clock, and what it reported.
    var faultInjection: (atMilliseconds: Double, note: String)?
    /// The verifier's abort, when it aborted.
    var abort: DriverAbort?
}

/// How the wait for the migration call after an abort went.
private struct WaitAfterAbort {
    /// The call had not returned at the end of the grace time.
    var hung: Bool
    /// The stuck-abort action, when the call had not returned after ``MigrationDriver/abortStuckAfterSeconds``.
    var stuck: (afterSeconds: Double, atMilliseconds: Double, action: String)?
}

extension MigrationDriver {
    /// Polls every 50 ms until the migration call returns, injecting the mid-stream fault
    /// once it is due; aborts the job at the first reason to (interruption, timeout, stall).
    private func watchUntilTheCallReturnsOrIsAborted(_ running: RunningMigration) -> WatchedMigration {
        var watched = WatchedMigration()
        while !running.waitForTheCall(seconds: 0.05) {
            if watched.faultInjection == nil, let fault = midStreamFault,
               fault.isDue(processedBytes: running.progress.largestProcessedBytes, switchedAt: running.progress.postCopyStartedAtMilliseconds,
                           now: running.clock.milliseconds()) {
                let injectedAt = running.clock.milliseconds()
                watched.faultInjection = (injectedAt, fault.inject(running.job))
            }
            guard var abort = reasonToAbort(running) else { continue }
            abort.atMilliseconds = running.clock.milliseconds()
            do { try running.job.abort() } catch { abort.abortCallError = "\(error)" }
            watched.abort = abort
            break
        }
        return watched
    }

    /// Why the job should be aborted now, if it should: an interruption first, then the
    /// overall timeout, then the stall timeout.
    private func reasonToAbort(_ running: RunningMigration) -> DriverAbort? {
        // Read before `now`: a progress time read after it could be later than `now`, and the
        // unsigned subtraction below would trap.
        let lastProgress = running.sampler.lastProgressNanoseconds
        let now = monotonicNanoseconds()
        let elapsedSeconds = Double(now - running.originNanoseconds) / 1e9
        let idleSeconds = Double(now - max(lastProgress ?? running.originNanoseconds, running.originNanoseconds)) / 1e9
        if let reason = interruption?() {
            return DriverAbort(reason: reason, cause: .interruption)
        }
        if elapsedSeconds >= timeoutSeconds {
            return DriverAbort(reason: "still running after the \(formatNumber(timeoutSeconds)) s timeout: it did not converge",
                               cause: .timeout)
        }
        if idleSeconds >= stallTimeoutSeconds {
            let reason = lastProgress == nil
                ? "no data transferred in \(formatNumber(stallTimeoutSeconds)) s (stalled)"
                : "transferred bytes did not grow for \(formatNumber(stallTimeoutSeconds)) s (stalled)"
            return DriverAbort(reason: reason, cause: .stall)
        }
        return nil
    }

    /// Waits up to ``abortGraceSeconds`` for the aborted call to return; when it has not
    /// returned after ``abortStuckAfterSeconds``, runs ``onAbortStuck`` and waits the rest.
    private func waitForTheCallAfterAbort(_ running: RunningMigration) -> WaitAfterAbort {
        let abortedNanoseconds = monotonicNanoseconds()
        func returned(within seconds: Double) -> Bool {
            waitForTheCall(running, seconds: seconds, abortedNanoseconds: abortedNanoseconds)
        }
        guard let stuckAfter = abortStuckAfterSeconds, let onAbortStuck, stuckAfter < abortGraceSeconds else {
            return WaitAfterAbort(hung: !returned(within: abortGraceSeconds))
        }
        if returned(within: stuckAfter) { return WaitAfterAbort(hung: false) }
        let stuckAt = running.clock.milliseconds()
        let action = onAbortStuck()
        return WaitAfterAbort(hung: !returned(within: abortGraceSeconds - stuckAfter),
                              stuck: (afterSeconds: stuckAfter, atMilliseconds: stuckAt, action: action))
    }

    /// Waits up to `seconds` more for the aborted call, telling ``onAbortWait`` once a second
    /// what for and how much of the grace time is left; true when the call returned.
    private func waitForTheCall(_ running: RunningMigration, seconds: Double, abortedNanoseconds: UInt64) -> Bool {
        let deadline = monotonicNanoseconds() + UInt64(max(0, seconds) * 1e9)
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else { return false }
            let graceLeft = abortGraceSeconds - Double(now - abortedNanoseconds) / 1e9
            onAbortWait?(abortWaitReason, max(0, Int(graceLeft.rounded(.up))))
            if running.waitForTheCall(seconds: min(1.0, Double(deadline - now) / 1e9)) { return true }
        }
    }

    /// Stops the sampler and assembles what the driver saw.
    private func outcome(of running: RunningMigration, watched: WatchedMigration,
                         afterAbort: WaitAfterAbort?) -> MigrationOutcome {
        let wall = running.elapsedMilliseconds()
        let samples = running.sampler.stop()
        let failedReads = running.sampler.failedReads.count
        let hung = afterAbort?.hung ?? false
        let ending = Self.ending(returned: running.returned, abort: watched.abort, hung: hung,
                                 graceSeconds: abortGraceSeconds)
        let faultNote = watched.faultInjection?.note ?? midStreamFault.map { fault in
            (fault.afterPostCopySwitchMilliseconds == nil || running.progress.postCopyStartedAtMilliseconds != nil
                ? "not injected: the job never reported \(fault.afterProcessedBytes) bytes transferred before it ended"
                : "not injected: the migration never switched to post-copy before it ended")
                + " (largest data_processed seen: \(running.progress.largestProcessedBytes))"
        }
        let abortNote = afterAbort?.stuck.map { stuck in
            "the call had not returned \(formatNumber(stuck.afterSeconds)) s after the abort; at \(formatNumber(stuck.atMilliseconds)) ms: \(stuck.action); "
                + (hung ? "it still had not returned" : "it returned at \(formatNumber(running.clock.milliseconds())) ms")
        }
        return MigrationOutcome(ending: ending, startedAtMilliseconds: running.clock.milliseconds(at: running.originNanoseconds),
                                wallMilliseconds: wall, samples: samples, failedSampleReads: failedReads,
                                abortedAtMilliseconds: watched.abort?.atMilliseconds,
                                postCopyStartedAtMilliseconds: running.progress.postCopyStartedAtMilliseconds,
                                abortNote: abortNote, faultInjectedAtMilliseconds: watched.faultInjection?.atMilliseconds,
                                faultNote: faultNote, abortCause: watched.abort?.cause)
    }

    /// How the migration ended, from what the call returned (`nil`: it had not) and the
    /// verifier's abort, if any.
    private static func ending(returned: Result<Void, any Error>?, abort: DriverAbort?, hung: Bool,
                               graceSeconds: Double) -> MigrationEnding {
        guard let abort else {
            switch returned {
            case .success?, nil: return .completed
            case .failure(let error)?: return .failed(message: message(error), kind: (error as? LibvirtError)?.kind)
            }
        }
        if hung { return .hung(reason: abort.reason, graceSeconds: graceSeconds) }
        switch returned {
        case .success?: return .completedDespiteAbort(reason: abort.reason)
        case .failure(let error)?: return .aborted(reason: abort.reason, callError: message(error), abortError: abort.abortCallError)
        case nil: return .aborted(reason: abort.reason, callError: nil, abortError: abort.abortCallError)
        }
    }
}
