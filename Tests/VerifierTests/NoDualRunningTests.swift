import Foundation
import Libvirt
import Synchronization
import XCTest
@testable import Verifier

/// A daemon whose guest is scripted read by read: each look-up takes the next entry of the
/// script (the last one repeats), so a test can change the guest's state between the
/// sampler's three reads, as a migration switching over would.
final class ScriptedHypervisor: Hypervisor {
    enum Entry: Sendable {
        case state(DomainStateInfo)
        case absent
        case fails(String)
        /// A domain of the guest's name with another UUID.
        case another(DomainStateInfo)
    }

    static let anotherUUID = "0f1e2d3c-0000-4000-8000-000000000001"
    let uri: String
    private let script: Mutex<[Entry]>

    init(uri: String, _ script: [Entry]) {
        self.uri = uri
        self.script = Mutex(script)
    }

    func guestDomain(named name: String) throws -> (any HypervisorDomain)? {
        let entry = script.withLock { script -> Entry? in script.count > 1 ? script.removeFirst() : script.first }
        switch entry {
        case .state(let info)?: return FakeDomain(world: FakeWorld(), host: .source, state: info)
        case .another(let info)?: return FakeDomain(world: FakeWorld(), host: .source, state: info, uuid: Self.anotherUUID)
        case .fails(let message)?:
            throw LibvirtError(call: "virDomainLookupByName", uri: uri, domainName: name, code: 1, errorDomain: 10, message: message)
        case .absent?, nil: return nil
        }
    }

    func libvirtVersion() throws -> LibvirtVersion { LibvirtVersion(major: 11, minor: 3, release: 0) }
    func hypervisorVersion() throws -> LibvirtVersion { LibvirtVersion(major: 10, minor: 0, release: 2) }
    func subscribeToDomainEvents(_ handler: @escaping @Sendable (DomainEvent) -> Void) throws -> any DomainEventSubscription {
        FakeSubscription()
    }
    func startTransientDomain(xml: String) throws -> any HypervisorDomain {
        throw LibvirtError(call: "virDomainCreateXML", uri: uri, domainName: nil, code: 3, errorDomain: 0, message: "scripted")
    }
}

/// A run clock that moves 1 ms at every reading.
final class TickingClock: Sendable {
    private let milliseconds = Mutex(0.0)
    func now() -> Double {
        milliseconds.withLock { value in
            value += 1
            return value
        }
    }
}

/// `no-dual-running`: the sampler's three-read rule, the timeline it keeps, and the check.
final class NoDualRunningTests: XCTestCase {
    let running = Fixtures.runningBooted
    let runningMigrated = Fixtures.runningMigrated
    let paused = Fixtures.pausedMigrating
    let shutOff = Fixtures.shutOffMigrated

    private func sampler(source: [ScriptedHypervisor.Entry], destination: [ScriptedHypervisor.Entry],
                         intervalMilliseconds: Double = 100) -> PlacementSampler {
        let clock = TickingClock()
        return PlacementSampler(source: ScriptedHypervisor(uri: Fixtures.endpoints.sourceURI, source),
                                destination: ScriptedHypervisor(uri: Fixtures.endpoints.destinationURI, destination),
                                domainName: Fixtures.endpoints.domainName, guestUUID: FakeDomain.guestUUID,
                                intervalMilliseconds: intervalMilliseconds) { clock.now() }
    }

    // MARK: the sampler's three-read rule

    func testASwitchOverBetweenTheSourceAndTheDestinationReadIsNoOverlap() {
        // The source read running, the migration switched over, the destination read running:
        // the source's second read finds it paused, so the two never ran at once.
        let placement = sampler(source: [.state(running), .state(paused)], destination: [.state(runningMigrated)])
        placement.sampleOnce()
        XCTAssertEqual(placement.timeline.sampleCount, 1)
        XCTAssertEqual(placement.timeline.overlaps, [])
        let shutDown = sampler(source: [.state(running), .absent], destination: [.state(runningMigrated)])
        shutDown.sampleOnce()
        XCTAssertEqual(shutDown.timeline.overlaps, [], "the source gone by its second read")
    }

    func testASourceRunningBeforeAndAfterTheDestinationReadRunningIsAnOverlap() throws {
        let placement = sampler(source: [.state(running)], destination: [.state(runningMigrated)])
        placement.sampleOnce()
        let window = try XCTUnwrap(placement.timeline.overlaps.first)
        XCTAssertEqual(placement.timeline.overlaps.count, 1)
        XCTAssertEqual(window.sampleCount, 1)
        XCTAssertEqual(window.states, ["source running (booted) → running (booted), destination running (migrated)"])
    }

