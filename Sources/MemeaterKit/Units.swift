/// Bytes in one mebibyte: every "MiB" in this project is 2^20 bytes.
public let bytesPerMiB = 1_048_576

/// A dirtying rate, as the user gave it. The engine works in unique pages per second.
public enum DirtyRate: Sendable, Equatable, CustomStringConvertible {
    /// Unique mebibytes dirtied per second; 0 means as fast as possible.
    case mibPerSecond(Double)
    /// Unique pages dirtied per second; 0 means as fast as possible.
    case pagesPerSecond(Double)

    /// The rate in unique pages per second for pages of `pageSizeBytes`.
    public func pagesPerSecond(pageSizeBytes: Int) -> Double {
        switch self {
        case .mibPerSecond(let mib): mib * Double(bytesPerMiB) / Double(pageSizeBytes)
        case .pagesPerSecond(let pages): pages
        }
    }

    /// True for 0, the "as fast as possible" rate.
    public var isUnlimited: Bool {
        switch self {
        case .mibPerSecond(let value), .pagesPerSecond(let value): value == 0
        }
    }

    public var description: String {
        switch self {
        case .mibPerSecond(let mib): isUnlimited ? "unlimited" : "\(mib) MiB/s"
        case .pagesPerSecond(let pages): isUnlimited ? "unlimited" : "\(pages) pages/s"
        }
    }
}

/// Converts unique pages per second to MiB per second.
public func mibPerSecond(pagesPerSecond: Double, pageSizeBytes: Int) -> Double {
    pagesPerSecond * Double(pageSizeBytes) / Double(bytesPerMiB)
}
