import Foundation
import XCTest
@testable import SweepReport

/// A synthetic sweep: 2 memory sizes × 3 dirty rates × 2 repetitions, a fit, a boundary
/// and two timelines. Figures follow a simple rule (time grows with memory and rate) so a
/// test can predict them.
enum ReportFixtures {
    static let memorySizesMiB = [512, 1024]
    static let dirtyRatesMiBPerSecond: [Double] = [50, 100, 200]
    static let repetitions = 2

    static func parameters(memoryMiB: Int, rate: Double, emulator: String = "qemu-kvm") -> ReportCellParameters {
        ReportCellParameters(memoryMiB: memoryMiB, memeaterSizeMiB: memoryMiB / 2, pattern: "sequential",
                             strategy: "precopy", bandwidthLimitMiBPerSecond: nil, targetDirtyRateMiBPerSecond: rate,
                             emulator: emulator, guestKind: "alpine-memeater")
    }

    /// The label has a comma on purpose: the CSV must quote it.
    static func label(memoryMiB: Int, rate: Double) -> String {
        "\(memoryMiB) MiB, \(Int(rate)) MiB/s"
    }

    /// What the guest reached of a target: never the target itself, so a plot at the target shows.
    static func achievedMiBPerSecond(target: Double) -> Double {
        target * 0.98
    }

    static func migrationMilliseconds(memoryMiB: Int, rate: Double, repetition: Int) -> Double {
        Double(memoryMiB) * 2 + rate * 10 + Double(repetition) * 20
    }

    /// A statistic centred on `mean` with a CI of ± `halfWidth` and min/max of ± `halfWidth / 2`.
    static func statistic(mean: Double, halfWidth: Double, count: Int = repetitions) -> ReportStatistic {
        ReportStatistic(count: count, mean: mean, median: mean, standardDeviation: halfWidth / 2,
                        minimum: mean - halfWidth / 2, maximum: mean + halfWidth / 2,
                        confidenceLow: mean - halfWidth, confidenceHigh: mean + halfWidth)
    }

    static func cells(emulator: String = "qemu-kvm") -> [ReportCell] {
        memorySizesMiB.flatMap { memory in
            dirtyRatesMiBPerSecond.map { rate in
                let mean = migrationMilliseconds(memoryMiB: memory, rate: rate, repetition: 1) + 10
                return ReportCell(
                    label: label(memoryMiB: memory, rate: rate),
                    parameters: parameters(memoryMiB: memory, rate: rate, emulator: emulator),
                    migrationMilliseconds: statistic(mean: mean, halfWidth: 50),
                    libvirtDowntimeMilliseconds: statistic(mean: 30 + rate / 10, halfWidth: 5),
                    pingGapMilliseconds: statistic(mean: 45 + rate / 10, halfWidth: 8),
                    predictedMigrationMilliseconds: mean * 1.02, predictedDowntimeMilliseconds: 31 + rate / 10,
                    convergedCount: repetitions, runCount: repetitions,
                    achievedDirtyRateMiBPerSecond: statistic(mean: achievedMiBPerSecond(target: rate), halfWidth: 2))
            }
        }
    }

    static func runs() -> [ReportRun] {
        var runs: [ReportRun] = []
        for memory in memorySizesMiB {
            for rate in dirtyRatesMiBPerSecond {
                for repetition in 1...repetitions {
                    runs.append(ReportRun(
                        runID: "r\(runs.count + 1)", cellLabel: label(memoryMiB: memory, rate: rate), repetition: repetition,
                        parameters: parameters(memoryMiB: memory, rate: rate), direction: "lab-src→lab-dst",
                        status: "completed", passed: true, converged: true, iterations: 3 + Int(rate / 100),
                        achievedDirtyRateMiBPerSecond: rate * 0.98, qemuSampledDirtyRateMiBPerSecond: rate * 0.95,
                        jobStatsDirtyRateMiBPerSecond: rate * 1.05, transferRateMiBPerSecond: 900,
                        migrationMilliseconds: migrationMilliseconds(memoryMiB: memory, rate: rate, repetition: repetition),
                        libvirtDowntimeMilliseconds: 30 + rate / 10, pingGapMilliseconds: 45 + rate / 10,
                        pingGapLowerBoundMilliseconds: 40 + rate / 10, pingGapUpperBoundMilliseconds: 50 + rate / 10,
                        announceDelayMilliseconds: 8, overheadMilliseconds: 1500))
                }
            }
        }
        return runs
    }

