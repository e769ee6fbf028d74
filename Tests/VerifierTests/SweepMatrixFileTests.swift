import Foundation
import Lab
import XCTest
@testable import Verifier

/// Matrix files (`migverify sweep --matrix FILE`): both formats, every error kind with its line.
final class SweepMatrixFileTests: XCTestCase {
    private static let examplesDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/examples")

    private let fullYAML = """
        # every key
        scenario: [live, abort]
        memory-mib: [512, 2111]
        dirty-rate-mib-per-second: [0, 12.5]
        bandwidth-mib-per-second: [100, unlimited]
        pattern:
          - sequential
          - hotset:0.05:0.95
        strategy: parallel=4+compression=zstd
        emulator: qemu-7.2
        guest: [initramfs, debian]
        repeat: 3
        guest-count: [1, 2, 4]
        """

    private let fullTOML = """
        # every key
        scenario = ["live", "abort"]
        memory-mib = [512, 2111]
        dirty-rate-mib-per-second = [0, 12.5]
        bandwidth-mib-per-second = [100, "unlimited"]
        pattern = [
          "sequential",
          "hotset:0.05:0.95",
        ]
        strategy = "parallel=4+compression=zstd"
        emulator = "qemu-7.2"
        guest = ["initramfs", "debian"]
        repeat = 3
        guest-count = [1, 2, 4]
        """

    private func expectedFullMatrix() throws -> SweepMatrix {
        SweepMatrix(scenarios: [.live, .abort], memorySizesMiB: [512, 2111], dirtyRatesMiBPerSecond: [0, 12.5],
                    bandwidthsMiBPerSecond: [100, nil],
                    loads: [.sequential, MemeaterLoad(pattern: .hotset, hotFraction: 0.05, hotProbability: 0.95)],
                    strategies: [try MigrationStrategy(parsing: "parallel=4+compression=zstd")],
                    emulators: ["qemu-7.2"], guestKinds: ["initramfs", "debian"], repeatCount: 3, guestCounts: [1, 2, 4])
    }

