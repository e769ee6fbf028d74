#if canImport(Glibc)
import Glibc
#endif

/// Sends pingmon's echo requests from a raw ICMP socket bound to one interface. pingmon's
/// sender never reads: replies are taken from the capture, and the socket's receive side is
/// filtered shut so that the kernel does not queue copies of every ICMP packet for it.
/// (``EchoProbe`` lets echo replies through and reads them from the socket.)
public final class ICMPSender: @unchecked Sendable {
    /// The probed address.
    public let target: IPv4Address
    /// The interface the probes leave by.
    public let interface: String
    /// The ICMP identifier of this run.
    public let identifier: UInt16
    /// The raw socket; readable only when opened with `receivesEchoReplies`.
    let socket: Int32
    private var destination = sockaddr_in()
    private let buffer: UnsafeMutableRawBufferPointer

    /// Opens the socket. The corresponding C calls are `socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)`
    /// and `setsockopt(SO_BINDTODEVICE)`.
    public convenience init(target: IPv4Address, interface: String, identifier: UInt16) throws(PingMonitorError) {
        try self.init(target: target, interface: interface, identifier: identifier, receivesEchoReplies: false)
    }

    /// Opens the socket; with `receivesEchoReplies` the kernel queues echo replies (ICMP type 0,
    /// and nothing else) arriving on `interface` for it.
    init(target: IPv4Address, interface: String, identifier: UInt16, receivesEchoReplies: Bool) throws(PingMonitorError) {
        self.target = target
        self.interface = interface
        self.identifier = identifier
        let descriptor = Glibc.socket(AF_INET, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_ICMP))
        guard descriptor >= 0 else {
            let code = errno
            if code == EPERM || code == EACCES {
                throw PingMonitorError.permissionDenied(operation: "open a raw ICMP socket", detail: "socket: \(errnoDescription(code))")
            }
            throw PingMonitorError.socketFailed(call: "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)", interface: interface, errno: code)
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
            // ICMP_FILTER (SOL_RAW 255, option 1): a set bit drops that ICMP type; drop them all,
            // or all but echo replies (type 0).
            var filter: UInt32 = receivesEchoReplies ? 0xFFFF_FFFE : 0xFFFF_FFFF
            if setsockopt(descriptor, 255, 1, &filter, socklen_t(MemoryLayout<UInt32>.size)) != 0 {
                throw PingMonitorError.socketFailed(call: "setsockopt(ICMP_FILTER)", interface: interface, errno: errno)
            }
            var sendBufferBytes: Int32 = 1 << 20
            _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &sendBufferBytes, socklen_t(MemoryLayout<Int32>.size))
        } catch {
            close(descriptor)
            throw error
        }
        socket = descriptor
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ProbePacket.size, alignment: 8)
        destination.sin_family = sa_family_t(AF_INET)
        destination.sin_addr.s_addr = target.value.bigEndian
    }

    deinit {
        close(socket)
        buffer.deallocate()
    }

    /// Sends the echo request of probe `sequence`; returns 0 on success or the errno of a failed
    /// `sendto` (the probe was not sent). The corresponding C function is `sendto`.
    public func send(sequence: UInt64, intervalMicroseconds: UInt32) -> Int32 {
        ProbePacket.writeEchoRequest(into: buffer, identifier: identifier, sequence: sequence,
                                     intervalMicroseconds: intervalMicroseconds, sendTimeNanoseconds: Clock.realtimeNanoseconds())
        let sent = withUnsafePointer(to: &destination) { address in
            address.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                sendto(socket, buffer.baseAddress, ProbePacket.size, 0, generic, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return sent == ProbePacket.size ? 0 : (sent < 0 ? errno : EMSGSIZE)
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