    static let fit = ReportFit(
        parameters: [ReportFit.Parameter(name: "link bandwidth", value: 905.5, unit: "MiB/s"),
                     ReportFit.Parameter(name: "fixed overhead", value: 120, unit: "ms")],
        rSquaredMigrationTime: 0.987, rSquaredDowntime: 0.912, heldOutMAPEPercent: 4.2,
        foldDescription: "leave-one-rate-out, 3 folds",
        curves: memorySizesMiB.map { memory in
            ReportFit.Curve(memoryMiB: memory, points: stride(from: 0.0, through: 250, by: 25).map { rate in
                ReportFit.CurvePoint(dirtyRateMiBPerSecond: rate, predictedMilliseconds: Double(memory) * 2 + rate * 10 + 30)
            })
        })

    static let boundaries = [
        ReportBoundary(memoryMiB: 512, bandwidthLimitMiBPerSecond: nil, highestConvergingMiBPerSecond: 600,
                       lowestNonConvergingMiBPerSecond: 700, predictedMiBPerSecond: 650),
        ReportBoundary(memoryMiB: 1024, bandwidthLimitMiBPerSecond: nil, highestConvergingMiBPerSecond: 550,
                       lowestNonConvergingMiBPerSecond: 650, predictedMiBPerSecond: 610),
    ]

    static func timeline(runID: String, label: String) -> ReportTimeline {
        let samples = stride(from: 0.0, through: 1000, by: 100).map { milliseconds in
            ReportTimeline.Sample(milliseconds: milliseconds, remainingMiB: max(0, 512 - milliseconds / 2),
                                  dirtyRateMiBPerSecond: 100, transferRateMiBPerSecond: 880)
        }
        return ReportTimeline(
            runID: runID, label: label, samples: samples,
            iterationMarks: [.init(milliseconds: 0, iteration: 1), .init(milliseconds: 600, iteration: 2)],
            pingGaps: [.init(startMilliseconds: 950, lengthMilliseconds: 45)],
            announceFrames: [.init(milliseconds: 985, text: "RARP"), .init(milliseconds: 990, text: "GARP")],
            faults: [.init(milliseconds: 300, text: "link delay 20 ms")],
            migrationStartMilliseconds: 0, migrationEndMilliseconds: 990)
    }

    static func document(sweepID: String = "sweep-1", emulator: String = "qemu-kvm") -> ReportDocument {
        ReportDocument(
            sweepID: sweepID, title: "KVM, 2 memory sizes × 3 dirty rates",
            createdAt: Date(timeIntervalSince1970: 1_750_000_000),
            environment: ReportEnvironment(accelerator: .kvm, qemuVersion: "10.0.2", libvirtVersion: "11.3.0", host: "lab-host"),
            notes: ["synthetic sweep for the renderer's tests"], pingProbeIntervalMilliseconds: 10,
            cells: cells(emulator: emulator), runs: runs(), fits: [fit], boundaries: boundaries,
            timelines: [timeline(runID: "r1", label: label(memoryMiB: 512, rate: 50)),
                        timeline(runID: "r12", label: label(memoryMiB: 1024, rate: 200))],
            limits: ["QEMU's page sampling under TCG is capped near 60 MB/s."])
    }

