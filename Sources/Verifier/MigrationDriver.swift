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
        self.domain = domain
        self.target = options.mode == .peerToPeer ? .uri(destination.uri) : .connection(destination)
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
    /// Injects the fault; returns what it did, in one line.
    public var inject: @Sendable (any MigrationJob) -> String

    /// Creates a fault.
    public init(afterProcessedBytes: UInt64, inject: @escaping @Sendable (any MigrationJob) -> String) {
        self.afterProcessedBytes = max(1, afterProcessedBytes)
        self.inject = inject
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
    /// samples and moments are stamped on `clock`.
    public func run(_ job: any MigrationJob, clock: RunClock = RunClock(),
                    onSample: @escaping @Sendable (JobSample) -> Void = { _ in }) -> MigrationOutcome {
        let origin = monotonicNanoseconds()
        let callResult = Mutex<Result<Void, any Error>?>(nil)
        let callDone = DispatchSemaphore(value: 0)
        let postCopyAt = Mutex<Double?>(nil)
        let wantsPostCopy = switchToPostCopy
        let largestProcessedBytes = Mutex<UInt64>(0)
        let sampler = JobStatsSampler(intervalMilliseconds: sampleIntervalMilliseconds, read: { try job.stats() }) { sample in
            if wantsPostCopy, (sample.memoryIteration ?? 0) >= 2 {
                let first = postCopyAt.withLock { at -> Bool in
                    guard at == nil else { return false }
                    at = sample.offsetMilliseconds
                    return true
                }
                if first { try? job.startPostCopy() }
            }
            if let processed = sample.dataProcessedBytes {
                largestProcessedBytes.withLock { $0 = max($0, processed) }
            }
            onSample(sample)
        }
        let thread = Thread {
            let result = Result { try job.perform() }
            callResult.withLock { $0 = result }
            callDone.signal()
        }
        thread.name = "migverify-migrate"
        thread.stackSize = 4 << 20
        thread.start()
        sampler.start(originNanoseconds: clock.originNanoseconds)

        func elapsedMilliseconds() -> Double { Double(monotonicNanoseconds() - origin) / 1e6 }
        func clockNow() -> Double { clock.milliseconds() }
        var abortReason: String?
        var abortCause: AbortCause?
        var abortError: String?
        var abortedAt: Double?
        var faultAt: Double?
        var faultNote: String?
        while callDone.wait(timeout: .now() + .milliseconds(50)) == .timedOut {
            if let fault = midStreamFault, faultAt == nil,
               largestProcessedBytes.withLock({ $0 }) >= fault.afterProcessedBytes {
                faultAt = clockNow()
                faultNote = fault.inject(job)
            }
            let now = monotonicNanoseconds()
            let elapsedSeconds = Double(now - origin) / 1e9
            let lastProgress = sampler.lastProgressNanoseconds ?? origin
            let idleSeconds = Double(now - max(lastProgress, origin)) / 1e9
            if let reason = interruption?() {
                abortReason = reason
                abortCause = .interruption
            } else if elapsedSeconds >= timeoutSeconds {
                abortReason = "still running after the \(formatNumber(timeoutSeconds)) s timeout: it did not converge"
                abortCause = .timeout
            } else if idleSeconds >= stallTimeoutSeconds {
                abortCause = .stall
                abortReason = sampler.lastProgressNanoseconds == nil
                    ? "no data transferred in \(formatNumber(stallTimeoutSeconds)) s (stalled)"
                    : "transferred bytes did not grow for \(formatNumber(stallTimeoutSeconds)) s (stalled)"
            }
            if abortReason != nil {
                abortedAt = clockNow()
                do { try job.abort() } catch { abortError = "\(error)" }
                break
            }
        }
        var hung = false
        var stuck: (afterSeconds: Double, atMilliseconds: Double, action: String)?
        if abortReason != nil {
            let abortedNanoseconds = monotonicNanoseconds()
            // Waits up to `seconds` more for the call, telling onAbortWait once a second; true when it returned.
            func waitForCall(_ seconds: Double) -> Bool {
                let deadline = monotonicNanoseconds() + UInt64(max(0, seconds) * 1e9)
                while true {
                    let now = monotonicNanoseconds()
                    guard now < deadline else { return false }
                    let graceLeft = abortGraceSeconds - Double(now - abortedNanoseconds) / 1e9
                    onAbortWait?(abortWaitReason, max(0, Int(graceLeft.rounded(.up))))
                    let slice = min(1.0, Double(deadline - now) / 1e9)
                    if callDone.wait(timeout: .now() + slice) == .success { return true }
                }
            }
            if let stuckAfter = abortStuckAfterSeconds, let onAbortStuck, stuckAfter < abortGraceSeconds {
                if !waitForCall(stuckAfter) {
                    stuck = (stuckAfter, clockNow(), onAbortStuck())
                    hung = !waitForCall(abortGraceSeconds - stuckAfter)
                }
            } else {
                hung = !waitForCall(abortGraceSeconds)
            }
        }
        let wall = elapsedMilliseconds()
        let samples = sampler.stop()
        let failedReads = sampler.failedReads.count
        let result = callResult.withLock { $0 }
        if let fault = midStreamFault, faultAt == nil {
            faultNote = "not injected: the job never reported \(fault.afterProcessedBytes) bytes transferred before it ended"
                + " (largest data_processed seen: \(largestProcessedBytes.withLock { $0 }))"
        }
        let ending: MigrationEnding
        if let abortReason {
            if hung {
                ending = .hung(reason: abortReason, graceSeconds: abortGraceSeconds)
            } else if case .success? = result {
                ending = .completedDespiteAbort(reason: abortReason)
            } else {
                let callError = result.flatMap { result -> String? in
                    if case .failure(let error) = result { return Self.message(error) } else { return nil }
                }
                ending = .aborted(reason: abortReason, callError: callError, abortError: abortError)
            }
        } else {
            switch result {
            case .success?, nil: ending = .completed
            case .failure(let error)?:
                ending = .failed(message: Self.message(error), kind: (error as? LibvirtError)?.kind)
            }
        }
        let abortNote = stuck.map { stuck in
            "the call had not returned \(formatNumber(stuck.afterSeconds)) s after the abort; at \(formatNumber(stuck.atMilliseconds)) ms: \(stuck.action); "
                + (hung ? "it still had not returned" : "it returned at \(formatNumber(clockNow())) ms")
        }
        return MigrationOutcome(ending: ending, startedAtMilliseconds: clock.milliseconds(at: origin), wallMilliseconds: wall,
                                samples: samples, failedSampleReads: failedReads, abortedAtMilliseconds: abortedAt,
                                postCopyStartedAtMilliseconds: postCopyAt.withLock { $0 }, abortNote: abortNote,
                                faultInjectedAtMilliseconds: faultAt, faultNote: faultNote, abortCause: abortCause)
    }

    static func message(_ error: any Error) -> String {
        if let libvirt = error as? LibvirtError { return libvirt.description }
        return "\(error)"
    }
}