    /// The message of the `invalidOptions` that parsing `text` throws, or a failure.
    private func error(_ text: String, _ format: MatrixFileFormat, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            let matrix = try SweepMatrix.parse(text, format: format, fileName: "m.\(format.rawValue)")
            XCTFail("parsed without error: \(matrix)", file: file, line: line)
            return ""
        } catch {
            guard case .invalidOptions(let message) = error else {
                XCTFail("not invalidOptions: \(error)", file: file, line: line)
                return ""
            }
            XCTAssertFalse(message.contains("\n"), "one line: \(message)", file: file, line: line)
            return message
        }
    }

    /// Asserts that `text` fails at `expectedLine` with a message containing `fragment`.
    private func assertFails(_ text: String, _ format: MatrixFileFormat, line expectedLine: Int, _ fragment: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        let message = error(text, format, file: file, line: line)
        XCTAssertTrue(message.hasPrefix("m.\(format.rawValue):\(expectedLine): "), "wrong line: \(message)", file: file, line: line)
        XCTAssertTrue(message.contains(fragment), "'\(fragment)' not in: \(message)", file: file, line: line)
    }

    // MARK: good files

    func testFullYAMLAndTOMLGiveTheExpectedMatrix() throws {
        let expected = try expectedFullMatrix()
        let yaml = try SweepMatrix.parse(fullYAML, format: .yaml, fileName: "m.yaml")
        let toml = try SweepMatrix.parse(fullTOML, format: .toml, fileName: "m.toml")
        XCTAssertEqual(yaml, expected)
        XCTAssertEqual(toml, expected)
        // 2 scenarios x 2 sizes x 2 rates x 2 bandwidths x 2 patterns x 2 guests x 3 repeats.
        let cells = try yaml.cells(template: Fixtures.parameters())
        XCTAssertEqual(cells.count, 2 * 2 * 2 * 2 * 2 * 2 * 3)
        XCTAssertEqual(Set(cells.map(\.migration.parallelConnections)), [4])
    }

    func testExampleFilesDescribeTwelveRuns() throws {
        let yaml = try SweepMatrix.load(path: Self.examplesDirectory.appendingPathComponent("sweep.yaml").path)
        let toml = try SweepMatrix.load(path: Self.examplesDirectory.appendingPathComponent("sweep.toml").path)
        XCTAssertEqual(yaml, toml)
        XCTAssertEqual(yaml.memorySizesMiB, [512, 1024])
        XCTAssertEqual(yaml.dirtyRatesMiBPerSecond, [0, 50, 200])
        XCTAssertEqual(yaml.repeatCount, 2)
        XCTAssertEqual(try yaml.cells(template: Fixtures.parameters()).count, 12)
    }

    func testScalarAndOneElementListAreTheSame() throws {
        for format in MatrixFileFormat.allCases {
            let scalar = format == .yaml ? "memory-mib: 512\npattern: random\nbandwidth-mib-per-second: 300"
                : "memory-mib = 512\npattern = \"random\"\nbandwidth-mib-per-second = 300"
            let list = format == .yaml ? "memory-mib: [512]\npattern: [random]\nbandwidth-mib-per-second: [300]"
                : "memory-mib = [512]\npattern = [\"random\"]\nbandwidth-mib-per-second = [300]"
            let fromScalar = try SweepMatrix.parse(scalar, format: format, fileName: "m")
            XCTAssertEqual(fromScalar, try SweepMatrix.parse(list, format: format, fileName: "m"), "\(format)")
            XCTAssertEqual(fromScalar.memorySizesMiB, [512])
            XCTAssertEqual(fromScalar.loads, [MemeaterLoad(pattern: .random)])
            XCTAssertEqual(fromScalar.bandwidthsMiBPerSecond, [300])
        }
    }

    func testGuestAllIsEveryKindAndAnAliasIsStoredAsItsKind() throws {
        for format in MatrixFileFormat.allCases {
            let all = try SweepMatrix.parse(format == .yaml ? "guest: all\n" : "guest = \"all\"\n", format: format, fileName: "m")
            XCTAssertEqual(all.guestKinds, ["initramfs", "debian11", "debian", "debian13"], "\(format)")
            let some = try SweepMatrix.parse(format == .yaml ? "guest: [debian12, debian13]\n" : "guest = [\"debian12\", \"debian13\"]\n",
                                             format: format, fileName: "m")
            XCTAssertEqual(some.guestKinds, ["debian", "debian13"], "\(format)")
            let twice = try SweepMatrix.parse(format == .yaml ? "guest: [debian13, all, debian12]\n" : "guest = [\"debian13\", \"all\", \"debian12\"]\n",
                                              format: format, fileName: "m")
            XCTAssertEqual(twice.guestKinds, ["debian13", "initramfs", "debian11", "debian"], "each kind once, first named first: \(format)")
        }
        XCTAssertTrue(error("guest: debian10\n", .yaml).contains("unknown guest 'debian10' (known: initramfs, debian11, debian, debian13, all)"))
    }

    func testAbsentKeysKeepTheDefaults() throws {
        let yaml = try SweepMatrix.parse("repeat: 1\n", format: .yaml, fileName: "m.yaml")
        let toml = try SweepMatrix.parse("# one key, the rest default\nrepeat = 1\n", format: .toml, fileName: "m.toml")
        let expected = SweepMatrix(memorySizesMiB: [1024], dirtyRatesMiBPerSecond: [50])
        XCTAssertEqual(yaml, expected)
        XCTAssertEqual(toml, expected)
        XCTAssertEqual(expected.scenarios, [.live])
        XCTAssertEqual(expected.bandwidthsMiBPerSecond, [nil])
    }

    // MARK: YAML errors

    /// A YAML alias bomb (each level a list of nine references to the level before) is
    /// refused in one line instead of expanding into gigabytes; so is a huge matrix file.
    /// Four levels (59 049 values) are enough to pass the limit and few enough that a reader
    /// without it returns at once (nine would not return at all).
    func testAnAliasBombAndAHugeFileAreRefused() throws {
        var bomb = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\n"
        for level in 1...4 {
            let previous = level == 1 ? "a" : "l\(level - 1)"
            bomb += "l\(level): &l\(level) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
        }
        XCTAssertLessThan(bomb.utf8.count, 1_000)
        assertFails(bomb, .yaml, line: 1, "more than 10000 values once its aliases are expanded")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("huge-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(repeating: UInt8(ascii: "#"), count: 2 << 20)))
        XCTAssertThrowsError(try SweepMatrix.load(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path): the matrix file is 2097152 bytes; at most 1048576 are read")
        }
    }

    /// Finding 7d of issue 24: a value from the file is shown escaped and cut short in an
    /// error: no raw control character reaches the terminal, and a huge value is not echoed.
    func testValuesInErrorsAreEscapedAndCutShort() {
        let escape = "\u{1B}[2J\u{7}"
        for (format, text) in [(MatrixFileFormat.yaml, "scenario: \"live\\e[2J\\a\"\n"),
                               (.toml, "scenario = \"live\\u001B[2J\\u0007\"\n")] {
            let message = error(text, format)
            XCTAssertFalse(message.contains(escape), message)
            XCTAssertTrue(message.contains("unknown scenario 'live\\u{1B}[2J\\u{7}'"), message)
        }
        let huge = String(repeating: "x", count: 900_000)
        for (format, text, shown) in [(MatrixFileFormat.yaml, "pattern: \(huge)\n", "(900000 characters)"),
                                      (.toml, "guest = \"\(huge)\"\n", "(900000 characters)"),
                                      (.toml, "\"\(huge)\" = 1\n", "unknown key 'xxx"),
                                      (.yaml, "strategy: precopy+\(huge)\n", " characters)")] {
            let message = error(text, format)
            XCTAssertLessThan(message.count, 800, "cut short: \(message.prefix(200))")
            XCTAssertTrue(message.contains(shown), "\(shown) not in \(message.prefix(300))")
        }
        XCTAssertTrue(error("memory-mib: \"12\\n34\"\n", .yaml).hasSuffix("not '12\\n34'"), error("memory-mib: \"12\\n34\"\n", .yaml))
    }

    /// Finding 7g of issue 24: a file that sets nothing is refused, in either format.
    func testAnEmptyMatrixIsRefusedInBothFormats() {
        for (text, format) in [("", MatrixFileFormat.yaml), ("# nothing yet\n", .yaml), ("{}\n", .yaml),
                               ("", .toml), ("# nothing yet\n", .toml)] {
            assertFails(text, format, line: 1, "the matrix file is empty (it sets no key)")
        }
    }

    /// Finding 7h of issue 24: YAML 1.1's sexagesimal numbers (`1:00` = 60) and its other
    /// integer forms are read as text, as YAML 1.2 reads them; decimal, `0o` and `0x` stay numbers.
    func testYAMLSexagesimalAndOtherYAML11NumbersAreText() throws {
        assertFails("memory-mib: 1:00\n", .yaml, line: 1, "memory-mib must be a whole number of MiB, not '1:00'")
        assertFails("dirty-rate-mib-per-second: 1:30\n", .yaml, line: 1, "must be a number of MiB/s, not '1:30'")
        assertFails("dirty-rate-mib-per-second: 1:30.5\n", .yaml, line: 1, "not '1:30.5'")
        assertFails("memory-mib: 1_024\n", .yaml, line: 1, "not '1_024'")
        assertFails("memory-mib: 0b10000000000\n", .yaml, line: 1, "not '0b10000000000'")
        // A leading 0 is decimal, not YAML 1.1's octal (64).
        assertFails("memory-mib: 032\n", .yaml, line: 1, "between 64 and 1048576, not 32")
        XCTAssertEqual(try SweepMatrix.parse("memory-mib: [0x400, 0o4000, +2048]\n", format: .yaml, fileName: "m.yaml").memorySizesMiB,
                       [1024, 2048, 2048])
        XCTAssertEqual(try SweepMatrix.parse("pattern: hotset:0.1:0.9\n", format: .yaml, fileName: "m.yaml").loads.map(\.description),
                       ["hotset"])
    }

    func testYAMLErrorsNameTheirLine() {
        assertFails("memory-mib: 512\nrate: 50\n", .yaml, line: 2, "unknown key 'rate'")
        assertFails("memory-mib: lots\n", .yaml, line: 1, "memory-mib must be a whole number of MiB, not 'lots'")
        assertFails("memory-mib: 512.5\n", .yaml, line: 1, "whole number")
        assertFails("memory-mib:\n  - 512\n  - '1024'\n", .yaml, line: 3, "not '1024'")
        assertFails("scenario: live\nmemory-mib: []\n", .yaml, line: 2, "memory-mib is an empty list")
        assertFails("memory-mib:\n", .yaml, line: 1, "memory-mib has no value")
        assertFails("guest:\n  kind: debian\n", .yaml, line: 2, "not a table")
        assertFails("memory-mib: [[512]]\n", .yaml, line: 1, "each entry must be a single value")
        assertFails("# c\nmemory-mib: 32\n", .yaml, line: 2, "memory-mib must be between 64 and 1048576, not 32")
        assertFails("memory-mib: 2097152\n", .yaml, line: 1, "between 64 and 1048576")
        assertFails("dirty-rate-mib-per-second: [10, 100001]\n", .yaml, line: 1, "between 0 and 100000, not 100001")
        assertFails("dirty-rate-mib-per-second: -1\n", .yaml, line: 1, "between 0 and 100000")
        assertFails("dirty-rate-mib-per-second:\n  - 10\n  - .inf\n", .yaml, line: 3, "finite")
        assertFails("dirty-rate-mib-per-second: .nan\n", .yaml, line: 1, "finite")
        assertFails("dirty-rate-mib-per-second: fast\n", .yaml, line: 1, "must be a number of MiB/s")
        assertFails("bandwidth-mib-per-second: 0\n", .yaml, line: 1, "between 1 and 1000000, not 0")
        assertFails("bandwidth-mib-per-second: fast\n", .yaml, line: 1, "or 'unlimited', not 'fast'")
        assertFails("repeat: 0\n", .yaml, line: 1, "repeat must be between 1 and 1000, not 0")
        assertFails("repeat: 1001\n", .yaml, line: 1, "between 1 and 1000")
        assertFails("repeat: [2]\n", .yaml, line: 1, "one whole number, not a list")
        assertFails("scenario: [live, teleport]\n", .yaml, line: 1, "unknown scenario 'teleport'")
        assertFails("scenario: 3\n", .yaml, line: 1, "scenario must be a scenario name, not 3")
        assertFails("pattern: zigzag\n", .yaml, line: 1, "unknown memeater pattern 'zigzag'")
        assertFails("pattern: hotset:2:0.5\n", .yaml, line: 1, "share of pages must be in (0, 1)")
        assertFails("strategy:\n  - precopy\n  - warp\n", .yaml, line: 3, "unknown migration strategy word 'warp'")
        assertFails("guest: windows\n", .yaml, line: 1, "unknown guest 'windows' (known: initramfs, debian11, debian, debian13, all)")
        assertFails("emulator: ''\n", .yaml, line: 1, "emulator must not be empty")
        assertFails("repeat: 2\nmemory-mib: 512\nrepeat: 3\n", .yaml, line: 3, "duplicate key 'repeat' (first on line 1)")
        assertFails("memory-mib: [512, 1024\nrepeat: 2\n", .yaml, line: 2, "YAML syntax error")
        assertFails("memory-mib: 512\n  repeat: 2\n", .yaml, line: 2, "YAML syntax error")
        assertFails("- live\n- abort\n", .yaml, line: 1, "must be a mapping")
        assertFails("", .yaml, line: 1, "empty")
    }


    /// `guest-count`: whole numbers of guests, 1 to 256, a scalar or a list; absent, no evacuation.
    func testGuestCountIsTheEvacuationAxis() throws {
        XCTAssertEqual(try SweepMatrix.parse("guest-count: 2\n", format: .yaml, fileName: "m.yaml").guestCounts, [2])
        XCTAssertEqual(try SweepMatrix.parse("guest-count = [4, 1, 4]\n", format: .toml, fileName: "m.toml").evacuationGuestCounts, [4, 1],
                       "each count once, in the order given")
        XCTAssertNil(try SweepMatrix.parse("repeat: 2\n", format: .yaml, fileName: "m.yaml").guestCounts)
        assertFails("scenario: live\nguest-count: 0\n", .yaml, line: 2, "guest-count must be between 1 and 256, not 0")
        assertFails("guest-count: [1, 257]\n", .yaml, line: 1, "guest-count must be between 1 and 256, not 257")
        assertFails("guest-count:\n  - 1\n  - two\n", .yaml, line: 3, "guest-count must be a whole number of guests, not 'two'")
        assertFails("guest-count: 1.5\n", .yaml, line: 1, "whole number of guests")
        assertFails("guest-count: []\n", .yaml, line: 1, "guest-count is an empty list")
        assertFails("repeat = 2\nguest-count = [2, \"4\"]\n", .toml, line: 2, "guest-count must be a whole number of guests, not '4'")
        assertFails("guest-count = -1\n", .toml, line: 1, "between 1 and 256, not -1")
    }

    // MARK: TOML errors

    func testTOMLErrorsNameTheirLine() {
        assertFails("memory-mib = 512\nrate = 50\n", .toml, line: 2, "unknown key 'rate'")
        assertFails("memory-mib = \"lots\"\n", .toml, line: 1, "memory-mib must be a whole number of MiB, not 'lots'")
        assertFails("# c\n\nscenario = []\n", .toml, line: 3, "scenario is an empty list")
        assertFails("memory-mib = [\n  512,\n  32,\n]\nrepeat = 0\n", .toml, line: 1, "not 32")
        assertFails("memory-mib = [\n  512,\n]\nrepeat = 0\n", .toml, line: 4, "repeat must be between 1 and 1000, not 0")
        assertFails("dirty-rate-mib-per-second = inf\n", .toml, line: 1, "finite")
        assertFails("dirty-rate-mib-per-second = nan\n", .toml, line: 1, "finite")
        assertFails("bandwidth-mib-per-second = 1000001\n", .toml, line: 1, "between 1 and 1000000")
        assertFails("repeat = 2.5\n", .toml, line: 1, "whole number")
        assertFails("pattern = \"hotset:0.1\"\n", .toml, line: 1, "only hotset takes :FRACTION:PROBABILITY")
        assertFails("strategy = \"parallel=1\"\n", .toml, line: 1, "parallel=N needs N between 2 and 255")
        assertFails("guest = true\n", .toml, line: 1, "guest must be a guest kind, not true")
        assertFails("emulator = 1979-05-27\n", .toml, line: 1, "a date or time")
        assertFails("repeat = 2\nmemory-mib = 512\nrepeat = 3\n", .toml, line: 3, "TOML syntax error")
        assertFails("memory-mib = [512,\nrepeat = 2\n", .toml, line: 2, "TOML syntax error")
        assertFails("memory-mib = 512\nrepeat == 2\n", .toml, line: 2, "TOML syntax error")
        // Tables and dotted keys are keys too, found at their header or first dotted line.
        assertFails("memory-mib = 512\n\n[matrix]\nrepeat = 2\n", .toml, line: 3, "unknown key 'matrix'")
        assertFails("memory-mib = 512\nmemory.mib = 512\n", .toml, line: 2, "unknown key 'memory'")
        assertFails("\"scenario\" = \"live\"\n'memory-mib' = 2\n", .toml, line: 2, "between 64 and 1048576")
    }

    /// TOMLKit gives no positions for keys: the scanner must skip what only looks like one.
    func testTOMLKeyLinesSkipArraysStringsAndComments() {
        let text = """
            # memory-mib = 1 (a comment)
            emulator = "a [ b"
            strategy = [
              "precopy",  # ] not the end
              \"\"\"
            repeat = 9
            \"\"\",
            ]
            pattern = 'x # y'
            "guest" = "debian"
            [extra]
            memory-mib = 1
            [[more]]
            """
        let lines = TOMLKeyLineScanner.topLevelKeyLines(in: text)
        XCTAssertEqual(lines, ["emulator": 2, "strategy": 3, "pattern": 9, "guest": 10, "extra": 11, "more": 13])
    }

    // MARK: files

    func testLoadNamesAFileThatCannotBeRead() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("matrix-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("missing.yaml").path
        XCTAssertThrowsError(try SweepMatrix.load(path: missing)) { error in
            XCTAssertEqual(error as? VerifierError, .invalidOptions("\(missing): no such matrix file"))
        }
        let wrongExtension = directory.appendingPathComponent("matrix.json").path
        XCTAssertThrowsError(try SweepMatrix.load(path: wrongExtension)) { error in
            XCTAssertEqual(error as? VerifierError, .invalidOptions("\(wrongExtension): a matrix file must end in .yaml, .yml or .toml"))
        }
        let folder = directory.appendingPathComponent("folder.yml").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        XCTAssertThrowsError(try SweepMatrix.load(path: folder)) { error in
            XCTAssertEqual(error as? VerifierError, .invalidOptions("\(folder): is a directory, not a matrix file"))
        }
        let good = directory.appendingPathComponent("good.yml")
        try "memory-mib: 256\nrepeat: 4\n".write(to: good, atomically: true, encoding: .utf8)
        let matrix = try SweepMatrix.load(path: good.path)
        XCTAssertEqual(matrix.memorySizesMiB, [256])
        XCTAssertEqual(matrix.repeatCount, 4)
        let bad = directory.appendingPathComponent("bad.toml")
        try "repeat = 4\nmemory-mib = 8\n".write(to: bad, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SweepMatrix.load(path: bad.path)) { error in
            XCTAssertEqual(error as? VerifierError,
                           .invalidOptions("\(bad.path):2: memory-mib must be between 64 and 1048576, not 8"))
        }
    }

    func testFormatFromFileName() {
        XCTAssertEqual(MatrixFileFormat(fileName: "a/b.yaml"), .yaml)
        XCTAssertEqual(MatrixFileFormat(fileName: "b.YML"), .yaml)
        XCTAssertEqual(MatrixFileFormat(fileName: "b.toml"), .toml)
        XCTAssertNil(MatrixFileFormat(fileName: "b.json"))
        XCTAssertNil(MatrixFileFormat(fileName: "toml"))
    }
}

