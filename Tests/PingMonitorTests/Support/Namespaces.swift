import Foundation
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Two network namespaces joined by a veth pair, made by a test and torn down by the exact
/// names it made, also when the test fails or the run is interrupted.
///
/// Names: namespaces `pm-<pid>-<n>a` / `pm-<pid>-<n>b`, interfaces `pm<pid>x<n>a` / `...b`.
/// Addresses: 198.18.13.1/24 (prober) and 198.18.13.2/24 (target), inside the benchmarking
/// range and clear of the lab's 198.18.0.0/24. Nothing is configured in the root namespace.
final class NamespacePair {
    static let proberAddress = "198.18.13.1"
    static let targetAddress = "198.18.13.2"
    static let targetMAC = "52:54:00:00:13:02"
    static let proberMAC = "02:00:00:00:13:01"

    let prober: String
    let target: String
    let proberInterface: String
    let targetInterface: String
    private let ip: String

    private static let counter = Mutex(0)
    /// Namespaces alive in this process, for the interrupt handler.
    private static let alive = Mutex<Set<String>>([])
    private static let interruptHandlers = Mutex<[any DispatchSourceSignal]>([])

    /// Creates the pair. Needs root; skips the test otherwise.
    init() throws {
        guard geteuid() == 0 else { throw XCTSkip("network namespace tests need root") }
        guard let ip = Processes.which("ip") else { throw TestSetupError("ip (iproute2) is not installed") }
        self.ip = ip
        Self.installInterruptHandler()
        Self.removeStale(ip: ip)
        let number = Self.counter.withLock { value -> Int in
            value += 1
            return value
        }
        let pid = getpid()
        prober = "pm-\(pid)-\(number)a"
        target = "pm-\(pid)-\(number)b"
        proberInterface = "pm\(pid)x\(number)a"
        targetInterface = "pm\(pid)x\(number)b"
        guard proberInterface.utf8.count < 16 else { throw TestSetupError("interface name \(proberInterface) too long") }
        do {
            try command(["netns", "add", prober])
            Self.alive.withLock { _ = $0.insert(prober) }
            try command(["netns", "add", target])
            Self.alive.withLock { _ = $0.insert(target) }
            // The veth is created inside the prober namespace, so it never exists in the root namespace.
            try command(["-n", prober, "link", "add", proberInterface, "address", Self.proberMAC, "type", "veth",
                         "peer", "name", targetInterface, "address", Self.targetMAC, "netns", target])
            try command(["-n", prober, "addr", "add", "\(Self.proberAddress)/24", "dev", proberInterface])
            try command(["-n", target, "addr", "add", "\(Self.targetAddress)/24", "dev", targetInterface])
            for (namespace, interface) in [(prober, proberInterface), (target, targetInterface)] {
                try command(["-n", namespace, "link", "set", "lo", "up"])
                try command(["-n", namespace, "link", "set", interface, "up"])
            }
        } catch {
            tearDown()
            throw error
        }
    }

    /// Deletes both namespaces (and with them the veth pair).
    func tearDown() {
        for name in [prober, target] {
            _ = try? Processes.run(ip, ["netns", "delete", name])
            Self.alive.withLock { _ = $0.remove(name) }
        }
    }

    /// Runs `ip` with `arguments`; throws with its error output when it fails.
    func command(_ arguments: [String]) throws {
        let result = try Processes.run(ip, arguments)
        guard result.status == 0 else {
            throw TestSetupError("ip \(arguments.joined(separator: " ")) failed: \(result.standardError)")
        }
    }

    /// Runs a program inside `namespace` to the end.
    func run(in namespace: String, _ program: String, _ arguments: [String], timeoutSeconds: Double = 120) throws -> ProcessResult {
        try Processes.run(ip, ["netns", "exec", namespace, program] + arguments, timeoutSeconds: timeoutSeconds)
    }

    /// Starts a program inside `namespace`.
    func start(in namespace: String, _ program: String, _ arguments: [String]) throws -> ChildProcess {
        try ChildProcess(ip, ["netns", "exec", namespace, program] + arguments)
    }

    /// Deletes namespaces of this naming scheme left by test processes that no longer exist
    /// (a run killed with SIGKILL cannot clean up after itself).
    private static func removeStale(ip: String) {
        guard let listing = try? Processes.run(ip, ["netns", "list"]) else { return }
        for line in listing.standardOutput.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            let parts = name.split(separator: "-")
            guard parts.count == 3, parts[0] == "pm", let pid = Int32(parts[1]), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                _ = try? Processes.run(ip, ["netns", "delete", name])
            }
        }
    }

    /// On SIGINT/SIGTERM, deletes the namespaces alive in this process, then exits.
    private static func installInterruptHandler() {
        interruptHandlers.withLock { handlers in
            guard handlers.isEmpty else { return }
            for number in [SIGINT, SIGTERM] {
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    let names = alive.withLock { $0 }
                    if let ip = Processes.which("ip") {
                        for name in names { _ = try? Processes.run(ip, ["netns", "delete", name], timeoutSeconds: 10) }
                    }
                    exit(128 + number)
                }
                source.resume()
                // Only after the source is in place: until then the default action (exit) stands.
                signal(number, SIG_IGN)
                handlers.append(source)
            }
        }
    }
}

