import ArgumentParser
import MemeaterKit

#if canImport(Glibc)
import Glibc
#endif

/// `memeater`: dirties a memory region at a set rate of unique pages per second and proves
/// afterwards that every page holds what was last written there.
struct Memeater: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memeater",
        abstract: "Dirty memory at a set rate and verify its integrity (for live-migration tests).",
        discussion: """
            Every write stamps the page with its index, a generation and a checksum, and changes every \
            rewritten byte, so that zero-page detection, page hashing and XBZRLE cannot hide it. Before \
            each rewrite the page is checked against what was last written there; a stale or foreign page \
            is an integrity error. Exit status: 0 intact, 1 integrity errors or a runtime failure, 64 bad usage.
            """,
        subcommands: [Run.self, Serve.self]
    )
}

extension PagePattern: ExpressibleByArgument {}
extension HugePagePolicy: ExpressibleByArgument {}

/// Options that define the region and its load, shared by `run` and `serve`.
struct RegionOptions: ParsableArguments {
    @Option(name: .customLong("size-mib"), help: "Region size in MiB (any whole number; must fit in MemAvailable).")
    var sizeMiB: Int

    @Option(name: .customLong("rate-mib-per-second"), parsing: .unconditional, help: "Target rate in unique MiB dirtied per second; 0 = as fast as possible.")
    var rateMiBPerSecond: Double?

    @Option(parsing: .unconditional, help: "Target rate in unique pages dirtied per second; 0 = as fast as possible. Excludes --rate-mib-per-second.")
    var ratePagesPerSecond: Double?

    @Option(help: "Worker threads; each owns an equal share of the region.")
    var threads: Int = 1

    @Option(help: "Page selection: a sequential sweep, uniform random, or a hot set.")
    var pattern: PagePattern = .sequential

    @Option(help: "Hot-set pattern: share of the pages in the hot set, in (0, 1).")
    var hotFraction: Double = 0.1

    @Option(help: "Hot-set pattern: share of the writes that go to the hot set, in [0, 1].")
    var hotProbability: Double = 0.9

    @Option(help: "Seed for the page patterns and page contents; the same seed gives the same run.")
    var seed: UInt64 = 1

    @Option(help: "Bytes rewritten in each page per write, a multiple of 8 from 32 (header only) to the page size (default: the page size).")
    var bytesPerPageWrite: Int?

    @Flag(help: "mlock the region so that it cannot be swapped.")
    var lockMemory = false

    @Option(help: "Transparent huge pages for the region: system, on, off.")
    var hugePages: HugePagePolicy = .system

    @Option(help: "Interval of progress reports (JSON lines with --json), in milliseconds.")
    var reportIntervalMilliseconds: Int = 100

    @Flag(help: "Write progress as JSON lines and, as the last line, a JSON summary.")
    var json = false

    /// The largest region: 16 TiB, far above any guest, and `sizeMiB << 20` stays far from overflow.
    static let maximumSizeMiB = 16 << 20
    /// The highest rate in MiB/s: 1 TiB/s (memory bandwidth is tens of GiB/s).
    static let maximumRateMiBPerSecond = 1_048_576.0
    /// The highest rate in pages/s: 1 TiB/s of 4 KiB pages.
    static let maximumRatePagesPerSecond = 268_435_456.0
    /// The longest report interval: one hour.
    static let maximumReportIntervalMilliseconds = 3_600_000

