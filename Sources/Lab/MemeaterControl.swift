import Foundation

/// A connection to memeater's control protocol inside a guest: one JSON object per line
/// each way (`{"command":"info"}` → `{"ok":true,...}`).
///
/// The socket is opened inside a namespace that reaches the guest (the lab's client
/// namespace) and keeps working from any thread afterwards.
public final class MemeaterControlConnection: @unchecked Sendable {
    private let descriptor: Int32
    private let lock = NSLock()
    private var buffer = [UInt8]()
    /// Where it is connected, for messages.
    public let endpoint: String

    private init(descriptor: Int32, endpoint: String) {
        self.descriptor = descriptor
        self.endpoint = endpoint
    }

    deinit { close(descriptor) }

    /// Connects to `address:port` from network namespace `namespace` (or from the
    /// current one when `namespace` is nil); every read and write has `timeoutSeconds`.
    public static func connect(namespace: String?, address: String, port: Int,
                               timeoutSeconds: Double = 5) throws -> MemeaterControlConnection {
        let endpoint = "\(address):\(port)"
        let open: @Sendable () throws -> Int32 = {
            let step = "connect to memeater at \(endpoint)"
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw LabError(step: step, reason: "socket: \(String(cString: strerror(errno)))") }
            var timeout = timeval(tv_sec: Int(timeoutSeconds), tv_usec: Int((timeoutSeconds - Double(Int(timeoutSeconds))) * 1e6))
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, address, &socketAddress.sin_addr) == 1 else {
                close(fd)
                throw LabError(step: step, reason: "not an IPv4 address: \(address)")
            }
            let result = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard result == 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw LabError(step: step, reason: reason)
            }
            return fd
        }
        let fd = try namespace.map { try NetworkNamespace.run(in: $0, open) } ?? open()
        return MemeaterControlConnection(descriptor: fd, endpoint: endpoint)
    }

    /// Sends one request line (a JSON object) and returns the reply line.
    public func requestLine(_ json: String) throws -> String {
        lock.lock(); defer { lock.unlock() }
        let step = "memeater request \(json) at \(endpoint)"
        var bytes = Array((json + "\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeMutableBytes { send(descriptor, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw LabError(step: step, reason: "send: \(String(cString: strerror(errno)))") }
            sent += count
        }
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { throw LabError(step: step, reason: "memeater closed the connection") }
            guard count > 0 else { throw LabError(step: step, reason: "recv: \(String(cString: strerror(errno)))") }
            buffer.append(contentsOf: chunk[..<count])
        }
    }

    /// Sends `{"command": command, ...arguments}` and returns the decoded reply; throws when
    /// the reply is not a JSON object or says `"ok": false`.
    public func request(_ command: String, arguments: [String: Double] = [:]) throws -> [String: Any] {
        var object: [String: Any] = ["command": command]
        for (key, value) in arguments { object[key] = value }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        let line = try requestLine(String(decoding: data, as: UTF8.self))
        guard let reply = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw LabError(step: "memeater \(command) at \(endpoint)", reason: "reply is not a JSON object: \(line)")
        }
        if let ok = reply["ok"] as? Bool, !ok {
            throw LabError(step: "memeater \(command) at \(endpoint)", reason: "memeater said: \(reply["error"] ?? line)")
        }
        return reply
    }

    /// memeater's `info` reply fields (the object under `"info"`).
    public func info() throws -> [String: Any] {
        let reply = try request("info")
        guard let info = reply["info"] as? [String: Any] else {
            throw LabError(step: "memeater info at \(endpoint)", reason: "reply has no \"info\" object: \(reply)")
        }
        return info
    }
}
