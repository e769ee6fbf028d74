import Foundation
import MemeaterKit

/// How memeater loads the guest's memory: its page pattern, with the hot set's share of pages
/// and of writes for `hotset`, and optionally its worker threads and the bytes it rewrites per
/// page. Written `sequential`, `random`, `hotset` (10 % of the pages take 90 % of the writes)
/// or `hotset:FRACTION:PROBABILITY`, e.g. `hotset:0.05:0.95`, then optionally `/threads=N`
/// and `/bytes=B`, e.g. `random/threads=4/bytes=256`.
///
/// The lab passes it to the guest on the kernel command line (``kernelArguments``) and the
/// guest's start-up hands it to `memeater serve --pattern … --hot-fraction … --hot-probability …
/// --threads … --bytes-per-page-write …`.
public struct MemeaterLoad: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The page pattern.
    public var pattern: PagePattern
    /// Share of the region in the hot set, in (0, 1) (`hotset` only).
    public var hotFraction: Double?
    /// Share of the writes that go to the hot set, in [0, 1] (`hotset` only).
    public var hotProbability: Double?
    /// memeater's worker threads (nil: memeater's default, one).
    public var threads: Int?
    /// Bytes rewritten in each page per write (nil: memeater's default, the whole page).
    public var bytesPerWrite: Int?

    /// The threads memeater may be given here.
    public static let threadRange = 1...64
    /// The bytes per page write memeater accepts (a multiple of 8 up to a 4 KiB page).
    public static let bytesPerWriteRange = 32...4096

    /// memeater's default: a sequential sweep.
    public static let sequential = MemeaterLoad(pattern: .sequential)

    /// memeater's hot-set shares when none are given: 10 % of the pages take 90 % of the writes.
    public static let defaultHotFraction = 0.1
    /// See ``defaultHotFraction``.
    public static let defaultHotProbability = 0.9

    /// Creates a load; for `hotset` the shares default to memeater's (0.1 and 0.9).
    public init(pattern: PagePattern, hotFraction: Double? = nil, hotProbability: Double? = nil,
                threads: Int? = nil, bytesPerWrite: Int? = nil) {
        self.pattern = pattern
        if pattern == .hotset {
            self.hotFraction = hotFraction ?? Self.defaultHotFraction
            self.hotProbability = hotProbability ?? Self.defaultHotProbability
        }
        self.threads = threads
        self.bytesPerWrite = bytesPerWrite
    }

    /// Reads `sequential`, `random`, `hotset` or `hotset:FRACTION:PROBABILITY`, each
    /// optionally followed by `/threads=N` and `/bytes=B`.
    public init(parsing text: String) throws(MemeaterLoadParseError) {
        var settings = text.trimmingCharacters(in: .whitespaces).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let patternText = settings.removeFirst()
        var threads: Int?
        var bytesPerWrite: Int?
        for setting in settings {
            let pair = setting.split(separator: "=", maxSplits: 1).map(String.init)
            switch (pair.first, pair.count == 2 ? Int(pair[1]) : nil) {
            case ("threads"?, let value?) where Self.threadRange.contains(value) && threads == nil:
                threads = value
            case ("bytes"?, let value?) where Self.bytesPerWriteRange.contains(value) && value % 8 == 0 && bytesPerWrite == nil:
                bytesPerWrite = value
            default:
                throw MemeaterLoadParseError(text: text, problem: .badSetting(setting))
            }
        }
        try self.init(parsingPattern: patternText, whole: text)
        self.threads = threads
        self.bytesPerWrite = bytesPerWrite
    }

    private init(parsingPattern patternText: String, whole text: String) throws(MemeaterLoadParseError) {
        let parts = patternText.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard let pattern = PagePattern(rawValue: parts[0]) else {
            throw MemeaterLoadParseError(text: text, problem: .unknownPattern)
        }
        switch (pattern, parts.count) {
        case (_, 1):
            self.init(pattern: pattern)
        case (.hotset, 3):
            guard let fraction = Double(parts[1]), fraction > 0, fraction < 1,
                  let probability = Double(parts[2]), probability >= 0, probability <= 1 else {
                throw MemeaterLoadParseError(text: text, problem: .sharesOutOfRange)
            }
            self.init(pattern: .hotset, hotFraction: fraction, hotProbability: probability)
        default:
            throw MemeaterLoadParseError(text: text, problem: .sharesOnlyForHotset)
        }
    }

    /// The text ``init(parsing:)`` reads back.
    public var description: String {
        var text = pattern.rawValue
        if pattern == .hotset, let hotFraction, let hotProbability,
           hotFraction != Self.defaultHotFraction || hotProbability != Self.defaultHotProbability {
            text += ":\(Self.shortNumber(hotFraction)):\(Self.shortNumber(hotProbability))"
        }
        if let threads { text += "/threads=\(threads)" }
        if let bytesPerWrite { text += "/bytes=\(bytesPerWrite)" }
        return text
    }

    // MARK: the kernel command line

    /// Kernel parameter naming the pattern (absent: sequential).
    public static let patternParameter = "lab.memeater_pattern"
    /// Kernel parameter with the hot set's share of pages.
    public static let hotFractionParameter = "lab.memeater_hot_fraction"
    /// Kernel parameter with the hot set's share of writes.
    public static let hotProbabilityParameter = "lab.memeater_hot_probability"
    /// Kernel parameter with memeater's worker threads.
    public static let threadsParameter = "lab.memeater_threads"
    /// Kernel parameter with the bytes memeater rewrites per page.
    public static let bytesPerWriteParameter = "lab.memeater_bytes_per_write"

    /// The guest's kernel arguments for this load; none for plain `sequential`, memeater's
    /// default, so that a guest defined before patterns existed reads back as sequential.
    public var kernelArguments: [String] {
        var words: [String] = []
        if pattern != .sequential { words.append("\(Self.patternParameter)=\(pattern.rawValue)") }
        if let hotFraction { words.append("\(Self.hotFractionParameter)=\(hotFraction)") }
        if let hotProbability { words.append("\(Self.hotProbabilityParameter)=\(hotProbability)") }
        if let threads { words.append("\(Self.threadsParameter)=\(threads)") }
        if let bytesPerWrite { words.append("\(Self.bytesPerWriteParameter)=\(bytesPerWrite)") }
        return words
    }

    /// The arguments of `memeater serve` that select this load.
    public var memeaterArguments: [String] {
        var words = ["--pattern", pattern.rawValue]
        if let hotFraction { words += ["--hot-fraction", "\(hotFraction)"] }
        if let hotProbability { words += ["--hot-probability", "\(hotProbability)"] }
        if let threads { words += ["--threads", "\(threads)"] }
        if let bytesPerWrite { words += ["--bytes-per-page-write", "\(bytesPerWrite)"] }
        return words
    }

    /// Reads the load back from kernel parameters (`name` → value, e.g. from
    /// `DomainDescription.kernelParameter`); `nil` when they do not describe a valid load.
    /// No pattern parameter reads as `sequential`.
    public init?(kernelParameter value: (String) -> String?) {
        let threadsText = value(Self.threadsParameter)
        let bytesText = value(Self.bytesPerWriteParameter)
        let threads = threadsText.flatMap(Int.init)
        let bytesPerWrite = bytesText.flatMap(Int.init)
        if (threadsText != nil && threads == nil) || (bytesText != nil && bytesPerWrite == nil) { return nil }
        guard let patternText = value(Self.patternParameter) else {
            self.init(pattern: .sequential, threads: threads, bytesPerWrite: bytesPerWrite)
            return
        }
        guard let pattern = PagePattern(rawValue: patternText) else { return nil }
        let fractionText = value(Self.hotFractionParameter)
        let probabilityText = value(Self.hotProbabilityParameter)
        let fraction = fractionText.flatMap(Double.init)
        let probability = probabilityText.flatMap(Double.init)
        // A share that is present but no number is a guest this code did not define.
        if (fractionText != nil && fraction == nil) || (probabilityText != nil && probability == nil) { return nil }
        self.init(pattern: pattern, hotFraction: fraction, hotProbability: probability, threads: threads, bytesPerWrite: bytesPerWrite)
    }

    /// Reads the load back from kernel arguments as ``kernelArguments`` writes them.
    public init?(kernelArguments: [String]) {
        self.init { name in
            kernelArguments.last { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
        }
    }

    /// A number without a trailing `.0` (the shares are written as given).
    private static func shortNumber(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

/// A memeater load text that ``MemeaterLoad/init(parsing:)`` cannot read; its description
/// is one line naming the text and what is wrong with it.
public struct MemeaterLoadParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public enum Problem: Sendable, Equatable {
        /// The word before any `:` is no pattern memeater knows.
        case unknownPattern
        /// `hotset:F:P` with F outside (0, 1) or P outside [0, 1], or no numbers.
        case sharesOutOfRange
        /// `:F:P` after a pattern other than `hotset`, or a count of parts other than 1 or 3.
        case sharesOnlyForHotset
        /// A `/SETTING` that is not `threads=N` (1-64) or `bytes=B` (32-4096, a multiple of 8), or one given twice.
        case badSetting(String)
    }

    /// The text as given.
    public var text: String
    /// What is wrong with it.
    public var problem: Problem

    /// Creates an error.
    public init(text: String, problem: Problem) {
        self.text = text
        self.problem = problem
    }

    public var description: String {
        switch problem {
        case .unknownPattern:
            return "unknown memeater pattern '\(text)' (known: sequential, random, hotset, hotset:FRACTION:PROBABILITY)"
        case .sharesOutOfRange:
            return "pattern '\(text)': the hot set's share of pages must be in (0, 1) and its share of writes in [0, 1]"
        case .sharesOnlyForHotset:
            return "pattern '\(text)': only hotset takes :FRACTION:PROBABILITY"
        case .badSetting(let setting):
            return "pattern '\(text)': '/\(setting)' is not /threads=N (1-64) or /bytes=B (32-4096, a multiple of 8), each at most once"
        }
    }
}

/// The shell both lab guests use to turn the kernel command line into memeater's load
/// arguments and to take memeater's token, so that the initramfs init and the Debian setup
/// cannot drift apart.
public enum GuestWorkloadScript {
    /// The file memeater's token is copied to in the guest (`memeater serve --token-file`).
    public static let tokenFilePath = "/run/memeater.token"

    /// A POSIX shell function: `memeater_take_token` copies the token of the firmware
    /// configuration entry ``GuestDomainDefinition/memeaterTokenFirmwareEntry`` (the
    /// `qemu_fw_cfg` module loaded) to ``tokenFilePath`` with mode 0600, waiting up to 5 s for
    /// the entry to appear; it fails when there is none.
    public static let takeTokenFunction = """
    memeater_take_token() {
        lab_entry=/sys/firmware/qemu_fw_cfg/by_name/\(GuestDomainDefinition.memeaterTokenFirmwareEntry)/raw
        lab_tries=0
        while [ ! -r "$lab_entry" ] && [ "$lab_tries" -lt 50 ]; do
            lab_tries=$((lab_tries + 1))
            sleep 0.1
        done
        [ -r "$lab_entry" ] || return 1
        ( umask 077; cat "$lab_entry" > \(tokenFilePath) )
    }
    """

    /// A POSIX shell function: `memeater_bind_arguments WORD...` prints `--bind A` for the
    /// guest-network address of a `lab.ip=A/LEN` word and `--bind B` for a `lab.ip6=B/LEN` one,
    /// on one line: memeater listens there only, not on every address of the guest (issue 24
    /// finding 3). Nothing when neither is given (memeater then takes its default).
    public static let bindArgumentsFunction = #"""
    memeater_bind_arguments() {
        for lab_word in "$@"; do
            case "$lab_word" in
                lab.ip=*) lab_bind="${lab_word#lab.ip=}"; printf ' %s %s' --bind "${lab_bind%/*}" ;;
                lab.ip6=*) lab_bind="${lab_word#lab.ip6=}"; printf ' %s %s' --bind "${lab_bind%/*}" ;;
            esac
        done
        printf '\n'
    }
    """#

    /// A POSIX shell function: `memeater_load_arguments WORD...` prints `--pattern P`
    /// (`sequential` when no `lab.memeater_pattern=` is among the words), then
    /// `--hot-fraction F` and `--hot-probability P` when given, on one line. The values are
    /// single words (the lab writes them), so the caller may split the line on spaces.
    public static let loadArgumentsFunction = #"""
    memeater_load_arguments() {
        lab_pattern=sequential
        lab_hot_fraction=
        lab_hot_probability=
        lab_threads=
        lab_bytes=
        for lab_word in "$@"; do
            case "$lab_word" in
                lab.memeater_pattern=*) lab_pattern="${lab_word#lab.memeater_pattern=}" ;;
                lab.memeater_hot_fraction=*) lab_hot_fraction="${lab_word#lab.memeater_hot_fraction=}" ;;
                lab.memeater_hot_probability=*) lab_hot_probability="${lab_word#lab.memeater_hot_probability=}" ;;
                lab.memeater_threads=*) lab_threads="${lab_word#lab.memeater_threads=}" ;;
                lab.memeater_bytes_per_write=*) lab_bytes="${lab_word#lab.memeater_bytes_per_write=}" ;;
            esac
        done
        printf '%s %s' --pattern "$lab_pattern"
        if [ -n "$lab_hot_fraction" ]; then printf ' %s %s' --hot-fraction "$lab_hot_fraction"; fi
        if [ -n "$lab_hot_probability" ]; then printf ' %s %s' --hot-probability "$lab_hot_probability"; fi
        if [ -n "$lab_threads" ]; then printf ' %s %s' --threads "$lab_threads"; fi
        if [ -n "$lab_bytes" ]; then printf ' %s %s' --bytes-per-page-write "$lab_bytes"; fi
        printf '\n'
    }
    """#
}
