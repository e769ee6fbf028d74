import Foundation
import MigrationModel

/// Writes results for people (the verdict table) and for CI systems (JSON, JUnit XML).
public enum ReportWriter {
    /// The results as a JSON array, one object per scenario run (see ``ScenarioResult``).
    public static func json(_ results: [ScenarioResult]) throws -> Data {
        try resultsJSONEncoder().encode(results)
    }

    /// The results as JUnit XML: one `<testsuite>` per scenario run, one `<testcase>` per
    /// check; a failed check carries a `<failure>` with its evidence.
    public static func junit(_ results: [ScenarioResult], suiteName: String = "migverify") -> String {
        let totalTests = results.reduce(0) { $0 + $1.checks.count }
        let totalFailures = results.reduce(0) { $0 + $1.failedChecks.count }
        var xml = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        xml += #"<testsuites name="\#(xmlEscaped(suiteName))" tests="\#(totalTests)" failures="\#(totalFailures)" errors="0">"# + "\n"
        for (index, result) in results.enumerated() {
            let seconds = max(0, result.finishedAt.timeIntervalSince(result.startedAt))
            let suite = "\(result.scenario) \(result.memoryMiB)MiB \(formatNumber(result.dirtyRateMiBPerSecond))MiBps"
            let className = "migverify.\(result.scenario).\(result.memoryMiB)MiB"
            xml += #"  <testsuite name="\#(xmlEscaped(suite))" id="\#(index)" tests="\#(result.checks.count)" failures="\#(result.failedChecks.count)" errors="0" time="\#(String(format: "%.3f", seconds))" timestamp="\#(iso8601(result.startedAt))">"# + "\n"
            xml += "    <properties>\n"
            let properties: [(String, String)] = [
                ("accel", result.accel), ("qemuVersion", result.qemuVersion), ("libvirtVersion", result.libvirtVersion),
                ("migrationMilliseconds", text(result.migrationMilliseconds)),
                ("libvirtDowntimeMilliseconds", text(result.libvirtDowntimeMilliseconds)),
                ("pingDowntimeMilliseconds", text(result.pingDowntimeMilliseconds)),
                ("pingLost", result.pingLost.map(String.init) ?? "not measured"),
                ("integrityErrors", result.integrityErrors.map(String.init) ?? "not measured"),
            ]
            for (name, value) in properties {
                xml += #"      <property name="\#(xmlEscaped(name))" value="\#(xmlEscaped(value))"/>"# + "\n"
            }
            xml += "    </properties>\n"
            for check in result.checks {
                xml += #"    <testcase classname="\#(xmlEscaped(className))" name="\#(xmlEscaped(check.name))" time="0">"#
                if check.passed {
                    xml += "\n      <system-out>\(xmlEscaped(check.evidence))</system-out>\n    </testcase>\n"
                } else {
                    xml += "\n"
                    xml += #"      <failure message="\#(xmlEscaped(check.evidence))" type="check">\#(xmlEscaped(check.evidence))</failure>"# + "\n"
                    xml += "    </testcase>\n"
                }
            }
            if let error = result.libvirtError {
                xml += "    <system-err>libvirt: \(xmlEscaped(error))</system-err>\n"
            }
            xml += "  </testsuite>\n"
        }
        xml += "</testsuites>\n"
        return xml
    }

    /// The verdict table: per run a heading line (what ran, its verdict) and one line per
    /// check, then one summary line per run and the overall verdict. With `width` (a
    /// terminal's columns; 0 = no limit) every line fits: evidence is shortened with "…" and
    /// summary lines are wrapped; JSON, JUnit and the database keep it whole.
    public static func verdictTable(_ results: [ScenarioResult], width: Int = 0) -> String {
        let nameWidth = min(28, results.flatMap(\.checks).map(\.name.count).max() ?? 10) + 2
        var lines: [String] = []
        for result in results {
            let failed = result.failedChecks.count
            let verdict = result.checks.isEmpty ? "FAIL, nothing was checked"
                : failed == 0 ? "PASS, \(result.checks.count) checks" : "FAIL, \(failed) of \(result.checks.count) checks failed"
            lines.append(fit("\(result.parameters.label) on \(result.parameters.guestKind): \(verdict)", width))
            for check in result.checks {
                lines.append(fit("  " + pad(check.passed ? "PASS" : "FAIL", 6) + pad(check.name, nameWidth) + check.evidence, width))
            }
        }
        lines.append("")
        for result in results { lines += wrap(summaryLine(result), width) }
        let series = seriesSummaries(results)
        if !series.isEmpty { lines.append("") }
        for line in series { lines += wrap(line, width) }
        let failed = results.filter { !$0.passed }
        let checkCount = results.reduce(0) { $0 + $1.checks.count }
        let failedChecks = results.reduce(0) { $0 + $1.failedChecks.count }
        lines.append(failed.isEmpty && !results.isEmpty
                     ? "VERDICT: PASS (\(results.count) scenario run(s), \(checkCount) checks)"
                     : "VERDICT: FAIL (\(failed.count) of \(results.count) scenario run(s) failed, \(failedChecks) of \(checkCount) checks)")
        return lines.joined(separator: "\n")
    }

