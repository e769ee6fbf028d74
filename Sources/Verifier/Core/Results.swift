import Foundation
import MemeaterKit
import MigrationModel
import SweepReport

/// One expectation of a scenario, checked: PASS only after the verifier looked, with what
/// it saw as evidence. A check that could not look FAILs and says why.
public struct Check: Codable, Sendable, Equatable {
    /// Stable name, e.g. `guest-on-destination`, `memory-integrity`.
    public var name: String
    /// Whether the expectation held.
    public var passed: Bool
    /// What was looked at and what was found, in one line.
    public var evidence: String

    /// Creates a check result.
    public init(name: String, passed: Bool, evidence: String) {
        self.name = name
        self.passed = passed
        self.evidence = evidence
    }

    /// A check that could not be made: it fails, and the evidence says what was missing.
    public static func notMeasured(_ name: String, because reason: String) -> Check {
        Check(name: name, passed: false, evidence: "not measured: \(reason)")
    }
}

/// The names of the checks, shared by the scenarios, the JUnit output and the tests.
public enum CheckName {
    /// live: the migration call succeeded; failure scenarios: it failed, with libvirt's message.
    public static let migrationOutcome = "migration-outcome"
    /// live: the guest runs on the destination.
    public static let guestOnDestination = "guest-on-destination"
    /// live: the source no longer runs it (gone, or shut off with reason "migrated").
    public static let sourceReleased = "source-released"
    /// live: no QEMU process or tap is left for the guest on the source host.
    public static let sourceHostClean = "source-host-clean"
    /// failure scenarios: the guest still runs (not paused) on the source.
    public static let guestOnSource = "guest-on-source"
    /// failure scenarios: the destination has no domain, no QEMU process, no tap.
    public static let destinationHostClean = "destination-host-clean"
    /// postcopy-dst-qemu-killed: the source holds the guest paused (post-copy failed) and
    /// never resumed it after the destination's QEMU died.
    public static let sourceNotResumed = "source-not-resumed"
    /// Scenarios that lose the guest: it runs on neither host, and stopped answering.
    public static let guestLost = "guest-lost"
    /// failure scenarios: the source QEMU's migration capabilities and parameters are as
    /// they were before the migration.
    public static let migrationSettingsRestored = "migration-settings-restored"
    /// failure scenarios: nothing listens on the destination's migration ports.
    public static let migrationPortFree = "migration-port-free"
    /// Ping continuity (losses and longest gap, from pingmon).
    public static let pingContinuity = "ping-continuity"
    /// memeater verified every page: zero stale pages.
    public static let memoryIntegrity = "memory-integrity"
    /// The guest did not reboot (same boot id, uptime grew).
    public static let noReboot = "no-reboot"
    /// memeater's control connection survived the move (or was re-established).
    public static let controlConnection = "control-connection"
    /// The guest's console shows no kernel panic, Oops or BUG.
    public static let guestConsole = "guest-console"
    /// dst-already-active: the domain that already ran on the destination is the same
    /// domain afterwards (UUID, id, QEMU process) and still running.
    public static let destinationDomainUntouched = "destination-domain-untouched"
    /// live: the landing judged on three signals together — memeater's integrity check,
    /// the console (panic, Oops, BUG), and whether the guest still answers at the end.
    public static let landingIntact = "landing-intact"
    /// Every scenario: the guest never ran on both hosts at once. Both daemons' domain state
    /// was sampled from just before the migration call until the hosts were looked at after
    /// it, and the ping capture has no duplicate replies (two running copies both answer).
    public static let noDualRunning = "no-dual-running"
    /// Runs that ask for TLS (`VIR_MIGRATE_TLS`): the destination's migration ports, captured
    /// during the call, saw at least one connection carrying data, each began with a TLS
    /// handshake, and none with QEMU's stream in clear (`QEVM`, the multifd magic).
    public static let streamEncrypted = "stream-encrypted"
    /// A run with a bandwidth limit that moved data: the transfer rate during pre-copy (from
    /// the job-stats samples, not the switch-over) stayed within the limit + 10 % + 1 MiB/s.
    public static let bandwidthHonoured = "bandwidth-honoured"
    /// A landed run with libvirt's downtime: the guest's own clock did not stand still much
    /// longer than that downtime (memeater's clock against the run clock around the call).
    public static let guestFreeze = "guest-freeze"
    /// A fault the verifier injected was removed afterwards (rule deleted, link restored,
    /// stand-in domain destroyed).
    public static let faultRemoved = "fault-removed"
    /// failure scenarios: the scenario's fault acted while the job ran, and the migration
    /// failed with the error that fault causes (not for another reason).
    public static let faultActed = "fault-acted"
    /// Every record of the run reached the results database.
    public static let resultsStored = "results-stored"
    /// The run could not be set up (the error says why); never reused.
    public static let setup = "setup"
    /// SIGINT or SIGTERM stopped the run; never reused.
    public static let interrupted = "interrupted"
}

