import Foundation
@testable import Verifier

enum Fixtures {
    static let endpoints = Endpoints(sourceURI: "qemu+tcp://198.18.0.1/system", destinationURI: "qemu+tcp://198.18.0.2/system",
                                     domainName: "lab-guest", guestAddress: "198.18.0.10", captureInterface: "up0")

    static func parameters(_ scenario: ScenarioKind = .live, memoryMiB: Int = 333, rate: Double = 50) -> ScenarioParameters {
        ScenarioParameters(scenario: scenario, memoryMiB: memoryMiB, memeaterSizeMiB: 128, dirtyRateMiBPerSecond: rate,
                           endpoints: endpoints)
    }

    static func result(_ scenario: ScenarioKind = .live, checks: [Check]) -> ScenarioResult {
        var result = ScenarioResult(parameters: parameters(scenario), accel: "tcg", qemuVersion: "10.0.2", libvirtVersion: "11.3.0",
                                    startedAt: Date(timeIntervalSince1970: 1_700_000_000))
        result.finishedAt = Date(timeIntervalSince1970: 1_700_000_012.5)
        for check in checks { result.add(check) }
        result.migrationMilliseconds = 1234
        result.libvirtDowntimeMilliseconds = 120
        result.pingDowntimeMilliseconds = 140.5
        result.pingLost = 3
        result.integrityErrors = 0
        return result
    }
}