    /// `line` shortened to `width` columns with "…" (0 = as it is).
    static func fit(_ line: String, _ width: Int) -> String {
        guard width > 1, line.count > width else { return line }
        return String(line.prefix(width - 1)) + "…"
    }

    /// `line` broken at spaces into lines of at most `width` columns, continuation lines
    /// indented (0 = as it is); a word longer than a line is cut with "…".
    static func wrap(_ line: String, _ width: Int) -> [String] {
        guard width > 20, line.count > width else { return [line] }
        var lines: [String] = []
        var current = ""
        for word in line.split(separator: " ", omittingEmptySubsequences: false) {
            let candidate = current.isEmpty ? String(word) : current + " " + word
            if candidate.count <= width || current.trimmingCharacters(in: .whitespaces).isEmpty {
                current = candidate
            } else {
                lines.append(current)
                current = "    " + word
            }
        }
        lines.append(current)
        return lines.map { fit($0, width) }
    }

    /// One line per series of repeated runs (`--repeat`): in how many runs it failed, which
    /// checks failed how often, and the stale-page counts, e.g. the rate at which an
    /// intermittent fault (QEMU 7.2 losing dirty pages) is caught.
    public static func seriesSummaries(_ results: [ScenarioResult]) -> [String] {
        var order: [String] = []
        var groups: [String: [ScenarioResult]] = [:]
        for result in results where result.parameters.repetition != nil {
            let label = result.parameters.seriesLabel
            if groups[label] == nil { order.append(label) }
            groups[label, default: []].append(result)
        }
        return order.compactMap { label in
            guard let runs = groups[label], runs.count > 1 else { return nil }
            let failed = runs.filter { !$0.passed }
            var checkFailures: [String: Int] = [:]
            var checkOrder: [String] = []
            for run in failed {
                for check in run.failedChecks {
                    if checkFailures[check.name] == nil { checkOrder.append(check.name) }
                    checkFailures[check.name, default: 0] += 1
                }
            }
            let stale = runs.compactMap(\.integrityErrors).filter { $0 > 0 }
            var line = "SERIES \(label): failed in \(failed.count) of \(runs.count) runs (\(formatNumber(100 * Double(failed.count) / Double(runs.count)))%)"
            if !checkOrder.isEmpty {
                line += "; failed checks: " + checkOrder.map { "\($0) \(checkFailures[$0] ?? 0)×" }.joined(separator: ", ")
            }
            let measured = runs.filter { $0.integrityErrors != nil }.count
            line += "; stale pages found in \(stale.count) of \(measured) runs where memeater could verify"
            if let low = stale.min(), let high = stale.max() { line += " (\(low)-\(high) pages)" }
            return line
        }
    }

    /// One line per run: verdict and the main figures, each marked when not measured.
    public static func summaryLine(_ result: ScenarioResult) -> String {
        var parts = ["\(result.passed ? "PASS" : "FAIL") \(result.parameters.label)"]
        if let reused = result.reusedFromRunID { parts.append("(from run #\(reused) in the database, not re-run)") }
        if result.figures.convergence == .didNotConverge {
            let remaining = result.figures.remainingBytesAtEnd.map { formatNumber(Double($0) / 1_048_576) + " MiB" } ?? "-"
            parts.append("did not converge: \(result.figures.passes.map(String.init) ?? "-") passes, \(remaining) remaining after \(text(result.migrationMilliseconds)) ms")
        } else {
            parts.append("migration \(text(result.migrationMilliseconds)) ms")
        }
        var downtime = "downtime libvirt \(text(result.libvirtDowntimeMilliseconds)) ms / ping \(text(result.pingDowntimeMilliseconds)) ms"
        if let lower = result.figures.guestClockLagLowerBoundMilliseconds, let upper = result.figures.guestClockLagUpperBoundMilliseconds {
            downtime += " / guest's clock \(formatNumber((lower + upper) / 2)) ms"
        }
        parts.append(downtime)
        parts.append("lost \(result.pingLost.map(String.init) ?? "-")"
            + ((result.figures.pingGapLateProbes ?? 0) > 0 ? " (+\(result.figures.pingGapLateProbes ?? 0) held, answered late)" : ""))
        parts.append("stale pages \(result.integrityErrors.map(String.init) ?? "-")")
        if let stalls = result.maxStallMicrosecondsPerThread, stalls.count > 1 {
            // One memeater thread's stall is the run's; with several, which one stalled matters.
            parts.append("stall \(stalls.map { formatNumber(Double($0) / 1_000) }.joined(separator: "/")) ms per thread")
        }
        if let cost = result.figures.cpuCost, let cpu = cpuSummary(cost) { parts.append(cpu) }
        parts.append("\(result.accel), QEMU \(result.qemuVersion), libvirt \(result.libvirtVersion)")
        if let system = result.guestSystem { parts.append("guest \(system)") }
        return parts.joined(separator: ", ")
    }