/// How a run ended: only a completed run is a result that a later run may reuse.
public enum RunStatus: String, Codable, Sendable, Equatable, DefaultWhenAbsent {
    /// Stored only: the run has begun and its result is not stored yet (a result never has
    /// it; a later open of the database finds a run still `running` and marks it interrupted).
    case running
    /// Every step ran and the checks were made (they may have failed).
    case completed
    /// The run could not be set up: no result.
    case setupFailed = "setup-failed"
    /// SIGINT/SIGTERM (or a crash) stopped it: no result.
    case interrupted

    /// Results stored before runs could end otherwise were completed.
    public static let valueWhenAbsent = RunStatus.completed
}

/// Which way a migration went between the hosts as configured.
public enum MigrationDirection: String, Codable, Sendable, Equatable {
    /// Source → destination as configured.
    case forward
    /// Destination → source: a sweep migrated the guest back from where the previous cell left it.
    case reverse
}

/// The figures of a result that say how they were obtained (``ScenarioResult/figureSources``
/// is keyed by these names in the JSON).
public enum Figure: String, CaseIterable, Sendable {
    /// ``ScenarioResult/accel``: the accelerator, `kvm` or `tcg`.
    case accel
    /// ``ScenarioResult/qemuVersion``: the source's QEMU version.
    case qemuVersion
    /// ``ScenarioResult/libvirtVersion``: the source daemon's libvirt version.
    case libvirtVersion
    /// ``ScenarioResult/migrationMilliseconds``: total migration time.
    case migrationMilliseconds
    /// ``ScenarioResult/libvirtDowntimeMilliseconds``: downtime from libvirt's job stats.
    case libvirtDowntimeMilliseconds
    /// ``ScenarioResult/setupMilliseconds``: setup time from libvirt's job stats.
    case setupMilliseconds
    /// ``RunFigures/guestDirtyRatePreCopyMiBPerSecond``: the guest's rate during the pre-copy passes.
    case guestDirtyRatePreCopyMiBPerSecond
    /// ``RunFigures/guestAnswerDelayMilliseconds``: the guest's delay to answer probes at the destination.
    case guestAnswerDelayMilliseconds
    /// ``ScenarioResult/transferredBytes``: bytes transferred by the migration.
    case transferredBytes
    /// ``ScenarioResult/iterations``: memory copy passes.
    case iterations
    /// ``ScenarioResult/pingDowntimeMilliseconds``: longest gap between pingmon's replies.
    case pingDowntimeMilliseconds
    /// ``ScenarioResult/pingLost``: pingmon probes that got no reply.
    case pingLost
    /// ``ScenarioResult/integrityErrors``: stale or foreign pages memeater found.
    case integrityErrors
    /// ``ScenarioResult/achievedDirtyRateMiBPerSecond``: memeater's achieved dirty rate.
    case achievedDirtyRateMiBPerSecond
    /// ``ScenarioResult/libvirtDirtyRateMiBPerSecond``: QEMU's dirty rate as libvirt reported it.
    case libvirtDirtyRateMiBPerSecond
    /// ``ScenarioResult/maxStallMicroseconds``: longest stall a memeater worker saw.
    case maxStallMicroseconds
    /// ``ScenarioResult/maxStallMicrosecondsPerThread``: each memeater worker's longest stall.
    case maxStallMicrosecondsPerThread
}

/// A figure measured two ways, side by side (e.g. downtime from ping and from libvirt).
public struct CrossCheck: Codable, Sendable, Equatable {
    /// What is compared, e.g. `downtime (ms)`.
    public var figure: String
    /// The verifier's own measurement, if made.
    public var ours: Double?
    /// How ours was obtained.
    public var oursSource: String
    /// libvirt's / QEMU's figure, if reported.
    public var libvirt: Double?
    /// How libvirt's was obtained.
    public var libvirtSource: String
    /// What the comparison can and cannot show.
    public var note: String