    /// Evacuations of 1, 2 and twice 4 guests of one live cell, worked by hand: totals 10, 12,
    /// 16 and 18 s, serial sums 10, 21, 44 and 46 s; downtimes (ms) 20 | 30, 50 | 40, 10, 30, 90
    /// (median 35, worst 90) | 20, 60, 25, 35 (median 30, worst 60), one guest of the last failed.
    static func evacuations() -> [ReportEvacuation] {
        func evacuation(_ id: String, guests: Int, passed: Int? = nil, total: Double, serial: Double,
                        downtimes: [Double], median: Double, worst: Double) -> ReportEvacuation {
            ReportEvacuation(evacuationID: id, cellLabel: "live 1024 MiB @ 50 MiB/s", guestCount: guests, landedCount: guests,
                             passedCount: passed ?? guests, totalSeconds: total, serialSumSeconds: serial, speedup: serial / total,
                             downtimeMillisecondsMedian: median, downtimeMillisecondsWorst: worst, guestDowntimesMilliseconds: downtimes)
        }
        return [evacuation("evac-1", guests: 1, total: 10, serial: 10, downtimes: [20], median: 20, worst: 20),
                evacuation("evac-2", guests: 2, total: 12, serial: 21, downtimes: [30, 50], median: 40, worst: 50),
                evacuation("evac-4a", guests: 4, total: 16, serial: 44, downtimes: [40, 10, 30, 90], median: 35, worst: 90),
                evacuation("evac-4b", guests: 4, passed: 3, total: 18, serial: 46, downtimes: [20, 60, 25, 35], median: 30, worst: 60)]
    }

    /// A failure run's timeline: a perform-fail run whose job never moved memory (every sample
    /// reads 0 remaining), with the fault's acted moment, the verifier's abort, a guest-network
    /// window, ping gaps, events on both hosts, and what the fault keeps without a time.
    static func failureTimeline(runID: String = "f1") -> ReportTimeline {
        let samples = [(1_700.0, "none"), (1_800, "unbounded"), (1_900, "unbounded"), (2_400, "failed"), (9_500, "failed")].map {
            ReportTimeline.Sample(milliseconds: $0.0, remainingMiB: 0, dirtyRateMiBPerSecond: nil, transferRateMiBPerSecond: nil,
                                  jobType: $0.1)
        }
        var timeline = ReportTimeline(
            runID: runID, label: "perform-fail 2048 MiB @ 50 MiB/s", samples: samples,
            pingGaps: [.init(startMilliseconds: 1_580, lengthMilliseconds: 27.5), .init(startMilliseconds: 6_000, lengthMilliseconds: 700)],
            faults: [.init(milliseconds: 2_100, text: "fault acted (perform-fail)"),
                     .init(milliseconds: 9_000, text: "verifier aborted the job")],
            migrationStartMilliseconds: 1_735, migrationEndMilliseconds: 11_528, failureScenario: "perform-fail")
        timeline.hostEvents = [.init(milliseconds: 2_372, host: "destination", kind: "lifecycle started", text: "lifecycle started detail 1"),
                               .init(milliseconds: 3_000, host: "source", kind: "migration-iteration", text: "migration-iteration 1"),
                               .init(milliseconds: 11_513, host: "destination", kind: "lifecycle stopped", text: "lifecycle stopped detail 5")]
        timeline.faultWindows = [.init(startMilliseconds: 6_000, lengthMilliseconds: 650, text: "guest network cut")]
        timeline.untimedFaultEvidence = ["the firewall on dst dropped 6 packets to TCP 49152-49216",
                                         "removed: the nft table migverify_fault is gone from dst"]
        timeline.notRecorded = ["When the fault was installed and when it was removed are not recorded."]
        return timeline
    }

