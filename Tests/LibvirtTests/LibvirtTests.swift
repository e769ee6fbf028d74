import Foundation
import XCTest
@testable import Libvirt

/// Fast tests of the wrapper against libvirt's built-in `test:///default` driver, which
/// keeps its domains in this process's memory (shared by every connection to it).
final class LibvirtTests: XCTestCase {
    static let testURI = "test:///default"

    private func uniqueName(_ base: String) -> String {
        "\(base)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    private func domainXML(name: String, memoryMiB: Int = 128) -> String {
        """
        <domain type='test'>
          <name>\(name)</name>
          <memory unit='MiB'>\(memoryMiB)</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64'>hvm</type></os>
        </domain>
        """
    }

    func testOpensConnectionAndReadsHostFacts() throws {
        let connection = try Connection(uri: Self.testURI)
        XCTAssertEqual(try connection.hypervisorType(), "TEST")
        XCTAssertGreaterThanOrEqual(try connection.libvirtVersion().major, 9)
        XCTAssertEqual(try connection.libvirtVersion(), try libvirtLibraryVersion())
        XCTAssertFalse(try connection.hostname().isEmpty)
        XCTAssertTrue(try connection.capabilities().contains("<capabilities>"))
        XCTAssertEqual(try connection.canonicalURI(), Self.testURI)
        XCTAssertTrue(connection.isAlive())
    }

    func testUnknownDomainThrowsTypedErrorNamingURIDomainAndCall() throws {
        let connection = try Connection(uri: Self.testURI)
        XCTAssertThrowsError(try connection.lookupDomain(name: "no-such-domain")) { error in
            guard let failure = error as? LibvirtError else { return XCTFail("not a LibvirtError: \(error)") }
            XCTAssertEqual(failure.kind, .noDomain)
            XCTAssertEqual(failure.call, "virDomainLookupByName")
            XCTAssertEqual(failure.uri, Self.testURI)
            XCTAssertEqual(failure.domainName, "no-such-domain")
            XCTAssertTrue(failure.description.contains("no-such-domain"), failure.description)
            XCTAssertTrue(failure.description.contains(Self.testURI), failure.description)
        }
        XCTAssertNil(try connection.domainIfPresent(name: "no-such-domain"))
    }

    func testBadURIThrowsTypedError() {
        for uri in ["nosuchdriver:///system", "qemu+unix:///system?socket=/nonexistent/libvirt-sock"] {
            XCTAssertThrowsError(try Connection(uri: uri), uri) { error in
                guard let failure = error as? LibvirtError else { return XCTFail("not a LibvirtError: \(error)") }
                XCTAssertEqual(failure.call, "virConnectOpen")
                XCTAssertEqual(failure.uri, uri)
                XCTAssertNil(failure.domainName)
                XCTAssertFalse(failure.message.isEmpty)
            }
        }
    }

    func testDefineStartListDestroyUndefine() throws {
        let connection = try Connection(uri: Self.testURI)
        let name = uniqueName("wrapper")
        let domain = try connection.defineDomain(xml: domainXML(name: name))
        XCTAssertEqual(domain.name, name)
        XCTAssertEqual(try domain.uuidString().count, 36)
        XCTAssertTrue(try domain.isPersistent())
        XCTAssertFalse(try domain.isActive())
        XCTAssertNil(domain.id())
        XCTAssertEqual(try domain.state().state, .shutOff)

        try domain.start()
        XCTAssertTrue(try domain.isActive())
        XCTAssertNotNil(domain.id())
        let running = try domain.state()
        XCTAssertEqual(running.state, .running)
        XCTAssertEqual(running.reason, "booted")
        XCTAssertEqual(try domain.info().maximumMemoryKiB, 128 * 1024)

        let active = try connection.domainSummaries(.active)
        XCTAssertEqual(active.first { $0.name == name }?.state.state, .running)
        XCTAssertTrue(try connection.listDomains(.inactive).allSatisfy { $0.name != name })

        try domain.suspend()
        XCTAssertEqual(try domain.state().state, .paused)
        XCTAssertEqual(try domain.state().reason, "user")
        try domain.resume()

        try domain.destroy()
        let stopped = try domain.state()
        XCTAssertEqual(stopped.state, .shutOff)
        XCTAssertEqual(stopped.reason, "destroyed")
        XCTAssertFalse(stopped.isShutOffAfterMigration)
        XCTAssertTrue(try connection.listDomains(.inactive).contains { $0.name == name })

        try domain.undefine()
        XCTAssertNil(try connection.domainIfPresent(name: name))
        // The handle outlives the domain: calls on it now fail with a typed error.
        XCTAssertThrowsError(try domain.start()) { error in
            XCTAssertEqual((error as? LibvirtError)?.domainName, name)
        }
    }