    /// Creates a row.
    public init(figure: String, ours: Double?, oursSource: String, libvirt: Double?, libvirtSource: String, note: String) {
        self.figure = figure
        self.ours = ours
        self.oursSource = oursSource
        self.libvirt = libvirt
        self.libvirtSource = libvirtSource
        self.note = note
    }
}

/// Whether a migration that was meant to land converged.
public enum Convergence: String, Codable, Sendable, Equatable {
    /// It completed.
    case converged
    /// The verifier's timeout aborted it while it was still copying: the guest dirtied
    /// memory faster than it could be sent. In a sweep this is a result, not an error.
    case didNotConverge = "did-not-converge"
    /// It failed for another reason (a fault, a stall, an error).
    case failed
}

/// What the analysis of a sweep reads from a run beyond its verdict: how far the copy got,
/// how fast it went, the pieces of the downtime on the run's clock, QEMU's own dirty-rate
/// estimate and what the run cost around the migration.
public struct MigrationFigures: Codable, Sendable, Equatable, DefaultWhenAbsent {
    /// `forward` (source → destination as configured) or `reverse` (a sweep migrated the
    /// guest back from where the previous cell left it).
    public var direction: MigrationDirection = .forward
    /// Whether the migration converged (`nil`: no migration was expected to land).
    public var convergence: Convergence?
    /// Passes over memory (libvirt's `memory_iteration`, last reading).
    public var passes: Int?
    /// Bytes libvirt still had to send at the last reading (a migration that did not converge).
    public var remainingBytesAtEnd: UInt64?
    /// The median of libvirt's `memory_bps` over the migration, in MiB/s: the transfer rate R.
    public var transferRateMiBPerSecond: Double?
    /// When the migration call started and returned, ms on the run clock.
    public var migrationStartOffsetMilliseconds: Double?
    public var migrationEndOffsetMilliseconds: Double?
    /// When a mid-stream fault acted and when the verifier aborted the job, ms on the run clock.
    public var faultOffsetMilliseconds: Double?
    public var abortOffsetMilliseconds: Double?
    /// The migration call's wall time, ms (0: no call was made).
    public var migrationCallMilliseconds: Double = 0
    /// Post-copy: when the driver asked for the switch, ms on the run clock (`nil`: no switch).
    public var postCopySwitchOffsetMilliseconds: Double?
    /// Post-copy: from the switch until the migration call returned, ms.
    public var postCopyMilliseconds: Double?
    /// Post-copy: pages the destination fetched from the source on demand (completed job
    /// stats `memory_postcopy_requests`).
    public var postCopyRequests: UInt64?
    /// The longest ping gap's bounds (pingmon), ms, and where it started on the run clock.
    public var pingGapLowerBoundMilliseconds: Double?
    public var pingGapUpperBoundMilliseconds: Double?
    public var pingGapStartOffsetMilliseconds: Double?
    /// Probes that gap's outage held and answered only after it (late; they bound the outage
    /// like lost ones: a paused guest answers its queue when it resumes).
    public var pingGapLateProbes: Int?
    /// Every gap between replies over pingmon's threshold: start on the run clock and length, ms.
    public var pingGaps: [TimedSpan] = []
    /// The guest's RARP/GARP announce frames, ms on the run clock.
    public var announceOffsetsMilliseconds: [Double] = []
    /// libvirt's lifecycle events of the switch-over on the run clock (``GuestPauseEvents``):
    /// the source's `suspended` and the destination's `resumed`, ms (`nil`: not seen).
    public var sourceSuspendedOffsetMilliseconds: Double?
    public var destinationResumedOffsetMilliseconds: Double?
    /// The probe interval, µs (a gap exceeds the outage by up to one interval).
    public var probeIntervalMicroseconds: Double?
    /// pingmon's unbiased estimate of the outage behind the longest gap (the midpoint of its
    /// bounds; 0 when no probe was lost or held), ms.
    public var pingDowntimeEstimateMilliseconds: Double?
    /// The run's ping capture (`--save-captures`), which `pingmon analyze` reads again.
    public var pingCapturePath: String?
    /// The capture of the destination's migration ports during the migration call
    /// (`--save-captures`; pcap, Linux cooked headers, 256 bytes of each packet).
    public var migrationPortsCapturePath: String?
    /// The capture of the guest's echoes on the destination during the migration call
    /// (`--save-captures`; pcap, Linux cooked headers).
    public var destinationEchoesCapturePath: String?
    /// QEMU's own estimate of the guest's dirty rate just before the migration (libvirt's
    /// dirty-rate calculation, page sampling), in MiB/s, and how it was obtained or why not.
    public var qemuSampledDirtyRateMiBPerSecond: Double?
    public var qemuSampledDirtyRateSource: String?
    /// QEMU's own forecast of the downtime (`expected_downtime`: the dirty memory at its last
    /// bitmap sync over the bandwidth it measured), as libvirt's `downtime` of the last
    /// source-side job-stats sample taken while the job was still in pre-copy, ms
    /// (``QEMUExpectedDowntime``), and how it was obtained or why there is none (`nil` both:
    /// stored before it was kept, or no migration was driven).
    public var qemuExpectedDowntimeMilliseconds: Double?
    public var qemuExpectedDowntimeSource: String?
    /// The guest's own dirtying rate from just before the migration call to right after it
    /// returned (memeater's unique pages over wall time), MiB/s, and that span, s: against the
    /// rate it settled at before, the guest's slowdown while it was migrated.
    public var guestDirtyRateDuringMigrationMiBPerSecond: Double?
    public var guestDirtyRateWindowSeconds: Double?
    /// The guest's own dirtying from the call to the switch-over (``PreCopyGuestLoad``), MiB/s,
    /// and per pre-copy pass: what the passes had to chase, the rate the pre-copy model is fed.
    public var guestDirtyRatePreCopyMiBPerSecond: Double?
    public var guestDirtyRatePerPassMiBPerSecond: [Double]?
    /// How long the guest's clock stood still across the migration call, between these bounds,
    /// ms: memeater's monotonic clock against the run clock in its replies just before the call
    /// and right after it (a paused VM's clock stops): the guest's own measure of its downtime.
    public var guestClockLagLowerBoundMilliseconds: Double?
    public var guestClockLagUpperBoundMilliseconds: Double?
    /// From the first probe reaching the destination host to the guest's first reply leaving
    /// it, ms, on the destination's clock alone (``DestinationEchoObservation``): the part of
    /// the ping gap the guest itself held the probes after the network had found it.
    public var guestAnswerDelayMilliseconds: Double?
    /// Probes that reached the destination before the guest's first reply there.
    public var probesHeldAtDestination: Int?
    /// The same two instants on the run clock, ms (`nil` too when the destination's clock is
    /// another machine's: only the lab and `qemu:///system` share this one).
    public var destinationFirstProbeOffsetMilliseconds: Double?
    public var destinationFirstReplyOffsetMilliseconds: Double?
    /// The whole run's wall time minus the migration call, ms: what a sweep cell costs
    /// around the measurement (preparing the guest, settling the rate, the checks).
    public var overheadMilliseconds: Double?
    /// The transfer rate during pre-copy, from the job-stats samples' `data_processed` (not
    /// the switch-over, which QEMU sends unlimited), MiB/s, and over how long, s: what
    /// `bandwidth-honoured` compares with the limit (`nil`: under 1 s of pre-copy sampled,
    /// or stored before it was kept).
    public var preCopyTransferRateMiBPerSecond: Double?
    public var preCopySeconds: Double?
    /// What the migration cost each host's CPU: its QEMU of the guest by thread role and its
    /// libvirt daemon, per GiB moved too (`nil`: stored before it was measured).
    public var cpuCost: MigrationCPUCost?

