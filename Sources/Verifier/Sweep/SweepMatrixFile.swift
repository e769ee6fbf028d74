import Foundation
import MigrationModel
import Lab
import MemeaterKit
import TOMLKit
import Yams

/// The formats a sweep matrix file (`migverify sweep --matrix FILE`) may be written in.
public enum MatrixFileFormat: String, Sendable, CaseIterable {
    /// YAML (`.yaml`, `.yml`).
    case yaml
    /// TOML (`.toml`).
    case toml

    /// The format a file name's extension names, or `nil` for another extension.
    public init?(fileName: String) {
        switch (fileName as NSString).pathExtension.lowercased() {
        case "yaml", "yml": self = .yaml
        case "toml": self = .toml
        default: return nil
        }
    }
}

/// A matrix file's keys: the names of `migverify run`'s options.
public enum MatrixFileKey: String, Sendable, CaseIterable {
    /// Scenario names (``ScenarioKind``).
    case scenario
    /// Guest RAM sizes in MiB, whole numbers.
    case memoryMiB = "memory-mib"
    /// memeater's dirty rates in MiB/s; 0: as fast as it can.
    case dirtyRateMiBPerSecond = "dirty-rate-mib-per-second"
    /// Migration bandwidth limits in MiB/s, or `unlimited`.
    case bandwidthMiBPerSecond = "bandwidth-mib-per-second"
    /// memeater page patterns (``MemeaterLoad/init(parsing:)``).
    case pattern
    /// Migration strategies (``MigrationStrategy/init(parsing:)``).
    case strategy
    /// Emulator short names or paths (lab only).
    case emulator
    /// Guest kinds (lab only).
    case guest
    /// Runs per cell: one whole number, not a list.
    case repeatCount = "repeat"
    /// Evacuations: each run of the matrix migrates N guests at once, for each N listed.
    case guestCount = "guest-count"
}

extension SweepMatrix {
    /// The accepted values per key: the limits `migverify run` checks, stated once.
    public static let fileMemoryRangeMiB: ClosedRange<Int> = GuestMemoryRange.realHostBoundsMiB
    /// Dirty rates a file may ask for, in MiB/s (0: as fast as memeater can).
    public static let fileDirtyRateRangeMiBPerSecond: ClosedRange<Double> = 0...100_000
    /// Bandwidth limits a file may ask for, in MiB/s (or the word `unlimited`).
    public static let fileBandwidthRangeMiBPerSecond: ClosedRange<Int> = 1...1_000_000

    /// Reads a matrix file, its format told by the extension (`.yaml`, `.yml`, `.toml`).
    /// Every failure is ``VerifierError/invalidOptions(_:)`` with one line: `FILE: …` when
    /// the file cannot be read, `FILE:LINE: …` for what is wrong inside it.
    /// The largest matrix file read, bytes.
    public static let maximumFileBytes: UInt64 = 1 << 20

