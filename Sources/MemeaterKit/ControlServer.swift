import CMemeater
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// TCP server for the line-based control protocol: one thread accepts, one thread per client,
/// at most ``maximumConnections`` clients at once. Connections are plain TCP and stay open
/// across a live migration of the guest.
///
/// With a token (``ControlAccess/token(_:)``) a client must authenticate within
/// ``authenticationTimeoutSeconds`` of connecting, and connections that have not authenticated
/// yet give way to new ones (``ControlConnectionTable``): when the server is full a new
/// connection displaces the oldest unauthenticated one, and one peer address holds at most
/// ``unauthenticatedPerPeer`` of them, so that clients which never authenticate and reconnect
/// at once cannot lock the verifier out. Only authenticated connections fill the server for good.
public final class ControlServer: Sendable {
    /// The port actually bound (useful when 0 was asked for).
    public let port: Int
    public let listenAddress: String
    /// Clients served at once; one more is refused with a reply and closed, not queued.
    public let maximumConnections: Int
    /// How long a new client may take to send its `auth` request (token required only).
    public let authenticationTimeoutSeconds: Double
    private let listener: Int32
    private let handler: ControlHandler
    /// The held connections and their sockets (a socket is closed by its own thread only,
    /// after its entry is gone, so a descriptor found here is still open).
    private let held: Mutex<HeldConnections>
    private let closed = Atomic<Bool>(false)
    /// The default of ``maximumConnections``: the verifier holds one or two connections, a
    /// user looking in by hand one more.
    public static let defaultMaximumConnections = 8
    /// The largest ``maximumConnections`` accepted (each client is a thread).
    public static let maximumConnectionsLimit = 256
    /// Unauthenticated connections one peer address may hold at once (a client authenticates
    /// as it connects; more than a few waiting from one address are not a client of ours).
    public static let unauthenticatedPerPeer = 3
    /// The default of ``authenticationTimeoutSeconds``: a client sends `auth` as it connects,
    /// and the lab's clients themselves wait at most 5 s for the reply.
    public static let defaultAuthenticationTimeoutSeconds = 5.0
    /// The largest ``authenticationTimeoutSeconds`` accepted (`serve --auth-timeout-seconds` allows as much).
    public static let maximumAuthenticationTimeoutSeconds = 3600.0

    /// Binds and listens; call `start()` to accept clients.
    public init(listenAddress: String, port: Int, handler: ControlHandler,
                maximumConnections: Int = ControlServer.defaultMaximumConnections,
                authenticationTimeoutSeconds: Double = ControlServer.defaultAuthenticationTimeoutSeconds) throws(MemeaterError) {
        guard (0...65535).contains(port) else { throw .socketFailed(call: "bind to port \(port)", errno: EINVAL) }
        guard (1...Self.maximumConnectionsLimit).contains(maximumConnections) else {
            throw .controlSettingInvalid(reason: "the connection limit must be 1-\(Self.maximumConnectionsLimit), got \(maximumConnections)")
        }
        // Bounded as the CLI bounds it: the deadline is made in UInt64 nanoseconds, which 1e300 s would overflow.
        guard authenticationTimeoutSeconds > 0, authenticationTimeoutSeconds <= Self.maximumAuthenticationTimeoutSeconds else {
            throw .controlSettingInvalid(reason: "the authentication timeout must be more than 0 and at most "
                                         + "\(Int(Self.maximumAuthenticationTimeoutSeconds)) seconds, got \(authenticationTimeoutSeconds)")
        }
        guard let address = SocketAddress(numericHost: listenAddress, port: port) else {
            throw .socketFailed(call: "parse listen address \(listenAddress) (a numeric IPv4 or IPv6 address)", errno: EINVAL)
        }
        let socketFD = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socketFD >= 0 else { throw .socketFailed(call: "socket for \(listenAddress)", errno: errno) }
        var yes: Int32 = 1
        setsockopt(socketFD, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        if address.isIPv6Unspecified {
            // `::` serves IPv4 clients too (as ::ffff:a.b.c.d), whatever net.ipv6.bindv6only says.
            var no: Int32 = 0
            guard setsockopt(socketFD, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &no, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                let code = errno
                close(socketFD)
                throw .socketFailed(call: "setsockopt(IPV6_V6ONLY, 0) on \(listenAddress)", errno: code)
            }
        }
        let bound = address.withSockaddr { bind(socketFD, $0, $1) }
        if bound != 0 {
            let code = errno
            close(socketFD)
            if code == EADDRINUSE { throw .portInUse(port: port) }
            throw .socketFailed(call: "bind to \(listenAddress):\(port)", errno: code)
        }
        // Deferred accept: the kernel hands over a connection when its first bytes arrive (a
        // client of ours sends `auth` at once), a silent one only after about a second. So a
        // client with its `auth` on the way is known as one when it is admitted, and clients
        // that connect without a word cannot churn the table faster than once a second each.
        var deferSeconds: Int32 = 1
        guard setsockopt(socketFD, Int32(IPPROTO_TCP), TCP_DEFER_ACCEPT, &deferSeconds, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let code = errno
            close(socketFD)
            throw .socketFailed(call: "setsockopt(TCP_DEFER_ACCEPT) on \(listenAddress)", errno: code)
        }
        guard listen(socketFD, 16) == 0 else {
            let code = errno
            close(socketFD)
            if code == EADDRINUSE { throw .portInUse(port: port) }
            throw .socketFailed(call: "listen", errno: code)
        }
        self.port = SocketAddress.boundPort(of: socketFD) ?? port
        self.listenAddress = listenAddress
        self.maximumConnections = maximumConnections
        self.authenticationTimeoutSeconds = authenticationTimeoutSeconds
        listener = socketFD
        self.handler = handler
        held = Mutex(HeldConnections(table: ControlConnectionTable(capacity: maximumConnections,
                                                                   unauthenticatedPerPeer: Self.unauthenticatedPerPeer)))
    }

    deinit { shutdownServer() }

    /// The connections held now, oldest first; one leaves as its thread ends it (what tests
    /// wait on instead of sleeping).
    var heldConnections: [ControlConnectionTable.Entry] { held.withLock { $0.table.entries } }

    /// Starts the accept thread.
    public func start() throws(MemeaterError) {
        try startDetachedThread { [self] in acceptLoop() }
    }

    /// Stops accepting and closes every client connection.
    public func shutdownServer() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        held.withLock { held in
            for client in held.descriptors.values { Glibc.shutdown(client, Int32(SHUT_RDWR)) }
        }
    }