    /// No figures yet.
    public init() {}

    /// Results stored before the figures existed have none.
    public static var valueWhenAbsent: MigrationFigures { MigrationFigures() }

    /// The longest ping gap split at the guest's pause and resume as libvirt's events place them
    /// on the run clock (`nil`: the gap or either event is missing, or the resume is not inside
    /// the gap's reach).
    public var pingGapPhases: PingGapPhases? {
        guard let gap = switchOverPingGap, let suspended = sourceSuspendedOffsetMilliseconds,
              let resumed = destinationResumedOffsetMilliseconds else { return nil }
        let start = gap.startOffsetMilliseconds
        let end = start + gap.lengthMilliseconds
        guard suspended <= resumed, resumed <= end else { return nil }
        return PingGapPhases(beforePauseMilliseconds: suspended - start, pausedMilliseconds: resumed - suspended,
                             afterResumeMilliseconds: end - resumed,
                             announceAfterResumeMilliseconds: announceOffsetsMilliseconds.first { $0 >= start }.map { $0 - resumed })
    }

    /// Time from the start of the switch-over's ping gap to the first announce after it, minus
    /// libvirt's downtime: the delay between the guest resuming and QEMU announcing it, ms.
    public func announceDelayMilliseconds(libvirtDowntimeMilliseconds: Double?) -> Double? {
        guard let start = switchOverPingGap?.startOffsetMilliseconds, let downtime = libvirtDowntimeMilliseconds,
              let announce = announceOffsetsMilliseconds.first(where: { $0 >= start }) else { return nil }
        return announce - start - downtime
    }

