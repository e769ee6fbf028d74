#if canImport(Glibc)
import Glibc
#endif

/// What an ``EchoProbe`` found: whether the target answered, and what was sent.
public struct EchoProbeResult: Sendable, Equatable, CustomStringConvertible {
    /// The probed address.
    public var target: IPAddress
    /// The interface the probes left by.
    public var interface: String
    /// Echo requests handed to the kernel.
    public var probesSent: Int
    /// The sequence number (from 0) of the first probe answered; `nil`: no reply.
    public var answeredSequence: UInt64?
    /// Time from sending the answered probe to reading its reply, in microseconds (the
    /// socket's view, not capture timestamps: a rough figure).
    public var roundTripMicroseconds: Double?
    /// Probes the kernel refused to send (`sendto` failed), and the last reason.
    public var sendErrors: Int
    public var lastSendError: String?

    public init(target: IPAddress, interface: String, probesSent: Int, answeredSequence: UInt64? = nil,
                roundTripMicroseconds: Double? = nil, sendErrors: Int = 0, lastSendError: String? = nil) {
        self.target = target
        self.interface = interface
        self.probesSent = probesSent
        self.answeredSequence = answeredSequence
        self.roundTripMicroseconds = roundTripMicroseconds
        self.sendErrors = sendErrors
        self.lastSendError = lastSendError
    }

    /// Whether the target answered at least one probe.
    public var answered: Bool { answeredSequence != nil }

    public var description: String {
        if let answeredSequence {
            let rtt = roundTripMicroseconds.map { String(Int($0.rounded())) + " µs" } ?? "?"
            return "\(target) answered echo request \(answeredSequence + 1) of \(probesSent) sent on \(interface) (round trip \(rtt))"
        }
        var text = "no echo reply from \(target) to \(probesSent) requests sent on \(interface)"
        if sendErrors > 0 { text += "; \(sendErrors) could not be sent (\(lastSendError ?? "unknown error"))" }
        return text
    }
}

/// A reachability check with pingmon's probes: sends up to `count` echo requests to one address
/// and returns at the first reply, or when none came within the reply timeout after the last
/// request. Unlike a ``PingSession`` it needs no capture: the replies are read from the raw
/// socket itself (which lets echo replies through, and nothing else). IPv4 and IPv6 alike: the
/// socket is ICMP or ICMPv6 as the target's family says.
///
/// A socket that cannot be opened (not root, no such interface, a target outside the allowed
/// networks) is a thrown ``PingMonitorError``; no reply is a result with `answered == false`.
public final class EchoProbe: Sendable {
    /// The probed address.
    public var target: IPAddress { sender.target }
    /// The interface the probes leave by.
    public var interface: String { sender.interface }
    private let sender: ICMPSender

    /// Opens a raw ICMP (IPv4) or ICMPv6 (IPv6) socket bound to `interface` (in the current
    /// network namespace) for probing `target`, a unicast address inside `allowedNetworks` when a
    /// limit is given.
    public init(target: IPAddress, interface: String, identifier: UInt16 = .random(in: 1...UInt16.max),
                allowedNetworks: [IPNetwork]? = nil) throws(PingMonitorError) {
        try PingConfiguration.checkTarget(target, allowedNetworks: allowedNetworks)
        sender = try ICMPSender(target: target, interface: interface, identifier: identifier, receivesEchoReplies: true)
    }