    func testTransientDomainDisappearsWhenDestroyed() throws {
        let connection = try Connection(uri: Self.testURI)
        let name = uniqueName("transient")
        let domain = try connection.createDomain(xml: domainXML(name: name))
        XCTAssertFalse(try domain.isPersistent())
        XCTAssertEqual(try domain.state().state, .running)
        try domain.destroy()
        XCTAssertNil(try connection.domainIfPresent(name: name))
    }

    func testDefiningInvalidXMLThrowsXMLError() throws {
        let connection = try Connection(uri: Self.testURI)
        XCTAssertThrowsError(try connection.defineDomain(xml: "<domain type='test'><name>x")) { error in
            guard let failure = error as? LibvirtError else { return XCTFail("not a LibvirtError: \(error)") }
            XCTAssertEqual(failure.call, "virDomainDefineXML")
            XCTAssertEqual(failure.kind, .xml)
        }
    }

    func testJobStatsOnTestDriverAreTypedNotSupported() throws {
        // libvirt 11's test driver has no virDomainGetJobStats: the wrapper must say so with
        // a typed error (the QEMU path is exercised by the lab tests).
        let connection = try Connection(uri: Self.testURI)
        let domain = try connection.createDomain(xml: domainXML(name: uniqueName("jobs")))
        defer { try? domain.destroy() }
        for completed in [false, true] {
            do {
                let stats = try domain.jobStats(completed: completed)
                XCTAssertEqual(stats.type, JobType.none, "an idle domain has no job")
            } catch let failure as LibvirtError {
                XCTAssertEqual(failure.kind, .notSupported, failure.description)
                XCTAssertEqual(failure.call, "virDomainGetJobStats")
                XCTAssertEqual(failure.domainName, domain.name)
            }
        }
    }

    func testAbortingWithoutJobFailsWithTypedError() throws {
        let connection = try Connection(uri: Self.testURI)
        let domain = try connection.createDomain(xml: domainXML(name: uniqueName("abort")))
        defer { try? domain.destroy() }
        XCTAssertThrowsError(try domain.abortJob()) { error in
            guard let failure = error as? LibvirtError else { return XCTFail("not a LibvirtError: \(error)") }
            XCTAssertEqual(failure.call, "virDomainAbortJob")
            XCTAssertEqual(failure.domainName, domain.name)
        }
    }

    func testMigrationFailureNamesCallAndDestination() throws {
        let connection = try Connection(uri: Self.testURI)
        let domain = try connection.createDomain(xml: domainXML(name: uniqueName("migrate")))
        defer { try? domain.destroy() }
        let parameters = MigrationParameters(migrationURI: "tcp://198.18.0.2", bandwidthMiBPerSecond: 100,
                                             compressionMethods: ["xbzrle"], autoConvergeInitialPercent: 20,
                                             parallelConnections: 2)
        XCTAssertThrowsError(try domain.migrate(toURI: "test:///nowhere", parameters: parameters,
                                                flags: [.live, .peerToPeer, .persistOnDestination, .undefineSource,
                                                        .autoConverge, .postCopy, .parallel])) { error in
            guard let failure = error as? LibvirtError else { return XCTFail("not a LibvirtError: \(error)") }
            XCTAssertTrue(failure.call.hasPrefix("virDomainMigrateToURI3"), failure.call)
            XCTAssertTrue(failure.call.contains("test:///nowhere"), failure.call)
            XCTAssertEqual(failure.domainName, domain.name)
        }
        XCTAssertEqual(try domain.state().state, .running)
    }

