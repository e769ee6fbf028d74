import Foundation
import XCTest
@testable import PingMonitor

/// The reply matching of ``EchoProbe`` on IPv4 packets as a raw socket reads them (the frames of
/// `Synthetic` without their 14-byte Ethernet header), and its refusals before any socket opens.
final class EchoProbeTests: XCTestCase {
    private func sequence(_ frame: [UInt8], target: IPv4Address = Synthetic.target,
                          identifier: UInt16 = Synthetic.identifier) -> UInt64? {
        Array(frame.dropFirst(14)).withUnsafeBytes { EchoProbe.answeredSequence($0, target: .v4(target), identifier: identifier) }
    }

    func testAReplyFromTheTargetWithOurIdentifierAnswersItsProbe() {
        XCTAssertEqual(sequence(Synthetic.echoFrame(request: false, sequence: 0)), 0)
        XCTAssertEqual(sequence(Synthetic.echoFrame(request: false, sequence: 70_000)), 70_000, "the 64-bit sequence of the payload")
    }

    func testEverythingElseAnswersNothing() {
        XCTAssertNil(sequence(Synthetic.echoFrame(request: true, sequence: 1)), "our own request (as on loopback)")
        XCTAssertNil(sequence(Synthetic.echoFrame(request: false, sequence: 1, identifier: 0x1111)), "another pinger's reply")
        XCTAssertNil(sequence(Synthetic.echoFrame(request: false, sequence: 1), target: IPv4Address(198, 18, 13, 9)), "another host")
        XCTAssertNil(sequence(Synthetic.echoFrame(request: false, sequence: 1, pingmonPayload: false)), "not pingmon's payload")
        let reply = Synthetic.echoFrame(request: false, sequence: 1)
        XCTAssertNil(sequence(Array(reply.prefix(14 + 20 + 6))), "truncated inside the ICMP header")
        XCTAssertNil(sequence([]), "empty read")
    }

    func testAnyUnicastTargetIsAcceptedByDefaultAndNothingElse() throws {
        // Pure checks: no socket is opened, nothing is sent.
        for unicast in [IPv4Address(192, 0, 2, 10), IPv4Address(203, 0, 113, 3), IPv4Address(198, 18, 0, 20), IPv4Address(127, 0, 0, 1)] {
            XCTAssertNoThrow(try PingConfiguration.checkTarget(.v4(unicast), allowedNetworks: nil), "\(unicast)")
        }
        for (address, reason) in [(IPv4Address(0, 0, 0, 0), "the unspecified address"), (IPv4Address(255, 255, 255, 255), "the broadcast address"),
                                  (IPv4Address(239, 1, 2, 3), "a multicast address"), (IPv4Address(240, 0, 0, 1), "a reserved (class E) address")] {
            XCTAssertThrowsError(try PingConfiguration.checkTarget(.v4(address), allowedNetworks: nil)) { error in
                XCTAssertEqual(error as? PingMonitorError, .targetNotUnicast(target: .v4(address), reason: reason))
            }
        }
    }

    func testTheProjectsOwnNetworksAreTheBenchmarkingRangeAndLoopback() {
        // What the tests, benches and the lab send to; anything else only when a user names it.
        XCTAssertEqual(IPv4Network.projectTestNetworks.map(\.description), ["198.18.0.0/15", "127.0.0.0/8"])
    }

    func testATargetOutsideTheAllowedNetworksIsRefusedBeforeAnySocketOpens() {
        XCTAssertThrowsError(try EchoProbe(target: .v4(IPv4Address(8, 8, 8, 8)), interface: "lo", allowedNetworks: IPNetwork.projectTestNetworks)) { error in
            guard case PingMonitorError.targetNotAllowed(let target, _)? = error as? PingMonitorError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(target, .v4(IPv4Address(8, 8, 8, 8)))
        }
    }

    func testANoReplyResultSaysWhatWasSent() {
        let result = EchoProbeResult(target: .v4(Synthetic.target), interface: "up0", probesSent: 3, sendErrors: 1, lastSendError: "No route to host (errno 113)")
        XCTAssertFalse(result.answered)
        XCTAssertEqual(result.description,
                       "no echo reply from 198.18.13.2 to 3 requests sent on up0; 1 could not be sent (No route to host (errno 113))")
        let answered = EchoProbeResult(target: .v4(Synthetic.target), interface: "up0", probesSent: 2, answeredSequence: 1, roundTripMicroseconds: 84.4)
        XCTAssertTrue(answered.answered)
        XCTAssertEqual(answered.description, "198.18.13.2 answered echo request 2 of 2 sent on up0 (round trip 84 µs)")
    }
}
