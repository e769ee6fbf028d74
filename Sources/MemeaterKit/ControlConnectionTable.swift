/// Who holds the control server's slots and whom a new connection displaces: the admission
/// rule of ``ControlServer`` as a value, so that tests can run it without sockets.
///
/// Connections that never authenticate must not lock the verifier out: when the server is
/// full, a new connection displaces the oldest one that has not authenticated yet instead of
/// being refused, and one peer address holds at most ``unauthenticatedPerPeer`` unauthenticated
/// connections (a new one from it displaces its oldest). A connection that has already sent
/// something (an `auth` line on its way) is displaced only after every silent one. Only when
/// every slot is authenticated is a new connection refused.
public struct ControlConnectionTable: Sendable {
    /// One held connection.
    public struct Entry: Sendable, Equatable {
        /// Given by ``admit(peer:authenticated:isSpeaking:)``, in order of arrival.
        public let id: UInt64
        /// The peer's address bytes (4 for IPv4, also for an IPv4-mapped IPv6 peer; 16 for IPv6).
        public let peer: [UInt8]
        /// Whether it presented the token (from the start on a server without one).
        public var isAuthenticated: Bool
        /// Whether it has sent a byte yet (as far as the server has read).
        public var hasSpoken: Bool
    }

    /// What becomes of a new connection.
    public enum Admission: Sendable, Equatable {
        /// Held under `id`; `displacing` names the connection dropped to make room.
        case admitted(id: UInt64, displacing: UInt64?)
        /// Every slot is held by an authenticated connection.
        case refused
    }

    /// Connections held at once.
    public let capacity: Int
    /// Unauthenticated connections one peer address may hold at once.
    public let unauthenticatedPerPeer: Int
    /// The held connections, oldest first.
    public private(set) var entries: [Entry] = []
    private var lastID: UInt64 = 0

    /// An empty table.
    public init(capacity: Int, unauthenticatedPerPeer: Int) {
        self.capacity = capacity
        self.unauthenticatedPerPeer = unauthenticatedPerPeer
    }

    /// Takes a new connection from `peer`, displacing one when the peer or the table is full.
    /// `speaking` says whether the new connection has already sent bytes, and `isSpeaking`
    /// whether a silent-so-far entry has bytes waiting to be read (the server asks the kernel
    /// for both), so that a client whose `auth` is on its way is not taken for a silent one.
    public mutating func admit(peer: [UInt8], authenticated: Bool, speaking: Bool = false,
                               isSpeaking: (Entry) -> Bool = { _ in false }) -> Admission {
        var displaced: UInt64?
        if !authenticated {
            let samePeer = entries.filter { !$0.isAuthenticated && $0.peer == peer }
            if samePeer.count >= unauthenticatedPerPeer { displaced = Self.first(toDisplace: samePeer, isSpeaking: isSpeaking) }
        }
        if displaced == nil && entries.count >= capacity {
            guard let oldest = Self.first(toDisplace: entries.filter { !$0.isAuthenticated }, isSpeaking: isSpeaking) else {
                return .refused
            }
            displaced = oldest
        }
        if let displaced { remove(displaced) }
        lastID += 1
        entries.append(Entry(id: lastID, peer: peer, isAuthenticated: authenticated, hasSpoken: speaking))
        return .admitted(id: lastID, displacing: displaced)
    }

    /// The oldest silent candidate, else the oldest one.
    private static func first(toDisplace candidates: [Entry], isSpeaking: (Entry) -> Bool) -> UInt64? {
        (candidates.first { !$0.hasSpoken && !isSpeaking($0) } ?? candidates.first)?.id
    }

    /// Notes that `id` sent bytes; false when it is no longer held (displaced).
    @discardableResult
    public mutating func markSpoken(_ id: UInt64) -> Bool {
        guard let index = entries.firstIndex(where: { $0.id == id }) else { return false }
        entries[index].hasSpoken = true
        return true
    }

    /// Notes that `id` authenticated; false when it is no longer held (displaced).
    @discardableResult
    public mutating func markAuthenticated(_ id: UInt64) -> Bool {
        guard let index = entries.firstIndex(where: { $0.id == id }) else { return false }
        entries[index].isAuthenticated = true
        return true
    }

    /// Forgets `id` (closed, or displaced).
    public mutating func remove(_ id: UInt64) {
        entries.removeAll { $0.id == id }
    }
}
