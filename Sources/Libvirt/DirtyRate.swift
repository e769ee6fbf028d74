import CLibvirt
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How QEMU measures a guest's dirty rate (`virDomainDirtyRateCalcFlags`).
public enum DirtyRateCalculationMode: String, Sendable, Codable, CaseIterable {
    /// Hashes a sample of pages and counts those that changed (QEMU's default; no guest impact).
    case pageSampling = "page-sampling"
    /// Counts dirty pages through the KVM dirty bitmap (all pages; costs the guest a little).
    case dirtyBitmap = "dirty-bitmap"
    /// Counts dirty pages through the KVM dirty ring, per vCPU (needs a dirty-ring QEMU).
    case dirtyRing = "dirty-ring"

    /// The flag of `virDomainStartDirtyRateCalc` that selects this mode.
    public var flags: UInt32 {
        switch self {
        case .pageSampling: return VIR_DOMAIN_DIRTYRATE_MODE_PAGE_SAMPLING.rawValue
        case .dirtyBitmap: return VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_BITMAP.rawValue
        case .dirtyRing: return VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_RING.rawValue
        }
    }
}

/// Where a dirty-rate calculation is (`virDomainDirtyRateStatus`).
public enum DirtyRateCalculationStatus: Int32, Sendable, Codable, CustomStringConvertible {
    /// No calculation has been started since the domain started.
    case unstarted = 0
    /// A calculation is under way.
    case measuring = 1
    /// The last calculation finished; its result is in the reading.
    case measured = 2

    public var description: String {
        switch self {
        case .unstarted: return "unstarted"
        case .measuring: return "measuring"
        case .measured: return "measured"
        }
    }
}

/// The `dirtyrate.*` statistics of a domain (``Domain/dirtyRate()``).
///
/// Units: libvirt names the rate fields `megabytes_per_second`, but they carry QEMU's
/// `dirty-rate`, which QEMU computes in MiB/s (dirty pages × page size >> 20, per second),
/// and libvirt's own documentation of the fields says MiB/s. Hence the `MiB` in the names here.
public struct DirtyRateReading: Sendable, Equatable {
    /// Where the last calculation is (`dirtyrate.calc_status`).
    public var status: DirtyRateCalculationStatus
    /// When the last calculation started, in seconds QEMU counts from (`dirtyrate.calc_start_time`,
    /// QEMU's monotonic clock, not the Unix epoch).
    public var startTimeSeconds: Int64?
    /// How long the last calculation measured, in seconds (`dirtyrate.calc_period`).
    public var periodSeconds: Int64?
    /// The guest's dirty rate in MiB/s (`dirtyrate.megabytes_per_second`); only when measured.
    public var dirtyRateMiBPerSecond: Int64?
    /// The mode of the last calculation (`dirtyrate.calc_mode`), when libvirt reports one.
    public var mode: DirtyRateCalculationMode?
    /// Per vCPU, its dirty rate in MiB/s (`dirtyrate.vcpu.N.megabytes_per_second`;
    /// dirty-ring mode only). Keyed by vCPU number.
    public var vcpuDirtyRatesMiBPerSecond: [Int: UInt64]
    /// Every `dirtyrate.*` field libvirt returned, by name.
    public var fields: [String: TypedParameterValue]

    /// Reads a domain's statistics record; `nil` when it has no `dirtyrate.calc_status`
    /// (the driver or the domain's state gave no dirty-rate group) or an unknown status.
    public init?(fields allFields: [String: TypedParameterValue]) {
        let fields = allFields.filter { $0.key.hasPrefix("dirtyrate.") }
        guard let rawStatus = fields[VIR_DOMAIN_STATS_DIRTYRATE_CALC_STATUS]?.int64Value,
              let status = Int32(exactly: rawStatus).flatMap(DirtyRateCalculationStatus.init(rawValue:)) else {
            return nil
        }
        self.status = status
        self.fields = fields
        startTimeSeconds = fields[VIR_DOMAIN_STATS_DIRTYRATE_CALC_START_TIME]?.int64Value
        periodSeconds = fields[VIR_DOMAIN_STATS_DIRTYRATE_CALC_PERIOD]?.int64Value
        dirtyRateMiBPerSecond = fields[VIR_DOMAIN_STATS_DIRTYRATE_MEGABYTES_PER_SECOND]?.int64Value
        if case .string(let text)? = fields[VIR_DOMAIN_STATS_DIRTYRATE_CALC_MODE] {
            mode = DirtyRateCalculationMode(rawValue: text)
        }
        var vcpuRates: [Int: UInt64] = [:]
        let prefix = VIR_DOMAIN_STATS_DIRTYRATE_VCPU_PREFIX
        let suffix = VIR_DOMAIN_STATS_DIRTYRATE_VCPU_SUFFIX_MEGABYTES_PER_SECOND
        for (name, value) in fields where name.hasPrefix(prefix) && name.hasSuffix(suffix) {
            let number = name.dropFirst(prefix.count).dropLast(suffix.count)
            if let vcpu = Int(number), let rate = value.uint64Value { vcpuRates[vcpu] = rate }
        }
        vcpuDirtyRatesMiBPerSecond = vcpuRates
    }
}

