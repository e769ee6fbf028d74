/// Running figures for the live status line, updated packet by packet.
///
/// Approximate by design (a reply that comes after its probe was settled as lost still counts
/// as lost here); the final figures always come from `PingAnalyzer` over the whole log.
public struct LiveTracker: Sendable {
    /// A probe without a reply this long after it was sent counts as lost, in nanoseconds.
    public let replyTimeoutNanoseconds: Int64
    private var pending: [UInt64: Int64] = [:]
    private var pendingOrder: [UInt64] = []
    private var pendingHead = 0
    private var lastReplyTime: Int64?
    private var firstRequestTime: Int64?
    private var longestGap: Int64 = 0
    public private(set) var requestsCaptured = 0
    public private(set) var repliesReceived = 0
    public private(set) var lost = 0

    public init(replyTimeoutNanoseconds: Int64) {
        self.replyTimeoutNanoseconds = replyTimeoutNanoseconds
    }

    /// Takes one captured request or reply.
    public mutating func record(_ event: ProbeEvent) {
        switch event.kind {
        case .request:
            guard pending[event.sequence] == nil else { return }
            requestsCaptured += 1
            if firstRequestTime == nil { firstRequestTime = event.timeNanoseconds }
            pending[event.sequence] = event.timeNanoseconds
            pendingOrder.append(event.sequence)
            settle(now: event.timeNanoseconds)
        case .reply:
            guard pending.removeValue(forKey: event.sequence) != nil else { return }
            repliesReceived += 1
            if let last = lastReplyTime { longestGap = max(longestGap, event.timeNanoseconds - last) }
            lastReplyTime = event.timeNanoseconds
        }
    }

    /// Counts as lost every pending probe sent more than the reply timeout before `now`.
    public mutating func settle(now: Int64) {
        while pendingHead < pendingOrder.count {
            let sequence = pendingOrder[pendingHead]
            if let sent = pending[sequence] {
                guard now - sent > replyTimeoutNanoseconds else { break }
                pending[sequence] = nil
                lost += 1
            }
            pendingHead += 1
        }
        // Drop the consumed prefix now and then so that the queue stays small.
        if pendingHead > 4096 && pendingHead * 2 > pendingOrder.count {
            pendingOrder.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    /// Time since the last reply (or since the first request, before any reply), in nanoseconds.
    public func currentGapNanoseconds(now: Int64) -> Int64 {
        guard let since = lastReplyTime ?? firstRequestTime else { return 0 }
        return max(0, now - since)
    }

    /// The longest gap so far, counting the current one, in nanoseconds.
    public func longestGapNanoseconds(now: Int64) -> Int64 {
        max(longestGap, currentGapNanoseconds(now: now))
    }
}