/// Runs work inside a network namespace on a dedicated thread (`setns` changes only the
/// calling thread's namespace), so sockets and sysctl files can be opened there from the test.
enum InNamespace {
    private static let cloneNewNet: Int32 = 0x4000_0000
    private typealias SetNamespace = @convention(c) (Int32, Int32) -> Int32

    /// glibc's setns, which the Glibc module does not export (it is a GNU extension).
    private static func setNamespace(_ descriptor: Int32) throws {
        guard let symbol = dlsym(nil, "setns") else { throw TestSetupError("setns is not available") }
        let function = unsafeBitCast(symbol, to: SetNamespace.self)
        guard function(descriptor, cloneNewNet) == 0 else { throw TestSetupError("setns: errno \(errno)") }
    }

    static func perform<T: Sendable>(_ namespace: String, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let outcome = Result<T, any Error> {
                let descriptor = open("/run/netns/\(namespace)", O_RDONLY)
                guard descriptor >= 0 else { throw TestSetupError("open /run/netns/\(namespace): errno \(errno)") }
                defer { close(descriptor) }
                try setNamespace(descriptor)
                return try body()
            }
            result.withLock { $0 = outcome }
            done.signal()
        }
        thread.start()
        done.wait()
        guard let outcome = result.withLock({ $0 }) else { throw TestSetupError("namespace thread ended without a result") }
        return try outcome.get()
    }
}

/// Makes the target stop answering pings, precisely in time: one `pwrite` to
/// net.ipv4.icmp_echo_ignore_all of the target's namespace, with CLOCK_REALTIME read just
/// before and after it (the uncertainty of when the outage began or ended).
final class EchoSwitch: @unchecked Sendable {
    private let descriptor: Int32

    init(namespace: String) throws {
        descriptor = try InNamespace.perform(namespace) {
            let descriptor = open("/proc/sys/net/ipv4/icmp_echo_ignore_all", O_WRONLY)
            guard descriptor >= 0 else { throw TestSetupError("open icmp_echo_ignore_all in \(namespace): errno \(errno)") }
            return descriptor
        }
    }

    deinit {
        close(descriptor)
    }

    /// Turns echo replies off (`ignore` true) or on; returns the realtime clock before and after.
    @discardableResult
    func set(ignore: Bool) throws -> (before: Int64, after: Int64) {
        let before = Processes.realtimeNanoseconds()
        let written = pwrite(descriptor, ignore ? "1" : "0", 1, 0)
        let after = Processes.realtimeNanoseconds()
        guard written == 1 else { throw TestSetupError("write icmp_echo_ignore_all: errno \(errno)") }
        return (before, after)
    }
}

/// Sends hand-made Ethernet frames out of an interface of a namespace (AF_PACKET).
final class FrameInjector: @unchecked Sendable {
    private let descriptor: Int32
    private let address: [UInt8]

    init(namespace: String, interface: String) throws {
        let (descriptor, index) = try InNamespace.perform(namespace) { () throws -> (Int32, Int32) in
            let descriptor = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), 0)
            guard descriptor >= 0 else { throw TestSetupError("AF_PACKET socket in \(namespace): errno \(errno)") }
            let index = Int32(if_nametoindex(interface))
            guard index > 0 else {
                close(descriptor)
                throw TestSetupError("no interface \(interface) in \(namespace)")
            }
            return (descriptor, index)
        }
        self.descriptor = descriptor
        // struct sockaddr_ll: family, protocol (BE), ifindex, hatype, pkttype, halen, addr[8].
        var address = [UInt8](repeating: 0, count: 20)
        address[0] = UInt8(AF_PACKET & 0xFF)
        address[1] = UInt8(AF_PACKET >> 8)
        withUnsafeBytes(of: index) { bytes in for offset in 0..<4 { address[4 + offset] = bytes[offset] } }
        address[11] = 6
        self.address = address
    }

    deinit {
        close(descriptor)
    }

    func send(_ frame: [UInt8]) throws {
        let sent = address.withUnsafeBytes { addressBytes in
            frame.withUnsafeBytes { frameBytes in
                sendto(descriptor, frameBytes.baseAddress, frameBytes.count, 0,
                       addressBytes.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(addressBytes.count))
            }
        }
        guard sent == frame.count else { throw TestSetupError("sendto on AF_PACKET: errno \(errno)") }
    }
}