    /// The cross-checks and model comparison of a run, as text (empty when there are none).
    public static func details(_ result: ScenarioResult) -> String {
        var lines: [String] = []
        if !result.crossChecks.isEmpty {
            lines.append("  cross-check             ours        libvirt   (how)")
            for row in result.crossChecks {
                lines.append("  " + pad(row.figure, 22) + leftPad(text(row.ours), 8) + leftPad(text(row.libvirt), 14)
                             + "   ours: \(row.oursSource); libvirt: \(row.libvirtSource). \(row.note)")
            }
        }
        if let cost = result.figures.cpuCost { lines += cpuLines(cost) }
        if let comparison = result.modelComparison { lines.append(comparison.table) }
        for note in result.notes { lines.append("  note: \(note)") }
        if let error = result.libvirtError { lines.append("  libvirt said: \(error)") }
        return lines.joined(separator: "\n")
    }

    /// The hosts' CPU in the summary line, e.g. `cpu src 3.7 s (1.85 s/GiB), dst 2.1 s (1.05 s/GiB)`
    /// (the total, and the migration's own CPU — the total less the vCPU threads — per GiB);
    /// `nil` when neither host was measured.
    static func cpuSummary(_ cost: MigrationCPUCost) -> String? {
        let hosts = [cost.source, cost.destination].compactMap { host -> String? in
            guard host.notMeasured == nil, let total = host.totalCPUSeconds else { return nil }
            return "\(host.hostName) \(formatNumber(total)) s" + (host.cpuSecondsPerGiB.map { " (\(formatNumber($0)) s/GiB)" } ?? "")
        }
        return hosts.isEmpty ? nil : "cpu " + hosts.joined(separator: ", ")
    }

    /// The hosts' CPU by thread role, one line per host, and how it was measured.
    static func cpuLines(_ cost: MigrationCPUCost) -> [String] {
        let columns = ["vCPU", "migration", "multifd", "main loop", "other", "ended", "libvirtd", "total", "per GiB (less vCPU)"]
        var lines = ["  " + pad("host cpu s", 12) + columns.map { leftPad($0, 10) }.joined()]
        for host in [cost.source, cost.destination] {
            if let reason = host.notMeasured {
                lines.append("  " + pad(host.hostName, 12) + "not measured: \(reason)")
                continue
            }
            let roles = host.qemuCPUSecondsByRole
            let cells = [roles[.vcpu], roles[.migration], roles[.multifd], roles[.mainLoop], roles[.other],
                         host.qemuEndedThreadsCPUSeconds, host.daemonCPUSeconds, host.totalCPUSeconds, host.cpuSecondsPerGiB]
            lines.append("  " + pad(host.hostName, 12) + cells.map { leftPad(text($0), 10) }.joined())
        }
        lines.append("  host cpu: " + cost.method
                     + (cost.movedGiB.map { "; per GiB of \(formatNumber($0)) GiB moved (\(cost.movedSource ?? "?"))" } ?? "; nothing known moved: no per-GiB figure"))
        return lines
    }

    static func text(_ value: Double?) -> String {
        value.map { formatNumber($0) } ?? "-"
    }

    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// Escapes text for XML attribute values and character data; drops characters XML 1.0 forbids.
public func xmlEscaped(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\n": out += "&#10;"
        case "\t", "\r": out.unicodeScalars.append(scalar)
        default:
            if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// `text` padded on the right to `width` (at least one space after it).
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

/// `text` padded on the left to `width` (at least one space before it).
func leftPad(_ text: String, _ width: Int) -> String {
    text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
}
