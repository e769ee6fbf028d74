import Foundation
import Lab
import MemeaterKit
import MigrationModel
import Libvirt

/// Everything that watches one migration call: started just before the call, stopped after it.
///
/// Made just before the call, it marks the source daemon's log, reads memeater's unique-page
/// counter, starts the captures of the destination's migration ports and of the guest's echoes there, both hosts' CPU sampling
/// and the placement sampler (which the runner stops itself, once the hosts were looked at),
/// then notes when the call starts. ``callReturned(_:)`` reads what belongs to the moment the
/// call returned;
/// ``finish(recovered:)``, once the fault has had its say, stops the rest and hands over what
/// was seen. ``stop()`` ends whatever still runs, for a `defer` on the ways out of a failed run.
/// Used on the runner's thread only.
final class CallWatch {
    /// What the watch saw.
    struct Seen {
        /// memeater's counter around the call, or why it was not measured (which read, and its error).
        let guestLoad: Looked<GuestLoadDuringMigration>
        /// The destination's migration ports as captured during the call, or why they were not.
        let migrationStream: Looked<MigrationStreamObservation>
        /// The guest's echoes on the destination during the call, or why not (`nil`: not captured).
        let destinationEchoes: Looked<DestinationEchoObservation>?
        /// Both hosts' CPU time from just before the call until it returned.
        let cpu: MigrationCPUSampling
    }

    /// memeater's counter and when its reply came, ms on the run clock.
    struct CounterReading: Sendable, Equatable {
        let pagesDirtied: UInt64
        let atMilliseconds: Double
    }

    /// The guest's clock in a memeater reply, ms, and when the request went out and the reply
    /// came back, ms on the run clock.
    struct GuestClockSample: Sendable, Equatable {
        let sentAtMilliseconds: Double
        let receivedAtMilliseconds: Double
        let guestMilliseconds: Double

        var roundTripMilliseconds: Double { receivedAtMilliseconds - sentAtMilliseconds }
    }

    private let memeater: any MemeaterControl
    private let pageSizeBytes: Int
    private let clock: RunClock
    private let daemonLog: DaemonLogMark?
    private let streamCapture: StreamCapture
    private let echoCapture: EchoCapture?
    private let cpu: MigrationCPUSampler
    private let counterBefore: Looked<CounterReading>
    /// `nil`: not read after the call (the migration did not land).
    private var counterAfter: Looked<CounterReading>?
    /// The guest's clock just before the call and right after it landed, or why not (`nil`:
    /// not asked, memeater did not answer the counter's read, which says why).
    private let clockBefore: Looked<GuestClockSample>?
    private var clockAfter: Looked<GuestClockSample>?
    /// memeater's counter history across the call, read after a landing (`nil`: not asked).
    private var historyAfter: Looked<[RateHistorySample]>?
    private var cpuSampling: MigrationCPUSampling?
    /// When the call started, ms on the run clock.
    let callStartMilliseconds: Double

    /// Starts watching, in this order: the source daemon's log is marked (`daemonLog`, read
    /// after a migration that did not complete), memeater's counter read (a failed read leaves
    /// the guest's rate out, saying why), the stream and echo captures started and listening, then
    /// `cpu` and `placement`; the call's start is noted last.
    init(memeater: any MemeaterControl, pageSizeBytes: Int, clock: RunClock, daemonLog: DaemonLogMark?,
         startStreamCapture: () -> StreamCapture, startEchoCapture: () -> EchoCapture? = { nil }, cpu: MigrationCPUSampler,
         placement: PlacementSampler) {
        self.memeater = memeater
        self.pageSizeBytes = pageSizeBytes
        self.clock = clock
        self.daemonLog = daemonLog
        counterBefore = Self.readCounter(memeater, clock: clock, when: "just before the migration call")
        // A memeater that did not answer the counter's read is not asked again (each try waits its timeout).
        if case .seen = counterBefore {
            clockBefore = Self.readGuestClock(memeater, clock: clock, when: "just before the migration call")
        } else {
            clockBefore = nil
        }
        streamCapture = startStreamCapture()
        echoCapture = startEchoCapture()
        self.cpu = cpu
        cpu.start()
        placement.start()
        callStartMilliseconds = clock.milliseconds()
    }