    func testAPausedCopyOrAnotherDomainOfTheNameIsNoOverlap() {
        let incoming = sampler(source: [.state(running)], destination: [.state(paused)])
        incoming.sampleOnce()
        XCTAssertEqual(incoming.timeline.overlaps, [], "the incoming QEMU waits paused")
        // dst-already-active: a stand-in of the guest's name runs on the destination.
        let standIn = sampler(source: [.state(running)], destination: [.another(running)])
        standIn.sampleOnce()
        XCTAssertEqual(standIn.timeline.overlaps, [])
        XCTAssertEqual(standIn.timeline.sampleCount, 1)
    }

    func testAFailedReadIsCountedNotFatalAndNoEvidenceEitherWay() {
        let placement = sampler(source: [.state(running)], destination: [.fails("client socket is closed"), .state(running)])
        placement.sampleOnce()
        XCTAssertEqual(placement.timeline.sampleCount, 0)
        XCTAssertEqual(placement.timeline.failedReadCount, 1)
        XCTAssertTrue(placement.timeline.lastFailure?.contains("client socket is closed") ?? false, "\(placement.timeline)")
        placement.sampleOnce()
        XCTAssertEqual(placement.timeline.sampleCount, 1)
        XCTAssertEqual(placement.timeline.overlaps.count, 1)
    }

    func testTheThreadSamplesFromBeforeTheCallUntilStopAndStopIsIdempotent() {
        let placement = sampler(source: [.state(running), .state(running), .state(paused), .absent],
                                destination: [.state(paused), .state(runningMigrated)], intervalMilliseconds: 1)
        placement.start()
        XCTAssertEqual(placement.timeline.sampleCount, 1, "the first sample is taken before start() returns")
        // The thread's own samples, waited for (a fixed sleep flakes on a busy machine).
        let deadline = Date().addingTimeInterval(30)
        while placement.timeline.sampleCount < 2, Date() < deadline { usleep(1_000) }
        let timeline = placement.stop()
        XCTAssertGreaterThanOrEqual(timeline.sampleCount, 3, "\(timeline)")
        XCTAssertEqual(timeline.overlaps, [], "\(timeline)")
        XCTAssertEqual(timeline.failedReadCount, 0)
        XCTAssertEqual(placement.stop(), timeline, "a second stop takes no sample")
        // Nothing to wait for: a stray sample after stop would show within this moment.
        Thread.sleep(forTimeInterval: 0.01)
        XCTAssertEqual(placement.timeline, timeline, "nothing is sampled after stop")
    }

    func testASamplerNeverStartedReturnsAnEmptyTimeline() {
        let timeline = sampler(source: [.state(running)], destination: [.absent]).stop()
        XCTAssertEqual(timeline.sampleCount, 0)
        XCTAssertEqual(timeline.failedReadCount, 0)
    }

    // MARK: the timeline

    private func sample(_ at: Double, dual: Bool) -> PlacementSample {
        PlacementSample(atMilliseconds: at, sourceBefore: .state(running), destination: dual ? .state(runningMigrated) : .absent,
                        sourceAfter: .state(running))
    }

    func testConsecutiveOverlappingSamplesMakeOneWindowAndAGapStartsAnother() {
        var timeline = PlacementTimeline(intervalMilliseconds: 100)
        for (at, dual) in [(100.0, false), (200, true), (300, true), (400, true), (500, false), (600, true)] {
            timeline.record(sample(at, dual: dual))
        }
        XCTAssertEqual(timeline.sampleCount, 6)
        XCTAssertEqual(timeline.firstSampleMilliseconds, 100)
        XCTAssertEqual(timeline.lastSampleMilliseconds, 600)
        XCTAssertEqual(timeline.overlaps.map(\.startMilliseconds), [200, 600])
        XCTAssertEqual(timeline.overlaps.map(\.endMilliseconds), [400, 600])
        XCTAssertEqual(timeline.overlaps.map(\.sampleCount), [3, 1])
        XCTAssertEqual(timeline.overlaps.first?.states.count, 1, "the same states are kept once")
    }

    // MARK: the check

    func testNoDualRunningPassesWhenTheGuestWasOnOneHostAtATimeAndNoReplyCameTwice() throws {
        for expectation in [ExpectedOutcome.migrates, .staysOnSource] {
            let o = try Fixtures.observation(expectation)
            assertCheck(Checks.noDualRunning(o), CheckName.noDualRunning, passed: true,
                        says: "on one host at a time: ", "samples of both hosts' domain state from 998 to", "0 failed reads",
                        "0 duplicate ping replies in")
        }
        assertCheck(Checks.noDualRunning(try Fixtures.observation(.migrates)), CheckName.noDualRunning, passed: true,
                    says: "54 samples of both hosts' domain state from 998 to 6300 ms (the call ran 1000-6000 ms; every 100 ms)")
    }

