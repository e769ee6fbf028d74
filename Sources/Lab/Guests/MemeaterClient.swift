import Foundation
import MemeaterKit
import Synchronization

/// A client of memeater's control protocol (one JSON object per line each way, see
/// ``ControlRequest`` and ``ControlReply``), used by the lab and the verifier alike.
///
/// The socket is opened inside a network namespace that reaches the guest (the lab's client
/// namespace) or the current one, and keeps working from any thread afterwards. Requests are
/// sent one at a time; every read and write has the timeout given at connection. With a
/// token the client authenticates as it connects, so every request it sends is obeyed or
/// refused on its own merits.
public final class MemeaterClient: Sendable {
    private let descriptor: Int32
    /// Bytes received after the last reply line (a reply is read up to its newline).
    private let pending = Mutex<[UInt8]>([])
    /// `address:port`, for messages.
    public let endpoint: String

    /// Connects to memeater at `address:port` (numeric IPv4 or IPv6), from network namespace
    /// `namespace` (`nil`: the current one), and presents `token` (`nil`: none, for a memeater
    /// started with `serve --no-auth`). Connecting, every send and every reply wait at most
    /// `timeoutSeconds`. A refused token throws, naming memeater's reason.
    public init(namespace: String?, address: String, port: Int, token: ControlToken?, timeoutSeconds: Double = 10) throws(LabError) {
        let endpoint = SocketAddress.endpointText(host: address, port: port)
        let step = "connect to memeater at \(endpoint)" + (namespace.map { " from \($0)" } ?? "")
        guard timeoutSeconds > 0, timeoutSeconds.isFinite else {
            throw LabError(step: step, reason: "the timeout must be a positive number of seconds, got \(timeoutSeconds)")
        }
        guard (1...65_535).contains(port) else { throw LabError(step: step, reason: "port \(port) is not 1-65535") }
        guard let target = SocketAddress(numericHost: address, port: port) else {
            throw LabError(step: step, reason: "not a numeric IPv4 or IPv6 address: \(address)")
        }
        let open: @Sendable () throws -> Int32 = {
            let fd = socket(target.family, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw LabError(step: step, reason: "socket: \(String(cString: strerror(errno)))") }
            let whole = timeoutSeconds.rounded(.down)
            var timeout = timeval(tv_sec: Int(whole), tv_usec: Int((timeoutSeconds - whole) * 1e6))
            // SO_SNDTIMEO also bounds connect() on Linux.
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let result = target.withSockaddr { Glibc.connect(fd, $0, $1) }
            guard result == 0 else {
                let code = errno
                close(fd)
                let reason = code == EINPROGRESS || code == EAGAIN
                    ? "no connection within \(timeoutSeconds) s" : String(cString: strerror(code))
                throw LabError(step: step, reason: reason)
            }
            return fd
        }
        do {
            descriptor = try namespace.map { try NetworkNamespace.run(in: $0, open) } ?? open()
        } catch let error as LabError {
            // The namespace's own errors (it could not be entered) get this step, and the endpoint.
            throw error.step == step ? error : LabError(step: step, reason: "\(error.step): \(error.reason)")
        } catch {
            throw LabError(step: step, reason: "\(error)")
        }
        self.endpoint = endpoint
        if let token {
            // The descriptor is closed by deinit when this throws.
            _ = try send(.auth(token))
        }
    }

    deinit { close(descriptor) }

    /// Sends one request and returns memeater's reply; a reply with `ok: false` throws an
    /// error that names memeater's message.
    public func send(_ request: ControlRequest) throws(LabError) -> ControlReply {
        let step = "memeater \(request.command.rawValue) at \(endpoint)"
        let line = try exchange(encodeLine(request), step: step)
        guard let reply = try? JSONDecoder().decode(ControlReply.self, from: Data(line.utf8)) else {
            throw LabError(step: step, reason: "the reply is not a memeater reply: \(line.prefix(200))")
        }
        guard reply.ok else { throw LabError(step: step, reason: "memeater said: \(reply.error ?? line)") }
        return reply
    }