    /// The moment the call returned: memeater's counter after a landing (a lost guest would
    /// hold the read for memeater's whole timeout), the CPU sampling stopped (the source's
    /// QEMU exits in Confirm, before the call returns), and the source daemon's errors into
    /// `outcome` when the migration did not complete.
    func callReturned(_ outcome: inout MigrationOutcome) {
        if outcome.ending.migrated {
            let counter = Self.readCounter(memeater, clock: clock, when: "right after the migration call")
            counterAfter = counter
            if case .seen = counter { clockAfter = Self.readGuestClock(memeater, clock: clock, when: "right after the migration call") }
            if case .seen(let before)? = clockBefore, case .seen(let after)? = clockAfter {
                historyAfter = Self.readHistory(memeater, fromGuestMilliseconds: before.guestMilliseconds - 1000,
                                                toGuestMilliseconds: after.guestMilliseconds)
            }
        }
        cpuSampling = cpu.stop()
        if !outcome.ending.migrated {
            outcome.sourceDaemonErrors = daemonLog?.errorsSinceMark()
                ?? .failure(DaemonLogUnavailable(reason: "no shell on the source or no daemon log file named"))
        }
    }

    /// Stops the stream capture and returns what the watch saw; `recovered` says the fault
    /// recovered the migration after the call (the CPU sampling ended with the first call).
    func finish(recovered: Bool) -> Seen {
        var sampling = cpuSampling ?? cpu.stop()
        if recovered { sampling.recovered = true }
        let stream = streamCapture.stop()
        return Seen(guestLoad: Self.guestLoad(before: counterBefore, after: counterAfter, clock: (clockBefore, clockAfter),
                                              history: historyAfter, pageSizeBytes: pageSizeBytes),
                    migrationStream: stream, destinationEchoes: echoCapture?.stop(), cpu: sampling)
    }

    /// The guest's rate while migrated from the counter read before and after the call (`after`
    /// `nil`: not read, the migration did not land), or every reason it is not known.
    /// `clock`: the guest's clock before and after, or why not (`nil`: not read); `history`:
    /// memeater's counter history across the call, or why not (`nil`: not asked).
    static func guestLoad(before: Looked<CounterReading>, after: Looked<CounterReading>?,
                          clock: (before: Looked<GuestClockSample>?, after: Looked<GuestClockSample>?) = (nil, nil),
                          history: Looked<[RateHistorySample]>? = nil,
                          pageSizeBytes: Int) -> Looked<GuestLoadDuringMigration> {
        switch (before, after) {
        case (.seen(let before), .seen(let after)?):
            var load = GuestLoadDuringMigration(pagesDirtiedBefore: before.pagesDirtied, beforeAtMilliseconds: before.atMilliseconds,
                                                pagesDirtiedAfter: after.pagesDirtied, afterAtMilliseconds: after.atMilliseconds,
                                                pageSizeBytes: pageSizeBytes)
            switch clock {
            case (.seen(let clockBefore)?, .seen(let clockAfter)?):
                load.guestClock = GuestClockReadings(before: clockBefore, after: clockAfter)
            default:
                let reasons = [clock.before, clock.after].compactMap { looked -> String? in
                    if case .notLooked(let reason)? = looked { return reason }
                    return nil
                }
                load.guestClockUnreadReason = reasons.isEmpty ? nil : reasons.joined(separator: "; ")
            }
            switch history {
            case .seen(let samples)?: load.dirtyHistory = samples
            case .notLooked(let reason)?: load.dirtyHistoryUnreadReason = reason
            case nil: break  // not asked without the guest's clock on both sides: its reason says why
            }
            return .seen(load)
        default:
            var reasons: [String] = []
            if case .notLooked(let reason) = before { reasons.append(reason) }
            switch after {
            case .notLooked(let reason)?: reasons.append(reason)
            case nil: reasons.append("memeater's counter was not read after the call: the migration did not land")
            case .seen?: break
            }
            return .notLooked(reasons.joined(separator: "; "))
        }
    }

    /// memeater's counter now, or which read failed, where, and why.
    private static func readCounter(_ memeater: any MemeaterControl, clock: RunClock, when: String) -> Looked<CounterReading> {
        do {
            let stats = try memeater.stats()
            return .seen(CounterReading(pagesDirtied: stats.pagesDirtied, atMilliseconds: clock.milliseconds()))
        } catch {
            return .notLooked("memeater's counter could not be read \(when) (memeater at \(memeater.endpoint)): \(error)")
        }
    }

