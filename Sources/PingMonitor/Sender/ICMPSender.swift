#if canImport(Glibc)
import Glibc
#endif

/// Sends pingmon's echo requests from a raw socket bound to one interface: ICMP over IPv4
/// (`socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)`) or ICMPv6 (`socket(AF_INET6, SOCK_RAW,
/// IPPROTO_ICMPV6)`, whose checksum the kernel computes), as the target's family says. The
/// sending thread, its pacing and its statistics (``PingSession``, ``EchoProbe``) are the same
/// for both. pingmon's sender never reads: replies are taken from the capture, and the socket's
/// receive side is filtered shut so that the kernel does not queue copies of every ICMP packet
/// for it. (``EchoProbe`` lets echo replies through and reads them from the socket.)
public final class ICMPSender: @unchecked Sendable {
    /// The probed address.
    public let target: IPAddress
    /// The interface the probes leave by.
    public let interface: String
    /// The ICMP identifier of this run.
    public let identifier: UInt16
    /// The raw socket; readable only when opened with `receivesEchoReplies`.
    let socket: Int32
    private var destination: sockaddr_storage
    private let destinationLength: socklen_t
    private let buffer: UnsafeMutableRawBufferPointer

    /// Opens the socket. The corresponding C calls are `socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)`
    /// (IPv4) or `socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)` (IPv6), and `setsockopt(SO_BINDTODEVICE)`.
    public convenience init(target: IPAddress, interface: String, identifier: UInt16) throws(PingMonitorError) {
        try self.init(target: target, interface: interface, identifier: identifier, receivesEchoReplies: false)
    }

    /// Opens the socket; with `receivesEchoReplies` the kernel queues echo replies (ICMP type 0
    /// or ICMPv6 type 129, and nothing else) arriving on `interface` for it.
    init(target: IPAddress, interface: String, identifier: UInt16, receivesEchoReplies: Bool) throws(PingMonitorError) {
        self.target = target
        self.interface = interface
        self.identifier = identifier
        let isIPv6 = target.family == .ipv6
        let socketCall = isIPv6 ? "socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)" : "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)"
        let descriptor = isIPv6 ? Glibc.socket(AF_INET6, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_ICMPV6))
            : Glibc.socket(AF_INET, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_ICMP))
        guard descriptor >= 0 else {
            let code = errno
            if code == EPERM || code == EACCES {
                throw PingMonitorError.permissionDenied(operation: "open a raw \(isIPv6 ? "ICMPv6" : "ICMP") socket", detail: "socket: \(errnoDescription(code))")
            }
            throw PingMonitorError.socketFailed(call: socketCall, interface: interface, errno: code)
        }
        // Set up the socket before any stored property holds it: once all are set, a throw would
        // run deinit, which closes the socket and frees the buffer a second time.
        do throws(PingMonitorError) {
            // Leave by the captured interface whatever the routing table says.
            let bound = interface.withCString { name in
                setsockopt(descriptor, SOL_SOCKET, SO_BINDTODEVICE, name, socklen_t(strlen(name) + 1))
            }
            guard bound == 0 else {
                let code = errno
                if code == EPERM { throw PingMonitorError.permissionDenied(operation: "bind a socket to \(interface)", detail: "SO_BINDTODEVICE: \(errnoDescription(code))") }
                if code == ENODEV { throw PingMonitorError.interfaceNotFound(interface) }
                throw PingMonitorError.socketFailed(call: "setsockopt(SO_BINDTODEVICE)", interface: interface, errno: code)
            }
            if isIPv6 {
                // ICMP6_FILTER (level IPPROTO_ICMPV6, option 1): 256 bits, a set bit drops that
                // ICMPv6 type (Linux, RFC 3542 section 3.2); drop them all, or all but echo
                // replies (type 129: word 4, bit 1).
                var filter = [UInt32](repeating: 0xFFFF_FFFF, count: 8)
                if receivesEchoReplies { filter[129 >> 5] &= ~(UInt32(1) << (129 & 31)) }
                let status = filter.withUnsafeBytes { bytes in
                    setsockopt(descriptor, Int32(IPPROTO_ICMPV6), 1, bytes.baseAddress, socklen_t(bytes.count))
                }
                if status != 0 {
                    throw PingMonitorError.socketFailed(call: "setsockopt(ICMP6_FILTER)", interface: interface, errno: errno)
                }
            } else {
                // ICMP_FILTER (SOL_RAW 255, option 1): a set bit drops that ICMP type; drop them all,
                // or all but echo replies (type 0).
                var filter: UInt32 = receivesEchoReplies ? 0xFFFF_FFFE : 0xFFFF_FFFF
                if setsockopt(descriptor, 255, 1, &filter, socklen_t(MemoryLayout<UInt32>.size)) != 0 {
                    throw PingMonitorError.socketFailed(call: "setsockopt(ICMP_FILTER)", interface: interface, errno: errno)
                }
            }
            var sendBufferBytes: Int32 = 1 << 20
            _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &sendBufferBytes, socklen_t(MemoryLayout<Int32>.size))
        } catch {
            close(descriptor)
            throw error
        }
        socket = descriptor
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ProbePacket.size, alignment: 8)
        (destination, destinationLength) = Self.socketAddress(of: target, interface: interface)
    }

    /// The `sockaddr_in` or `sockaddr_in6` of `target`, and its length. A link-local IPv6
    /// address means something only on one link: its zone (`sin6_scope_id`) is `interface`'s index.
    private static func socketAddress(of target: IPAddress, interface: String) -> (sockaddr_storage, socklen_t) {
        var storage = sockaddr_storage()
        switch target {
        case .v4(let address):
            withUnsafeMutableBytes(of: &storage) { bytes in
                var ipv4 = sockaddr_in()
                ipv4.sin_family = sa_family_t(AF_INET)
                ipv4.sin_addr.s_addr = address.value.bigEndian
                bytes.storeBytes(of: ipv4, as: sockaddr_in.self)
            }
            return (storage, socklen_t(MemoryLayout<sockaddr_in>.size))
        case .v6(let address):
            var ipv6 = sockaddr_in6()
            ipv6.sin6_family = sa_family_t(AF_INET6)
            withUnsafeMutableBytes(of: &ipv6.sin6_addr) { bytes in
                for (index, byte) in address.bytes.enumerated() { bytes[index] = byte }
            }
            ipv6.sin6_scope_id = address.isLinkLocal ? if_nametoindex(interface) : 0
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: ipv6, as: sockaddr_in6.self) }
            return (storage, socklen_t(MemoryLayout<sockaddr_in6>.size))
        }
    }

    deinit {
        close(socket)
        buffer.deallocate()
    }

    /// Sends the echo request of probe `sequence`; returns 0 on success or the errno of a failed
    /// `sendto` (the probe was not sent). The corresponding C function is `sendto`.
    public func send(sequence: UInt64, intervalMicroseconds: UInt32) -> Int32 {
        ProbePacket.writeEchoRequest(into: buffer, identifier: identifier, sequence: sequence, intervalMicroseconds: intervalMicroseconds,
                                     sendTimeNanoseconds: Clock.realtimeNanoseconds(), family: target.family)
        let sent = withUnsafePointer(to: &destination) { address in
            address.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                sendto(socket, buffer.baseAddress, ProbePacket.size, 0, generic, destinationLength)
            }
        }
        return sent == ProbePacket.size ? 0 : (sent < 0 ? errno : EMSGSIZE)
    }

    /// Reads one queued packet into `packet` without waiting: its length and the address it came
    /// from, or nil when nothing could be read (EAGAIN, a queued ICMP error). An IPv4 raw socket
    /// reads the IP header and all; an ICMPv6 one only the ICMPv6 message (RFC 3542 section 3).
    /// The corresponding C function is `recvfrom`.
    func receive(into packet: UnsafeMutableRawBufferPointer) -> (length: Int, source: IPAddress?)? {
        var source = sockaddr_storage()
        var sourceLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let length = withUnsafeMutablePointer(to: &source) { storage in
            storage.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                recvfrom(socket, packet.baseAddress, packet.count, Int32(MSG_DONTWAIT), generic, &sourceLength)
            }
        }
        guard length > 0 else { return nil }
        let address: IPAddress? = withUnsafeBytes(of: &source) { storage in
            switch Int32(storage.load(fromByteOffset: 0, as: sa_family_t.self)) {
            case AF_INET6:
                let bytes = withUnsafeBytes(of: storage.load(as: sockaddr_in6.self).sin6_addr) { Array($0) }
                return IPv6Address(bytes: bytes).map(IPAddress.v6)
            case AF_INET:
                return .v4(IPv4Address(value: UInt32(bigEndian: storage.load(as: sockaddr_in.self).sin_addr.s_addr)))
            default:
                return nil
            }
        }
        return (length, address)
    }
}

