import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What the live status line shows; a snapshot taken at `status()`.
public struct LiveStatus: Sendable, Equatable {
    /// Seconds since the run started.
    public var elapsedSeconds: Double
    /// Probes the sender handed to the kernel.
    public var probesSent: Int
    /// Requests seen by the capture.
    public var requestsCaptured: Int
    /// Probes answered.
    public var repliesReceived: Int
    /// Probes unanswered one second (or the linger time, if longer) after they were sent.
    public var lost: Int
    /// Time since the last reply, in milliseconds.
    public var currentGapMilliseconds: Double
    /// Longest time without replies so far, in milliseconds.
    public var longestGapMilliseconds: Double
}

/// A live run: sends probes to the target from one thread, captures requests and replies with
/// libpcap on another, and analyses the capture when it ends.
///
/// Usable from any program: `start()`, then `stop()` (or let `count`/`durationSeconds` end it),
/// then `waitForReport()` or `await report()`. `status()` may be called at any time.
public final class PingSession: Sendable {
    public let configuration: PingConfiguration

    private struct State: Sendable {
        var phase: Phase = .idle
        var collector: ProbeCollector
        var tracker: LiveTracker
        var sender = SenderStatistics()
        var startRealtime: Int64 = 0
        var identifier: UInt16 = 0
        var captureError: PingMonitorError?
        var result: Result<PingReport, PingMonitorError>?
    }

    private enum Phase: Sendable {
        case idle, running, finished
    }

    private let state: Mutex<State>
    private let stopFlag = Atomic<Bool>(false)
    private let probesSent = Atomic<Int>(0)
    private let finished = DispatchSemaphore(value: 0)

    /// Checks the configuration; nothing is opened until `start()`.
    public init(configuration: PingConfiguration) throws {
        try configuration.validate()
        self.configuration = configuration
        let timeout = max(Int64(configuration.lingerMilliseconds), 1_000) * 1_000_000
        state = Mutex(State(collector: ProbeCollector(target: configuration.target, identifier: nil, targetMAC: configuration.targetMAC),
                            tracker: LiveTracker(replyTimeoutNanoseconds: timeout)))
    }

    /// Opens the capture (and the capture file) and the socket, then starts probing. Throws a
    /// `PingMonitorError` naming what could not be opened; nothing runs then.
    public func start() throws {
        let identifier = configuration.identifier ?? UInt16.random(in: 1...UInt16.max)
        let started = state.withLock { state -> Bool in
            guard state.phase == .idle else { return false }
            state.phase = .running
            return true
        }
        guard started else { throw PingMonitorError.invalidState("the monitor was already started") }
        do {
            let capture = try CaptureSession(interface: configuration.interface, snapshotLengthBytes: 192,
                                             bufferSizeBytes: configuration.captureBufferBytes, timeoutMilliseconds: 20)
            try capture.setFilter(CaptureFilter.expression(target: configuration.target, identifier: identifier,
                                                           targetMAC: configuration.targetMAC, linkLayer: capture.linkLayer))
            let writer = try configuration.saveCapturePath.map { try capture.openWriter(path: $0) }
            let sender = try ICMPSender(target: configuration.target, interface: configuration.interface, identifier: identifier)
            state.withLock { state in
                state.identifier = identifier
                state.collector = ProbeCollector(target: configuration.target, identifier: identifier, targetMAC: configuration.targetMAC)
                state.startRealtime = Clock.realtimeNanoseconds()
            }
            let captureDone = DispatchSemaphore(value: 0)
            let captureThread = Thread { [self] in
                captureLoop(capture: capture, writer: writer)
                captureDone.signal()
            }
            captureThread.name = "pingmon-capture"
            let senderThread = Thread { [self] in
                sendLoop(sender: sender)
                finish(capture: capture, writer: writer, captureDone: captureDone)
            }
            senderThread.name = "pingmon-sender"
            captureThread.start()
            senderThread.start()
        } catch {
            state.withLock { state in
                state.phase = .finished
                state.result = .failure(error as? PingMonitorError ?? .invalidState("\(error)"))
            }
            finished.signal()
            throw error
        }
    }

    /// Asks the run to end: the sender stops, the capture waits the linger time for late
    /// replies, then the report is built. Safe from any thread, more than once.
    public func stop() {
        stopFlag.store(true, ordering: .releasing)
    }

    /// Figures for a live status line.
    public func status() -> LiveStatus {
        let sent = probesSent.load(ordering: .relaxed)
        return state.withLock { state in
            let now = Clock.realtimeNanoseconds()
            state.tracker.settle(now: now)
            return LiveStatus(
                elapsedSeconds: state.startRealtime == 0 ? 0 : Double(now - state.startRealtime) / 1e9,
                probesSent: sent,
                requestsCaptured: state.tracker.requestsCaptured,
                repliesReceived: state.tracker.repliesReceived,
                lost: state.tracker.lost,
                currentGapMilliseconds: Units.milliseconds(state.tracker.currentGapNanoseconds(now: now)),
                longestGapMilliseconds: Units.milliseconds(state.tracker.longestGapNanoseconds(now: now)))
        }
    }

    /// Blocks until the run has ended and returns its report, or the error that ended it.
    public func waitForReport() throws -> PingReport {
        let phase = state.withLock { $0.phase }
        guard phase != .idle else { throw PingMonitorError.invalidState("the monitor was not started") }
        finished.wait()
        finished.signal()  // let any other waiter through too
        let result = state.withLock { $0.result }
        switch result {
        case .success(let report): return report
        case .failure(let error): throw error
        case nil: throw PingMonitorError.invalidState("the monitor ended without a result")
        }
    }