    /// The outage of the switch-over on the ping, from the start of its gap to the end of the
    /// last gap it holds; `nil` without a switch-over gap. Usually the switch-over's gap alone,
    /// but the resumed guest can at once answer a probe the source had put into its memory, and
    /// that lone reply splits the outage: nothing more comes back until the announce brings new
    /// probes to the destination (on the lab: 180 ms, the reply, 47 ms; or 39 ms, the reply,
    /// 75 ms). The outage then runs on to the gap the guest's first reply after the first probe
    /// at the destination ends (the destination's capture, on the run clock), or, without that,
    /// to the end of a later longest gap whose pingmon upper bound reaches back into the
    /// switch-over's gap (within one probe interval and 2 ms: its late probes go back that far).
    public var switchOverOutage: TimedSpan? {
        guard let switchOver = switchOverPingGap else { return nil }
        let start = switchOver.startOffsetMilliseconds
        let later = pingGaps.filter { $0.startOffsetMilliseconds > start }
        var end: Double?
        if let reply = destinationFirstReplyOffsetMilliseconds {
            end = later.filter { $0.startOffsetMilliseconds < reply }.map { $0.startOffsetMilliseconds + $0.lengthMilliseconds }.max()
        } else if let longestStart = pingGapStartOffsetMilliseconds, let upper = pingGapUpperBoundMilliseconds,
                  let longest = later.first(where: { $0.startOffsetMilliseconds == longestStart }) {
            let longestEnd = longestStart + longest.lengthMilliseconds
            let tolerance = (probeIntervalMicroseconds ?? 0) / 1000 + DowntimeDecomposition.allowanceMilliseconds
            if longestEnd - upper <= start + tolerance { end = longestEnd }
        }
        return end.map { TimedSpan(startOffsetMilliseconds: start, lengthMilliseconds: $0 - start) } ?? switchOver
    }

    /// Whether the longest ping gap (the one pingmon bounded) lies in the switch-over's outage
    /// (``switchOverOutage``); `false` without either.
    public var longestPingGapIsTheSwitchOvers: Bool {
        guard let outage = switchOverOutage, let start = pingGapStartOffsetMilliseconds else { return false }
        return outage.contains(start)
    }

    /// The ping gap of the switch-over: the one that overlaps the guest's pause as libvirt's
    /// `suspended` and `resumed` events place it, else (no events, or no gap over them) the
    /// longest; `nil` without gaps. Not always the longest: a guest a busy host starves can
    /// answer late during the pre-copy too (on the lab a 302 ms gap came 7 s before a
    /// switch-over of 240 ms), and that gap explains nothing of the switch-over.
    public var switchOverPingGap: TimedSpan? {
        if let suspended = sourceSuspendedOffsetMilliseconds, let resumed = destinationResumedOffsetMilliseconds,
           let overlapping = pingGaps.first(where: {
               $0.startOffsetMilliseconds <= resumed && $0.startOffsetMilliseconds + $0.lengthMilliseconds >= suspended
           }) {
            return overlapping
        }
        guard let start = pingGapStartOffsetMilliseconds else { return nil }
        return pingGaps.min { abs($0.startOffsetMilliseconds - start) < abs($1.startOffsetMilliseconds - start) }
            .flatMap { abs($0.startOffsetMilliseconds - start) < 0.001 ? $0 : nil }
    }
}

