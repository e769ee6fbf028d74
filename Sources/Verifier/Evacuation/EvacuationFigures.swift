import Foundation
import MigrationModel

/// Which evacuation a run belongs to: its runs share ``evacuationID``, each its own guest.
/// A run of one guest alone has none (its result's JSON is as before evacuations existed).
public struct EvacuationMembership: Codable, Sendable, Equatable {
    /// Shared by every guest's run of one evacuation, e.g. `evac-20261206T235000Z-3f2a`.
    public var evacuationID: String
    /// This run's guest, from 1.
    public var guestIndex: Int
    /// How many guests the evacuation migrated.
    public var guestCount: Int
    /// The destination's migration ports this guest's stream used (from the capture of those
    /// ports during its call), ascending; `nil`: not captured.
    public var migrationPorts: [Int]?

    /// Creates a membership.
    public init(evacuationID: String, guestIndex: Int, guestCount: Int, migrationPorts: [Int]? = nil) {
        self.evacuationID = evacuationID
        self.guestIndex = guestIndex
        self.guestCount = guestCount
        self.migrationPorts = migrationPorts
    }

    /// A fresh evacuation id: when it starts (UTC) and four random hex digits.
    public static func newID(at date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return "evac-\(formatter.string(from: date))-" + String(format: "%04x", UInt16.random(in: 0...UInt16.max))
    }
}

/// One guest's run as the evacuation figures read it: its migration call on the wall clock
/// (so that guests with clocks of their own line up), whether it landed, and its downtime.
public struct EvacuationGuestTiming: Sendable, Equatable {
    /// The guest, from 1.
    public var guestIndex: Int
    /// The guest runs on the destination (`guest-on-destination` passed).
    public var landed: Bool
    /// Every check of its run passed.
    public var passed: Bool
    /// When its migration call started and returned, wall clock (`nil`: no call was made).
    public var migrationStart: Date?
    public var migrationEnd: Date?
    /// Its longest ping gap, ms (`nil`: not measured).
    public var downtimeMilliseconds: Double?
    /// The destination's migration ports its stream used.
    public var migrationPorts: [Int]

    /// Creates a timing.
    public init(guestIndex: Int, landed: Bool, passed: Bool, migrationStart: Date?, migrationEnd: Date?,
                downtimeMilliseconds: Double?, migrationPorts: [Int] = []) {
        self.guestIndex = guestIndex
        self.landed = landed
        self.passed = passed
        self.migrationStart = migrationStart
        self.migrationEnd = migrationEnd
        self.downtimeMilliseconds = downtimeMilliseconds
        self.migrationPorts = migrationPorts
    }

    /// The timing of a guest's stored run: its call's offsets on its own run clock, placed on
    /// the wall clock by the run's `startedAt`.
    public init(_ result: ScenarioResult) {
        let figures = result.figures
        func instant(_ offsetMilliseconds: Double?) -> Date? {
            offsetMilliseconds.map { result.startedAt.addingTimeInterval($0 / 1000) }
        }
        self.init(guestIndex: result.evacuation?.guestIndex ?? 1,
                  landed: result.checks.contains { $0.name == CheckName.guestOnDestination && $0.passed },
                  passed: result.passed,
                  migrationStart: instant(figures.migrationStartOffsetMilliseconds),
                  migrationEnd: instant(figures.migrationEndOffsetMilliseconds),
                  downtimeMilliseconds: result.pingDowntimeMilliseconds,
                  migrationPorts: result.evacuation?.migrationPorts ?? [])
    }

    /// Its migration call's wall time, ms (`nil`: no call, or it never returned).
    public var migrationMilliseconds: Double? {
        guard let migrationStart, let migrationEnd else { return nil }
        return migrationEnd.timeIntervalSince(migrationStart) * 1000
    }
}