    private func acceptLoop() {
        let authenticatedFromTheStart = ControlConnectionState(access: handler.access).isAuthenticated
        while !closed.load(ordering: .acquiring) {
            var peerAddress = sockaddr_storage()
            var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &peerAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener, $0, &peerLength) }
            }
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let admission = held.withLock { held -> ControlConnectionTable.Admission in
                let admission = held.table.admit(peer: Self.addressBytes(of: peerAddress), authenticated: authenticatedFromTheStart,
                                                 speaking: Self.hasBytesWaiting(client)) {
                    held.descriptors[$0.id].map(Self.hasBytesWaiting) ?? false
                }
                guard case .admitted(let id, let displaced) = admission else { return admission }
                held.descriptors[id] = client
                if let displaced, let victim = held.descriptors.removeValue(forKey: displaced) {
                    // Its own thread sees the end of the stream and closes it.
                    _ = send(line: encodeLine(Self.displacedReply), to: victim, flags: Int32(MSG_DONTWAIT))
                    Glibc.shutdown(victim, Int32(SHUT_RDWR))
                }
                return admission
            }
            guard case .admitted(let id, _) = admission else {
                // Told, not queued: a client waiting in a queue would look like a hung memeater.
                let refusal = ControlReply.failure("too many connections: this memeater serves at most \(maximumConnections) at once")
                _ = send(line: encodeLine(refusal), to: client, flags: Int32(MSG_DONTWAIT))
                close(client)
                continue
            }
            do {
                try startDetachedThread { [self] in serve(client: client, id: id) }
            } catch {
                held.withLock { held in
                    held.table.remove(id)
                    held.descriptors[id] = nil
                }
                close(client)
            }
        }
    }

    /// Told to a connection displaced by a newer one before it authenticated.
    static let displacedReply = ControlReply.failure("not authenticated yet and the server is full: this connection made room for a newer one")

    /// The peer's address: 4 bytes for IPv4 (an IPv4-mapped IPv6 peer too), 16 for IPv6.
    private static func addressBytes(of storage: sockaddr_storage) -> [UInt8] {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafeBytes(of: &storage) { raw in
                withUnsafeBytes(of: raw.load(as: sockaddr_in.self).sin_addr) { Array($0) }
            }
        case AF_INET6:
            let bytes = withUnsafeBytes(of: &storage) { raw in
                withUnsafeBytes(of: raw.load(as: sockaddr_in6.self).sin6_addr) { Array($0) }
            }
            let mappedPrefix: [UInt8] = Array(repeating: 0, count: 10) + [0xff, 0xff]
            return Array(bytes.prefix(12)) == mappedPrefix ? Array(bytes.suffix(4)) : bytes
        default:
            return []
        }
    }

    /// Whether bytes wait to be read on `client` (a client whose `auth` is on its way).
    private static func hasBytesWaiting(_ client: Int32) -> Bool {
        var waiting: Int32 = 0
        return ioctl(client, UInt(FIONREAD), &waiting) == 0 && waiting > 0
    }

    private func serve(client: Int32, id: UInt64) {
        defer {
            held.withLock { held in
                held.table.remove(id)
                held.descriptors[id] = nil
            }
            close(client)
        }
        var state = ControlConnectionState(access: handler.access)
        // One deadline from the connection on, not per read: a client trickling a byte at a
        // time must not keep its slot without authenticating.
        let authenticationDeadline = me_monotonic_ns() + UInt64(authenticationTimeoutSeconds * 1e9)
        let late = ControlReply.failure("not authenticated within \(authenticationTimeoutSeconds) s of connecting")
        var framer = ControlLineFramer()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            if !state.isAuthenticated {
                let now = me_monotonic_ns()
                guard now < authenticationDeadline else {
                    _ = send(line: encodeLine(late), to: client)
                    return
                }
                setReceiveTimeout(client, seconds: Double(authenticationDeadline - now) / 1e9)
            }
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !state.isAuthenticated {
                _ = send(line: encodeLine(late), to: client)
                return
            }
            if count == 0 && framer.hasUnterminatedRequest {
                // The client closed its side mid-line: what came may be cut short, so it does not run.
                _ = send(line: encodeLine(Self.unterminatedReply), to: client)
                return
            }
            if count <= 0 { return }
            if !state.isAuthenticated {
                // Spoken: displaced only after the silent ones. Gone: displaced already.
                guard held.withLock({ $0.table.markSpoken(id) }) else { return }
            }
            framer.append(buffer[0..<count])
            lines: while true {
                let line: Substring
                switch framer.next() {
                case .line(let next):
                    line = next
                case .needMore:
                    break lines
                case .tooLong:
                    _ = send(line: encodeLine(Self.tooLongReply), to: client)
                    return
                }
                let wasAuthenticated = state.isAuthenticated
                let (reply, then) = handler.reply(toLine: line, connection: &state)
                if state.isAuthenticated && !wasAuthenticated {
                    // From now on it holds its slot for good; displaced meanwhile, it is gone.
                    guard held.withLock({ $0.table.markAuthenticated(id) }) else { return }
                }
                guard send(line: reply, to: client) else { return }
                switch then {
                case .serveNext:
                    // An authenticated connection may stay idle as long as it likes (a whole migration).
                    if state.isAuthenticated && !wasAuthenticated { setReceiveTimeout(client, seconds: 0) }
                case .close:
                    return
                case .stop:
                    handler.onStop()
                    return
                }
            }
        }
    }

    /// Told to a client whose line grew past ``ControlLineFramer/maximumLineBytes`` before the connection is closed.
    static let tooLongReply = ControlReply.failure("request line longer than \(ControlLineFramer.maximumLineBytes) bytes")
    /// Told to a client that closed its side in the middle of a line.
    static let unterminatedReply = ControlReply.failure("the last request has no newline at its end: not run (a request is one line ending in \\n)")

    /// Bounds each `recv` on `client` (0: no bound; anything above 0 waits at least 1 µs,
    /// since a zero `timeval` would mean no bound).
    private func setReceiveTimeout(_ client: Int32, seconds: Double) {
        let whole = seconds.rounded(.down)
        var microseconds = Int((seconds - whole) * 1e6)
        if seconds > 0 && whole == 0 && microseconds == 0 { microseconds = 1 }
        var timeout = timeval(tv_sec: Int(whole), tv_usec: microseconds)
        _ = setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    private func send(line: String, to client: Int32, flags: Int32 = 0) -> Bool {
        var bytes = Array((line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeMutableBytes {
                Glibc.send(client, $0.baseAddress.map { $0 + offset }, $0.count - offset, Int32(MSG_NOSIGNAL) | flags)
            }
            if sent < 0 && errno == EINTR { continue }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }
}

/// The connection table of a ``ControlServer`` with each held connection's socket.
private struct HeldConnections {
    var table: ControlConnectionTable
    var descriptors: [UInt64: Int32] = [:]
}