/// The clocks the sender and the live status use.
enum Clock {
    /// CLOCK_MONOTONIC in nanoseconds: for pacing, immune to clock steps.
    static func monotonicNanoseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    /// CLOCK_REALTIME in nanoseconds: the clock of the kernel's capture timestamps.
    static func realtimeNanoseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    /// Sleeps until CLOCK_MONOTONIC reaches `deadline` (nanoseconds); returns at once if past.
    static func sleep(untilMonotonic deadline: Int64) {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &time, nil) == EINTR {}
    }

    /// The real-time priority of the sending thread: above every normal process, so that other
    /// work on a busy machine (QEMU under TCG, compilers, stress-ng) cannot delay a probe, and
    /// low among real-time threads (the kernel's own run at 50). The thread sleeps between
    /// probes, so it takes a tiny share of a core.
    static let senderRealtimePriority: Int32 = 10

    /// Moves the calling thread to SCHED_FIFO at ``senderRealtimePriority``. Best effort (it
    /// needs CAP_SYS_NICE or an RLIMIT_RTPRIO): returns how the thread is scheduled, and why
    /// not real-time when it could not be.
    static func requestRealtimeSchedulingOfCurrentThread() -> String {
        var parameters = sched_param()
        parameters.sched_priority = senderRealtimePriority
        let failure = pthread_setschedparam(pthread_self(), SCHED_FIFO, &parameters)
        return failure == 0 ? "SCHED_FIFO priority \(senderRealtimePriority)"
            : "SCHED_OTHER (SCHED_FIFO refused: \(errnoDescription(failure)))"
    }

    /// Asks for 1 ns of timer slack for the calling thread (default 50 µs), so that sleeps end
    /// on time at sub-millisecond intervals. Best effort: returns false when not possible.
    @discardableResult
    static func minimiseTimerSlackOfCurrentThread() -> Bool {
        // prctl is variadic and not callable from Swift; /proc/<tid>/timerslack_ns is the same knob.
        // /proc/thread-self links to "<pid>/task/<tid>"; gettid is not exported to Swift.
        var link = [CChar](repeating: 0, count: 64)
        let length = readlink("/proc/thread-self", &link, link.count - 1)
        guard length > 0, let tid = String(decoding: link.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .split(separator: "/").last, tid.allSatisfy(\.isNumber) else { return false }
        guard let file = fopen("/proc/\(tid)/timerslack_ns", "w") else { return false }
        defer { fclose(file) }
        return fputs("1", file) >= 0
    }
}