    public static func load(path: String) throws(VerifierError) -> SweepMatrix {
        guard let format = MatrixFileFormat(fileName: path) else {
            throw .invalidOptions("\(path): a matrix file must end in .yaml, .yml or .toml")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .invalidOptions("\(path): no such matrix file")
        }
        guard !isDirectory.boolValue else { throw .invalidOptions("\(path): is a directory, not a matrix file") }
        // A matrix is a few dozen lines: a huge file is a mistake or an attack on memory.
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber,
           size.uint64Value > maximumFileBytes {
            throw .invalidOptions("\(path): the matrix file is \(size.uint64Value) bytes; at most \(maximumFileBytes) are read")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .invalidOptions("\(path): the matrix file cannot be read (permissions?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .invalidOptions("\(path): the matrix file is not UTF-8 text")
        }
        return try parse(text, format: format, fileName: path)
    }

    /// Reads a matrix from `text`. Each key (``MatrixFileKey``) takes one value or a list;
    /// absent keys keep ``SweepMatrix/init(scenarios:memorySizesMiB:dirtyRatesMiBPerSecond:bandwidthsMiBPerSecond:loads:strategies:emulators:guestKinds:repeatCount:)``'s
    /// defaults, except `memory-mib` and `dirty-rate-mib-per-second`, which default to 1024
    /// and 50 like `migverify run`. Errors are ``VerifierError/invalidOptions(_:)`` of one
    /// line, `FILE:LINE: what is wrong` (lines from 1; for TOML the line of the key).
    public static func parse(_ text: String, format: MatrixFileFormat, fileName: String) throws(VerifierError) -> SweepMatrix {
        let entries: [MatrixFileEntry]
        switch format {
        case .yaml: entries = try YAMLMatrixReader(fileName: fileName).entries(of: text)
        case .toml: entries = try TOMLMatrixReader(fileName: fileName).entries(of: text)
        }
        return try MatrixFileInterpreter(fileName: fileName).matrix(from: entries)
    }
}

// MARK: - format-neutral values

/// A value read from a matrix file, with the line it starts on (1-based): what the YAML and
/// TOML readers share, so that both are checked by one interpreter.
struct MatrixFileValue {
    enum Content {
        case integer(Int)
        case number(Double)
        case text(String)
        case boolean(Bool)
        case null
        case list([MatrixFileValue])
        /// A mapping or table: never a valid value here.
        case table
        /// Something else the format has (a date, an alias): never a valid value here.
        case other(String)
    }

    var content: Content
    var line: Int

    /// How the value is shown in an error message.
    var shown: String {
        switch content {
        case .integer(let value): return String(value)
        case .number(let value): return String(value)
        case .text(let value): return "'\(TextExcerpt.of(value))'"
        case .boolean(let value): return String(value)
        case .null: return "nothing"
        case .list: return "a list"
        case .table: return "a table"
        case .other(let kind): return kind
        }
    }
}

/// One top-level `key: value` of a matrix file.
struct MatrixFileEntry {
    var key: String
    var keyLine: Int
    var value: MatrixFileValue
}

// MARK: - YAML

/// Reads the top-level mapping of a YAML matrix through Yams' node API, which keeps the
/// line of every key and value.
struct YAMLMatrixReader {
    let fileName: String

