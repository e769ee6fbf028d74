import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// TCP server for the line-based control protocol: one thread accepts, one thread per client.
/// Connections are plain TCP and stay open across a live migration of the guest.
public final class ControlServer: Sendable {
    /// The port actually bound (useful when 0 was asked for).
    public let port: Int
    public let listenAddress: String
    private let listener: Int32
    private let handler: ControlHandler
    private let clients = Mutex<Set<Int32>>([])
    private let closed = Atomic<Bool>(false)
    /// A line longer than this is not a request of ours; the client is told and dropped.
    static let maximumLineBytes = 64 * 1024

    /// Binds and listens; call `start()` to accept clients.
    public init(listenAddress: String = "0.0.0.0", port: Int, handler: ControlHandler) throws(MemeaterError) {
        guard (0...65535).contains(port) else { throw .socketFailed(call: "bind to port \(port)", errno: EINVAL) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, listenAddress, &address.sin_addr) == 1 else {
            throw .socketFailed(call: "parse listen address \(listenAddress)", errno: EINVAL)
        }
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socketFD >= 0 else { throw .socketFailed(call: "socket", errno: errno) }
        var yes: Int32 = 1
        setsockopt(socketFD, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
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
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.listenAddress = listenAddress
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
            clients.withLock { _ = $0.insert(client) }
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
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return }
            pending.append(contentsOf: buffer[0..<count])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                var line = String(decoding: pending[..<newline], as: UTF8.self)[...]
                pending.removeSubrange(...newline)
                if line.hasSuffix("\r") { line = line.dropLast() }
                if line.allSatisfy(\.isWhitespace) { continue }
                let (reply, stop) = handler.reply(toLine: line)
                guard send(line: reply, to: client) else { return }
                if stop {
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

    private func send(line: String, to client: Int32) -> Bool {
        var bytes = Array((line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeMutableBytes {
                Glibc.send(client, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 && errno == EINTR { continue }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }
}
