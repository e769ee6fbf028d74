import Foundation

/// CSV exports of a document (RFC 4180: a header row, CRLF line ends, quoted fields where
/// needed). Numbers are written at full precision and empty when absent; text a spreadsheet
/// would take for a formula is defused (``ReportFormat/csvField(_:)``).
public enum ReportCSV {
    /// One row per run.
    public static func runs(_ document: ReportDocument) -> String {
        let header = ["run_id", "cell_label", "repetition", "memory_mib", "memeater_size_mib", "pattern", "strategy",
                      "bandwidth_limit_mib_per_second", "target_dirty_rate_mib_per_second", "emulator", "guest_kind",
                      "direction", "status", "passed", "converged", "iterations", "remaining_mib_at_end",
                      "achieved_dirty_rate_mib_per_second", "qemu_sampled_dirty_rate_mib_per_second",
                      "qemu_sampled_dirty_rate_limit_note", "job_stats_dirty_rate_mib_per_second",
                      "transfer_rate_mib_per_second", "guest_dirty_rate_during_migration_mib_per_second", "migration_milliseconds", "libvirt_downtime_milliseconds",
                      "ping_gap_milliseconds", "ping_gap_lower_bound_milliseconds", "ping_gap_upper_bound_milliseconds",
                      "announce_delay_milliseconds", "overhead_milliseconds", "failed_checks",
                      "pre_copy_transfer_rate_mib_per_second", "source_cpu_seconds", "source_cpu_seconds_per_gib",
                      "destination_cpu_seconds", "destination_cpu_seconds_per_gib", "ping_gap_late_probes",
                      "guest_clock_lag_milliseconds", "guest_answer_delay_milliseconds", "probes_held_at_destination"]
        let rows = document.runs.map { run -> [String] in
            let parameters = run.parameters
            return [run.runID, run.cellLabel, String(run.repetition), String(parameters.memoryMiB),
                    String(parameters.memeaterSizeMiB), parameters.pattern, parameters.strategy,
                    ReportFormat.csvNumber(parameters.bandwidthLimitMiBPerSecond),
                    ReportFormat.csvNumber(parameters.targetDirtyRateMiBPerSecond), parameters.emulator, parameters.guestKind,
                    run.direction, run.status, run.passed ? "true" : "false", run.converged ? "true" : "false",
                    run.iterations.map(String.init) ?? "", ReportFormat.csvNumber(run.remainingMiBAtEnd),
                    ReportFormat.csvNumber(run.achievedDirtyRateMiBPerSecond),
                    ReportFormat.csvNumber(run.qemuSampledDirtyRateMiBPerSecond), run.qemuSampledDirtyRateLimitNote ?? "",
                    ReportFormat.csvNumber(run.jobStatsDirtyRateMiBPerSecond), ReportFormat.csvNumber(run.transferRateMiBPerSecond),
                    ReportFormat.csvNumber(run.guestDirtyRateDuringMigrationMiBPerSecond), ReportFormat.csvNumber(run.migrationMilliseconds), ReportFormat.csvNumber(run.libvirtDowntimeMilliseconds),
                    ReportFormat.csvNumber(run.pingGapMilliseconds), ReportFormat.csvNumber(run.pingGapLowerBoundMilliseconds),
                    ReportFormat.csvNumber(run.pingGapUpperBoundMilliseconds),
                    ReportFormat.csvNumber(run.announceDelayMilliseconds), ReportFormat.csvNumber(run.overheadMilliseconds),
                    run.failedChecks.joined(separator: ";"), ReportFormat.csvNumber(run.preCopyTransferRateMiBPerSecond),
                    ReportFormat.csvNumber(run.hostCPU.first?.totalCPUSeconds), ReportFormat.csvNumber(run.hostCPU.first?.cpuSecondsPerGiB),
                    ReportFormat.csvNumber(run.hostCPU.dropFirst().first?.totalCPUSeconds),
                    ReportFormat.csvNumber(run.hostCPU.dropFirst().first?.cpuSecondsPerGiB),
                    run.pingGapLateProbes.map(String.init) ?? "", ReportFormat.csvNumber(run.guestClockLagMilliseconds),
                    ReportFormat.csvNumber(run.guestAnswerDelayMilliseconds), run.probesHeldAtDestination.map(String.init) ?? ""]
        }
        return csv(header: header, rows: rows)
    }

    /// One row per cell.
    public static func cells(_ document: ReportDocument) -> String {
        var header = ["cell_label", "memory_mib", "memeater_size_mib", "pattern", "strategy",
                      "bandwidth_limit_mib_per_second", "target_dirty_rate_mib_per_second", "emulator", "guest_kind"]
        let additionalNames = Array(Set(document.cells.flatMap { $0.parameters.additional.keys })).sorted()
        header += additionalNames
        for quantity in ["migration_milliseconds", "libvirt_downtime_milliseconds", "ping_gap_milliseconds",
                         "achieved_dirty_rate_mib_per_second"] {
            header += ["count", "mean", "median", "sd", "min", "max", "ci95_low", "ci95_high"].map { "\(quantity)_\($0)" }
        }
        header += ["predicted_migration_milliseconds", "predicted_downtime_milliseconds", "converged_count", "run_count"]
        let rows = document.cells.map { cell -> [String] in
            let parameters = cell.parameters
            var row = [cell.label, String(parameters.memoryMiB), String(parameters.memeaterSizeMiB), parameters.pattern,
                       parameters.strategy, ReportFormat.csvNumber(parameters.bandwidthLimitMiBPerSecond),
                       ReportFormat.csvNumber(parameters.targetDirtyRateMiBPerSecond), parameters.emulator, parameters.guestKind]
            row += additionalNames.map { parameters.additional[$0] ?? "" }
            for statistic in [cell.migrationMilliseconds, cell.libvirtDowntimeMilliseconds, cell.pingGapMilliseconds,
                              cell.achievedDirtyRateMiBPerSecond] {
                row += [String(statistic.count)] + [statistic.mean, statistic.median, statistic.standardDeviation,
                                                    statistic.minimum, statistic.maximum, statistic.confidenceLow,
                                                    statistic.confidenceHigh].map(ReportFormat.csvNumber)
            }
            row += [ReportFormat.csvNumber(cell.predictedMigrationMilliseconds),
                    ReportFormat.csvNumber(cell.predictedDowntimeMilliseconds),
                    String(cell.convergedCount), String(cell.runCount)]
            return row
        }
        return csv(header: header, rows: rows)
    }

    static func csv(header: [String], rows: [[String]]) -> String {
        ([header] + rows).map { $0.map(ReportFormat.csvField).joined(separator: ",") + "\r\n" }.joined()
    }
}
