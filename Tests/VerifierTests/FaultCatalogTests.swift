import Foundation
import XCTest
@testable import Verifier

/// The catalog is the one list of scenarios: the CLI's names and help, the docs' table and
/// the parsing of stored results all come from it.
final class FaultCatalogTests: XCTestCase {
    func testEveryScenarioIsKnownByItsNameAndRoundTripsThroughJSON() throws {
        XCTAssertEqual(ScenarioKind.allCases.map(\.rawValue),
                       ["live", "prepare-fail", "perform-fail", "abort", "link-cut", "guest-link-cut", "dst-qemu-killed", "dst-already-active", "dst-daemon-killed",
                        "src-daemon-killed", "src-qemu-killed", "finish-fail", "postcopy-dst-qemu-killed", "postcopy-link-cut",
                        "tls-missing-cert", "tls-untrusted"]
                           .filter { name in FaultCatalog.standard.types.contains { $0.scenario.rawValue == name } })
        for kind in ScenarioKind.allCases {
            XCTAssertEqual(ScenarioKind(rawValue: kind.rawValue), kind)
            let json = try JSONEncoder().encode([kind])
            XCTAssertEqual(String(decoding: json, as: UTF8.self), "[\"\(kind.rawValue)\"]", "stored as its name, as before")
            XCTAssertEqual(try JSONDecoder().decode([ScenarioKind].self, from: json), [kind])
        }
        XCTAssertNil(ScenarioKind(rawValue: "finish-fial"))
        XCTAssertThrowsError(try JSONDecoder().decode([ScenarioKind].self, from: Data(#"["no-such-scenario"]"#.utf8)))
    }

    func testTheOrderIsTheCatalogs() {
        XCTAssertEqual(ScenarioKind.allCases.sorted(), ScenarioKind.allCases)
        XCTAssertLessThan(ScenarioKind.live, ScenarioKind.dstAlreadyActive)
    }

    func testTheHelpNamesEveryScenarioWithItsSummaryAndTheDefaults() {
        let help = FaultCatalog.standard.scenarioHelp
        for type in FaultCatalog.standard.types {
            XCTAssertTrue(help.contains("\(type.scenario.rawValue) (\(type.summary))"), "\(type.scenario) in: \(help)")
            XCTAssertFalse(type.summary.isEmpty || type.summary.contains("\n"), "one line: \(type.scenario)")
        }
        XCTAssertTrue(help.contains("default: live, prepare-fail, perform-fail"), help)
    }

    /// docs/verifier.md's scenario table has a row for every scenario the catalog knows.
    func testTheDocsListEveryScenario() throws {
        let docs = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/verifier.md").standardized, encoding: .utf8)
        for kind in ScenarioKind.allCases {
            XCTAssertTrue(docs.contains("| `\(kind.rawValue)` |"), "docs/verifier.md has no row for \(kind.rawValue)")
        }
    }

    func testOnlyTheUndisturbedScenarioFeedsTheModelAndMayStartFromEitherHost() {
        XCTAssertEqual(ScenarioKind.allCases.filter(\.measuresAnUndisturbedMigration), [.live])
        XCTAssertEqual(FaultCatalog.standard.types.filter { $0.runsOnEitherHost }.map { $0.scenario }, [.live])
    }

    func testAScenarioOfAnotherCatalogIsRefusedInOneLine() {
        let refusal = FaultCatalog.standard.refusal(ScenarioKind(declaring: "elsewhere"), on: FakeTestbed(world: FakeWorld()))
        XCTAssertEqual(refusal?.hasPrefix("--scenario elsewhere: no such scenario (known: live, prepare-fail"), true, refusal ?? "not refused")
        XCTAssertNil(FaultCatalog.standard.refusal(.performFail, on: FakeTestbed(world: FakeWorld())), "the fake has a destination shell")
        XCTAssertNotNil(FaultCatalog.standard.refusal(.linkCut, on: FakeTestbed(world: FakeWorld())), "the fake is no lab")
        XCTAssertTrue(FaultCatalog.standard.type(of: .performFail) == MigrationPortsDroppedFault.self)
    }
}