    func entries(of text: String) throws(VerifierError) -> [MatrixFileEntry] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw failure(error, text: text)
        } catch {
            throw .invalidOptions("\(fileName): not YAML: \(oneLine("\(error)"))")
        }
        guard let root else { throw .invalidOptions("\(fileName):1: the matrix file is empty (it sets no key)") }
        guard let mapping = root.mapping else {
            throw .invalidOptions("\(fileName):\(root.mark?.line ?? 1): the matrix must be a mapping of key: value lines")
        }
        var entries: [MatrixFileEntry] = []
        var budget = Self.maximumValues
        for (keyNode, valueNode) in mapping {
            let keyLine = keyNode.mark?.line ?? 1
            guard case .scalar(let keyScalar) = keyNode else {
                throw .invalidOptions("\(fileName):\(keyLine): a key must be a word")
            }
            entries.append(MatrixFileEntry(key: keyScalar.string, keyLine: keyLine,
                                           value: try value(of: valueNode, fallbackLine: keyLine, budget: &budget)))
        }
        return entries
    }

    /// The most values a matrix may hold, every alias expanded: Yams shares an aliased node,
    /// but reading it copies it for each reference, and nested aliases of a few hundred bytes
    /// would grow into gigabytes.
    static let maximumValues = 10_000

    private func value(of node: Node, fallbackLine: Int, budget: inout Int) throws(VerifierError) -> MatrixFileValue {
        let line = node.mark?.line ?? fallbackLine
        budget -= 1
        guard budget >= 0 else {
            throw .invalidOptions("\(fileName):\(line): the matrix holds more than \(Self.maximumValues) values once its aliases are expanded")
        }
        switch node {
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .int:
                return MatrixFileValue(content: Self.integer(scalar.string), line: line)
            case .float where !Self.isYAML11Only(scalar.string):
                return MatrixFileValue(content: node.float.map { .number($0) } ?? .other("'\(TextExcerpt.of(scalar.string))'"), line: line)
            case .float:
                return MatrixFileValue(content: .text(scalar.string), line: line)
            case .bool: return MatrixFileValue(content: node.bool.map { .boolean($0) } ?? .text(scalar.string), line: line)
            case .null: return MatrixFileValue(content: .null, line: line)
            default: return MatrixFileValue(content: .text(scalar.string), line: line)
            }
        case .sequence(let sequence):
            var elements: [MatrixFileValue] = []
            for element in sequence { elements.append(try value(of: element, fallbackLine: line, budget: &budget)) }
            return MatrixFileValue(content: .list(elements), line: line)
        case .mapping:
            return MatrixFileValue(content: .table, line: line)
        case .alias:
            return MatrixFileValue(content: .other("an alias"), line: line)
        }
    }

    /// A plain scalar Yams resolved as an integer, read as YAML 1.2 reads it: decimal digits
    /// (a leading 0 is no octal), `0o` octal or `0x` hex. YAML 1.1's other forms are text
    /// here, so that `1:00` is not taken for 60 (sexagesimal), nor `0b11` or `1_000` for numbers.
    static func integer(_ text: String) -> MatrixFileValue.Content {
        let digits = text.hasPrefix("+") || text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        let radix: Int?
        switch (digits.prefix(2), digits.dropFirst(2)) {
        case ("0o", let rest) where !rest.isEmpty && rest.allSatisfy({ ("0"..."7").contains($0) }): radix = 8
        case ("0x", let rest) where !rest.isEmpty && rest.allSatisfy(\.isHexDigit): radix = 16
        default: radix = !digits.isEmpty && digits.allSatisfy({ ("0"..."9").contains($0) }) ? 10 : nil
        }
        guard let radix else { return .text(text) }
        let magnitude = radix == 10 ? digits : digits.dropFirst(2)
        guard let value = Int(magnitude, radix: radix) else { return .other("a number too large") }
        return .integer(text.hasPrefix("-") ? -value : value)
    }

    /// Whether a scalar Yams resolved as a float is one only in YAML 1.1 (sexagesimal
    /// `1:30.5`, underscores): text here, as YAML 1.2 reads it.
    static func isYAML11Only(_ text: String) -> Bool {
        text.contains(":") || text.contains("_")
    }

    /// A Yams error as one line with its line number.
    private func failure(_ error: YamlError, text: String) -> VerifierError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return .invalidOptions("\(fileName):\(mark.line): YAML syntax error: \(oneLine(problem))")
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams points at the first occurrence; the second is the line to fix.
            let key = duplicates.first ?? "?"
            let lines = topLevelYAMLKeyLines(key, in: text)
            let line = lines.count >= 2 ? lines[1] : context.mark.line
            let first = lines.first.map { " (first on line \($0))" } ?? ""
            return .invalidOptions("\(fileName):\(line): duplicate key '\(TextExcerpt.of(key))'\(first)")
        case .reader(let problem, let offset, _, _):
            let line = offset.map { offset in text.utf8.prefix(offset).filter { $0 == UInt8(ascii: "\n") }.count + 1 } ?? 1
            return .invalidOptions("\(fileName):\(line): YAML cannot be read: \(oneLine(problem))")
        default:
            return .invalidOptions("\(fileName):1: YAML error: \(oneLine("\(error)"))")
        }
    }
}

/// Lines (1-based) where `key:` starts a line at column 0: the keys of a top-level block mapping.
func topLevelYAMLKeyLines(_ key: String, in text: String) -> [Int] {
    var lines: [Int] = []
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        for spelled in [key, "\"\(key)\"", "'\(key)'"] where line.hasPrefix(spelled) {
            if line.dropFirst(spelled.count).drop(while: { $0 == " " || $0 == "\t" }).hasPrefix(":") {
                lines.append(index + 1)
                break
            }
        }
    }
    return lines
}

// MARK: - TOML

/// Reads a TOML matrix through TOMLKit. TOMLKit gives positions only for syntax errors, so
/// the lines of keys are found in the text by ``TOMLKeyLineScanner``.
struct TOMLMatrixReader {
    let fileName: String

