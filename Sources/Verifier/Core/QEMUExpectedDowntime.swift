import Foundation
import MigrationModel

/// QEMU's own forecast of a migration's downtime, read from the driver's job-stats samples:
/// what the downtime model (``DowntimeFit``) is compared with.
///
/// While the job copies, libvirt's `downtime` is QEMU's `expected-downtime`: the dirty memory
/// at its last bitmap sync over the bandwidth it measured (the downtime limit until a sync saw
/// dirtying). Once the job has completed the same field holds the downtime measured, so only
/// samples of the running job count: the source's, of an `unbounded` or `bounded` job (not
/// `completed`, `failed`, `cancelled` or `none`), before the driver's switch to post-copy
/// (whose pause is no stop-and-copy of the memory left). The last of them with a value is
/// QEMU's forecast closest to the switch-over.
public struct QEMUExpectedDowntime: Sendable, Equatable {
    /// The forecast, ms (`nil`: none was read; ``source`` says why).
    public var milliseconds: Double?
    /// How it was obtained, or why there is none, in one line.
    public var source: String

    /// Job types of a job that is still running: an ended job's `downtime` is no forecast.
    static let runningJobTypes: Set<String> = ["unbounded", "bounded"]

    /// The forecast in `samples` (in the order taken); `postCopyStartedAtMilliseconds` is when
    /// the driver switched to post-copy, on the samples' clock (`nil`: it did not).
    public init(samples: [JobSample], postCopyStartedAtMilliseconds: Double? = nil) {
        let source = samples.filter { $0.side == "source" }
        let running = source.filter { sample in
            Self.runningJobTypes.contains(sample.jobType)
                && postCopyStartedAtMilliseconds.map { sample.offsetMilliseconds < $0 } ?? true
        }
        guard !source.isEmpty else {
            self.init(milliseconds: nil, source: "not measured: no job-stats sample of the source")
            return
        }
        guard !running.isEmpty else {
            self.init(milliseconds: nil, source: "not measured: none of the \(source.count) job-stats sample(s) of the source was of the "
                      + "job still in pre-copy (unbounded or bounded\(postCopyStartedAtMilliseconds == nil ? "" : ", before the switch to post-copy"))")
            return
        }
        guard let last = running.last(where: { $0.expectedDowntimeMilliseconds != nil }),
              let forecast = last.expectedDowntimeMilliseconds else {
            self.init(milliseconds: nil, source: "not measured: libvirt gave no `downtime` in the \(running.count) job-stats sample(s) "
                      + "of the job in pre-copy")
            return
        }
        self.init(milliseconds: Double(forecast), source: "libvirt's job stats `downtime` while the job ran (QEMU's expected_downtime) in the "
                  + "last of \(running.count) source sample(s) of the job in pre-copy (\(last.jobType)), at "
                  + "\(formatNumber(last.offsetMilliseconds)) ms on the run clock" + (last.memoryIteration.map { ", pass \($0)" } ?? ""))
    }

    /// A forecast as given.
    public init(milliseconds: Double?, source: String) {
        self.milliseconds = milliseconds
        self.source = source
    }
}