    func validate() throws {
        if rateMiBPerSecond != nil && ratePagesPerSecond != nil {
            throw ValidationError("give the rate either in MiB/s or in pages/s, not both")
        }
        // Every number is bounded here, before any arithmetic on it can overflow.
        try checkRange(sizeMiB, 1...Self.maximumSizeMiB, option: "--size-mib", unit: "MiB")
        if let rateMiBPerSecond { try checkRange(rateMiBPerSecond, 0...Self.maximumRateMiBPerSecond, option: "--rate-mib-per-second", unit: "MiB/s") }
        if let ratePagesPerSecond { try checkRange(ratePagesPerSecond, 0...Self.maximumRatePagesPerSecond, option: "--rate-pages-per-second", unit: "pages/s") }
        try checkRange(threads, 1...4096, option: "--threads", unit: "threads")
        guard hotFraction > 0, hotFraction < 1 else {
            throw ValidationError("--hot-fraction must be between 0 and 1 (both excluded), got \(hotFraction)")
        }
        try checkRange(hotProbability, 0...1, option: "--hot-probability", unit: "")
        if let bytesPerPageWrite { try checkRange(bytesPerPageWrite, 32...SystemInfo.pageSizeBytes, option: "--bytes-per-page-write", unit: "bytes") }
        try checkRange(reportIntervalMilliseconds, 1...Self.maximumReportIntervalMilliseconds, option: "--report-interval-milliseconds", unit: "ms")
        // Everything that needs no memory is checked now, before a byte is allocated.
        do {
            try makeConfiguration().validate(pageSizeBytes: SystemInfo.pageSizeBytes, availableMemoryBytes: nil)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// The rate as given; nil when none was.
    var rate: DirtyRate? {
        if let mib = rateMiBPerSecond { return .mibPerSecond(mib) }
        if let pages = ratePagesPerSecond { return .pagesPerSecond(pages) }
        return nil
    }

    func makeConfiguration() -> MemeaterConfiguration {
        MemeaterConfiguration(
            sizeMiB: sizeMiB, rate: rate ?? .mibPerSecond(0), threads: threads, pattern: pattern,
            hotFraction: hotFraction, hotProbability: hotProbability, seed: seed,
            bytesPerWrite: bytesPerPageWrite ?? SystemInfo.pageSizeBytes, lockMemory: lockMemory, hugePages: hugePages)
    }

    /// Allocates and stamps the region, refusing sizes above MemAvailable.
    func makeSession() throws -> MemeaterSession {
        let engine = try DirtyingEngine(configuration: makeConfiguration(), availableMemoryBytes: try SystemInfo.availableMemoryBytes())
        return MemeaterSession(engine: engine)
    }
}

extension Memeater {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Dirty the region for a duration (or until SIGINT/SIGTERM), then verify every page.",
            discussion: "SIGUSR1 prints a summary without stopping. Without a rate, dirties as fast as possible."
        )

        @OptionGroup var region: RegionOptions

        @Option(help: "How long to dirty, in seconds (default: until SIGINT or SIGTERM).")
        var durationSeconds: Double?

        @Flag(help: "Skip the whole-region verification after dirtying.")
        var noFinalVerify = false

        /// The longest run: one year (and its nanoseconds fit in `Int`).
        static let maximumDurationSeconds = 31_536_000.0

        func validate() throws {
            if let durationSeconds { try checkRange(durationSeconds, 0...Self.maximumDurationSeconds, option: "--duration-seconds", unit: "s") }
        }

        func run() throws {
            SignalLoop.blockSignals()
            let session = try region.makeSession()
            try session.engine.start()
            let output = ReportOutput(json: region.json)
            _ = SignalLoop.run(
                intervalMilliseconds: region.reportIntervalMilliseconds, durationSeconds: durationSeconds,
                tick: { output.progress(session.sample()) },
                summaryRequested: { output.interimSummary(session.summary()) })
            session.stopDirtying()
            if !noFinalVerify { session.verifyAll() }
            let summary = session.summary()
            output.finalSummary(summary)
            if summary.integrityErrors > 0 { throw ExitCode.failure }
        }
    }

    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hold the region and obey a line-based JSON control protocol on a TCP port.",
            discussion: """
                One JSON object per line, one reply line each. Every connection first sends \
                {"command":"auth","token":"TOKEN"}; a wrong or missing token gets one error reply, the \
                connection is closed and nothing it sent runs. Then: {"command":"info"}, {"command":"stats"}, \
                {"command":"set-rate","mibPerSecond":R} (or "pagesPerSecond"), {"command":"pause"}, \
                {"command":"resume"}, {"command":"verify-all"}, {"command":"reset-stall"}, \
                {"command":"corrupt-page","page":N} (fault injection: refused without --allow-fault-injection), \
                {"command":"stop"}. Replies carry "ok":true, or "ok":false with an "error"; a bad request never \
                stops the server. \
                A token is required: --token-file PATH (preferred: a file only its owner can read; --token \
                shows in ps). Without one, serve refuses to start unless --no-auth is given, and then listens \
                on 127.0.0.1 unless --bind says otherwise. --bind may be repeated: one listener per address, \
                all on the same port. \
                Starts paused unless a rate is given. Runs until stop, SIGINT or SIGTERM.
                """
        )

        @OptionGroup var region: RegionOptions

        @Option(help: "TCP port to listen on (0 = any free port, printed at start).")
        var port: Int

        @Option(name: .customLong("bind"), help: ArgumentHelp(
            "IPv4 or IPv6 address to listen on; repeat it for several, all on one port (default with a token: every address, IPv6 and IPv4 on ::, or 0.0.0.0 on a kernel without IPv6; 127.0.0.1 with --no-auth).",
            valueName: "address"))
        var bindAddresses: [String] = []

        @Option(name: .customLong("token-file"), help: ArgumentHelp(
            "File holding the token clients must present (its first line; mode 0600 or stricter).", valueName: "path"))
        var tokenFile: String?

        @Option(help: "The token clients must present (visible in ps: prefer --token-file).")
        var token: String?

        @Flag(help: "Serve without a token: anyone who can connect controls memeater. Listens on 127.0.0.1 unless --bind is given.")
        var noAuth = false

        @Option(help: "Clients served at once on each address (1-\(ControlServer.maximumConnectionsLimit)); one more gets an error reply and is closed.")
        var maxConnections = ControlServer.defaultMaximumConnections

        @Option(help: "Seconds a new client has to authenticate before it is closed (an unauthenticated one also gives way to newer connections when the server is full).")
        var authTimeoutSeconds: Double = ControlServer.defaultAuthenticationTimeoutSeconds

        @Flag(help: "Obey corrupt-page (fault injection for testing the verifier's checks). Never on a guest whose results matter.")
        var allowFaultInjection = false

        func validate() throws {
            try checkRange(port, 0...65535, option: "--port", unit: "")
            switch (tokenFile != nil, token != nil, noAuth) {
            case (false, false, false):
                throw ValidationError("serve needs a token: --token-file PATH (or --token TEXT); --no-auth serves without one")
            case (true, true, _):
                throw ValidationError("give the token with --token-file or --token, not both")
            case (true, _, true), (_, true, true):
                throw ValidationError("--no-auth and a token exclude each other")
            default:
                break
            }
            if let token {
                do { _ = try ControlToken(token) } catch { throw ValidationError(error.description) }
            }
            // A usage error (exit 64) before anything is allocated, not a failed bind (exit 1).
            for bindAddress in bindAddresses where SocketAddress(numericHost: bindAddress, port: 0) == nil {
                throw ValidationError("--bind must be a numeric IPv4 or IPv6 address (e.g. 198.18.1.10, 2001:2::10, ::), not '\(TextExcerpt.of(bindAddress))'")
            }
            if let repeated = Dictionary(grouping: bindAddresses, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
                throw ValidationError("--bind \(repeated) is given twice")
            }
            guard (1...ControlServer.maximumConnectionsLimit).contains(maxConnections) else {
                throw ValidationError("--max-connections must be 1-\(ControlServer.maximumConnectionsLimit), got \(maxConnections)")
            }
            guard authTimeoutSeconds > 0, authTimeoutSeconds <= 3_600 else {
                throw ValidationError("--auth-timeout-seconds must be more than 0 and at most 3600 seconds, got \(authTimeoutSeconds)")
            }
        }

        /// The token as given, or open access with --no-auth.
        func access() throws(MemeaterError) -> ControlAccess {
            if let tokenFile { return .token(try ControlToken.read(fromFile: tokenFile)) }
            if let token { return .token(try ControlToken(token)) }
            return .open
        }

        /// Without `--bind`, the addresses to try, in order: every address with a token (IPv6
        /// and IPv4 on `::`, or IPv4 alone on a kernel without IPv6), only this machine without one.
        var defaultBindAddressesToTry: [String] { noAuth ? ["127.0.0.1"] : ["::", "0.0.0.0"] }

        /// One listener per `--bind` address, all on one port (the first one's, when `--port 0`
        /// let the kernel choose); without `--bind`, the first default address whose family the
        /// kernel has. A listener that fails closes the ones already made.
        func listen(handler: ControlHandler) throws(MemeaterError) -> [ControlServer] {
            guard !bindAddresses.isEmpty else { return [try listenOnDefaultAddress(handler: handler)] }
            var servers: [ControlServer] = []
            do {
                for address in bindAddresses {
                    servers.append(try ControlServer(listenAddress: address, port: servers.first?.port ?? port, handler: handler,
                                                     maximumConnections: maxConnections, authenticationTimeoutSeconds: authTimeoutSeconds))
                }
            } catch {
                for server in servers { server.shutdownServer() }
                throw error
            }
            return servers
        }

        private func listenOnDefaultAddress(handler: ControlHandler) throws(MemeaterError) -> ControlServer {
            var addresses = defaultBindAddressesToTry[...]
            while let address = addresses.popFirst() {
                do {
                    return try ControlServer(listenAddress: address, port: port, handler: handler,
                                             maximumConnections: maxConnections, authenticationTimeoutSeconds: authTimeoutSeconds)
                } catch .socketFailed(_, EAFNOSUPPORT) where !addresses.isEmpty {
                    continue
                }
            }
            throw .socketFailed(call: "listen on \(defaultBindAddressesToTry.joined(separator: " or "))", errno: EAFNOSUPPORT)
        }

        func run() throws {
            SignalLoop.blockSignals()
            // The token is read before the region is allocated: a bad file fails at once.
            let access = try access()
            let session = try region.makeSession()
            session.engine.isPaused = region.rate == nil
            let handler = ControlHandler(session: session, access: access, allowsFaultInjection: allowFaultInjection,
                                         onStop: { SignalLoop.requestStop() })
            let servers = try listen(handler: handler)
            try session.engine.start()
            for server in servers { try server.start() }
            let output = ReportOutput(json: region.json)
            for server in servers {
                output.listening(address: server.listenAddress, port: server.port, tokenRequired: handler.tokenRequired,
                                 maximumConnections: server.maximumConnections, faultInjection: allowFaultInjection)
            }
            let end = SignalLoop.run(
                intervalMilliseconds: region.reportIntervalMilliseconds, durationSeconds: nil,
                tick: { output.progress(session.sample()) },
                summaryRequested: { output.interimSummary(session.summary()) })
            // Let the client that sent `stop` read its reply before the connection closes.
            if end == .stopCommand { usleep(50_000) }
            for server in servers { server.shutdownServer() }
            session.stopDirtying()
            let summary = session.summary()
            output.finalSummary(summary)
            if summary.integrityErrors > 0 { throw ExitCode.failure }
        }
    }
}