/// The sweep's values: memeater loads and strategies read as options, and the matrix expansion.
final class SweepMatrixValueTests: XCTestCase {
    func testMemeaterLoadOptionsKeepTheirOneLineMessages() throws {
        XCTAssertEqual(try MemeaterLoad.parsedOption("random"), MemeaterLoad(pattern: .random))
        XCTAssertEqual(try MemeaterLoad.parsedOption(" hotset "), MemeaterLoad(pattern: .hotset, hotFraction: 0.1, hotProbability: 0.9))
        XCTAssertEqual(try MemeaterLoad.parsedOption("hotset:0.25:1"), MemeaterLoad(pattern: .hotset, hotFraction: 0.25, hotProbability: 1))
        let cases: [(String, String)] = [
            ("zigzag", "unknown memeater pattern 'zigzag' (known: sequential, random, hotset, hotset:FRACTION:PROBABILITY)"),
            ("hotset:0:0.5", "pattern 'hotset:0:0.5': the hot set's share of pages must be in (0, 1) and its share of writes in [0, 1]"),
            ("hotset:0.5:1.5", "pattern 'hotset:0.5:1.5': the hot set's share of pages must be in (0, 1) and its share of writes in [0, 1]"),
            ("hotset:x:y", "pattern 'hotset:x:y': the hot set's share of pages must be in (0, 1) and its share of writes in [0, 1]"),
            ("random:0.1:0.9", "pattern 'random:0.1:0.9': only hotset takes :FRACTION:PROBABILITY"),
            ("hotset:0.1", "pattern 'hotset:0.1': only hotset takes :FRACTION:PROBABILITY"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try MemeaterLoad.parsedOption(text), text) { error in
                XCTAssertEqual(error as? VerifierError, .invalidOptions(message))
            }
        }
    }

