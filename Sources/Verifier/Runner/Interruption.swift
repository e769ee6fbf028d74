import Dispatch
import Foundation
import Synchronization

/// SIGINT and SIGTERM, turned into a request that the running scenario stops: the migration
/// driver aborts the job, the runner removes the fault and records the run as interrupted,
/// and the command exits 130 or 143. Signals are taken by dispatch sources, never in a
/// signal handler, so nothing unsafe runs at signal time.
public final class Interruption: Sendable {
    /// The process's interruption (what `migverify run` installs).
    public static let shared = Interruption()

    private let received = Atomic<Int32>(0)
    // The dispatch sources live as long as the process; kept here so they are never released.
    private nonisolated(unsafe) var sources: [any DispatchSourceSignal] = []
    private let onSignal = Mutex<(@Sendable (Int32, Int) -> Void)?>(nil)

    /// An interruption no signal has reached yet.
    public init() {}

    /// Takes over `signals` (default SIGINT and SIGTERM) for this process. `onSignal` gets
    /// each signal and how many have arrived (to tell the user what is being cleaned up).
    public func install(signals: [Int32] = [SIGINT, SIGTERM], onSignal: (@Sendable (Int32, Int) -> Void)? = nil) {
        self.onSignal.withLock { $0 = onSignal }
        let count = Atomic<Int>(0)
        var made: [any DispatchSourceSignal] = []
        for number in signals {
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                _ = received.compareExchange(expected: 0, desired: number, ordering: .acquiringAndReleasing)
                let n = count.add(1, ordering: .relaxed).newValue
                self.onSignal.withLock { $0 }?(number, n)
            }
            source.resume()
            made.append(source)
        }
        sources += made  // installed once, from the main thread, before any run starts
    }

    /// Marks the interruption as requested by `signal` (what a received signal does; tests
    /// call it directly).
    public func request(_ signal: Int32) {
        _ = received.compareExchange(expected: 0, desired: signal, ordering: .acquiringAndReleasing)
    }

    /// The first signal received, if any.
    public var signal: Int32? {
        let value = received.load(ordering: .acquiring)
        return value == 0 ? nil : value
    }

    /// Throws ``VerifierError/interrupted(signal:step:)`` when a signal arrived.
    public func check(while step: String) throws(VerifierError) {
        if let signal { throw .interrupted(signal: signal, step: step) }
    }

    /// The conventional exit status after `signal`: 128 + its number (130 for SIGINT, 143 for SIGTERM).
    public static func exitStatus(for signal: Int32) -> Int32 { 128 + signal }
}

/// `SIGINT`, `SIGTERM`, or `signal N`.
public func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGINT: return "SIGINT"
    case SIGTERM: return "SIGTERM"
    default: return "signal \(signal)"
    }
}
