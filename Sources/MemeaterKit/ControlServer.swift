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
/// ``authenticationTimeoutSeconds`` of connecting, so that connections that never do cannot
/// hold the slots of the verifier for good.
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
    private let clients = Mutex<Set<Int32>>([])
    private let closed = Atomic<Bool>(false)
    /// A line longer than this is not a request of ours; the client is told and dropped.
    static let maximumLineBytes = 64 * 1024
    /// The default of ``maximumConnections``: the verifier holds one or two connections, a
    /// user looking in by hand one more.
    public static let defaultMaximumConnections = 8
    /// The largest ``maximumConnections`` accepted (each client is a thread).
    public static let maximumConnectionsLimit = 256

    /// Binds and listens; call `start()` to accept clients.
    public init(listenAddress: String, port: Int, handler: ControlHandler,
                maximumConnections: Int = ControlServer.defaultMaximumConnections,
                authenticationTimeoutSeconds: Double = 10) throws(MemeaterError) {
        guard (0...65535).contains(port) else { throw .socketFailed(call: "bind to port \(port)", errno: EINVAL) }
        guard (1...Self.maximumConnectionsLimit).contains(maximumConnections) else {
            throw .controlSettingInvalid(reason: "the connection limit must be 1-\(Self.maximumConnectionsLimit), got \(maximumConnections)")
        }
        guard authenticationTimeoutSeconds > 0, authenticationTimeoutSeconds.isFinite else {
            throw .controlSettingInvalid(reason: "the authentication timeout must be a positive number of seconds, got \(authenticationTimeoutSeconds)")
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
    }

    deinit { shutdownServer() }

    /// Starts the accept thread.
    public func start() throws(MemeaterError) {
        _ = try startThread { [self] in acceptLoop() }
    }

    /// Stops accepting and closes every client connection.
    public func shutdownServer() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        clients.withLock { open in
            for client in open { Glibc.shutdown(client, Int32(SHUT_RDWR)) }
        }
    }

    private func acceptLoop() {
        while !closed.load(ordering: .acquiring) {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let admitted = clients.withLock { open in
                guard open.count < maximumConnections else { return false }
                open.insert(client)
                return true
            }
            guard admitted else {
                // Told, not queued: a client waiting in a queue would look like a hung memeater.
                let refusal = ControlReply.failure("too many connections: this memeater serves at most \(maximumConnections) at once")
                _ = send(line: encodeLine(refusal), to: client, flags: Int32(MSG_DONTWAIT))
                close(client)
                continue
            }
            do {
                _ = try startThread { [self] in serve(client: client) }
            } catch {
                clients.withLock { _ = $0.remove(client) }
                close(client)
            }
        }
    }

    private func serve(client: Int32) {
        defer {
            clients.withLock { _ = $0.remove(client) }
            close(client)
        }
        var state = ControlConnectionState(access: handler.access)
        // One deadline from the connection on, not per read: a client trickling a byte at a
        // time must not keep its slot without authenticating.
        let authenticationDeadline = me_monotonic_ns() + UInt64(authenticationTimeoutSeconds * 1e9)
        let late = ControlReply.failure("not authenticated within \(authenticationTimeoutSeconds) s of connecting")
        var pending: [UInt8] = []
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
            if count <= 0 { return }
            pending.append(contentsOf: buffer[0..<count])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                var line = String(decoding: pending[..<newline], as: UTF8.self)[...]
                pending.removeSubrange(...newline)
                if line.hasSuffix("\r") { line = line.dropLast() }
                if line.allSatisfy(\.isWhitespace) { continue }
                let wasAuthenticated = state.isAuthenticated
                let (reply, then) = handler.reply(toLine: line, connection: &state)
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
            if pending.count > Self.maximumLineBytes {
                _ = send(line: encodeLine(ControlReply.failure("request line longer than \(Self.maximumLineBytes) bytes")), to: client)
                return
            }
        }
    }

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
