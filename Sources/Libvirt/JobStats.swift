import CLibvirt

/// The kind of a domain job (`virDomainJobType`).
public enum JobType: Int32, Sendable, Codable, CustomStringConvertible {
    /// `VIR_DOMAIN_JOB_NONE`: no job is active.
    case none = 0
    /// `VIR_DOMAIN_JOB_BOUNDED`: a job with a finite completion time.
    case bounded = 1
    /// `VIR_DOMAIN_JOB_UNBOUNDED`: a job without a finite completion time (e.g. a running migration).
    case unbounded = 2
    /// `VIR_DOMAIN_JOB_COMPLETED`: the job finished, stats not yet cleaned up.
    case completed = 3
    /// `VIR_DOMAIN_JOB_FAILED`: the job hit an error, stats not yet cleaned up.
    case failed = 4
    /// `VIR_DOMAIN_JOB_CANCELLED`: the job was aborted, stats not yet cleaned up.
    case cancelled = 5

    public var description: String {
        switch self {
        case .none: return "none"
        case .bounded: return "bounded"
        case .unbounded: return "unbounded"
        case .completed: return "completed"
        case .failed: return "failed"
        case .cancelled: return "cancelled"
        }
    }
}

/// What started a domain job (`virDomainJobOperation`).
public enum JobOperation: Int32, Sendable, Codable {
    /// `VIR_DOMAIN_JOB_OPERATION_UNKNOWN`: libvirt does not say.
    case unknown = 0
    /// `VIR_DOMAIN_JOB_OPERATION_START`: starting the domain.
    case start = 1
    /// `VIR_DOMAIN_JOB_OPERATION_SAVE`: saving the domain to a file.
    case save = 2
    /// `VIR_DOMAIN_JOB_OPERATION_RESTORE`: restoring the domain from a file.
    case restore = 3
    /// `VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN`: an incoming migration (destination side).
    case migrationIn = 4
    /// `VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT`: an outgoing migration (source side).
    case migrationOut = 5
    /// `VIR_DOMAIN_JOB_OPERATION_SNAPSHOT`: creating a snapshot.
    case snapshot = 6
    /// `VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_REVERT`: reverting to a snapshot.
    case snapshotRevert = 7
    /// `VIR_DOMAIN_JOB_OPERATION_DUMP`: dumping the domain's memory.
    case dump = 8
    /// `VIR_DOMAIN_JOB_OPERATION_BACKUP`: a backup job.
    case backup = 9
    /// `VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_DELETE`: deleting a snapshot.
    case snapshotDelete = 10
}

/// Statistics of a domain job, from ``Domain/jobStats(completed:keepCompleted:)``.
///
/// Each figure is `nil` when libvirt did not report it (drivers and job phases differ).
/// ``fields`` keeps everything libvirt returned, including fields without a property here.
public struct JobStats: Sendable, Equatable {
    /// The job's kind; `nil` for a value this module does not know.
    public var type: JobType?
    /// Every field libvirt returned, by its `VIR_DOMAIN_JOB_*` name.
    public var fields: [String: TypedParameterValue]

    /// Creates stats from libvirt's job type and fields.
    public init(rawType: Int32, fields: [String: TypedParameterValue]) {
        self.type = JobType(rawValue: rawType)
        self.fields = fields
    }

    private func unsigned(_ name: String) -> UInt64? { fields[name]?.uint64Value }

    /// What started the job (`operation`).
    public var operation: JobOperation? { fields[VIR_DOMAIN_JOB_OPERATION]?.int64Value.flatMap { JobOperation(rawValue: Int32($0)) } }
    /// Time since the job started, in ms (`time_elapsed`).
    public var timeElapsedMilliseconds: UInt64? { unsigned(VIR_DOMAIN_JOB_TIME_ELAPSED) }
    /// Estimated time left, in ms (`time_remaining`).
    public var timeRemainingMilliseconds: UInt64? { unsigned(VIR_DOMAIN_JOB_TIME_REMAINING) }
    /// For a running migration the expected downtime, for a completed one the real
    /// downtime, in ms (`downtime`).
    public var downtimeMilliseconds: UInt64? { unsigned(VIR_DOMAIN_JOB_DOWNTIME) }
    /// Time spent before the memory copy started, in ms (`setup_time`).
    public var setupTimeMilliseconds: UInt64? { unsigned(VIR_DOMAIN_JOB_SETUP_TIME) }
    /// Bytes to transfer in all (`data_total`).
    public var dataTotalBytes: UInt64? { unsigned(VIR_DOMAIN_JOB_DATA_TOTAL) }
    /// Bytes transferred so far (`data_processed`).
    public var dataProcessedBytes: UInt64? { unsigned(VIR_DOMAIN_JOB_DATA_PROCESSED) }
    /// Bytes still to transfer (`data_remaining`).
    public var dataRemainingBytes: UInt64? { unsigned(VIR_DOMAIN_JOB_DATA_REMAINING) }
    /// Guest memory to transfer, in bytes (`memory_total`).
    public var memoryTotalBytes: UInt64? { unsigned(VIR_DOMAIN_JOB_MEMORY_TOTAL) }
    /// Guest memory transferred so far, in bytes (`memory_processed`).
    public var memoryProcessedBytes: UInt64? { unsigned(VIR_DOMAIN_JOB_MEMORY_PROCESSED) }
    /// Guest memory still to transfer, in bytes (`memory_remaining`).
    public var memoryRemainingBytes: UInt64? { unsigned(VIR_DOMAIN_JOB_MEMORY_REMAINING) }
    /// Memory transfer rate, in bytes per second (`memory_bps`).
    public var memoryBandwidthBytesPerSecond: UInt64? { unsigned(VIR_DOMAIN_JOB_MEMORY_BPS) }
    /// Pages the guest dirties per second, as QEMU measures it (`memory_dirty_rate`).
    public var memoryDirtyRatePagesPerSecond: UInt64? { unsigned(VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE) }
    /// Size of a page in bytes (`memory_page_size`).
    public var memoryPageSizeBytes: UInt64? { unsigned(VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE) }
    /// Number of memory copy passes so far (`memory_iteration`).
    public var memoryIteration: UInt64? { unsigned(VIR_DOMAIN_JOB_MEMORY_ITERATION) }
    /// Pages requested by the destination during post-copy (`memory_postcopy_requests`).
    public var memoryPostCopyRequests: UInt64? { unsigned(VIR_DOMAIN_JOB_MEMORY_POSTCOPY_REQS) }
    /// Current auto-converge throttle, in percent (`auto_converge_throttle`).
    public var autoConvergeThrottlePercent: UInt64? { unsigned(VIR_DOMAIN_JOB_AUTO_CONVERGE_THROTTLE) }
    /// The memory dirty rate in bytes per second, when both the page rate and page size are known.
    public var memoryDirtyRateBytesPerSecond: UInt64? {
        guard let pages = memoryDirtyRatePagesPerSecond, let size = memoryPageSizeBytes else { return nil }
        return pages.multipliedReportingOverflow(by: size).overflow ? nil : pages * size
    }
    /// Whether a completed job succeeded (`success`), when reported.
    public var succeeded: Bool? {
        if case .boolean(let value)? = fields[VIR_DOMAIN_JOB_SUCCESS] { return value }
        return nil
    }
    /// The error message of a failed job (`errmsg`), when reported.
    public var errorMessage: String? {
        if case .string(let value)? = fields[VIR_DOMAIN_JOB_ERRMSG] { return value }
        return nil
    }
}
