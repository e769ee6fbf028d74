import CLibvirt

/// The kind of a domain job (`virDomainJobType`).
public enum JobType: Int32, Sendable, Codable, CustomStringConvertible {
    case none = 0
    case bounded = 1
    case unbounded = 2
    case completed = 3
    case failed = 4
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
    case unknown = 0
    case start = 1
    case save = 2
    case restore = 3
    case migrationIn = 4
    case migrationOut = 5
    case snapshot = 6
    case snapshotRevert = 7
    case dump = 8
    case backup = 9
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