    /// `info`: protocol version, pid, boot id, uptime, region.
    public func info() throws(LabError) -> ControlInfo {
        guard let info = try send(ControlRequest(command: .info)).info else {
            throw LabError(step: "memeater info at \(endpoint)", reason: "the reply has no info")
        }
        return info
    }

    /// `stats`: the latest progress record (its `maxStallMicrosecondsPerThread` is nil from a
    /// memeater older than that field).
    public func stats() throws(LabError) -> ProgressRecord {
        try clockedStats().stats
    }

    /// `stats` with the guest's monotonic clock when memeater answered (`nil` from a memeater
    /// older than that field).
    public func clockedStats() throws(LabError) -> (stats: ProgressRecord, guestMonotonicNanoseconds: UInt64?) {
        let reply = try send(ControlRequest(command: .stats))
        guard let stats = reply.stats else {
            throw LabError(step: "memeater stats at \(endpoint)", reason: "the reply has no stats")
        }
        return (stats, reply.guestMonotonicNanoseconds)
    }

    /// `history`: memeater's unique-page counter at each progress report of the last ten
    /// minutes, on the guest's clock, oldest first.
    public func history() throws(LabError) -> [RateHistorySample] {
        guard let history = try send(ControlRequest(command: .history)).history else {
            throw LabError(step: "memeater history at \(endpoint)", reason: "the reply has no history")
        }
        return history
    }

    /// `verify-all`: every page checked.
    public func verifyAll() throws(LabError) -> VerificationReport {
        guard let report = try send(ControlRequest(command: .verifyAll)).verification else {
            throw LabError(step: "memeater verify-all at \(endpoint)", reason: "the reply has no verification")
        }
        return report
    }

    /// `set-rate`: memeater's target rate of unique pages, in MiB/s (0: unlimited).
    public func setRate(mibPerSecond: Double) throws(LabError) {
        _ = try send(ControlRequest(command: .setRate, mibPerSecond: mibPerSecond))
    }

    /// `pause`: the workers stop dirtying (the region keeps its contents).
    public func pause() throws(LabError) { _ = try send(ControlRequest(command: .pause)) }

    /// `resume`: the workers dirty again at the set rate.
    public func resume() throws(LabError) { _ = try send(ControlRequest(command: .resume)) }

    /// `reset-stall`: the largest loop gap seen so far starts again from 0.
    public func resetStall() throws(LabError) { _ = try send(ControlRequest(command: .resetStall)) }

    /// `corrupt-page`: memeater spoils one page (fault injection for the integrity check's tests);
    /// refused by a memeater started without `--allow-fault-injection`.
    public func corruptPage(_ page: Int) throws(LabError) {
        _ = try send(ControlRequest(command: .corruptPage, page: page))
    }

    /// Sends `line` and a newline, and returns the next reply line (without its newline).
    private func exchange(_ line: String, step: String) throws(LabError) -> String {
        let descriptor = self.descriptor
        return try pending.withLock { (buffer: inout [UInt8]) throws(LabError) -> String in
            let bytes = Array((line + "\n").utf8)
            var sent = 0
            while sent < bytes.count {
                let count = bytes.withUnsafeBytes {
                    Glibc.send(descriptor, $0.baseAddress.map { $0 + sent }, $0.count - sent, Int32(MSG_NOSIGNAL))
                }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw LabError(step: step, reason: "send: \(Self.errnoText(errno))") }
                sent += count
            }
            while true {
                if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let reply = String(decoding: buffer[..<newline], as: UTF8.self)
                    buffer.removeSubrange(...newline)
                    return reply
                }
                var chunk = [UInt8](repeating: 0, count: 4096)
                let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                if count == 0 { throw LabError(step: step, reason: "memeater closed the connection") }
                guard count > 0 else { throw LabError(step: step, reason: "recv: \(Self.errnoText(errno))") }
                buffer.append(contentsOf: chunk[..<count])
            }
        }
    }

    /// `strerror` text; a socket timeout (EAGAIN) says "timed out".
    private static func errnoText(_ code: Int32) -> String {
        code == EAGAIN || code == EWOULDBLOCK ? "timed out (\(String(cString: strerror(code))))" : String(cString: strerror(code))
    }
}