/// A dirty-rate measurement that did not finish in time (``Domain/measureDirtyRate(seconds:mode:pollIntervalSeconds:timeoutSeconds:sleep:)``).
public struct DirtyRateTimeoutError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The domain measured.
    public var domainName: String
    /// The connection's URI.
    public var uri: String
    /// How long the caller waited, in seconds.
    public var timeoutSeconds: Double
    /// The last reading seen (still `measuring` or `unstarted`).
    public var lastReading: DirtyRateReading

    public var description: String {
        "dirty-rate calculation of domain \(domainName) (uri \(uri)) not measured within "
            + "\(timeoutSeconds) s: last status \(lastReading.status)"
    }
}

extension Domain {
    /// Starts a calculation of the guest's memory dirty rate over `seconds` (QEMU accepts
    /// 1...60); read the result with ``dirtyRate()`` once it is `measured`.
    ///
    /// The corresponding C function is `virDomainStartDirtyRateCalc`.
    public func startDirtyRateCalculation(seconds: Int, mode: DirtyRateCalculationMode = .pageSampling) throws {
        let call = "virDomainStartDirtyRateCalc"
        guard let seconds32 = Int32(exactly: seconds) else {
            throw LibvirtError(call: call, uri: connection.uri, domainName: name,
                               code: Int32(VIR_ERR_INVALID_ARG.rawValue), errorDomain: -1,
                               message: "\(seconds) s does not fit libvirt's int")
        }
        try check(call, virDomainStartDirtyRateCalc(handle, seconds32, mode.flags))
    }

    /// The domain's `dirtyrate.*` statistics: the status of the last calculation and, once
    /// measured, its result. Throws when the driver does not offer the statistics group
    /// (libvirt's error) or returns no dirty-rate fields for this domain (e.g. it does not
    /// run; then a ``LibvirtError`` of kind `.notSupported` made here).
    ///
    /// The corresponding C function is `virDomainListGetStats` with `VIR_DOMAIN_STATS_DIRTYRATE`.
    public func dirtyRate() throws -> DirtyRateReading {
        let call = "virDomainListGetStats(VIR_DOMAIN_STATS_DIRTYRATE)"
        let fields = try statistics(groups: VIR_DOMAIN_STATS_DIRTYRATE.rawValue, call: call)
        guard let reading = DirtyRateReading(fields: fields) else {
            throw LibvirtError(call: call, uri: connection.uri, domainName: name,
                               code: Int32(VIR_ERR_NO_SUPPORT.rawValue), errorDomain: -1,
                               message: "the driver returned no dirtyrate.calc_status for the domain "
                                   + "(fields: \(fields.keys.sorted().joined(separator: ", ")))")
        }
        return reading
    }

    /// Starts a calculation, polls ``dirtyRate()`` every `pollIntervalSeconds` until it is
    /// measured and returns that reading; throws ``DirtyRateTimeoutError`` when it is not
    /// measured within `timeoutSeconds`, and a ``LibvirtError`` when a call fails.
    /// `sleep` waits a number of seconds (tests pass one that only advances a clock).
    public func measureDirtyRate(seconds: Int, mode: DirtyRateCalculationMode = .pageSampling,
                                 pollIntervalSeconds: Double = 0.5, timeoutSeconds: Double? = nil,
                                 sleep: (Double) -> Void = { usleep(UInt32(max(0, min($0, 4_000)) * 1_000_000)) }) throws -> DirtyRateReading {
        try startDirtyRateCalculation(seconds: seconds, mode: mode)
        // The calculation itself takes `seconds`; allow as much again for QEMU to report it.
        let timeout = timeoutSeconds ?? Double(seconds) * 2 + 5
        return try Self.pollUntilMeasured(read: dirtyRate, pollIntervalSeconds: pollIntervalSeconds,
                                          timeoutSeconds: timeout, sleep: sleep) { last in
            DirtyRateTimeoutError(domainName: name, uri: connection.uri, timeoutSeconds: timeout, lastReading: last)
        }
    }

    /// Reads until a reading is `measured`, sleeping `pollIntervalSeconds` between reads
    /// (less before the deadline); after `timeoutSeconds` of sleeping throws `timedOut(last reading)`.
    /// Pure apart from `read` and `sleep`, so tests run it on a simulated clock.
    static func pollUntilMeasured(read: () throws -> DirtyRateReading, pollIntervalSeconds: Double, timeoutSeconds: Double,
                                  sleep: (Double) -> Void,
                                  timedOut: (DirtyRateReading) -> DirtyRateTimeoutError) throws -> DirtyRateReading {
        var waitedSeconds = 0.0
        while true {
            let reading = try read()
            if reading.status == .measured { return reading }
            guard waitedSeconds < timeoutSeconds else { throw timedOut(reading) }
            let step = max(0.01, min(pollIntervalSeconds, timeoutSeconds - waitedSeconds))
            sleep(step)
            waitedSeconds += step
        }
    }

    /// The typed parameters of one statistics record of this domain for `groups`
    /// (a `virDomainStatsTypes` mask), asking libvirt to fail rather than skip a group
    /// the driver does not know (`VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS`).
    func statistics(groups: UInt32, call: String) throws -> [String: TypedParameterValue] {
        var domains: [virDomainPtr?] = [handle, nil]
        var records: UnsafeMutablePointer<virDomainStatsRecordPtr?>?
        let count = domains.withUnsafeMutableBufferPointer { buffer in
            virDomainListGetStats(buffer.baseAddress, groups, &records,
                                  VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS.rawValue)
        }
        guard count >= 0 else { throw error(call) }
        defer { if let records { virDomainStatsRecordListFree(records) } }
        guard let records, count > 0, let record = records[0] else { return [:] }
        return readTypedParameters(record.pointee.params, count: record.pointee.nparams)
    }
}