    func entries(of text: String) throws(VerifierError) -> [MatrixFileEntry] {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            // toml++ reports duplicate keys as syntax errors, at the second occurrence.
            throw .invalidOptions("\(fileName):\(max(1, error.source.begin.line)): TOML syntax error: \(oneLine(error.description))")
        } catch {
            throw .invalidOptions("\(fileName): not TOML: \(oneLine("\(error)"))")
        }
        let keyLines = TOMLKeyLineScanner.topLevelKeyLines(in: text)
        var entries: [MatrixFileEntry] = []
        for key in table.keys {
            let line = keyLines[key] ?? 1
            guard let value = table[key] else { continue }
            entries.append(MatrixFileEntry(key: key, keyLine: line, value: Self.value(of: value.tomlValue, line: line)))
        }
        // toml++ keeps keys sorted; report in the order of the file.
        return entries.sorted { ($0.keyLine, $0.key) < ($1.keyLine, $1.key) }
    }

    private static func value(of value: TOMLValue, line: Int) -> MatrixFileValue {
        switch value.type {
        case .int: return MatrixFileValue(content: value.int.map { .integer($0) } ?? .other("a number"), line: line)
        case .double: return MatrixFileValue(content: value.double.map { .number($0) } ?? .other("a number"), line: line)
        case .string: return MatrixFileValue(content: value.string.map { .text($0) } ?? .other("a string"), line: line)
        case .bool: return MatrixFileValue(content: value.bool.map { .boolean($0) } ?? .other("a boolean"), line: line)
        case .array:
            let elements = value.array.map { array in array.map { Self.value(of: $0.tomlValue, line: line) } } ?? []
            return MatrixFileValue(content: .list(elements), line: line)
        case .table: return MatrixFileValue(content: .table, line: line)
        case .date, .time, .dateTime: return MatrixFileValue(content: .other("a date or time"), line: line)
        }
    }
}

/// Finds the line of each top-level key of a TOML document: `key =` (bare, `"quoted"` or
/// `'quoted'`, or the first part of a dotted key) before the first table header, and the
/// first `[key…]`/`[[key…]]` header for tables. Brackets of multi-line arrays, strings and
/// comments are skipped so that their lines are never taken for keys or headers.
enum TOMLKeyLineScanner {
    static func topLevelKeyLines(in text: String) -> [String: Int] {
        var lines: [String: Int] = [:]
        var arrayDepth = 0
        var inMultiLineString: String?
        var inTopLevelTable = true
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            var line = Substring(rawLine)
            if let delimiter = inMultiLineString {
                guard let end = line.range(of: delimiter) else { continue }
                line = line[end.upperBound...]
                inMultiLineString = nil
            } else if arrayDepth == 0 {
                let trimmed = line.drop { $0 == " " || $0 == "\t" }
                if trimmed.hasPrefix("[") {
                    inTopLevelTable = false
                    let name = trimmed.drop { $0 == "[" }.drop { $0 == " " || $0 == "\t" }
                    if let key = firstKey(of: name), lines[key] == nil { lines[key] = lineNumber }
                    continue
                }
                if inTopLevelTable, let key = firstKey(of: trimmed),
                   trimmed.dropFirst(spelledLength(of: trimmed)).drop(while: { $0 == " " || $0 == "\t" }).first.map({ $0 == "=" || $0 == "." }) == true {
                    if lines[key] == nil { lines[key] = lineNumber }
                    if let equals = line.firstIndex(of: "=") { line = line[line.index(after: equals)...] }
                }
            }
            (arrayDepth, inMultiLineString) = scanValue(line, arrayDepth: arrayDepth)
        }
        return lines
    }

    /// The first key of a key path: a bare key, or a quoted one without escapes.
    private static func firstKey(of text: Substring) -> String? {
        if let quote = text.first, quote == "\"" || quote == "'" {
            let rest = text.dropFirst()
            guard let end = rest.firstIndex(of: quote) else { return nil }
            return String(rest[..<end])
        }
        let bare = text.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
        return bare.isEmpty ? nil : String(bare)
    }

    private static func spelledLength(of text: Substring) -> Int {
        if let quote = text.first, quote == "\"" || quote == "'" {
            guard let end = text.dropFirst().firstIndex(of: quote) else { return text.count }
            return text.distance(from: text.startIndex, to: end) + 1
        }
        return text.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }.count
    }

    /// Follows a value's brackets and strings to the end of the line: the array depth
    /// after it, and the delimiter of a multi-line string still open.
    private static func scanValue(_ line: Substring, arrayDepth: Int) -> (Int, String?) {
        var depth = arrayDepth
        var index = line.startIndex
        while index < line.endIndex {
            let character = line[index]
            switch character {
            case "#":
                return (depth, nil)
            case "[":
                depth += 1
            case "]":
                depth = max(0, depth - 1)
            case "\"", "'":
                let triple = String(repeating: character, count: 3)
                if line[index...].hasPrefix(triple) {
                    let after = line.index(index, offsetBy: 3)
                    guard let end = line[after...].range(of: triple) else { return (depth, triple) }
                    index = end.upperBound
                    continue
                }
                // A single-line string: skip to its closing quote (basic strings escape with \).
                var cursor = line.index(after: index)
                while cursor < line.endIndex, line[cursor] != character {
                    if character == "\"", line[cursor] == "\\" { cursor = line.index(after: cursor) }
                    if cursor < line.endIndex { cursor = line.index(after: cursor) }
                }
                index = cursor < line.endIndex ? line.index(after: cursor) : cursor
                continue
            default:
                break
            }
            index = line.index(after: index)
        }
        return (depth, nil)
    }
}

