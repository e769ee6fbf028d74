import CMemeater
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A page that does not hold what memeater last wrote into it.
public struct BadPage: Sendable, Codable, Equatable {
    /// Page index in the region.
    public var page: Int
    /// The generation memeater last wrote there.
    public var expectedGeneration: UInt64
    /// The generation word found (a smaller one means a lost write).
    public var foundGeneration: UInt64
    /// The page index word found (another index means a page from elsewhere).
    public var foundIndex: UInt64
    /// Byte offset of the first word that differs.
    public var firstBadByteOffset: Int

    init(_ bad: me_bad_page) {
        page = Int(bad.page)
        expectedGeneration = bad.expected_generation
        foundGeneration = bad.found_generation
        foundIndex = bad.found_index
        firstBadByteOffset = Int(bad.first_bad_offset)
    }
}

/// Counters over all workers at one instant.
public struct EngineStatistics: Sendable, Codable, Equatable {
    /// Every page write, repeated pages included.
    public var pagesWritten: UInt64
    /// Writes to pages not yet written in the current one-second window: what the rate counts.
    public var uniquePagesDirtied: UInt64
    public var pagesVerified: UInt64
    /// Pages found not holding what was last written there, before a rewrite or by a whole-region verification.
    public var integrityErrors: UInt64
    /// Largest gap between two consecutive loop iterations of any worker since start (or the last reset):
    /// the largest of ``maxStallMicrosecondsPerThread``.
    public var maxStallMicroseconds: UInt64
    /// Each worker thread's own largest gap, in worker order (one entry per thread), read at the
    /// same instant as ``maxStallMicroseconds``.
    public var maxStallMicrosecondsPerThread: [UInt64]
    /// Pages the rate controller let go after falling behind (a stall), instead of bursting.
    public var pagesForgiven: UInt64
    public var runningWorkers: Int
    /// The first bad pages found while dirtying.
    public var badPages: [BadPage]
}

/// Result of one whole-region verification.
public struct VerificationReport: Sendable, Codable, Equatable {
    public var pagesChecked: UInt64
    /// Pages that did not hold what was last written there.
    public var badPagesTotal: UInt64
    public var elapsedMilliseconds: Double
    /// The first bad pages, in region order within each worker's share.
    public var badPages: [BadPage]
    /// True when every page checked held exactly what was last written.
    public var intact: Bool { badPagesTotal == 0 }
}

private func badPages<T>(_ tuple: T, count: UInt32) -> [BadPage] {
    withUnsafeBytes(of: tuple) { raw in
        Array(raw.bindMemory(to: me_bad_page.self).prefix(Int(count))).map(BadPage.init)
    }
}

/// The region and its workers. Owns the C engine and the worker threads.
public final class DirtyingEngine: @unchecked Sendable {
    // @unchecked: the C engine is thread-safe by design (atomics and its own lock);
    // the only Swift state, the thread list, is behind `threads`.
    private let engine: OpaquePointer
    public let configuration: MemeaterConfiguration
    public let pageCount: Int
    public let pageSizeBytes: Int
    private let threads = Mutex<[pthread_t]>([])

