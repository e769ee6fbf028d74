import CLibvirt
import Foundation
import XCTest
@testable import Libvirt

/// The dirty-rate wrapper: parsing of `dirtyrate.*` typed parameters, and the calls against
/// `test:///default`, whose driver implements neither call (so the typed errors are checked).
final class DirtyRateTests: XCTestCase {
    func testMeasuredReadingParsesEveryField() throws {
        let fields: [String: TypedParameterValue] = [
            "dirtyrate.calc_status": .int(2),
            "dirtyrate.calc_start_time": .long(123_456),
            "dirtyrate.calc_period": .int(3),
            "dirtyrate.megabytes_per_second": .long(250),
            "dirtyrate.calc_mode": .string("dirty-ring"),
            "dirtyrate.vcpu.0.megabytes_per_second": .ulong(100),
            "dirtyrate.vcpu.1.megabytes_per_second": .ulong(150),
            "dirtyrate.vcpu.x.megabytes_per_second": .ulong(9),
            "state.state": .int(1),
        ]
        let reading = try XCTUnwrap(DirtyRateReading(fields: fields))
        XCTAssertEqual(reading.status, .measured)
        XCTAssertEqual(reading.startTimeSeconds, 123_456)
        XCTAssertEqual(reading.periodSeconds, 3)
        XCTAssertEqual(reading.dirtyRateMiBPerSecond, 250)
        XCTAssertEqual(reading.mode, .dirtyRing)
        XCTAssertEqual(reading.vcpuDirtyRatesMiBPerSecond, [0: 100, 1: 150], "a vCPU field without a number is skipped")
        XCTAssertNil(reading.fields["state.state"], "only dirtyrate.* fields are kept")
        XCTAssertEqual(reading.fields.count, 8)
    }

    func testMeasuringReadingHasNoRateYet() throws {
        let reading = try XCTUnwrap(DirtyRateReading(fields: ["dirtyrate.calc_status": .int(1), "dirtyrate.calc_period": .int(5)]))
        XCTAssertEqual(reading.status, .measuring)
        XCTAssertNil(reading.dirtyRateMiBPerSecond)
        XCTAssertNil(reading.mode)
        XCTAssertEqual(reading.vcpuDirtyRatesMiBPerSecond, [:])
        XCTAssertEqual(DirtyRateReading(fields: ["dirtyrate.calc_status": .int(0)])?.status, .unstarted)
    }

    func testReadingWithoutAKnownStatusIsNone() {
        XCTAssertNil(DirtyRateReading(fields: [:]))
        XCTAssertNil(DirtyRateReading(fields: ["dirtyrate.megabytes_per_second": .long(5)]))
        XCTAssertNil(DirtyRateReading(fields: ["dirtyrate.calc_status": .int(7)]))
        XCTAssertNil(DirtyRateReading(fields: ["dirtyrate.calc_status": .string("measured")]))
    }

    func testModesMapToLibvirtsFlags() {
        XCTAssertEqual(DirtyRateCalculationMode.pageSampling.flags, 0)
        XCTAssertEqual(DirtyRateCalculationMode.dirtyBitmap.flags, 1)
        XCTAssertEqual(DirtyRateCalculationMode.dirtyRing.flags, 2)
        XCTAssertEqual(DirtyRateCalculationMode(rawValue: "page-sampling"), .pageSampling)
    }

    /// The test driver has no dirty-rate support: each call fails with libvirt's error, and
    /// the typed error names the call, the URI and the domain.
    func testTestDriverRefusesWithTypedErrorsNamingCallAndDomain() throws {
        let connection = try Connection(uri: LibvirtTests.testURI)
        let name = "dirtyrate-\(UUID().uuidString.prefix(8).lowercased())"
        let domain = try connection.createDomain(xml: """
            <domain type='test'><name>\(name)</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
            <os><type arch='x86_64'>hvm</type></os></domain>
            """)
        defer { try? domain.destroy() }

        XCTAssertThrowsError(try domain.startDirtyRateCalculation(seconds: 1, mode: .dirtyBitmap)) { error in
            guard let failure = error as? LibvirtError else { return XCTFail("not a LibvirtError: \(error)") }
            XCTAssertEqual(failure.call, "virDomainStartDirtyRateCalc")
            XCTAssertEqual(failure.domainName, name)
            XCTAssertEqual(failure.uri, LibvirtTests.testURI)
            XCTAssertEqual(failure.kind, .notSupported, failure.description)
            XCTAssertTrue(failure.description.contains(name), failure.description)
        }
        XCTAssertThrowsError(try domain.dirtyRate()) { error in
            guard let failure = error as? LibvirtError else { return XCTFail("not a LibvirtError: \(error)") }
            XCTAssertEqual(failure.call, "virDomainListGetStats(VIR_DOMAIN_STATS_DIRTYRATE)")
            XCTAssertEqual(failure.domainName, name)
            XCTAssertFalse(failure.message.isEmpty)
        }
        // measureDirtyRate stops at the first failing call, without waiting.
        var slept = 0.0
        XCTAssertThrowsError(try domain.measureDirtyRate(seconds: 1, sleep: { slept += $0 })) { error in
            XCTAssertEqual((error as? LibvirtError)?.call, "virDomainStartDirtyRateCalc")
        }
        XCTAssertEqual(slept, 0)
    }