    func testNoDualRunningFailsOnASyntheticOverlap() throws {
        var o = try Fixtures.observation(.migrates)
        var timeline = PlacementTimeline(intervalMilliseconds: 100)
        timeline.record(sample(998, dual: false))
        for at in stride(from: 3_000.0, through: 3_200, by: 100) { timeline.record(sample(at, dual: true)) }
        timeline.record(sample(6_300, dual: false))
        o.placementTimeline = timeline
        assertCheck(Checks.noDualRunning(o), CheckName.noDualRunning, passed: false,
                    says: "the guest ran on both hosts: 3000-3200 ms (3 samples: source running (booted) → running (booted), destination running (migrated))",
                    "5 samples of both hosts' domain state from 998 to 6300 ms", "0 duplicate ping replies")
    }

    func testNoDualRunningFailsOnADuplicateReply() throws {
        var o = try Fixtures.observation(.migrates)
        o.ping.duplicates = 1
        assertCheck(Checks.noDualRunning(o), CheckName.noDualRunning, passed: false,
                    says: "1 duplicate ping replies in 12000 probes: two copies answered", "54 samples")
        XCTAssertEqual(Checks.evaluate(o).filter { !$0.passed }.map(\.name), [CheckName.noDualRunning])
    }

    func testNoDualRunningIsNotMeasuredWithoutSamples() throws {
        var o = try Fixtures.observation(.migrates)
        o.placementTimeline = PlacementTimeline(intervalMilliseconds: 100)
        o.placementTimeline?.failedReadCount = 3
        o.placementTimeline?.lastFailure = "qemu+tcp://198.18.0.2/system: client socket is closed"
        assertCheck(Checks.noDualRunning(o), CheckName.noDualRunning, passed: false,
                    says: "not measured: 0 samples of both hosts' domain state read, 3 failed reads (last: qemu+tcp://198.18.0.2/system: client socket is closed)")
        o.placementTimeline?.record(sample(998, dual: false))
        assertCheck(Checks.noDualRunning(o), CheckName.noDualRunning, passed: false, says: "not measured: 1 samples")
    }

    func testNoDualRunningIsNotMeasuredWhenTheSamplesDoNotSpanTheCall() throws {
        var o = try Fixtures.observation(.migrates)
        o.placementTimeline?.firstSampleMilliseconds = 2_000
        assertCheck(Checks.noDualRunning(o), CheckName.noDualRunning, passed: false,
                    says: "not measured: ", "the samples do not span the migration call")
        o = try Fixtures.observation(.migrates)
        o.placementTimeline?.lastSampleMilliseconds = 5_000
        assertCheck(Checks.noDualRunning(o), CheckName.noDualRunning, passed: false, says: "the samples do not span the migration call")
    }

    func testNoDualRunningIsNotMeasuredWithoutPingData() throws {
        var o = try Fixtures.observation(.migrates)
        o.ping.duplicates = nil
        assertCheck(Checks.noDualRunning(o), CheckName.noDualRunning, passed: false,
                    says: "not measured: no ping data to look for duplicate replies in")
        o = try Fixtures.observation(.migrates)
        o.ping.sent = 0
        assertCheck(Checks.noDualRunning(o), CheckName.noDualRunning, passed: false, says: "not measured: no ping data")
    }

    /// An observation as a version before the sampler stored it: no `placementTimeline`, no
    /// ping `duplicates`.
    static func observationStoredBeforeTheSampler() throws -> Observation {
        let json = try resultsJSONEncoder(pretty: false).encode(try Fixtures.observation(.migrates))
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        object["placementTimeline"] = nil
        var ping = try XCTUnwrap(object["ping"] as? [String: Any])
        ping["duplicates"] = nil
        object["ping"] = ping
        return try resultsJSONDecoder().decode(Observation.self, from: try JSONSerialization.data(withJSONObject: object))
    }

    func testAnObservationStoredBeforeTheSamplerReadsAsNotSampled() throws {
        let old = try Self.observationStoredBeforeTheSampler()
        XCTAssertNil(old.placementTimeline)
        XCTAssertNil(old.ping.duplicates)
        var today = try Fixtures.observation(.migrates)
        today.placementTimeline = nil
        today.ping.duplicates = nil
        XCTAssertEqual(old, today, "everything else reads as stored")
        assertCheck(Checks.noDualRunning(old), CheckName.noDualRunning, passed: false,
                    says: "not measured: not sampled (stored before the check existed)")
        XCTAssertEqual(Checks.unrecorded(old), [CheckName.noDualRunning])
        XCTAssertEqual(Checks.unrecorded(try Fixtures.observation(.migrates)), [])
    }
}