    /// The fixture's live sweep with failure scenarios added: 2 prepare-fail runs of one cell
    /// (one handled, one not) and 1 perform-fail run, with a failure timeline.
    static func mixedDocument() -> ReportDocument {
        var document = document()
        func failureRun(_ runID: String, scenario: String, passed: Bool, memoryMiB: Int = 512) -> ReportRun {
            var parameters = parameters(memoryMiB: memoryMiB, rate: 50)
            parameters.additional["scenario"] = scenario
            var run = ReportRun(runID: runID, cellLabel: "\(scenario) \(memoryMiB) MiB @ 50 MiB/s", repetition: 1, parameters: parameters,
                                direction: "forward", status: "completed", passed: passed, converged: false,
                                achievedDirtyRateMiBPerSecond: 49.5, migrationMilliseconds: 18,
                                failedChecks: passed ? [] : ["destination-host-clean"])
            run.passedCheckCount = passed ? 10 : 9
            run.failure = ReportFailureOutcome(scenario: scenario, expectation: "stays on the source",
                                               guestPlacement: "source: running (migrated); destination: none",
                                               leftovers: passed ? "none" : "destination-host-clean: qemu process 4242 of lab-guest on dst")
            return run
        }
        let failures = [failureRun("f1", scenario: "prepare-fail", passed: true),
                        failureRun("f2", scenario: "prepare-fail", passed: false),
                        failureRun("f3", scenario: "perform-fail", passed: true)]
        document.runs += failures
        for scenario in ["prepare-fail", "perform-fail"] {
            let runs = failures.filter { $0.failure?.scenario == scenario }
            document.cells.append(ReportCell(label: runs[0].cellLabel, parameters: runs[0].parameters, migrationMilliseconds: .empty,
                                             libvirtDowntimeMilliseconds: .empty, pingGapMilliseconds: .empty,
                                             convergedCount: 0, runCount: runs.count, failureScenario: scenario))
        }
        document.timelines.append(failureTimeline(runID: "f3"))
        return document
    }

    /// A fresh directory for one test's output, removed at the end of the test, unless
    /// SWEEP_REPORT_TEST_OUTPUT names a directory to keep the outputs in (to look at them).
    static func outputDirectory(for test: XCTestCase) throws -> URL {
        if let kept = ProcessInfo.processInfo.environment["SWEEP_REPORT_TEST_OUTPUT"], !kept.isEmpty {
            let name = test.name.filter { $0.isLetter || $0.isNumber }
            let directory = URL(fileURLWithPath: kept).appendingPathComponent(name, isDirectory: true)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return directory
        }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("sweep-report-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return directory
    }

    static func read(_ file: URL) throws -> String {
        String(decoding: try Data(contentsOf: file), as: UTF8.self)
    }
}

/// What the tests read back from gnuplot's SVG: plot groups by title. Only the structure
/// gnuplot's SVG terminal has had since 4.6 is used (`<g id="…gnuplot_plot_N…"><title>`),
/// never its version strings.
struct SVGInspection {
    struct PlotGroup {
        var title: String
        var body: String
    }

    var groups: [PlotGroup]

    init(_ svg: String) {
        var groups: [PlotGroup] = []
        let parts = svg.components(separatedBy: "gnuplot_plot_").dropFirst()
        for part in parts {
            guard let titleStart = part.range(of: "<title>"), let titleEnd = part.range(of: "</title>"),
                  titleStart.upperBound <= titleEnd.lowerBound else { continue }
            let title = String(part[titleStart.upperBound..<titleEnd.lowerBound])
                .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
                .replacingOccurrences(of: "&amp;", with: "&")
            groups.append(PlotGroup(title: title, body: part))
        }
        self.groups = groups
    }

    var titles: [String] { groups.map(\.title) }

    /// Distinct positions of point symbols (not the white backgrounds some point types get)
    /// in the group titled `title`. The key's sample symbol is one of them.
    func pointPositions(inSeries title: String) -> Set<String> {
        guard let group = groups.first(where: { $0.title == title }) else { return [] }
        var positions = Set<String>()
        for line in group.body.components(separatedBy: "\n") where line.contains("<use") && line.contains("gpPt") {
            guard !line.contains("color='white'"), let start = line.range(of: "translate("),
                  let end = line[start.upperBound...].firstIndex(of: ")") else { continue }
            positions.insert(String(line[start.upperBound..<end]))
        }
        return positions
    }
}

extension String {
    /// The `<figure id="plot-NAME">…</figure>` element of a report page, if present.
    func figure(named name: String) -> String? {
        guard let start = range(of: "<figure id=\"plot-\(name)\">"),
              let end = range(of: "</figure>", range: start.upperBound..<endIndex) else { return nil }
        return String(self[start.lowerBound..<end.upperBound])
    }

    func occurrences(of text: String) -> Int {
        components(separatedBy: text).count - 1
    }
}
