extension PingReport {
    /// The human summary: a few lines, every figure with its unit.
    public var humanSummary: String {
        let a = analysis
        var lines: [String] = []
        let source = mode == .live ? "via \(interface ?? "?")" : "from \(captureFile ?? "?")"
        lines.append("pingmon: \(target) \(source), interval \(Format.fixed(a.intervalMicroseconds, decimals: 1)) µs (\(a.intervalSource)), "
            + "timestamps of \(timestampPrecision.phrase)")
        let lossPercent = a.sent > 0 ? Double(a.lost) * 100 / Double(a.sent) : 0
        lines.append("probes: \(a.sent) sent, \(a.received) received, \(a.lost) lost (\(Format.fixed(lossPercent, decimals: 3)) %) "
            + "in \(a.lossRunCount) runs (longest \(a.longestLossRunProbes)); \(a.duplicates) duplicates, \(a.outOfOrder) out of order"
            + (a.requestsMissingFromCapture > 0 ? ", \(a.requestsMissingFromCapture) requests missing from the capture" : ""))
        var downtime = "downtime: \(Format.milliseconds(a.downtimeMilliseconds)) ms"
        if a.downtimeLostProbes > 0 || a.downtimeLateProbes > 0 || a.downtimeOpenEnded {
            downtime += " (midpoint of the outage's bounds \(Format.milliseconds(a.downtimeLowerBoundMilliseconds)) and "
                + "\(Format.milliseconds(a.downtimeUpperBoundMilliseconds)) ms), \(a.downtimeLostProbes) probes lost"
            if a.downtimeLateProbes > 0 {
                downtime += ", \(a.downtimeLateProbes) held and answered late"
                if let held = a.downtimeLongestLateRoundTripMilliseconds { downtime += " (round trip up to \(Format.milliseconds(held)) ms)" }
            }
        } else {
            downtime += " (no probe lost or held)"
        }
        downtime += "; longest gap without replies \(Format.milliseconds(a.longestGapMilliseconds)) ms"
        if let start = a.downtimeStartOffsetMilliseconds { downtime += ", from \(Format.milliseconds(start)) ms" }
        if a.downtimeOpenEnded { downtime += " (open-ended: touches the edge of the capture)" }
        lines.append(downtime)
        lines.append("gaps over \(Format.milliseconds(a.gapThresholdMilliseconds)) ms: \(a.gapCount)")
        for gap in a.gaps.prefix(20) {
            lines.append("  at \(Format.milliseconds(gap.startOffsetMilliseconds)) ms: \(Format.milliseconds(gap.lengthMilliseconds)) ms "
                + "(outage \(Format.milliseconds(gap.lowerBoundMilliseconds))..\(Format.milliseconds(gap.upperBoundMilliseconds)) ms, "
                + "\(gap.lostProbes) lost\(gap.lateProbes > 0 ? ", \(gap.lateProbes) late" : "")\(gap.openEnded ? ", open-ended" : ""))")
        }
        if a.gaps.count > 20 { lines.append("  ... \(a.gapCount - 20) more in the JSON output") }
        let rtt = a.rttMicroseconds
        lines.append(rtt.count == 0 ? "rtt: no samples"
            : "rtt: min \(Format.fixed(rtt.minimum, decimals: 1)) µs, p50 \(Format.fixed(rtt.p50, decimals: 1)) µs, "
                + "p99 \(Format.fixed(rtt.p99, decimals: 1)) µs, p99.9 \(Format.fixed(rtt.p999, decimals: 1)) µs, "
                + "max \(Format.fixed(rtt.maximum, decimals: 1)) µs (\(rtt.count) samples)")
        if a.announceFrames.isEmpty {
            lines.append("announce frames: none from the target")
        } else {
            var announce = "announce frames: \(a.announceFrames.count) ("
                + a.announceFrames.prefix(5).map { "\($0.kind.rawValue) at \(Format.milliseconds($0.offsetMilliseconds)) ms" }.joined(separator: ", ")
                + (a.announceFrames.count > 5 ? ", ..." : "") + ")"
            if let resumed = a.repliesResumedAfterFirstAnnounceMilliseconds {
                announce += "; replies resumed \(Format.milliseconds(resumed)) ms after the first"
            }
            lines.append(announce)
        }
        if let sender {
            lines.append("sender: \(sender.probesSent) sent, \(sender.sendErrors) send errors, \(sender.lateProbes) more than one interval late "
                + "(max \(Format.fixed(sender.maximumLatenessMicroseconds, decimals: 1)) µs late)")
        }
        if let capture {
            lines.append("capture: \(capture.packetsReceived) packets passed the filter, \(capture.packetsDroppedByKernel) dropped by the kernel, "
                + "\(capture.packetsDroppedByInterface) by the interface")
        }
        for warning in warnings { lines.append("warning: \(warning)") }
        for check in verdict.checks { lines.append("pass: \(check)") }
        for failure in verdict.failures { lines.append("FAIL: \(failure)") }
        return lines.joined(separator: "\n")
    }
}

extension LiveStatus {
    /// One status line, e.g. for a terminal.
    public var line: String {
        "\(Format.fixed(elapsedSeconds, decimals: 1)) s: sent \(probesSent), replies \(repliesReceived), lost \(lost), "
            + "gap now \(Format.fixed(currentGapMilliseconds, decimals: 1)) ms, longest \(Format.fixed(longestGapMilliseconds, decimals: 1)) ms"
    }
}
