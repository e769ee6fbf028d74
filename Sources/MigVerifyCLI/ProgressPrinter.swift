import Foundation
import Verifier

/// The columns of the terminal on standard output, 0 when it is not a terminal (a file or a
/// pipe gets whole lines).
func terminalColumns() -> Int {
    guard isatty(STDOUT_FILENO) == 1 else { return 0 }
    var size = winsize()
    guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 100 }
    return Int(size.ws_col)
}

/// Shows a run's progress on the terminal: steps as lines, job-stats readings as one line
/// that overwrites itself on a terminal (elsewhere at most one per second).
final class ProgressPrinter: RunRecorder, @unchecked Sendable {
    private let lock = NSLock()
    private let interactive: Bool
    private var lastPrinted = Date.distantPast
    private var lineOpen = false

    init(interactive: Bool) { self.interactive = interactive }

    func begin(_ parameters: ScenarioParameters, clock: RunClock) {}

    func record(_ record: RunRecord) {
        switch record {
        case .step(let line): step(line)
        case .jobSample(let sample, let start): sampleLine(sample.progressLine(sinceMilliseconds: start))
        case .waiting(let line): sampleLine(line)
        case .pingSample, .event, .memeater, .observation, .phase: break
        }
    }

    /// A step, on a line of its own.
    func step(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        lastPrinted = Date()
        FileHandle.standardError.write(Data(((lineOpen ? "\n" : "") + line + "\n").utf8))
        lineOpen = false
    }

    private func sampleLine(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        if interactive {
            FileHandle.standardError.write(Data("\r\u{1B}[K  \(line)".utf8))
            lineOpen = true
            return
        }
        if Date().timeIntervalSince(lastPrinted) < 1 { return }
        lastPrinted = Date()
        FileHandle.standardError.write(Data(((lineOpen ? "\n" : "") + "  " + line + "\n").utf8))
        lineOpen = false
    }

    /// The sweep's bar, shown on a line of its own before each run: slots done, the current
    /// one and the estimated time left.
    func sweepProgress(_ progress: SweepProgress) {
        let width = 24
        let filled = progress.total == 0 ? 0 : width * progress.done / progress.total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let eta = progress.etaSeconds.map { seconds in
            let whole = Int(seconds.rounded())
            return whole >= 60 ? "\(whole / 60)m\(String(format: "%02d", whole % 60))s" : "\(whole)s"
        } ?? "?"
        step("[\(bar)] \(progress.done)/\(progress.total) done, ETA \(eta) | \(progress.current): \(progress.label)")
    }

    func finish(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        if lineOpen { FileHandle.standardError.write(Data("\n".utf8)) }
        lineOpen = false
        print(line)
        fflush(nil)  // a verdict line reaches a file or pipe when it is made, not at exit
    }
}