    /// Sends up to `count` echo requests `intervalMilliseconds` apart and returns as soon as
    /// one is answered, or `replyTimeoutMilliseconds` after the last one. Not to be called from
    /// two threads at once.
    public func run(count: Int, intervalMilliseconds: Int = 200, replyTimeoutMilliseconds: Int = 1_000) throws(PingMonitorError) -> EchoProbeResult {
        guard count >= 1 else {
            throw PingMonitorError.invalidSetting(name: "count", value: "\(count)", expected: "must be at least 1 probe")
        }
        guard intervalMilliseconds >= 1, intervalMilliseconds <= 60_000 else {
            throw PingMonitorError.invalidSetting(name: "interval", value: "\(intervalMilliseconds) ms", expected: "must be between 1 and 60000 ms")
        }
        guard replyTimeoutMilliseconds >= 0, replyTimeoutMilliseconds <= 60_000 else {
            throw PingMonitorError.invalidSetting(name: "reply timeout", value: "\(replyTimeoutMilliseconds) ms", expected: "must be between 0 and 60000 ms")
        }
        var result = EchoProbeResult(target: target, interface: interface, probesSent: 0)
        let interval = Int64(intervalMilliseconds) * 1_000_000
        var sendTimes: [UInt64: Int64] = [:]
        var sequence: UInt64 = 0
        var nextSend = Clock.monotonicNanoseconds()
        var deadline = nextSend
        var packet = [UInt8](repeating: 0, count: 1_500)
        while true {
            let now = Clock.monotonicNanoseconds()
            if sequence < UInt64(count), now >= nextSend {
                let failure = sender.send(sequence: sequence, intervalMicroseconds: UInt32(intervalMilliseconds * 1_000))
                if failure == 0 {
                    sendTimes[sequence] = now
                    result.probesSent += 1
                } else {
                    result.sendErrors += 1
                    result.lastSendError = errnoDescription(failure)
                }
                sequence += 1
                nextSend += interval
                deadline = now + Int64(replyTimeoutMilliseconds) * 1_000_000
                continue
            }
            // While requests remain, wake for the next one; after the last, for its deadline.
            if sequence >= UInt64(count), now >= deadline { return result }
            let wakeUp = sequence < UInt64(count) ? nextSend : deadline
            var descriptor = pollfd(fd: sender.socket, events: Int16(POLLIN), revents: 0)
            let waitMilliseconds = Int32(clamping: max(0, (wakeUp - now + 999_999) / 1_000_000))
            let ready = poll(&descriptor, 1, waitMilliseconds)
            if ready < 0 {
                let code = errno
                if code == EINTR { continue }
                throw PingMonitorError.socketFailed(call: "poll", interface: interface, errno: code)
            }
            guard ready > 0 else { continue }
            let read = packet.withUnsafeMutableBytes { sender.receive(into: $0) }
            let received = Clock.monotonicNanoseconds()
            // A failed read (a queued ICMP error, EAGAIN) is not a reply; keep waiting.
            guard let read else { continue }
            if let answered = packet.withUnsafeBytes({ bytes in
                Self.answeredSequence(UnsafeRawBufferPointer(rebasing: bytes[..<read.length]), target: target,
                                      identifier: sender.identifier, source: read.source)
            }), let sent = sendTimes[answered] {
                result.answeredSequence = answered
                result.roundTripMicroseconds = Double(received - sent) / 1_000
                return result
            }
        }
    }

    /// The probe sequence a packet read from the raw socket answers: an echo reply from `target`
    /// with `identifier` and pingmon's payload; `nil` for anything else. For an IPv4 target the
    /// packet is what an IPv4 raw socket reads, IP header first; for an IPv6 target it is the
    /// ICMPv6 message alone (the kernel strips the IPv6 header) and `source` the address
    /// `recvfrom` gave, without which nothing matches.
    public static func answeredSequence(_ packet: UnsafeRawBufferPointer, target: IPAddress, identifier: UInt16,
                                        source: IPAddress? = nil) -> UInt64? {
        let decoded: DecodedPacket?
        switch target {
        case .v4:
            decoded = PacketDecoder.decode(packet, linkLayer: .rawIP)
        case .v6:
            guard case .v6(let from)? = source else { return nil }
            // The destination is not in an ICMPv6 read; it plays no part in the match.
            decoded = PacketDecoder.decodeICMPv6(ByteReader(packet), at: 0, end: packet.count, source: from,
                                                 destination: IPv6Address(high: 0, low: 0), hopLimit: nil, linkSource: nil)
        }
        guard case .echo(let echo)? = decoded, !echo.isRequest, echo.source == target, echo.identifier == identifier else { return nil }
        return echo.probe?.sequence
    }
}
