import XCTest
@testable import Lab

/// The KVM probe's caching decision, as a pure function of how the probe ended: a timeout
/// under load must not pin the lab to TCG for good.
final class AcceleratorProbeTests: XCTestCase {
    func testOnlyADefiniteAnswerIsCached() {
        let cases: [(AcceleratorProbe.ProbeOutcome, Accelerator, Bool)] = [
            (.reachedUserspace, .kvm, true),
            (.failed(exitStatus: 1, said: "qemu-system-x86_64: failed to initialize kvm: Permission denied"), .tcg, true),
            (.failed(exitStatus: 0, said: ""), .tcg, true),  // the guest died before userspace: QEMU's own end
            (.inconclusive("printed no marker within 30 s"), .tcg, false),
            (.inconclusive("was killed (exit 137)"), .tcg, false),
        ]
        for (outcome, accelerator, cached) in cases {
            XCTAssertEqual(AcceleratorProbe.decision(for: outcome).accelerator, accelerator, "\(outcome)")
            XCTAssertEqual(AcceleratorProbe.isDefinite(outcome), cached, "\(outcome)")
        }
        let inconclusive = AcceleratorProbe.decision(for: .inconclusive("printed no marker within 30 s"))
        XCTAssertTrue(inconclusive.reason.contains("not cached"))
        XCTAssertTrue(AcceleratorProbe.isInconclusive(inconclusive))
        XCTAssertFalse(AcceleratorProbe.isInconclusive(AcceleratorProbe.decision(for: .failed(exitStatus: 1, said: ""))))
    }

    /// A timeout cached by an earlier version is probed again; a cached definite answer is kept.
    func testATimeoutCachedBeforeIsNotTrusted() {
        XCTAssertTrue(AcceleratorProbe.isLegacyTimeout(
            AcceleratorDecision(accelerator: .tcg, reason: "KVM probe boot printed no marker within 30 s", cached: false)))
        XCTAssertFalse(AcceleratorProbe.isLegacyTimeout(AcceleratorProbe.decision(for: .failed(exitStatus: 1, said: "no KVM"))))
        XCTAssertFalse(AcceleratorProbe.isLegacyTimeout(AcceleratorProbe.decision(for: .reachedUserspace)))
    }
}
