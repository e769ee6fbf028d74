import ArgumentParser
import Foundation
import Lab
import Verifier

// The libraries do not depend on ArgumentParser: their enums become arguments here.
extension ScenarioKind: ExpressibleByArgument {}
extension MigrationMode: ExpressibleByArgument {}
extension GuestKind: ExpressibleByArgument {
    /// A kind's name or alias (`debian12` for `debian`).
    public init?(argument: String) { self.init(name: argument) }
}
extension AcceleratorPreference: ExpressibleByArgument {}

extension MemeaterLoad: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
}

extension MigrationStrategy: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
}

/// A migration bandwidth limit on the command line: MiB/s from 1, or `unlimited`.
struct BandwidthLimit: ExpressibleByArgument, Equatable, Sendable {
    /// The limit; `nil`: unlimited.
    var mibPerSecond: UInt64?

    init?(argument: String) {
        if argument == "unlimited" {
            mibPerSecond = nil
        } else if let value = UInt64(argument), (1...1_000_000).contains(value) {
            mibPerSecond = value
        } else {
            return nil
        }
    }

    static var allValueStrings: [String] { ["unlimited", "1...1000000"] }
}

/// What a sweep id may be: it names files and appears in commands, so plain words only.
enum SweepIdentifier {
    static func isValid(_ id: String) -> Bool {
        (1...64).contains(id.count) && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
            && !id.hasPrefix("-")
    }

    /// A new id for a plain run, from the time: `run-20261127-041502`.
    static func forRun(at date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "run-" + formatter.string(from: date)
    }
}

/// A comma-separated list of arguments of one type, e.g. `--scenario live,abort,link-cut` or
/// `--memory-mib 1024,2111`. Spaces around a value are ignored; an empty entry (`1024,`,
/// `a,,b`) is refused, since it is a value left out by mistake more often than not.
///
/// Options declare it with `transform: { try CommaSeparated(parsing: $0) }` so that a bad
/// value is named in the error (``CommaSeparatedError``); `init?(argument:)` only says nil.
struct CommaSeparated<Element: ExpressibleByArgument>: ExpressibleByArgument {
    /// The values, in the order given.
    var elements: [Element]

    /// A list of these values.
    init(_ elements: [Element]) {
        self.elements = elements
    }

    /// Reads `text`; throws naming the first value that is not an `Element`, when there is
    /// none, or when an entry is empty.
    init(parsing text: String) throws(CommaSeparatedError) {
        let words = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard words.contains(where: { !$0.isEmpty }) else { throw .empty }
        if let empty = words.firstIndex(where: \.isEmpty) { throw .emptyValue(position: empty + 1, of: words.count) }
        var elements: [Element] = []
        for word in words {
            guard let element = Element(argument: word) else {
                throw .invalidValue(word, known: Element.allValueStrings, expectsNumber: Element.self is any Numeric.Type)
            }
            elements.append(element)
        }
        self.elements = elements
    }

    init?(argument: String) {
        guard let list = try? CommaSeparated(parsing: argument) else { return nil }
        self = list
    }

    var defaultValueDescription: String {
        elements.map(\.defaultValueDescription).joined(separator: ",")
    }

    static var allValueStrings: [String] { Element.allValueStrings }
}

extension CommaSeparated: Sendable where Element: Sendable {}
extension CommaSeparated: Equatable where Element: Equatable {}

/// Why a comma-separated list could not be read; its description is the end of one error line.
enum CommaSeparatedError: Error, Equatable, CustomStringConvertible {
    /// The list has no value at all.
    case empty
    /// `value` is not one of `known` (empty when the type lists no values), or not a number.
    case invalidValue(String, known: [String], expectsNumber: Bool)
    /// Entry `position` (from 1) of `of` is empty: a stray comma.
    case emptyValue(position: Int, of: Int)

    var description: String {
        switch self {
        case .empty:
            return "no value given (a comma-separated list needs at least one)"
        case .emptyValue(let position, let count):
            return "value \(position) of \(count) is empty (a stray comma?)"
        case .invalidValue(let value, let known, _) where !known.isEmpty:
            return "unknown value '\(value)' (known: \(known.joined(separator: ", ")))"
        case .invalidValue(let value, _, true):
            return "'\(value)' is not a number"
        case .invalidValue(let value, _, false):
            return "'\(value)' is not a valid value"
        }
    }
}