/// The CPU one host spent on a migration, from `/proc/PID/task/TID/stat` sampled while it ran
/// (``HostCPUAccount``): the guest's QEMU by thread role, the libvirt daemon, and together.
public struct HostCPUCost: Codable, Sendable, Equatable {
    /// The host, e.g. `src`.
    public var hostName: String
    /// The guest's QEMU processes that were sampled.
    public var qemuProcessIDs: [Int32] = []
    /// Their CPU by thread role, s (every role, 0 for one without threads; empty: no QEMU seen).
    public var qemuCPUSecondsByRole: [ThreadRole: Double] = [:]
    /// The CPU of QEMU threads that ended between readings (the process's total less its
    /// threads' sum), s.
    public var qemuEndedThreadsCPUSeconds: Double?
    /// QEMU's whole CPU, roles and ended threads, s (`nil`: no QEMU of the guest was seen).
    public var qemuCPUSeconds: Double?
    /// Threads of the guest's QEMU seen.
    public var qemuThreadCount = 0
    /// The libvirt daemons that were sampled (`libvirtd`, `virtqemud`), and their CPU, s
    /// (`nil`: none was seen).
    public var daemonProcessIDs: [Int32] = []
    public var daemonCPUSeconds: Double?
    /// QEMU and daemon together, s.
    public var totalCPUSeconds: Double?
    /// What the migration itself cost: ``totalCPUSeconds`` less the vCPU threads (the guest's
    /// own work, which it does migrated or not), s.
    public var migrationCPUSeconds: Double?
    /// ``migrationCPUSeconds`` per GiB the migration moved (``MigrationCPUCost/movedGiB``).
    public var cpuSecondsPerGiB: Double?
    /// Readings that succeeded; reads that failed (listing the processes or reading their
    /// CPU time), with the last failure.
    public var sampleCount = 0
    public var failedReadCount = 0
    public var lastFailure: String?
    /// The first and the last successful reading, ms on the run clock.
    public var firstSampleMilliseconds: Double?
    public var lastSampleMilliseconds: Double?
    /// A QEMU that exited while it was sampled (the source's, which libvirt stops in Confirm):
    /// its last reading and the first that found it gone, ms on the run clock. What it spent
    /// between the two (the switch-over among it) is not counted.
    public var exitedQEMULastSampleMilliseconds: Double?
    public var exitedQEMUGoneAtMilliseconds: Double?
    /// Why nothing was measured (`nil`: something was).
    public var notMeasured: String?

    /// Nothing measured yet on `hostName`.
    public init(hostName: String) {
        self.hostName = hostName
    }
}

/// What a migration cost the hosts' CPU, and how it was measured.
public struct MigrationCPUCost: Codable, Sendable, Equatable {
    public var source: HostCPUCost
    public var destination: HostCPUCost
    /// The time asked between readings, ms.
    public var sampleIntervalMilliseconds: Double
    /// What the per-GiB figures divide by: the bytes the run moved, in GiB, and where they
    /// come from (`nil`: nothing moved, or not known).
    public var movedGiB: Double?
    public var movedSource: String?
    /// How the figures were measured, in one sentence.
    public var method: String

    public init(source: HostCPUCost, destination: HostCPUCost, sampleIntervalMilliseconds: Double, movedGiB: Double?,
                movedSource: String?, method: String) {
        self.source = source
        self.destination = destination
        self.sampleIntervalMilliseconds = sampleIntervalMilliseconds
        self.movedGiB = movedGiB
        self.movedSource = movedSource
        self.method = method
    }
}

/// A span of time on a run's clock, ms.
public struct TimedSpan: Codable, Sendable, Equatable {
    public var startOffsetMilliseconds: Double
    public var lengthMilliseconds: Double

    /// Whether `offsetMilliseconds` lies in the span (its start included, its end not).
    public func contains(_ offsetMilliseconds: Double) -> Bool {
        offsetMilliseconds >= startOffsetMilliseconds && offsetMilliseconds < startOffsetMilliseconds + lengthMilliseconds
    }

    public init(startOffsetMilliseconds: Double, lengthMilliseconds: Double) {
        self.startOffsetMilliseconds = startOffsetMilliseconds
        self.lengthMilliseconds = lengthMilliseconds
    }
}