    func testOversizedPeriodIsATypedError() throws {
        let connection = try Connection(uri: LibvirtTests.testURI)
        let domain = try XCTUnwrap(connection.listDomains(.active).first, "test:///default has a running domain 'test'")
        XCTAssertThrowsError(try domain.startDirtyRateCalculation(seconds: Int(Int32.max) + 1)) { error in
            guard let failure = error as? LibvirtError else { return XCTFail("not a LibvirtError: \(error)") }
            XCTAssertEqual(failure.kind, .invalidArgument)
            XCTAssertEqual(failure.domainName, domain.name)
        }
    }

    func testTimeoutErrorNamesDomainAndLastStatus() throws {
        let reading = try XCTUnwrap(DirtyRateReading(fields: ["dirtyrate.calc_status": .int(1)]))
        let error = DirtyRateTimeoutError(domainName: "lab-guest", uri: "qemu:///system", timeoutSeconds: 7, lastReading: reading)
        XCTAssertEqual(error.description,
                       "dirty-rate calculation of domain lab-guest (uri qemu:///system) not measured within 7.0 s: last status measuring")
    }
}

/// The polling of ``Domain/measureDirtyRate``, on a simulated clock.
final class DirtyRatePollingTests: XCTestCase {
    private func reading(_ status: Int32, rate: Int64? = nil) -> DirtyRateReading? {
        var fields: [String: TypedParameterValue] = ["dirtyrate.calc_status": .int(status)]
        if let rate { fields["dirtyrate.megabytes_per_second"] = .long(rate) }
        return DirtyRateReading(fields: fields)
    }

    private func timeout(_ last: DirtyRateReading) -> DirtyRateTimeoutError {
        DirtyRateTimeoutError(domainName: "d", uri: "u", timeoutSeconds: 2, lastReading: last)
    }

    func testPollsUntilMeasured() throws {
        var script = [reading(0), reading(1), reading(1), reading(2, rate: 42)].compactMap { $0 }
        var sleeps: [Double] = []
        let result = try Domain.pollUntilMeasured(read: { script.removeFirst() }, pollIntervalSeconds: 0.5, timeoutSeconds: 10,
                                                  sleep: { sleeps.append($0) }, timedOut: timeout)
        XCTAssertEqual(result.dirtyRateMiBPerSecond, 42)
        XCTAssertEqual(sleeps, [0.5, 0.5, 0.5])
        XCTAssertTrue(script.isEmpty)
    }

    func testTimesOutWithTheLastReading() throws {
        var reads = 0
        var slept = 0.0
        XCTAssertThrowsError(try Domain.pollUntilMeasured(read: { reads += 1; return self.reading(1)! }, pollIntervalSeconds: 0.75,
                                                          timeoutSeconds: 2, sleep: { slept += $0 }, timedOut: timeout)) { error in
            XCTAssertEqual((error as? DirtyRateTimeoutError)?.lastReading.status, .measuring)
        }
        XCTAssertEqual(slept, 2, accuracy: 1e-9, "never sleeps past the deadline")
        XCTAssertEqual(reads, 4, "reads at 0, 0.75, 1.5 and 2 s")
    }

    func testReadFailureStopsPolling() {
        struct Broken: Error {}
        var slept = 0.0
        XCTAssertThrowsError(try Domain.pollUntilMeasured(read: { throw Broken() }, pollIntervalSeconds: 1, timeoutSeconds: 5,
                                                          sleep: { slept += $0 }, timedOut: timeout)) { error in
            XCTAssertTrue(error is Broken)
        }
        XCTAssertEqual(slept, 0)
    }
}