    /// Allocates and stamps the region. Validates the configuration first.
    public init(configuration: MemeaterConfiguration, availableMemoryBytes: Int? = nil) throws(MemeaterError) {
        let pageSize = SystemInfo.pageSizeBytes
        try configuration.validate(pageSizeBytes: pageSize, availableMemoryBytes: availableMemoryBytes)
        var cConfig = me_config(
            size_bytes: UInt64(configuration.sizeMiB) * UInt64(bytesPerMiB),
            workers: UInt32(configuration.threads),
            pattern: configuration.pattern.cValue,
            hot_fraction: configuration.hotFraction,
            hot_probability: configuration.hotProbability,
            seed: configuration.seed,
            bytes_per_write: UInt32(configuration.bytesPerWrite),
            lock_memory: configuration.lockMemory,
            hugepages: configuration.hugePages.cValue
        )
        var message = [CChar](repeating: 0, count: 512)
        guard let created = me_engine_create(&cConfig, &message, message.count) else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw .engineCreationFailed(text)
        }
        engine = created
        self.configuration = configuration
        pageCount = Int(me_engine_page_count(created))
        pageSizeBytes = Int(me_engine_page_size(created))
        me_engine_set_rate(created, configuration.rate.pagesPerSecond(pageSizeBytes: pageSizeBytes))
    }

    deinit {
        stop()
        me_engine_destroy(engine)
    }

    /// Starts one thread per worker; after ``stop()`` they go on from where they were. A
    /// second call while running does nothing.
    public func start() throws(MemeaterError) {
        let engine = UncheckedEngine(pointer: engine)
        let count = configuration.threads
        try threads.withLock { (running: inout [pthread_t]) throws(MemeaterError) in
            guard running.isEmpty else { return }
            me_engine_clear_stop(engine.pointer)  // no worker runs: every thread was joined
            for worker in 0..<count {
                running.append(try startThread { me_engine_run_worker(engine.pointer, UInt32(worker)) })
            }
        }
    }

    /// Stops the workers and waits for them. The region and its stamps stay for verification.
    public func stop() {
        let joined = threads.withLock { running -> [pthread_t] in
            defer { running.removeAll() }
            return running
        }
        guard !joined.isEmpty else { return }
        me_engine_stop(engine)
        for thread in joined { pthread_join(thread, nil) }
    }

    /// The target in unique pages per second (0 = unlimited).
    public var targetPagesPerSecond: Double { me_engine_rate(engine) }

    /// Sets a new target; it must fit the region (see `MemeaterConfiguration.validate(rate:...)`).
    public func setRate(_ rate: DirtyRate) throws(MemeaterError) {
        try MemeaterConfiguration.validate(rate: rate, sizeMiB: configuration.sizeMiB, pageSizeBytes: pageSizeBytes)
        me_engine_set_rate(engine, rate.pagesPerSecond(pageSizeBytes: pageSizeBytes))
    }

    public var isPaused: Bool {
        get { me_engine_paused(engine) }
        set { me_engine_set_paused(engine, newValue) }
    }

    public func statistics() -> EngineStatistics {
        var stats = me_stats()
        var workers = [me_worker_stats](repeating: me_worker_stats(), count: Int(me_engine_worker_count(engine)))
        me_engine_stats_per_worker(engine, &stats, &workers, UInt32(workers.count))
        return EngineStatistics(
            pagesWritten: stats.pages_written,
            uniquePagesDirtied: stats.unique_pages_dirtied,
            pagesVerified: stats.pages_verified,
            integrityErrors: stats.integrity_errors,
            maxStallMicroseconds: stats.max_stall_ns / 1000,
            maxStallMicrosecondsPerThread: workers.map { $0.max_stall_ns / 1000 },
            pagesForgiven: stats.pages_forgiven,
            runningWorkers: Int(stats.running_workers),
            badPages: badPages(stats.bad_pages, count: stats.bad_page_count)
        )
    }

    /// Compares every page with what was last written there. Running workers check their
    /// own shares (dirtying waits meanwhile), so this is safe at any time.
    public func verifyAll() -> VerificationReport {
        var result = me_verify_result()
        me_engine_verify_all(engine, &result)
        return VerificationReport(
            pagesChecked: result.pages_checked,
            badPagesTotal: result.bad_pages_total,
            elapsedMilliseconds: Double(result.elapsed_ns) / 1e6,
            badPages: badPages(result.bad_pages, count: result.bad_page_count)
        )
    }

    /// Restarts the stall measurement of every worker (e.g. right before a migration).
    public func resetMaxStall() { me_engine_reset_max_stall(engine) }

    /// Fault injection for tests of the checks: flips one byte of `page` without telling the bookkeeping.
    public func corruptPage(_ page: Int, byteOffset: Int = 0) throws(MemeaterError) {
        guard page >= 0, page < pageCount else { throw .pageOutOfRange(page: page, pageCount: pageCount) }
        guard byteOffset >= 0, byteOffset < configuration.bytesPerWrite else {
            throw .byteOffsetOutOfRange(byteOffset: byteOffset, bytesPerWrite: configuration.bytesPerWrite)
        }
        _ = me_engine_corrupt_page(engine, UInt64(page), UInt32(byteOffset))
    }

    /// The bytes memeater owns in `page` (its first `bytesPerWrite`), as they are now: for
    /// tests and diagnostics. Only while the workers are stopped, as one may be rewriting it.
    public func pageContents(_ page: Int) throws(MemeaterError) -> [UInt8] {
        let address = try stoppedPageAddress(page, operation: "read page \(page)")
        return Array(UnsafeRawBufferPointer(start: address, count: configuration.bytesPerWrite))
    }

    /// Fault injection for tests of the checks: puts `contents` (e.g. an earlier
    /// ``pageContents(_:)``) into `page` without telling the bookkeeping, which is what a
    /// lost write leaves behind. Only while the workers are stopped.
    public func overwritePage(_ page: Int, with contents: [UInt8]) throws(MemeaterError) {
        let address = try stoppedPageAddress(page, operation: "overwrite page \(page)")
        contents.prefix(configuration.bytesPerWrite).withUnsafeBytes { bytes in
            guard let source = bytes.baseAddress else { return }
            UnsafeMutableRawPointer(address).copyMemory(from: source, byteCount: bytes.count)
        }
    }

    private func stoppedPageAddress(_ page: Int, operation: String) throws(MemeaterError) -> UnsafeMutablePointer<UInt8> {
        guard threads.withLock({ $0.isEmpty }) else { throw .workersRunning(operation: operation) }
        guard page >= 0, let address = me_engine_page_address(engine, UInt64(page)) else {
            throw .pageOutOfRange(page: page, pageCount: pageCount)
        }
        return address
    }
}

/// The C engine pointer handed to worker threads; the engine outlives them (stop() joins in deinit).
private struct UncheckedEngine: @unchecked Sendable {
    let pointer: OpaquePointer
}