// MARK: - checking the values

/// Turns the entries of a matrix file into a ``SweepMatrix``, checking every value.
struct MatrixFileInterpreter {
    let fileName: String

    /// `FILE:LINE: what`. `what` names values from the file as ``TextExcerpt`` shows them;
    /// a parser's message that quotes the value whole (`quoting`) gets the excerpt instead,
    /// and the whole is escaped and cut as a last guard.
    private func failure(_ line: Int, _ what: String, quoting value: String? = nil) -> VerifierError {
        var what = what
        if let value, !value.isEmpty, TextExcerpt.of(value) != value {
            what = what.replacingOccurrences(of: value, with: TextExcerpt.of(value))
        }
        return .invalidOptions("\(fileName):\(line): \(TextExcerpt.of(what, maximumCharacters: Self.longestMessage))")
    }

    /// The longest message shown, in characters: the longest of ours with a value in it is
    /// about half of it.
    static let longestMessage = 600

    /// The matrix the entries describe: keys not given keep their defaults (1024 MiB and
    /// 50 MiB/s like `migverify run`, the rest ``SweepMatrix``'s own).
    func matrix(from entries: [MatrixFileEntry]) throws(VerifierError) -> SweepMatrix {
        // Both formats alike: a file that sets nothing is a mistake, not the default matrix.
        guard !entries.isEmpty else { throw failure(1, "the matrix file is empty (it sets no key)") }
        var matrix = SweepMatrix(memorySizesMiB: [1024], dirtyRatesMiBPerSecond: [50])
        var firstLineOfKey: [String: Int] = [:]
        for entry in entries {
            let key = try knownKey(of: entry, firstLineOfKey: &firstLineOfKey)
            try apply(entry, as: key, to: &matrix)
        }
        return matrix
    }

    /// The entry's key, once: a key seen before (its first line in `firstLineOfKey`) or
    /// one that is not a ``MatrixFileKey`` is an error.
    private func knownKey(of entry: MatrixFileEntry,
                          firstLineOfKey: inout [String: Int]) throws(VerifierError) -> MatrixFileKey {
        if let first = firstLineOfKey[entry.key] {
            throw failure(entry.keyLine, "duplicate key '\(TextExcerpt.of(entry.key))' (first on line \(first))")
        }
        firstLineOfKey[entry.key] = entry.keyLine
        guard let key = MatrixFileKey(rawValue: entry.key) else {
            let known = MatrixFileKey.allCases.map(\.rawValue).joined(separator: ", ")
            throw failure(entry.keyLine, "unknown key '\(TextExcerpt.of(entry.key))' (known: \(known))")
        }
        return key
    }