    func testMigrationStrategyParsesAndApplies() throws {
        let strategy = try MigrationStrategy(parsing: "parallel=4 + compression=zstd+max-downtime=250")
        XCTAssertEqual(strategy.description, "parallel=4+compression=zstd+max-downtime=250")
        XCTAssertEqual(try MigrationStrategy(parsing: strategy.description), strategy)
        var options = MigrationOptions(bandwidthMiBPerSecond: 100)
        try strategy.apply(to: &options)
        XCTAssertEqual(options.parallelConnections, 4)
        XCTAssertEqual(options.compressionMethods, ["zstd"])
        XCTAssertEqual(options.qemuMaxDowntimeMilliseconds, 250)
        XCTAssertEqual(options.bandwidthMiBPerSecond, 100, "a strategy leaves what it does not name")
        XCTAssertEqual(options.strategyLabel, "parallel=4+compression=zstd+max-downtime=250")

        var converge = MigrationOptions()
        try MigrationStrategy(parsing: "auto-converge+postcopy").apply(to: &converge)
        XCTAssertTrue(converge.autoConverge)
        XCTAssertTrue(converge.postCopy)
        var plain = MigrationOptions()
        try MigrationStrategy.precopy.apply(to: &plain)
        XCTAssertEqual(plain, MigrationOptions())

        let bad: [(String, String)] = [
            ("warp", "unknown migration strategy word 'warp'"),
            ("parallel=1", "parallel=N needs N between 2 and 255, not '1'"),
            ("parallel=many", "not 'many'"),
            ("max-downtime=0", "max-downtime=MS needs MS between 1 and 2000000, not '0'"),
            ("precopy++postcopy", "empty migration strategy in 'precopy++postcopy'"),
            ("postcopy=1", "unknown migration strategy word 'postcopy=1'"),
        ]
        for (text, fragment) in bad {
            XCTAssertThrowsError(try MigrationStrategy(parsing: text), text) { error in
                guard case .invalidOptions(let message)? = error as? VerifierError else { return XCTFail("\(error)") }
                XCTAssertTrue(message.contains(fragment), "\(text): \(message)")
            }
        }
    }

