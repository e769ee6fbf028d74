import CMemeater

/// How workers choose the next page to dirty. Every pattern is reproducible from the seed.
public enum PagePattern: String, Sendable, CaseIterable, Codable {
    /// Sweeps each worker's share of the region in order.
    case sequential
    /// Uniform over each worker's share.
    case random
    /// A hot set (`hotFraction` of the pages) takes `hotProbability` of the writes.
    case hotset

    var cValue: me_pattern {
        switch self {
        case .sequential: ME_PATTERN_SEQUENTIAL
        case .random: ME_PATTERN_RANDOM
        case .hotset: ME_PATTERN_HOTSET
        }
    }
}

/// Transparent huge page policy for the region.
public enum HugePagePolicy: String, Sendable, CaseIterable, Codable {
    /// Leave the system's policy.
    case system
    /// `madvise(MADV_HUGEPAGE)`.
    case on
    /// `madvise(MADV_NOHUGEPAGE)`.
    case off

    var cValue: me_hugepages {
        switch self {
        case .system: ME_HUGEPAGES_DEFAULT
        case .on: ME_HUGEPAGES_ON
        case .off: ME_HUGEPAGES_OFF
        }
    }
}

/// Everything that defines one memeater region and its dirtying load.
public struct MemeaterConfiguration: Sendable, Equatable {
    public var sizeMiB: Int
    /// Target rate; 0 means as fast as possible.
    public var rate: DirtyRate
    public var threads: Int
    public var pattern: PagePattern
    /// Share of the pages in the hot set (hot-set pattern only).
    public var hotFraction: Double
    /// Share of the writes that go to the hot set (hot-set pattern only).
    public var hotProbability: Double
    public var seed: UInt64
    /// Bytes rewritten in each page on every write (32 … page size); the rest of the page is left alone.
    public var bytesPerWrite: Int
    public var lockMemory: Bool
    public var hugePages: HugePagePolicy

    public init(
        sizeMiB: Int, rate: DirtyRate = .mibPerSecond(0), threads: Int = 1, pattern: PagePattern = .sequential,
        hotFraction: Double = 0.1, hotProbability: Double = 0.9, seed: UInt64 = 1,
        bytesPerWrite: Int = SystemInfo.pageSizeBytes, lockMemory: Bool = false, hugePages: HugePagePolicy = .system
    ) {
        self.sizeMiB = sizeMiB
        self.rate = rate
        self.threads = threads
        self.pattern = pattern
        self.hotFraction = hotFraction
        self.hotProbability = hotProbability
        self.seed = seed
        self.bytesPerWrite = bytesPerWrite
        self.lockMemory = lockMemory
        self.hugePages = hugePages
    }

    /// Pages in the region for pages of `pageSizeBytes`.
    public func pageCount(pageSizeBytes: Int) -> Int { sizeMiB * bytesPerMiB / pageSizeBytes }

    /// Rejects what cannot work, before any memory is touched.
    /// - Parameter availableMemoryBytes: the memory the region may take; nil skips that check.
    public func validate(pageSizeBytes: Int, availableMemoryBytes: Int?) throws(MemeaterError) {
        guard sizeMiB >= 1 else { throw .sizeNotPositive(sizeMiB: sizeMiB) }
        if let available = availableMemoryBytes, sizeMiB * bytesPerMiB > available {
            throw .sizeAboveAvailableMemory(sizeMiB: sizeMiB, availableMiB: available / bytesPerMiB)
        }
        try Self.validate(rate: rate, sizeMiB: sizeMiB, pageSizeBytes: pageSizeBytes)
        let pages = pageCount(pageSizeBytes: pageSizeBytes)
        guard threads >= 1, threads <= min(pages, 4096) else { throw .threadsInvalid(threads: threads, regionPages: pages) }
        guard bytesPerWrite >= 32, bytesPerWrite <= pageSizeBytes, bytesPerWrite % 8 == 0 else {
            throw .bytesPerWriteInvalid(bytes: bytesPerWrite, pageSizeBytes: pageSizeBytes)
        }
        if pattern == .hotset {
            guard hotFraction > 0, hotFraction < 1, hotProbability >= 0, hotProbability <= 1 else {
                throw .hotSetInvalid(fraction: hotFraction, probability: hotProbability)
            }
        }
    }

    /// A rate must be finite, not negative, and no more unique pages per second than the region holds.
    public static func validate(rate: DirtyRate, sizeMiB: Int, pageSizeBytes: Int) throws(MemeaterError) {
        let pagesPerSecond = rate.pagesPerSecond(pageSizeBytes: pageSizeBytes)
        guard pagesPerSecond.isFinite else { throw .rateInvalid("\(rate) is not a finite number") }
        guard pagesPerSecond >= 0 else { throw .rateInvalid("\(rate) is negative") }
        let pages = sizeMiB * bytesPerMiB / pageSizeBytes
        if pagesPerSecond > Double(pages) {
            throw .rateAboveRegion(ratePagesPerSecond: pagesPerSecond, regionPages: pages, sizeMiB: sizeMiB)
        }
    }
}