    /// Checks the entry's values and sets the matrix dimension its key names.
    private func apply(_ entry: MatrixFileEntry, as key: MatrixFileKey,
                       to matrix: inout SweepMatrix) throws(VerifierError) {
        switch key {
        case .scenario:
            matrix.scenarios = try scenarios(entry)
        case .memoryMiB:
            matrix.memorySizesMiB = try elements(entry).map { value throws(VerifierError) in
                try wholeNumber(value, key: key, range: SweepMatrix.fileMemoryRangeMiB, unit: "MiB")
            }
        case .dirtyRateMiBPerSecond:
            matrix.dirtyRatesMiBPerSecond = try elements(entry).map { value throws(VerifierError) in
                try number(value, key: key, range: SweepMatrix.fileDirtyRateRangeMiBPerSecond)
            }
        case .bandwidthMiBPerSecond:
            matrix.bandwidthsMiBPerSecond = try bandwidths(entry)
        case .pattern:
            matrix.loads = try loads(entry)
        case .strategy:
            matrix.strategies = try strategies(entry)
        case .emulator:
            matrix.emulators = try emulators(entry)
        case .guest:
            matrix.guestKinds = try guestKinds(entry)
        case .repeatCount:
            matrix.repeatCount = try repeatCount(entry)
        case .guestCount:
            matrix.guestCounts = try elements(entry).map { value throws(VerifierError) in
                try wholeNumber(value, key: key, range: 1...EvacuationPlan.maximumGuestCount, unit: "guests")
            }
        }
    }

    private func scenarios(_ entry: MatrixFileEntry) throws(VerifierError) -> [ScenarioKind] {
        try elements(entry).map { value throws(VerifierError) in
            let word = try text(value, key: .scenario, expected: "a scenario name")
            guard let scenario = ScenarioKind(rawValue: word) else {
                let known = ScenarioKind.allCases.map(\.rawValue).joined(separator: ", ")
                throw failure(value.line, "unknown scenario '\(TextExcerpt.of(word))' (known: \(known))")
            }
            return scenario
        }
    }

    /// Limits in MiB/s; `nil` for the word `unlimited`.
    private func bandwidths(_ entry: MatrixFileEntry) throws(VerifierError) -> [UInt64?] {
        let key = MatrixFileKey.bandwidthMiBPerSecond
        return try elements(entry).map { value throws(VerifierError) -> UInt64? in
            if case .text("unlimited") = value.content { return nil }
            if case .text(let word) = value.content {
                throw failure(value.line, "\(key.rawValue) must be a whole number of MiB/s or 'unlimited', not '\(TextExcerpt.of(word))'")
            }
            return UInt64(try wholeNumber(value, key: key, range: SweepMatrix.fileBandwidthRangeMiBPerSecond,
                                          unit: "MiB/s", alternative: " or 'unlimited'"))
        }
    }

    private func loads(_ entry: MatrixFileEntry) throws(VerifierError) -> [MemeaterLoad] {
        try elements(entry).map { value throws(VerifierError) in
            let word = try text(value, key: .pattern, expected: "a pattern (sequential, random, hotset, hotset:F:P)")
            do throws(MemeaterLoadParseError) {
                return try MemeaterLoad(parsing: word)
            } catch {
                throw failure(value.line, error.description, quoting: word)
            }
        }
    }

    private func strategies(_ entry: MatrixFileEntry) throws(VerifierError) -> [MigrationStrategy] {
        try elements(entry).map { value throws(VerifierError) in
            let word = try text(value, key: .strategy, expected: "a migration strategy (e.g. precopy, parallel=4+compression=zstd)")
            do throws(VerifierError) {
                return try MigrationStrategy(parsing: word)
            } catch {
                throw failure(value.line, error.description, quoting: word)
            }
        }
    }

