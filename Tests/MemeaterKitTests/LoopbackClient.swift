import Foundation
import MemeaterKit

/// A blocking TCP client on loopback; every read waits at most 10 s, so a broken server fails the test instead of hanging it.
final class LoopbackClient: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        let code: Int32
        var description: String { "socket: \(String(cString: strerror(code)))" }
    }

    private let descriptor: Int32
    private var closed = false

    init(port: Int, address: String = "127.0.0.1") throws {
        guard let target = SocketAddress(numericHost: address, port: port) else { throw Failure(code: EINVAL) }
        descriptor = socket(target.family, Int32(SOCK_STREAM.rawValue), 0)
        let result = target.withSockaddr { [descriptor] in Glibc.connect(descriptor, $0, $1) }
        guard result == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw Failure(code: code)
        }
        setTimeout(seconds: 10)
    }

    deinit { close() }

    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(descriptor)
    }

    private func setTimeout(seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Ends the connection both ways; a read blocked in another thread returns.
    func shutdown() {
        guard !closed else { return }
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Ends the sending side only: the server reads the end of the stream, the replies still come.
    func shutdownWrite() {
        guard !closed else { return }
        _ = Glibc.shutdown(descriptor, Int32(SHUT_WR))
    }

    /// Sends `bytes` as they are, all of them unless the server closes first; returns how many went.
    @discardableResult
    func sendAll(_ bytes: [UInt8]) -> Int {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && errno == EINTR { continue }
            if sent <= 0 { break }
            offset += sent
        }
        return offset
    }

    /// Sends `text` as it is (no newline added).
    func sendRaw(_ text: String) {
        let bytes = Array(text.utf8)
        _ = Glibc.send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL))
    }

    /// Sends a line and decodes the reply line; `nil` when the server closed instead.
    func exchange(_ line: String) throws -> [String: Any]? {
        let bytes = Array((line + "\n").utf8)
        guard Glibc.send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { return nil }
        guard let reply = try readLine() else { return nil }
        return try JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any]
    }

    /// The next line; `nil` at the end of the stream.
    func readLine() throws -> String? {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = recv(descriptor, &byte, 1, 0)
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw Failure(code: errno) }
            guard count == 1 else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
    }
}