    /// Every list of the matrix with two entries: the cells must come in the documented
    /// nesting (emulator slowest, repetition fastest), every combination exactly once.
    func testCellsComeInTheOrderThatBootsLeast() throws {
        let emulators = ["default", "qemu-7.2"], guests = ["initramfs", "debian"], memories = [512, 1024]
        let loads: [MemeaterLoad] = [.sequential, MemeaterLoad(pattern: .random)]
        let strategies = [MigrationStrategy.precopy, try MigrationStrategy(parsing: "auto-converge")]
        let bandwidths: [UInt64?] = [nil, 100], rates: [Double] = [10, 20], scenarios: [ScenarioKind] = [.live, .abort]
        let matrix = SweepMatrix(scenarios: scenarios, memorySizesMiB: memories, dirtyRatesMiBPerSecond: rates,
                                 bandwidthsMiBPerSecond: bandwidths, loads: loads, strategies: strategies,
                                 emulators: emulators, guestKinds: guests, repeatCount: 2)
        let cells = try matrix.cells(template: Fixtures.parameters())
        XCTAssertEqual(cells.count, 512)
        XCTAssertEqual(matrix.runCount, 512)
        let positions: [[Int]] = try cells.map { cell in
            let strategyIndex = try XCTUnwrap(strategies.firstIndex { $0.description == cell.migration.strategyLabel })
            return [try XCTUnwrap(emulators.firstIndex(of: cell.emulator)), try XCTUnwrap(guests.firstIndex(of: cell.guestKind)),
                    try XCTUnwrap(memories.firstIndex(of: cell.memoryMiB)), try XCTUnwrap(loads.firstIndex(of: cell.effectiveMemeaterLoad)),
                    strategyIndex, try XCTUnwrap(bandwidths.firstIndex(of: cell.migration.bandwidthMiBPerSecond)),
                    try XCTUnwrap(rates.firstIndex(of: cell.dirtyRateMiBPerSecond)), try XCTUnwrap(scenarios.firstIndex(of: cell.scenario)),
                    try XCTUnwrap(cell.repetition) - 1]
        }
        for (earlier, later) in zip(positions, positions.dropFirst()) {
            XCTAssertTrue(earlier.lexicographicallyPrecedes(later), "\(earlier) then \(later)")
        }
        XCTAssertEqual(positions.first, [0, 0, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(positions.last, [1, 1, 1, 1, 1, 1, 1, 1, 1])
        // Sequential is left out of the parameters (stored keys stay as before patterns).
        XCTAssertNil(cells[0].memeaterLoad)
        XCTAssertEqual(cells.first { $0.effectiveMemeaterLoad.pattern == .random }?.memeaterLoad, MemeaterLoad(pattern: .random))
        XCTAssertEqual(cells.first { $0.memoryMiB == 1024 }?.memeaterSizeMiB, 512)
        XCTAssertTrue(cells.filter { $0.scenario == .abort }.allSatisfy { !$0.roundTrip })
    }

    func testCellsDropDuplicatesAndKeepTheTemplatesBandwidth() throws {
        var template = Fixtures.parameters()
        template.migration.bandwidthMiBPerSecond = 77
        // Two spellings of plain pre-copy make the same runs: kept once.
        let matrix = SweepMatrix(memorySizesMiB: [512], dirtyRatesMiBPerSecond: [10, 10],
                                 strategies: [.precopy, try MigrationStrategy(parsing: "precopy+precopy")])
        let cells = try matrix.cells(template: template)
        XCTAssertEqual(matrix.runCount, 4)
        XCTAssertEqual(cells.count, 1)
        XCTAssertEqual(cells[0].migration.bandwidthMiBPerSecond, 77, "unlimited in the matrix keeps the template's limit")
        XCTAssertNil(cells[0].repetition)
    }

    func testCellsSurfaceValidationErrors() throws {
        let template = Fixtures.parameters()
        let cases: [(SweepMatrix, String)] = [
            (SweepMatrix(memorySizesMiB: [16], dirtyRatesMiBPerSecond: [10]), "--memory-mib must be between 64 and 1048576, not 16"),
            (SweepMatrix(memorySizesMiB: [512], dirtyRatesMiBPerSecond: [-5]), "--dirty-rate-mib-per-second must be between 0 (unlimited) and 100000"),
            (SweepMatrix(memorySizesMiB: [512], dirtyRatesMiBPerSecond: [10], strategies: [try MigrationStrategy(parsing: "compression=zstd")]),
             "--compression zstd needs --parallel-connections"),
            (SweepMatrix(memorySizesMiB: [], dirtyRatesMiBPerSecond: [10]), "the matrix has no memory sizes"),
            (SweepMatrix(memorySizesMiB: [512], dirtyRatesMiBPerSecond: [10], loads: []), "the matrix has no patterns"),
            (SweepMatrix(memorySizesMiB: [512], dirtyRatesMiBPerSecond: [10], repeatCount: 0), "repeat must be between 1 and 1000, not 0"),
            (SweepMatrix(memorySizesMiB: [512], dirtyRatesMiBPerSecond: [10], repeatCount: 1001), "repeat must be between 1 and 1000, not 1001"),
        ]
        for (matrix, fragment) in cases {
            XCTAssertThrowsError(try matrix.cells(template: template), fragment) { error in
                guard case .invalidOptions(let message)? = error as? VerifierError else { return XCTFail("\(error)") }
                XCTAssertTrue(message.contains(fragment), "'\(fragment)' not in: \(message)")
            }
        }
    }
}