/// What an evacuation as a whole measured, from its guests' runs. Times are of the
/// migration calls: a guest's migration time is its call's wall time, the total runs from
/// the first call's start to the last landed guest's call's return.
public struct EvacuationFigures: Codable, Sendable, Equatable {
    /// Guests, those that landed, and those whose every check passed.
    public var guestCount: Int
    public var landedCount: Int
    public var passedCount: Int
    /// From the first guest's migration start to the last landing, ms (`nil`: none landed).
    public var totalMilliseconds: Double?
    /// The landed guests' migration times, ms: median and worst.
    public var migrationMillisecondsMedian: Double?
    public var migrationMillisecondsWorst: Double?
    /// The landed guests' downtimes (longest ping gap), ms: median and worst.
    public var downtimeMillisecondsMedian: Double?
    public var downtimeMillisecondsWorst: Double?
    /// The landed guests' migration times added up: what migrating them one after another
    /// would have taken, ms.
    public var serialSumMilliseconds: Double?
    /// The serial sum over the total: how much migrating them together saved (1: nothing).
    public var speedup: Double?
    /// The destination's migration ports the guests' streams used, distinct, ascending.
    public var migrationPorts: [Int]
    /// The most guests whose migration calls ran at one instant (every guest's call, landed or
    /// not; a call that never returned is left out): 1 when none overlapped, 0 when none ran.
    public var peakConcurrentMigrations: Int

    /// The figures of `guests` (in any order).
    public init(_ guests: [EvacuationGuestTiming]) {
        guestCount = guests.count
        landedCount = guests.filter(\.landed).count
        passedCount = guests.filter(\.passed).count
        let landed = guests.filter(\.landed)
        let firstStart = guests.compactMap(\.migrationStart).min()
        let lastLanding = landed.compactMap(\.migrationEnd).max()
        if let firstStart, let lastLanding { totalMilliseconds = lastLanding.timeIntervalSince(firstStart) * 1000 }
        let times = landed.compactMap(\.migrationMilliseconds)
        migrationMillisecondsMedian = median(times)
        migrationMillisecondsWorst = times.max()
        let downtimes = landed.compactMap(\.downtimeMilliseconds)
        downtimeMillisecondsMedian = median(downtimes)
        downtimeMillisecondsWorst = downtimes.max()
        serialSumMilliseconds = times.isEmpty ? nil : times.reduce(0, +)
        if let serialSumMilliseconds, let totalMilliseconds, totalMilliseconds > 0 { speedup = serialSumMilliseconds / totalMilliseconds }
        migrationPorts = Array(Set(guests.flatMap(\.migrationPorts))).sorted()
        peakConcurrentMigrations = Self.peakOverlap(guests.compactMap { guest in
            guard let start = guest.migrationStart, let end = guest.migrationEnd else { return nil }
            return (start, end)
        })
    }

    /// The most intervals open at one instant; one that ends as another starts does not
    /// overlap it (ends are counted first at equal instants).
    static func peakOverlap(_ intervals: [(start: Date, end: Date)]) -> Int {
        var edges: [(instant: Date, change: Int)] = []
        for interval in intervals {
            edges.append((interval.start, 1))
            edges.append((interval.end, -1))
        }
        edges.sort { $0.instant == $1.instant ? $0.change < $1.change : $0.instant < $1.instant }
        var open = 0
        var peak = 0
        for (_, change) in edges {
            open += change
            peak = max(peak, open)
        }
        return peak
    }

    /// The figures in a few lines, for the terminal.
    public var summaryLines: [String] {
        func ms(_ value: Double?) -> String { value.map { formatNumber($0) + " ms" } ?? "-" }
        return [
            "evacuation: \(landedCount) of \(guestCount) guests landed, \(passedCount) passed every check",
            "total (first start → last landing): \(ms(totalMilliseconds)); serial sum \(ms(serialSumMilliseconds)); speedup \(speedup.map { formatNumber($0) } ?? "-"); "
                + "at most \(peakConcurrentMigrations) migrating at once",
            "per guest: migration median \(ms(migrationMillisecondsMedian)), worst \(ms(migrationMillisecondsWorst)); downtime median \(ms(downtimeMillisecondsMedian)), worst \(ms(downtimeMillisecondsWorst))",
            "migration ports: " + (migrationPorts.isEmpty ? "not captured" : migrationPorts.map(String.init).joined(separator: ", ")),
        ]
    }
}
