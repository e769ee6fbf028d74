import Foundation
import Lab
import PingMonitor
import Synchronization
import XCTest

/// The one reachability probe (``Reachability/echo``, pingmon's ``EchoProbe``) in a scratch
/// network namespace made and deleted by each test: loopback answers, a dummy interface never
/// does, and a probe that cannot run throws instead of reporting "no reply".
final class ReachabilityTests: XCTestCase {
    private var namespace = ""

    override func setUpWithError() throws {
        guard geteuid() == 0 else { throw XCTSkip("network namespace tests need root") }
        namespace = "lt-echo-\(getpid())"
        _ = try? CommandRunner.capture(["ip", "netns", "delete", namespace], step: "remove a stale scratch namespace")
        try CommandRunner.run(["ip", "netns", "add", namespace], step: "add the scratch namespace")
        try CommandRunner.run(["ip", "-n", namespace, "link", "set", "lo", "up"], step: "bring up its loopback")
    }

    override func tearDown() {
        if !namespace.isEmpty {
            _ = try? CommandRunner.capture(["ip", "netns", "delete", namespace], step: "delete the scratch namespace")
        }
    }

    func testLoopbackAnswersTheFirstRequest() throws {
        let result = try Reachability.echo(namespace: namespace, target: "127.0.0.1", interface: "lo", count: 3)
        XCTAssertTrue(result.answered, "\(result)")
        XCTAssertEqual(result.answeredSequence, 0)
        XCTAssertEqual(result.probesSent, 1, "it stops at the first reply")
        XCTAssertEqual(result.sendErrors, 0)
        XCTAssertNotNil(result.roundTripMicroseconds)
    }

    func testNoReplyIsAResultAfterTheTimeout() throws {
        // A veth pair inside the scratch namespace whose far end has no address: nobody answers
        // 198.18.99.2 (its ARP requests go unanswered).
        try CommandRunner.run(["ip", "-n", namespace, "link", "add", "echo0", "type", "veth", "peer", "name", "echo1"],
                              step: "add a veth pair")
        try CommandRunner.run(["ip", "-n", namespace, "addr", "add", "198.18.99.1/24", "dev", "echo0"], step: "address one end")
        try CommandRunner.run(["ip", "-n", namespace, "link", "set", "echo0", "up"], step: "bring up one end")
        try CommandRunner.run(["ip", "-n", namespace, "link", "set", "echo1", "up"], step: "bring up the other end")
        let start = Date()
        let result = try Reachability.echo(namespace: namespace, target: "198.18.99.2", interface: "echo0", count: 2,
                                           intervalMilliseconds: 100, replyTimeoutMilliseconds: 300)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertFalse(result.answered, "\(result)")
        XCTAssertEqual(result.probesSent + result.sendErrors, 2, "\(result)")
        XCTAssertGreaterThanOrEqual(seconds, 0.39, "it waits the reply timeout after the last request")
        XCTAssertLessThan(seconds, 3)
        XCTAssertTrue(result.description.hasPrefix("no echo reply from 198.18.99.2 to "), result.description)
    }

    func testAProbeThatCannotRunThrows() {
        func reason(_ body: () throws(LabError) -> EchoProbeResult) -> String {
            do {
                return "no error: \(try body())"
            } catch {
                return error.reason
            }
        }
        XCTAssertEqual(reason { () throws(LabError) in try Reachability.echo(namespace: namespace, target: "127.0.0.1", interface: "nosuch0") },
                       "interface 'nosuch0' does not exist in this network namespace")
        XCTAssertTrue(reason { () throws(LabError) in try Reachability.echo(namespace: namespace, target: "224.0.0.1", interface: "lo") }
            .hasPrefix("target 224.0.0.1 is a multicast address"))
        XCTAssertTrue(reason { () throws(LabError) in try Reachability.echo(namespace: namespace, target: "guest", interface: "lo") }
            .hasPrefix("target 'guest' is not a numeric IPv4 address"))
        XCTAssertTrue(reason { () throws(LabError) in try Reachability.echo(namespace: "\(namespace)-missing", target: "127.0.0.1", interface: "lo") }
            .contains("cannot open /run/netns/\(namespace)-missing"))
    }

    /// Without CAP_NET_RAW (dropped on one thread only; capabilities are per thread on Linux) the
    /// socket cannot be opened, and the error says so instead of "no reply".
    func testWithoutRawSocketPermissionTheErrorSaysSo() throws {
        typealias CapabilityCall = @convention(c) (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Int32
        guard let get = dlsym(nil, "capget"), let set = dlsym(nil, "capset") else { throw XCTSkip("capget/capset not found") }
        let capget = unsafeBitCast(get, to: CapabilityCall.self)
        let capset = unsafeBitCast(set, to: CapabilityCall.self)
        let outcome = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            // struct __user_cap_header_struct { u32 version; int pid; } and two data words of
            // { effective, permitted, inheritable } (version 3; pid 0: this thread).
            var header: [UInt32] = [0x2008_0522, 0]
            var data = [UInt32](repeating: 0, count: 6)
            func call(_ function: CapabilityCall) -> Int32 {
                header.withUnsafeMutableBytes { header in
                    data.withUnsafeMutableBytes { data in
                        guard let header = header.baseAddress, let data = data.baseAddress else { return -1 }
                        return function(header, data)
                    }
                }
            }
            guard call(capget) == 0 else { return outcome.withLock { $0 = "capget failed" } }
            data[0] &= ~(1 << 13)  // CAP_NET_RAW out of the effective set
            guard call(capset) == 0 else { return outcome.withLock { $0 = "capset failed" } }
            do {
                let result = try Reachability.echo(namespace: nil, target: "127.0.0.1", interface: "lo", count: 1)
                outcome.withLock { $0 = "no error: \(result)" }
            } catch {
                outcome.withLock { $0 = "\(error)" }
            }
        }
        thread.start()
        done.wait()
        let text = try XCTUnwrap(outcome.withLock { $0 })
        XCTAssertTrue(text.contains("probe 127.0.0.1 with ICMP echo from lo"), text)
        XCTAssertTrue(text.contains("permission denied to open a raw ICMP socket"), text)
    }
}