/// `lab up --guest`: a guest kind, or `none` for no guest.
struct LabGuestChoice: ExpressibleByArgument, Equatable, Sendable {
    /// The guest to start; `nil`: none.
    var kind: GuestKind?

    /// A choice of `kind` (`nil`: no guest).
    init(_ kind: GuestKind?) {
        self.kind = kind
    }

    init?(argument: String) {
        if argument == "none" {
            kind = nil
        } else if let kind = GuestKind(name: argument) {
            self.kind = kind
        } else {
            return nil
        }
    }

    var defaultValueDescription: String { kind?.rawValue ?? "none" }

    static var allValueStrings: [String] { GuestKind.allCases.map(\.rawValue) + ["none"] }
}

/// Where the lab lives: the options that `migverify lab ...` and `migverify run` share.
struct LabLocationOptions: ParsableArguments {
    @Option(help: "Directory for the lab's runtime state (removed by `lab down`).")
    var stateDirectory = "/run/migration-lab"

    @Option(help: "Directory for built guest images and private emulators (kept).")
    var cacheDirectory = "/var/cache/migration-lab"

    @Option(help: "Prefix of the lab's network namespace names (<prefix>-lan, -src, -dst, -client).")
    var labNamePrefix = "mlab"

    @Option(help: "The journal of installed faults: what an interrupted run left (a firewall rule, a stand-in domain, a cut link) is removed by the next `run`, `lab up` or `lab down`.")
    var faultJournal = FaultJournal.defaultPath

    /// Removes the faults an interrupted run left (the fault journal) and prints one line
    /// each; throws (one line, exit 1) when the journal is refused, before anything runs.
    func removeLeftoverFaults() throws(FaultJournalError) {
        let lab = self.lab
        let context = LeftoverRemovalContext(connect: { uri in try Lab.openConnection(uri: uri, namespace: lab.configuration.clientNamespace) },
                                             lab: lab)
        for line in try FaultJournal(path: faultJournal).removeLeftovers(context) { print(line) }
    }

    /// Throws (one line, exit 1) when the fault journal is refused: `lab up` and `lab down`
    /// check it before they change anything.
    func checkFaultJournal() throws(FaultJournalError) {
        try FaultJournal(path: faultJournal).check()
    }

    /// The lab at this location.
    var lab: Lab {
        Lab(configuration: LabConfiguration(namePrefix: labNamePrefix, stateDirectory: stateDirectory, cacheDirectory: cacheDirectory))
    }
}

/// Refuses a lab guest count outside 1…the most guests of `memoryMiB` this machine can
/// migrate at once (``LabGuestFleet/check(count:guestMiB:range:)``), in one line.
func validateLabGuestCount(_ count: Int, memoryMiB: Int, range: GuestMemoryRange? = .ofThisMachine()) throws {
    guard let range else {
        // Without MemTotal only the guest network's addresses bound the count.
        guard (1...LabGuestFleet.maximumGuestCount).contains(count) else {
            throw ValidationError("--guest-count must be between 1 and \(LabGuestFleet.maximumGuestCount) (the guest network's addresses), not \(count)")
        }
        return
    }
    do {
        try LabGuestFleet.check(count: count, guestMiB: memoryMiB, range: range)
    } catch {
        throw ValidationError(error.description)
    }
}

/// Rejects lab guest sizes this machine cannot migrate (``GuestMemoryRange``), in one line
/// that says the range and why. Without a readable `MemTotal` only the real-host sanity
/// bound applies.
func validateLabGuestMemory(_ sizesMiB: [Int], range: GuestMemoryRange? = .ofThisMachine()) throws {
    for size in sizesMiB {
        if let range {
            do {
                try range.check(size)
            } catch {
                throw ValidationError("--memory-mib: \(error)")
            }
        } else if !GuestMemoryRange.realHostBoundsMiB.contains(size) {
            let bounds = GuestMemoryRange.realHostBoundsMiB
            throw ValidationError("--memory-mib must be between \(bounds.lowerBound) and \(bounds.upperBound), not \(size)")
        }
    }
}
