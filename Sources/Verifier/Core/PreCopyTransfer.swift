import Foundation
import MigrationModel

/// How fast the migration stream went during pre-copy, from the driver's job-stats samples:
/// the growth of libvirt's `data_processed` (every byte of the stream, as QEMU's rate limit
/// counts them) between the first sample that shows the job transferring and the last one
/// of pre-copy. The switch-over is left out: QEMU sends what is left then without its limit
/// (`ram_save_complete` flushes regardless of rate limiting), and a sample read during it
/// returns only after it (the read waits for QEMU's lock), stamped before it. So the window
/// ends at the sample on which the driver asked for post-copy, or, for a migration that
/// completed in pre-copy, one sample before the last.
///
/// The window's length is libvirt's `time_elapsed` of its last sample less its first's when
/// both have it: libvirt stamps it once QEMU answered, so a read that waited (QEMU holds its
/// lock while it syncs the dirty bitmap) does not make the rate look faster. Otherwise it is
/// the run clock's, stamped before each read.
public struct PreCopyTransfer: Sendable, Equatable {
    /// `data_processed` grew by this many bytes between the window's first and last sample.
    public var bytes: UInt64
    /// The window's first and last sample, ms on the run clock.
    public var startMilliseconds: Double
    public var endMilliseconds: Double
    /// The window's length, ms, and by which clock.
    public var windowMilliseconds: Double
    public var windowClock: WindowClock
    /// Samples in the window.
    public var sampleCount: Int

    /// Which clock measured the window.
    public enum WindowClock: String, Sendable, Equatable {
        /// libvirt's `time_elapsed` of the samples.
        case libvirtTimeElapsed = "libvirt's time_elapsed"
        /// The run clock, stamped before each job-stats read.
        case runClock = "the run clock"
    }

    /// A window shorter than this is not judged, ms: QEMU lets each 100 ms slot's share of the
    /// limit through as a burst, and two bursts in a short window read as twice the limit.
    public static let shortestJudgedWindowMilliseconds = 1_000.0

    public init(bytes: UInt64, startMilliseconds: Double, endMilliseconds: Double, sampleCount: Int,
                elapsedMilliseconds: Double? = nil) {
        self.bytes = bytes
        self.startMilliseconds = startMilliseconds
        self.endMilliseconds = endMilliseconds
        self.sampleCount = sampleCount
        windowMilliseconds = elapsedMilliseconds ?? endMilliseconds - startMilliseconds
        windowClock = elapsedMilliseconds == nil ? .runClock : .libvirtTimeElapsed
    }

    /// The pre-copy window of `outcome`'s samples; `nil` when fewer than two samples show the
    /// job transferring in it (nothing moved, or not for long enough to be sampled twice).
    public init?(outcome: MigrationOutcome) {
        // Readings of the job while it ran: after an abort libvirt reports an empty job (zeros).
        var running = outcome.samples.filter { ($0.dataProcessedBytes ?? 0) > 0 && ($0.dataTotalBytes ?? 0) > 0 }
        if let switchedAt = outcome.postCopyStartedAtMilliseconds {
            running = running.filter { $0.offsetMilliseconds <= switchedAt }
        } else if outcome.ending.migrated {
            running = Array(running.dropLast())
        }
        guard let first = running.first, let last = running.last, last.offsetMilliseconds > first.offsetMilliseconds,
              let from = first.dataProcessedBytes, let to = last.dataProcessedBytes, to > from else { return nil }
        var elapsed: Double?
        if let firstElapsed = first.timeElapsedMilliseconds, let lastElapsed = last.timeElapsedMilliseconds, lastElapsed > firstElapsed {
            elapsed = Double(lastElapsed - firstElapsed)
        }
        self.init(bytes: to - from, startMilliseconds: first.offsetMilliseconds, endMilliseconds: last.offsetMilliseconds,
                  sampleCount: running.count, elapsedMilliseconds: elapsed)
    }

    /// The rate over the window, MiB/s.
    public var mibPerSecond: Double { Double(bytes) / 1_048_576 / (windowMilliseconds / 1000) }

    /// Long enough to judge against a limit (``shortestJudgedWindowMilliseconds``).
    public var isJudged: Bool { windowMilliseconds >= Self.shortestJudgedWindowMilliseconds }

    /// e.g. `data_processed grew 1034.2 MiB between the job-stats samples at 1.2 s and 22.6 s on
    /// the run clock (215 samples; 21.4 s by libvirt's time_elapsed)`.
    public var description: String {
        "data_processed grew \(oneDecimal(Double(bytes) / 1_048_576)) MiB between the job-stats samples at "
            + "\(oneDecimal(startMilliseconds / 1000)) s and \(oneDecimal(endMilliseconds / 1000)) s on the run clock "
            + "(\(sampleCount) samples; \(oneDecimal(windowMilliseconds / 1000)) s by \(windowClock.rawValue))"
    }
}

/// `value` with one decimal, e.g. `48.3`.
func oneDecimal(_ value: Double) -> String {
    String(format: "%.1f", value)
}