/// The outcome of one scenario run. The JSON file holds one of these per run; the first
/// fields are the interface contract, the rest give context. Every figure is `null` when it
/// was not measured (``NullWhenAbsent`` writes the key either way); ``figureSources`` says
/// how each one that was measured was obtained. Each field is declared once: `Codable` is
/// synthesized, and a field that results stored by an older version lack reads as `nil`
/// (or its type's ``DefaultWhenAbsent/valueWhenAbsent``).
public struct ScenarioResult: Codable, Sendable, Equatable {
    // MARK: the interface contract
    public var scenario: String
    public var memoryMiB: Int
    public var dirtyRateMiBPerSecond: Double
    /// True only when there is at least one check and every check passed.
    public var passed: Bool
    public var checks: [Check]
    /// Total migration time from libvirt's completed job stats (`time_elapsed`), or the
    /// verifier's wall clock around the migration call when libvirt gave none (see sources).
    @NullWhenAbsent public var migrationMilliseconds: Double? = nil
    /// Downtime from libvirt's completed job stats (`downtime`).
    @NullWhenAbsent public var libvirtDowntimeMilliseconds: Double? = nil
    /// Longest gap between ping replies, from pingmon's capture timestamps.
    @NullWhenAbsent public var pingDowntimeMilliseconds: Double? = nil
    /// Probes that got no reply.
    @NullWhenAbsent public var pingLost: Int? = nil
    /// Stale or foreign pages memeater found (whole-region verification plus those found while dirtying).
    @NullWhenAbsent public var integrityErrors: Int? = nil
    /// `kvm` or `tcg`.
    public var accel: String
    public var qemuVersion: String
    public var libvirtVersion: String

    // MARK: context
    /// How the run ended (`completed`, `setup-failed`, `interrupted`).
    @DefaultedWhenAbsent public var status: RunStatus
    /// Why the run could not be set up (status `setup-failed`), in one line: what a sweep
    /// stops with. In the JSON only when set (results stored before it existed lack it).
    public var setupError: String?
    /// What the scenario's fault did (failure scenarios).
    @NullWhenAbsent public var fault: FaultEvidence? = nil
    /// The parameters of the run.
    public var parameters: ScenarioParameters
    /// When the run started and finished; every offset of its samples and events is in ms
    /// since `startedAt` on one monotonic clock.
    public var startedAt: Date
    public var finishedAt: Date
    /// libvirt's error message when the migration call failed.
    @NullWhenAbsent public var libvirtError: String? = nil
    /// memeater's achieved rate of unique pages dirtied before the migration, in MiB/s.
    @NullWhenAbsent public var achievedDirtyRateMiBPerSecond: Double? = nil
    /// QEMU's dirty rate as libvirt reported it during the migration (largest sample), in MiB/s.
    @NullWhenAbsent public var libvirtDirtyRateMiBPerSecond: Double? = nil
    /// Setup time from libvirt's completed job stats.
    @NullWhenAbsent public var setupMilliseconds: Double? = nil
    /// Bytes transferred, from libvirt's completed job stats (`data_processed`).
    @NullWhenAbsent public var transferredBytes: UInt64? = nil
    /// Memory copy passes, from libvirt's completed job stats or the last sample.
    @NullWhenAbsent public var iterations: Int? = nil
    /// Longest stall a memeater worker saw during the run, in µs (guest freeze seen from inside).
    @NullWhenAbsent public var maxStallMicroseconds: UInt64? = nil
    /// Each memeater worker thread's own longest stall, in µs, in worker order (`nil`: not
    /// measured, or a memeater too old to report it). Its largest is ``maxStallMicroseconds``.
    @NullWhenAbsent public var maxStallMicrosecondsPerThread: [UInt64]? = nil
    /// Job-stats samples recorded during the migration.
    public var jobSampleCount: Int
    /// Figures measured two ways.
    public var crossChecks: [CrossCheck]
    /// The pre-copy model's prediction next to what was measured (live only).
    @NullWhenAbsent public var modelComparison: ModelComparison? = nil
    /// How each figure was obtained, by field name.
    public var figureSources: [String: String]
    /// Anything worth knowing that is not a check (e.g. the rate did not settle).
    public var notes: [String]
    /// Convergence, transfer rate, downtime pieces and overhead, for sweeps and their analysis.
    @DefaultedWhenAbsent public var figures: MigrationFigures
    /// The sweep (or plain run) this run was made for, when stored.
    @NullWhenAbsent public var sweepID: String? = nil
    /// The guest's OS and kernel as memeater in it said before the migration, e.g.
    /// "Debian GNU/Linux 12 (bookworm), kernel 6.1.0-41-amd64".
    @NullWhenAbsent public var guestSystem: String? = nil
    /// The database row of this run, when stored.
    @NullWhenAbsent public var runID: Int64? = nil
    /// Set when this result was not re-run but taken from an earlier run in the database.
    @NullWhenAbsent public var reusedFromRunID: Int64? = nil
    /// The evacuation this run was one guest of (`migverify run --guest-count N`); `nil`, and
    /// absent from the JSON (so a one-guest run's JSON is as before), for a run of one guest.
    public var evacuation: EvacuationMembership? = nil

