import Foundation
import Lab
import Libvirt
import MemeaterKit
import PingMonitor
import Synchronization

/// pingmon run from the verifier: started inside the lab's client namespace (or the
/// current one), sampled every 100 ms for the time series, stopped for the report.
public final class PingMonitorRun: Sendable {
    private let session: PingSession
    private let stopFlag = StopFlag()
    private let samplerDone = DispatchSemaphore(value: 0)

    /// Starts probing `target` every `intervalMicroseconds` from `interface`; `onSample`
    /// gets the live status every `sampleIntervalMilliseconds`, stamped on `clock` (the run's
    /// one clock: no default, which would quietly start a second one).
    public init(namespace: String?, target: String, interface: String, intervalMicroseconds: Int,
                saveCapturePath: String? = nil, sampleIntervalMilliseconds: Double = 100, clock: RunClock,
                onSample: @escaping @Sendable (PingSample) -> Void) throws(VerifierError) {
        let step = "start pingmon against \(target) on \(interface)"
        do {
            let address = try PingConfiguration.parseTarget(target)
            let configuration = PingConfiguration(target: address, interface: interface, intervalMicroseconds: intervalMicroseconds,
                                                  saveCapturePath: saveCapturePath, lingerMilliseconds: 500)
            let open: @Sendable () throws -> PingSession = {
                let session = try PingSession(configuration: configuration)
                try session.start()
                return session
            }
            session = try namespace.map { try NetworkNamespace.run(in: $0, open) } ?? open()
        } catch {
            throw VerifierError.wrap(error, step: step)
        }
        let session = self.session
        let stop = stopFlag
        let done = samplerDone
        let interval = UInt32(max(10, sampleIntervalMilliseconds) * 1000)
        let thread = Thread {
            while !stop.isSet {
                usleep(interval)
                let status = session.status()
                onSample(PingSample(offsetMilliseconds: clock.milliseconds(),
                                    probesSent: status.probesSent, repliesReceived: status.repliesReceived, lost: status.lost,
                                    currentGapMilliseconds: status.currentGapMilliseconds,
                                    longestGapMilliseconds: status.longestGapMilliseconds))
            }
            done.signal()
        }
        thread.name = "migverify-ping-sampler"
        thread.start()
    }

    /// The live status now.
    public func status() -> LiveStatus { session.status() }

    /// Stops probing and returns pingmon's analysis of the whole run.
    public func finish() throws(VerifierError) -> PingReport {
        stopFlag.set()
        samplerDone.wait()
        session.stop()
        do {
            return try session.waitForReport()
        } catch {
            throw VerifierError.wrap(error, step: "finish pingmon")
        }
    }
}

/// Lines of a guest console that show the guest kernel died or is corrupt.
public func consoleFailureLines(_ console: String) -> [String] {
    let markers = ["Kernel panic", "Oops", "BUG:", "kernel BUG", "is not a head!", "list_add corruption", "general protection fault"]
    // Split on every line break: the serial console ends lines with CR LF, which Swift treats
    // as one Character that a split on "\n" does not see.
    return console.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        .filter { line in markers.contains { line.contains($0) } }
}

/// A flag one thread sets and another polls.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