    /// Waits (without blocking the caller's thread) until the run has ended; see `waitForReport()`.
    public func report() async throws -> PingReport {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PingReport, any Error>) in
            Thread { [self] in
                continuation.resume(with: Result { try waitForReport() })
            }.start()
        }
    }

    // MARK: - Threads

    private func captureLoop(capture: CaptureSession, writer: CaptureFileWriter?) {
        let linkLayer = capture.linkLayer
        func take(_ packet: CapturedPacket) {
            writer?.write(packet)
            let decoded = PacketDecoder.decode(packet.bytes, linkLayer: linkLayer)
            state.withLock { state in
                if let event = state.collector.ingest(decoded, timeNanoseconds: packet.timeNanoseconds) {
                    state.tracker.record(event)
                }
            }
        }
        do {
            loop: while true {
                switch try capture.next() {
                case .packet(let packet): take(packet)
                case .timeout: continue
                case .finished: break loop
                }
            }
            // breakLoop ends a blocking read; collect what the kernel already holds.
            try capture.setNonBlocking()
            drain: while true {
                switch try capture.next() {
                case .packet(let packet): take(packet)
                case .timeout, .finished: break drain
                }
            }
        } catch {
            state.withLock { $0.captureError = error as? PingMonitorError ?? .invalidState("\(error)") }
            stop()
        }
    }

    private func sendLoop(sender: ICMPSender) {
        let slackMinimised = Clock.minimiseTimerSlackOfCurrentThread()
        let scheduling = Clock.requestRealtimeSchedulingOfCurrentThread()
        let interval = Int64(configuration.intervalMicroseconds) * 1_000
        let catchUpLimit = max(10 * interval, 5_000_000)
        let intervalMicroseconds = UInt32(configuration.intervalMicroseconds)
        let start = Clock.monotonicNanoseconds()
        let end = configuration.durationSeconds.map { start + Int64($0 * 1e9) }
        var statistics = SenderStatistics(timerSlackMinimised: slackMinimised, scheduling: scheduling)
        var next = start
        var sequence: UInt64 = 0
        var maximumLateness: Int64 = 0
        while !stopFlag.load(ordering: .acquiring) {
            if let count = configuration.count, sequence >= UInt64(count) { break }
            if let end, next >= end { break }
            Clock.sleep(untilMonotonic: next)
            if stopFlag.load(ordering: .acquiring) { break }
            let now = Clock.monotonicNanoseconds()
            let lateness = now - next
            if lateness > interval { statistics.lateProbes += 1 }
            maximumLateness = max(maximumLateness, lateness)
            let failure = sender.send(sequence: sequence, intervalMicroseconds: intervalMicroseconds)
            if failure == 0 {
                // A failed send keeps its sequence number, so sequence gaps always mean network loss.
                sequence += 1
                probesSent.store(Int(sequence), ordering: .relaxed)
            } else {
                statistics.sendErrors += 1
                statistics.lastSendError = errnoDescription(failure)
            }
            next += interval
            if now - next > catchUpLimit {
                // Far behind (the machine stalled us): restart the schedule. Shorter stalls are made
                // up by sending back to back, which keeps the rate; the capture times each probe anyway.
                next = now
                statistics.scheduleResets += 1
            }
        }
        statistics.probesSent = Int(sequence)
        statistics.maximumLatenessMicroseconds = Units.microseconds(maximumLateness)
        state.withLock { $0.sender = statistics }
    }

    private func finish(capture: CaptureSession, writer: CaptureFileWriter?, captureDone: DispatchSemaphore) {
        let captureFailed = state.withLock { $0.captureError != nil }
        if !captureFailed {
            // Late replies to the last probes.
            Thread.sleep(forTimeInterval: Double(configuration.lingerMilliseconds) / 1_000)
        }
        capture.breakLoop()
        captureDone.wait()
        var warnings = capture.warnings
        var statistics: CaptureStatistics?
        do { statistics = try capture.statistics() } catch { warnings.append("\(error)") }
        if let writer {
            do { try writer.close() } catch { warnings.append("\(error)") }
        }
        let configuration = configuration
        state.withLock { state in
            defer { state.phase = .finished }
            if let error = state.captureError {
                state.result = .failure(error)
                return
            }
            if let statistics, statistics.packetsDroppedByKernel > 0 {
                warnings.append("the kernel dropped \(statistics.packetsDroppedByKernel) packets from the capture buffer: figures are inferred from sequence numbers where requests or replies are missing")
            }
            if state.sender.sendErrors > 0 {
                warnings.append("\(state.sender.sendErrors) probes could not be sent (\(state.sender.lastSendError ?? "")); they are not counted as sent or lost")
            }
            let log = state.collector.finish()
            let options = AnalysisOptions(
                // The probes carry the interval; use it from there, as an offline analysis does.
                nominalIntervalNanoseconds: log.nominalIntervalNanoseconds == nil ? Int64(configuration.intervalMicroseconds) * 1_000 : nil,
                gapThresholdNanoseconds: configuration.gapThresholdMilliseconds.map { Int64($0 * 1e6) })
            let analysis = PingAnalyzer.analyze(log, options: options)
            state.result = .success(PingReport(
                mode: .live, target: configuration.target, interface: configuration.interface,
                captureFile: configuration.saveCapturePath, icmpIdentifier: state.identifier, linkLayer: capture.linkLayer,
                timestampPrecision: capture.timestampPrecision, timestampSource: capture.timestampSource, analysis: analysis,
                packetsCaptured: state.collector.packetsSeen, packetsIgnored: state.collector.packetsIgnored,
                sender: state.sender, capture: statistics,
                verdict: Verdict.evaluate(analysis, criteria: configuration.verdict), warnings: warnings))
        }
        finished.signal()
    }
}