    func testMigrationParametersBecomeTypedParameters() throws {
        let parameters = MigrationParameters(migrationURI: "tcp://198.18.0.2:49152", destinationName: "moved",
                                             bandwidthMiBPerSecond: 512, listenAddress: "198.18.0.2",
                                             compressionMethods: ["xbzrle", "zstd"],
                                             autoConvergeInitialPercent: 20, autoConvergeIncrementPercent: 10,
                                             parallelConnections: 4)
        let list = try parameters.typedParameters()
        XCTAssertEqual(list.count, 9)
        let values = readTypedParameters(list.parameters, count: list.count)
        XCTAssertEqual(values["migrate_uri"], .string("tcp://198.18.0.2:49152"))
        XCTAssertEqual(values["destination_name"], .string("moved"))
        XCTAssertEqual(values["bandwidth"], .ulong(512))
        XCTAssertEqual(values["listen_address"], .string("198.18.0.2"))
        XCTAssertEqual(values["auto_converge.initial"], .int(20))
        XCTAssertEqual(values["auto_converge.increment"], .int(10))
        XCTAssertEqual(values["parallel.connections"], .int(4))
        XCTAssertEqual(try MigrationParameters().typedParameters().count, 0)
    }

    func testJobStatsDecodeKnownFields() {
        let stats = JobStats(rawType: 3, fields: [
            "time_elapsed": .ulong(1234), "downtime": .ulong(56), "setup_time": .ulong(7),
            "data_total": .ulong(1 << 30), "data_processed": .ulong(1 << 29), "data_remaining": .ulong(1 << 29),
            "memory_dirty_rate": .ulong(1000), "memory_page_size": .ulong(4096), "memory_iteration": .ulong(3),
            "memory_bps": .ulong(100_000_000), "operation": .int(5), "success": .boolean(true),
        ])
        XCTAssertEqual(stats.type, .completed)
        XCTAssertEqual(stats.operation, .migrationOut)
        XCTAssertEqual(stats.timeElapsedMilliseconds, 1234)
        XCTAssertEqual(stats.downtimeMilliseconds, 56)
        XCTAssertEqual(stats.setupTimeMilliseconds, 7)
        XCTAssertEqual(stats.dataTotalBytes, 1 << 30)
        XCTAssertEqual(stats.memoryDirtyRateBytesPerSecond, 4_096_000)
        XCTAssertEqual(stats.memoryIteration, 3)
        XCTAssertEqual(stats.memoryBandwidthBytesPerSecond, 100_000_000)
        XCTAssertEqual(stats.succeeded, true)
        XCTAssertNil(stats.errorMessage)
    }

    func testVersionDecoding() {
        XCTAssertEqual(LibvirtVersion(encoded: 11_003_000).description, "11.3.0")
        XCTAssertEqual(LibvirtVersion(encoded: 10_000_002), LibvirtVersion(major: 10, minor: 0, release: 2))
        XCTAssertLessThan(LibvirtVersion(encoded: 7_002_000), LibvirtVersion(encoded: 10_000_002))
    }

    func testStateReasonsMatchVirsh() {
        XCTAssertEqual(DomainStateInfo(rawState: 5, rawReason: 4).reason, "migrated")
        XCTAssertTrue(DomainStateInfo(rawState: 5, rawReason: 4).isShutOffAfterMigration)
        XCTAssertEqual(DomainStateInfo(rawState: 1, rawReason: 2).reason, "migrated")
        XCTAssertEqual(DomainStateInfo(rawState: 3, rawReason: 2).reason, "migrating")
        XCTAssertEqual(DomainStateInfo(rawState: 1, rawReason: 99).reason, "reason 99")
        XCTAssertNil(DomainStateInfo(rawState: 42, rawReason: 0).state)
    }

    func testLifecycleEventsAreDelivered() throws {
        try EventLoop.startDefault()
        let connection = try Connection(uri: Self.testURI)
        let received = EventRecorder()
        let subscription = try connection.subscribeDomainEvents { received.append($0) }
        defer { subscription.cancel() }
        let name = uniqueName("events")
        let domain = try connection.defineDomain(xml: domainXML(name: name))
        try domain.start()
        try domain.destroy()
        try domain.undefine()
        let deadline = Date().addingTimeInterval(10)
        while received.lifecycleKinds(of: name).count < 4 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        XCTAssertEqual(received.lifecycleKinds(of: name), [.defined, .started, .stopped, .undefined])
    }
}

/// Collects events from libvirt's event thread.
final class EventRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [DomainEvent] = []

    func append(_ event: DomainEvent) {
        lock.lock(); defer { lock.unlock() }
        events.append(event)
    }

    func lifecycleKinds(of name: String) -> [LifecycleEventKind?] {
        lock.lock(); defer { lock.unlock() }
        return events.compactMap {
            if case .lifecycle(let domainName, let kind, _, _) = $0, domainName == name { return kind }
            return nil
        }
    }
}