    private func emulators(_ entry: MatrixFileEntry) throws(VerifierError) -> [String] {
        try elements(entry).map { value throws(VerifierError) in
            let word = try text(value, key: .emulator, expected: "an emulator name or path")
            guard !word.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw failure(value.line, "\(MatrixFileKey.emulator.rawValue) must not be empty")
            }
            return word
        }
    }

    /// Guest kinds by their stored names: `all` is every kind, as with --guest all, and an
    /// alias (debian12) is stored as its kind.
    private func guestKinds(_ entry: MatrixFileEntry) throws(VerifierError) -> [String] {
        var kinds: [String] = []
        for value in try elements(entry) {
            let word = try text(value, key: .guest, expected: "a guest kind")
            if word == "all" {
                kinds += GuestKind.allCases.map(\.rawValue)
                continue
            }
            guard let kind = GuestKind(name: word) else {
                let known = GuestKind.allCases.map(\.rawValue).joined(separator: ", ")
                throw failure(value.line, "unknown guest '\(TextExcerpt.of(word))' (known: \(known), all)")
            }
            kinds.append(kind.rawValue)
        }
        // Each kind once, in the order first named (`[all, debian]` is the four kinds).
        var seen = Set<String>()
        return kinds.filter { seen.insert($0).inserted }
    }

    /// Runs per cell: one whole number, never a list.
    private func repeatCount(_ entry: MatrixFileEntry) throws(VerifierError) -> Int {
        let key = MatrixFileKey.repeatCount
        if case .list = entry.value.content {
            throw failure(entry.value.line, "\(key.rawValue) takes one whole number, not a list")
        }
        return try wholeNumber(entry.value, key: key, range: 1...SweepMatrix.maximumRepeatCount, unit: "runs")
    }

    /// A scalar as a one-element list, a list as its elements; no value, an empty list,
    /// a nested list or a table is an error.
    private func elements(_ entry: MatrixFileEntry) throws(VerifierError) -> [MatrixFileValue] {
        switch entry.value.content {
        case .null:
            throw failure(entry.value.line, "\(entry.key) has no value")
        case .table:
            throw failure(entry.value.line, "\(entry.key) must be a value or a list of values, not a table")
        case .list(let elements):
            guard !elements.isEmpty else { throw failure(entry.value.line, "\(entry.key) is an empty list") }
            for element in elements {
                switch element.content {
                case .list, .table, .null:
                    throw failure(element.line, "\(entry.key) lists \(element.shown): each entry must be a single value")
                default: continue
                }
            }
            return elements
        default:
            return [entry.value]
        }
    }

    private func text(_ value: MatrixFileValue, key: MatrixFileKey, expected: String) throws(VerifierError) -> String {
        guard case .text(let word) = value.content else {
            throw failure(value.line, "\(key.rawValue) must be \(expected), not \(value.shown)")
        }
        return word
    }

    private func wholeNumber(_ value: MatrixFileValue, key: MatrixFileKey, range: ClosedRange<Int>, unit: String,
                             alternative: String = "") throws(VerifierError) -> Int {
        guard case .integer(let number) = value.content else {
            throw failure(value.line, "\(key.rawValue) must be a whole number of \(unit)\(alternative), not \(value.shown)")
        }
        guard range.contains(number) else {
            throw failure(value.line, "\(key.rawValue) must be between \(range.lowerBound) and \(range.upperBound), not \(number)")
        }
        return number
    }

    private func number(_ value: MatrixFileValue, key: MatrixFileKey, range: ClosedRange<Double>) throws(VerifierError) -> Double {
        let number: Double
        switch value.content {
        case .integer(let whole): number = Double(whole)
        case .number(let fraction): number = fraction
        default: throw failure(value.line, "\(key.rawValue) must be a number of MiB/s, not \(value.shown)")
        }
        guard number.isFinite else { throw failure(value.line, "\(key.rawValue) must be a finite number, not \(number)") }
        guard range.contains(number) else {
            throw failure(value.line, "\(key.rawValue) must be between \(formatNumber(range.lowerBound)) and \(formatNumber(range.upperBound)), not \(formatNumber(number))")
        }
        return number
    }
}

/// Text of a parser's message on one line (Yams and toml++ may use several), escaped and
/// cut like a value (it may quote the file).
func oneLine(_ text: String) -> String {
    TextExcerpt.of(text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }.joined(separator: " / "), maximumCharacters: MatrixFileInterpreter.longestMessage)
}