    /// The guest's clock from `reads` `stats` requests in a row: the one with the shortest round
    /// trip, which bounds the reading closest (right after a landing, a request lost while the
    /// guest moved waits for TCP's retransmission, 200 ms or more). A failed read ends the tries
    /// (the next would wait its timeout too); without a reading, why not: which read failed and
    /// how, or that memeater did not say its clock.
    static func readGuestClock(_ memeater: any MemeaterControl, clock: RunClock, when: String, reads: Int = 3) -> Looked<GuestClockSample> {
        var best: GuestClockSample?
        var failure: String?
        for _ in 0..<reads {
            let sent = clock.milliseconds()
            let said: UInt64?
            do {
                said = try memeater.clockedStats().guestMonotonicNanoseconds
            } catch {
                failure = "memeater's clock could not be read \(when) (memeater at \(memeater.endpoint)): \(error)"
                break
            }
            guard let nanoseconds = said else { continue }
            let sample = GuestClockSample(sentAtMilliseconds: sent, receivedAtMilliseconds: clock.milliseconds(),
                                          guestMilliseconds: Double(nanoseconds) / 1e6)
            if best.map({ sample.roundTripMilliseconds < $0.roundTripMilliseconds }) ?? true { best = sample }
        }
        if let best { return .seen(best) }
        return .notLooked(failure ?? "memeater's stats replies \(when) did not say the guest's clock (a memeater older than guestMonotonicNanoseconds)")
    }

    /// memeater's counter history between two instants of the guest's clock (ms), or why not.
    /// Read after the landing: asking during the passes would add traffic to the guest the
    /// migration is measuring.
    static func readHistory(_ memeater: any MemeaterControl, fromGuestMilliseconds start: Double,
                            toGuestMilliseconds end: Double) -> Looked<[RateHistorySample]> {
        let samples: [RateHistorySample]
        do {
            samples = try memeater.history()
        } catch {
            return .notLooked("memeater's counter history could not be read after the landing (memeater at \(memeater.endpoint)): \(error)")
        }
        let kept = samples.filter {
            let milliseconds = Double($0.guestMonotonicNanoseconds) / 1e6
            return milliseconds >= start && milliseconds <= end
        }
        guard let first = kept.first, Double(first.guestMonotonicNanoseconds) / 1e6 <= start + 1000 else {
            let oldest: String = samples.first.map { formatNumber(Double($0.guestMonotonicNanoseconds) / 1e6) + " ms" } ?? "-"
            return .notLooked("memeater's counter history does not reach back to the call (\(samples.count) sample(s) kept, "
                + "the oldest at \(oldest) of the guest's clock, the call at \(formatNumber(start + 1000)) ms)")
        }
        return .seen(kept)
    }

    /// Ends whatever still runs (the capture, the CPU sampling); idempotent.
    func stop() {
        streamCapture.stop()
        echoCapture?.stop()
        cpu.stop()
    }
}

extension ScenarioRunner {
    /// Starts watching the migration call of `leg` (see ``CallWatch``), just before it is made.
    func watchCall(_ leg: Leg, baseline: LegBaseline, load: Load, placement: PlacementSampler) -> CallWatch {
        // Read after any migration that did not complete: its errors are in the run's notes.
        let daemonLog = testbed.sourceDaemonLogMark()
        // What the migration costs the hosts' CPU: read until the call returned.
        let cpu = MigrationCPUSampler(sourceHost: baseline.sourceHost, destinationHost: baseline.destinationHost,
                                      domainName: leg.endpoints.domainName, intervalMilliseconds: pauses.cpuSampleSeconds * 1000) {
            [clock = leg.clock] in clock.milliseconds()
        }
        // The wire: what went to the destination's migration ports while the call ran.
        return CallWatch(memeater: load.control, pageSizeBytes: load.infoBefore.pageSizeBytes, clock: leg.clock, daemonLog: daemonLog,
                         startStreamCapture: { startStreamCapture(leg, on: baseline.destinationHost) },
                         startEchoCapture: { startEchoCapture(leg, on: baseline.destinationHost) }, cpu: cpu, placement: placement)
    }
}

extension GuestClockReadings {
    /// The readings of two samples of the guest's clock.
    init(before: CallWatch.GuestClockSample, after: CallWatch.GuestClockSample) {
        self.init(beforeSentAtMilliseconds: before.sentAtMilliseconds, beforeReceivedAtMilliseconds: before.receivedAtMilliseconds,
                  guestBeforeMilliseconds: before.guestMilliseconds, afterSentAtMilliseconds: after.sentAtMilliseconds,
                  afterReceivedAtMilliseconds: after.receivedAtMilliseconds, guestAfterMilliseconds: after.guestMilliseconds)
    }
}
