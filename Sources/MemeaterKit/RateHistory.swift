/// memeater's unique-page counter at one instant of the guest's monotonic clock: two of them
/// give the achieved rate between them.
public struct RateHistorySample: Codable, Sendable, Equatable {
    /// The guest's CLOCK_MONOTONIC, ns. It stops while the VM is paused, so a migration's
    /// switch-over shows as a jump of the host's clock, not of this one.
    public var guestMonotonicNanoseconds: UInt64
    /// Unique pages dirtied since memeater started.
    public var pagesDirtied: UInt64

    public init(guestMonotonicNanoseconds: UInt64, pagesDirtied: UInt64) {
        self.guestMonotonicNanoseconds = guestMonotonicNanoseconds
        self.pagesDirtied = pagesDirtied
    }
}

/// The last ``capacity`` samples of the counter, taken at every progress report (every 100 ms
/// by default), so that a client can read afterwards what the guest did while it could not
/// be asked without disturbing it: during a migration (the verifier reads it after landing).
public struct RateHistory: Sendable, Equatable {
    /// Samples kept: ten minutes at the default 100 ms interval, 96 KiB.
    public static let defaultCapacity = 6000

    public let capacity: Int
    private var ring: [RateHistorySample] = []
    /// Where the next sample goes once the ring is full (it replaces the oldest).
    private var next = 0

    public init(capacity: Int = RateHistory.defaultCapacity) {
        self.capacity = max(1, capacity)
    }

    /// Keeps `sample`, dropping the oldest when full.
    public mutating func append(_ sample: RateHistorySample) {
        if ring.count < capacity {
            ring.append(sample)
        } else {
            ring[next] = sample
            next = (next + 1) % capacity
        }
    }

    /// The samples kept, oldest first.
    public var samples: [RateHistorySample] {
        Array(ring[next...] + ring[..<next])
    }
}