/// Where reports go: JSON lines on stdout with --json, human text otherwise.
struct ReportOutput {
    let json: Bool

    func progress(_ record: ProgressRecord) {
        guard json else { return }
        writeLine(encodeLine(record), to: STDOUT_FILENO)
    }

    func listening(address: String, port: Int, tokenRequired: Bool, maximumConnections: Int, faultInjection: Bool) {
        if json {
            // The address passed inet_pton, so it needs no JSON escaping.
            writeLine(#"{"type":"listening","address":"\#(address)","port":\#(port),"tokenRequired":\#(tokenRequired),"#
                      + #""maxConnections":\#(maximumConnections),"faultInjection":\#(faultInjection)}"#, to: STDOUT_FILENO)
        } else {
            writeLine("memeater: listening on \(SocketAddress.endpointText(host: address, port: port)), \(tokenRequired ? "token required" : "NO token required (--no-auth)"), "
                      + "at most \(maximumConnections) clients, fault injection \(faultInjection ? "allowed" : "refused")", to: STDOUT_FILENO)
        }
    }

    /// SIGUSR1: always human text, on stderr when stdout carries JSON.
    func interimSummary(_ summary: RunSummary) {
        writeLine(summary.humanDescription, to: json ? STDERR_FILENO : STDOUT_FILENO)
    }

    func finalSummary(_ summary: RunSummary) {
        if json {
            writeLine(summary.humanDescription, to: STDERR_FILENO)
            writeLine(encodeLine(summary), to: STDOUT_FILENO)
        } else {
            writeLine(summary.humanDescription, to: STDOUT_FILENO)
        }
    }

}

/// Writes a whole line straight to a descriptor: no stdio buffer to lose on exit or to interleave.
func writeLine(_ text: String, to descriptor: Int32) {
    var bytes = Array((text + "\n").utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        if written <= 0 { return }
        bytes = bytes.dropFirst(written)
    }
}

/// Prints errors as one line, `memeater: error: ...`, instead of the usage text.
@main
enum Main {
    static func main() {
        do {
            var command = try Memeater.parseAsRoot()
            try command.run()
        } catch {
            let code = Memeater.exitCode(for: error)
            if code == .success || error is ExitCode {
                Memeater.exit(withError: error)
            }
            var message = Memeater.message(for: error)
            if let memeaterError = error as? MemeaterError { message = memeaterError.description }
            writeLine("memeater: error: \(message.split(separator: "\n").first ?? "")", to: STDERR_FILENO)
            Memeater.exit(withError: ExitCode(code == .failure ? 1 : code.rawValue))
        }
    }
}

/// Throws a one-line error naming `option` and `range` unless `value` lies in `range`
/// (NaN never does).
func checkRange<Value: Comparable>(_ value: Value, _ range: ClosedRange<Value>, option: String, unit: String) throws {
    guard range.contains(value) else {
        let suffix = unit.isEmpty ? "" : " \(unit)"
        throw ValidationError("\(option) must be between \(range.lowerBound) and \(range.upperBound)\(suffix), got \(value)")
    }
}