    /// Creates a result with no figures yet; the runner fills them in.
    public init(parameters: ScenarioParameters, accel: String, qemuVersion: String, libvirtVersion: String,
                startedAt: Date = Date()) {
        scenario = parameters.scenario.rawValue
        memoryMiB = parameters.memoryMiB
        dirtyRateMiBPerSecond = parameters.dirtyRateMiBPerSecond
        passed = false
        checks = []
        status = .completed
        self.accel = accel
        self.qemuVersion = qemuVersion
        self.libvirtVersion = libvirtVersion
        self.parameters = parameters
        self.startedAt = startedAt
        finishedAt = startedAt
        jobSampleCount = 0
        crossChecks = []
        figureSources = [:]
        notes = []
        figures = MigrationFigures()
    }

    /// Adds a check and updates ``passed``.
    public mutating func add(_ check: Check) {
        checks.append(check)
        passed = checks.allSatisfy(\.passed)
    }

    /// The checks that failed.
    public var failedChecks: [Check] { checks.filter { !$0.passed } }

    /// Whether the run is a result that may stand for a later run of it: it completed and
    /// was set up (an interrupted run or one that could not be set up never is).
    public var isReusable: Bool { status == .completed && !checks.contains { $0.name == CheckName.setup } }

    /// The run could not be set up because of `error` (one line): a failed `setup` check with
    /// it as evidence, and ``setupError``, typed, for whoever runs the next run. The status
    /// (`setup-failed`, or `interrupted` when a signal caused it) is the caller's to set.
    public mutating func failSetup(because error: String) {
        setupError = error
        add(Check(name: CheckName.setup, passed: false, evidence: error))
    }

    /// Takes the guest's stall figures from memeater's `stats` read after the migration
    /// (`nil`: it could not be read): the largest gap of any worker and, from a memeater that
    /// reports it, each worker thread's own, with how they were obtained.
    public mutating func recordStall(from stats: ProgressRecord?) {
        maxStallMicroseconds = stats?.maxStallMicroseconds
        let perThread = stats?.maxStallMicrosecondsPerThread ?? []
        maxStallMicrosecondsPerThread = perThread.isEmpty ? nil : perThread
        self[source: .maxStallMicroseconds] = stats == nil ? nil
            : "memeater: largest gap between a worker's loop iterations since reset-stall before the migration"
        self[source: .maxStallMicrosecondsPerThread] = stats == nil ? nil
            : perThread.isEmpty ? "not measured: memeater's stats have no per-thread stall (a memeater older than that figure)"
            : "memeater: each of its \(perThread.count) worker threads' own largest gap between loop iterations since reset-stall before the migration, in worker order"
    }

    /// How `figure` was obtained.
    public subscript(source figure: Figure) -> String? {
        get { figureSources[figure.rawValue] }
        set { figureSources[figure.rawValue] = newValue }
    }
}

/// The JSON encoder used for results: stable key order, ISO 8601 dates.
public func resultsJSONEncoder(pretty: Bool = true) -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(iso8601Text(date))
    }
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return encoder
}

/// The JSON decoder matching ``resultsJSONEncoder(pretty:)``.
public func resultsJSONDecoder() -> JSONDecoder {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .custom { decoder in
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = iso8601Date(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 date: \(text)")
        }
        return date
    }
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return decoder
}

/// A date as ISO 8601 text with milliseconds, e.g. `2025-01-31T12:00:00.250Z`.
public func iso8601Text(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: date)
}

/// Parses ISO 8601 text with or without fractional seconds.
public func iso8601Date(_ text: String) -> Date? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = formatter.date(from: text) { return date }
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.date(from: text)
}

/// The longest ping gap on the run clock, split at the guest's pause and resume (libvirt's
/// lifecycle events): the last reply before the gap to the source's `suspended`, the pause
/// itself, and the destination's `resumed` to the first reply after the gap, ms. The three add
/// up to the gap.
public struct PingGapPhases: Codable, Sendable, Equatable {
    public var beforePauseMilliseconds: Double
    public var pausedMilliseconds: Double
    public var afterResumeMilliseconds: Double
    /// The guest's first announce (RARP/GARP) after the gap began, from the resume, ms (negative:
    /// before libvirt's event; `nil`: none seen).
    public var announceAfterResumeMilliseconds: Double?
}
