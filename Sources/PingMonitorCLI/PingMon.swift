import ArgumentParser
import Foundation
import PingMonitor

/// `pingmon`: probes a target with ICMP echo requests at a fixed interval, times requests and
/// replies with libpcap, and reports loss and downtime; `pingmon analyze` re-analyses a capture.
@main
struct PingMon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pingmon",
        abstract: "Measure network downtime (e.g. of a live-migrated guest) with ICMP probes timed by libpcap.",
        usage: """
            pingmon --target <address> --interface <name> [--interval-microseconds <n>] [--duration-seconds <s>] [--count <n>] [--save-capture <file>] [--json] [<options>]
              pingmon analyze <file> --target <address> [--json] [<options>]
            """,
        discussion: """
            Sends ICMP echo requests (ICMPv6 for an IPv6 target) to --target from --interface every \
            --interval-microseconds and captures requests and replies on that interface with libpcap \
            (nanosecond timestamps where the kernel offers them), so that every time comes from the capture, \
            not from user space. Downtime is the longest gap between replies; its bounds come from the capture \
            times of the probes around the gap. The frames by which the target announces itself (as after a \
            migration) are timed too: RARP (QEMU's announce, for either family), gratuitous ARP (IPv4) and \
            unsolicited Neighbor Advertisements (IPv6).

            Stops after --duration-seconds, after --count probes, or on SIGINT/SIGTERM; it then waits \
            --linger-milliseconds for late replies, closes the capture file and prints the summary. A live \
            status line goes to standard error (unless --quiet). With --json the summary goes to standard \
            error and the last line on standard output is one JSON object with every figure (units in the \
            key names).

            Needs root (or CAP_NET_RAW and CAP_NET_ADMIN) for the raw socket and the capture. The target \
            is a numeric unicast IPv4 or IPv6 address; refused are the unspecified address, broadcast, \
            multicast (224.0.0.0/4, ff00::/8), class E and IPv4-mapped IPv6 (::ffff:0:0/96) addresses. A \
            link-local IPv6 target (fe80::/10) is taken on --interface (write it without a %zone). IPv6 \
            probes and replies with extension headers are not captured. --allowed-networks can limit the \
            target further (a safety net).

            Exit status: 0 run complete and every requested check passed, 1 a check (--require-zero-loss, \
            --max-downtime-ms) failed, 2 the run could not be done (permissions, capture, files), 64 bad usage.
            """,
        subcommands: [Analyze.self]
    )

    @OptionGroup(title: "Target")
    var target: TargetOptions

    @Option(help: ArgumentHelp("Interface to send from and capture on, in this network namespace (required unless analysing a file).", valueName: "name"))
    var interface: String?

    @OptionGroup(title: "Analysis and verdict (also for 'analyze')")
    var analysis: AnalysisArguments

    @Option(help: ArgumentHelp("Stop sending after this many seconds (default: no limit).", valueName: "seconds"))
    var durationSeconds: Double?

    @Option(help: ArgumentHelp("Stop after this many probes (default: no limit).", valueName: "probes"))
    var count: Int?

    @Option(help: ArgumentHelp("Write every captured packet to this file, as pcapng whatever its name (nanosecond timestamps when the kernel offers them); it replaces an earlier file only when the run ends.", valueName: "file"))
    var saveCapture: String?

    @Option(help: ArgumentHelp("After the last probe, keep capturing this long for late replies, in milliseconds.", valueName: "milliseconds"))
    var lingerMilliseconds: Int = 250

    @Option(help: ArgumentHelp("Kernel capture buffer, in MiB; packets that do not fit are dropped and counted.", valueName: "mebibytes"))
    var captureBufferMib: Int = 32

    @Option(help: ArgumentHelp("Comma-separated IPv4 networks and IPv6 prefixes (CIDR) that --target must lie in, e.g. 198.18.0.0/15,2001:2::/48; a safety net for lab use (default: any unicast address).", valueName: "networks"))
    var allowedNetworks: String?

    @Flag(help: "No live status line on standard error.")
    var quiet = false

    func validate() throws {
        // Also runs before 'analyze'; settings given for a live run only are checked here, the
        // rest in run(), where it is certain that this is a live run.
        if let durationSeconds, !(durationSeconds > 0 && durationSeconds <= PingConfiguration.maximumDurationSeconds) {
            throw ValidationError("--duration-seconds must be more than 0 and at most \(Int(PingConfiguration.maximumDurationSeconds)) seconds, got \(durationSeconds)")
        }
        if let count, !(1...PingConfiguration.maximumCount).contains(count) {
            throw ValidationError("--count must be between 1 and \(PingConfiguration.maximumCount) probes, got \(count)")
        }
        guard (0...60_000).contains(lingerMilliseconds) else {
            throw ValidationError("--linger-milliseconds must be between 0 and 60000 ms, got \(lingerMilliseconds)")
        }
        guard (1...1024).contains(captureBufferMib) else {
            throw ValidationError("--capture-buffer-mib must be between 1 and 1024 MiB, got \(captureBufferMib)")
        }
        _ = try parsedAllowedNetworks()
        if let saveCapture {
            // Before the run: a symbolic link would redirect the capture onto another file.
            do {
                try CaptureFileWriter.checkDestination(saveCapture)
            } catch {
                throw ValidationError("--save-capture: \(error.description)")
            }
        }
    }

    func parsedAllowedNetworks() throws -> [IPNetwork]? {
        try allowedNetworks?.split(separator: ",").map { text in
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard let network = IPNetwork(trimmed) else {
                throw ValidationError("--allowed-networks: '\(trimmed)' is not an IPv4 network or IPv6 prefix in CIDR form (like 198.18.0.0/15 or 2001:2::/48)")
            }
            return network
        }
    }

    func run() throws {
        guard let interface else {
            throw ValidationError("--interface is required for a live run (or use 'pingmon analyze FILE --target ADDR')")
        }
        let configuration = PingConfiguration(
            target: try target.address(), interface: interface,
            intervalMicroseconds: analysis.intervalMicroseconds ?? 1_000, durationSeconds: durationSeconds, count: count,
            saveCapturePath: saveCapture, lingerMilliseconds: lingerMilliseconds,
            gapThresholdMilliseconds: analysis.gapThresholdMilliseconds, targetMAC: try analysis.mac(),
            identifier: try analysis.identifier(), captureBufferBytes: captureBufferMib << 20,
            allowedNetworks: try parsedAllowedNetworks(), verdict: analysis.criteria)
        let session: PingSession
        do {
            session = try PingSession(configuration: configuration)
        } catch let error as PingMonitorError {
            // Bad settings (target outside the allowed networks, unknown interface): a usage error.
            throw ValidationError(error.description)
        }
        try Output.exitOnFailure {
            try session.start()
        }
        let signals = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { session.stop() }
            source.resume()
            return source
        }
        let status = quiet ? nil : StatusLine(session: session)
        let report = try Output.exitOnFailure { try session.waitForReport() }
        status?.finish()
        signals.forEach { $0.cancel() }
        try Output.emit(report, json: analysis.json)
    }
}

extension PingMon {
    struct Analyze: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "analyze",
            abstract: "Re-analyse a saved capture (pcap or pcapng) of probes to --target.",
            usage: "pingmon analyze <file> --target <address> [--interval-microseconds <n>] [--json] [<options>]",
            discussion: """
                Gives the same figures as the live run that saved the capture (--save-capture). Captures of \
                other tools' pings work too: their 16-bit sequence numbers are unwrapped, and the interval is \
                taken from --interval-microseconds or else from the median spacing of the requests. \
                Exit status: 0 every requested check passed, 1 a check failed, 2 the file could not be read \
                (missing, not a capture, truncated), 64 bad usage.
                """
        )

        @Argument(help: ArgumentHelp("The capture file to read (pcap or pcapng).", valueName: "file"))
        var file: String

        @OptionGroup(title: "Target")
        var target: TargetOptions

        @OptionGroup(title: "Analysis and verdict")
        var analysis: AnalysisArguments

        func run() throws {
            let options = OfflineAnalysisOptions(
                identifier: try analysis.identifier(), targetMAC: try analysis.mac(),
                intervalMicroseconds: analysis.intervalMicroseconds,
                gapThresholdMilliseconds: analysis.gapThresholdMilliseconds, verdict: analysis.criteria)
            let address = try target.address()
            let report = try Output.exitOnFailure {
                try CaptureFileAnalysis.analyze(path: file, target: address, options: options)
            }
            try Output.emit(report, json: analysis.json)
        }
    }
}

/// The probed address, shared by the live run and `analyze`.
struct TargetOptions: ParsableArguments {
    // Optional for the parser only: a required option of the root command would also be
    // demanded before 'pingmon analyze --help'. address() insists on it.
    @Option(help: ArgumentHelp("Address to probe (required): a numeric IPv4 or IPv6 address, e.g. 198.18.0.10 or 2001:2::10 (names are not resolved, so no DNS query is sent).", valueName: "address"))
    var target: String?

    func validate() throws {
        if target != nil { _ = try address() }
    }

    func address() throws -> IPAddress {
        guard let target else { throw ValidationError("--target is required") }
        do throws(PingMonitorError) {
            return try PingConfiguration.parseTarget(target)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// Settings of the analysis and the verdict, shared by the live run and `analyze`.
struct AnalysisArguments: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Time between probes, in microseconds (\(PingConfiguration.minimumIntervalMicroseconds) to \(PingConfiguration.maximumIntervalMicroseconds); live default 1000). For 'analyze': only for captures whose probes do not carry it.",
        valueName: "microseconds"))
    var intervalMicroseconds: Int?

    @Option(help: ArgumentHelp("List every gap between replies longer than this, in milliseconds (default: 5 probe intervals).", valueName: "milliseconds"))
    var gapThresholdMilliseconds: Double?

    @Option(help: ArgumentHelp("The target's MAC (aa:bb:cc:dd:ee:ff), to keep only its ARP/RARP frames (default: learned from its replies or announcements).", valueName: "mac"))
    var targetMac: String?

    @Option(help: ArgumentHelp("ICMP identifier (1 to 65535): live, the one to send with (default: random); 'analyze', the stream to analyse (default: the first pingmon stream).", valueName: "identifier"))
    var icmpIdentifier: Int?

    @Flag(help: "Exit with status 1 unless every probe was answered.")
    var requireZeroLoss = false

    @Option(name: .customLong("max-downtime-ms"), help: ArgumentHelp("Exit with status 1 if the downtime (longest gap without replies) exceeds this, in milliseconds.", valueName: "milliseconds"))
    var maxDowntimeMilliseconds: Double?

    @Flag(help: "Print the summary to standard error and, as the last line on standard output, one JSON object with every figure.")
    var json = false

    func validate() throws {
        // Here, not in the root command: 'analyze' has its own copy of these options.
        if let interval = intervalMicroseconds,
           !(PingConfiguration.minimumIntervalMicroseconds...PingConfiguration.maximumIntervalMicroseconds).contains(interval) {
            throw ValidationError("--interval-microseconds: " + PingMonitorError.intervalOutOfRange(
                microseconds: interval, minimum: PingConfiguration.minimumIntervalMicroseconds,
                maximum: PingConfiguration.maximumIntervalMicroseconds).description)
        }
        let most = Int(PingConfiguration.maximumMillisecondsSetting)
        if let gapThresholdMilliseconds, !(gapThresholdMilliseconds >= 0 && gapThresholdMilliseconds <= PingConfiguration.maximumMillisecondsSetting) {
            throw ValidationError("--gap-threshold-milliseconds must be between 0 and \(most) ms, got \(gapThresholdMilliseconds)")
        }
        if let maxDowntimeMilliseconds, !(maxDowntimeMilliseconds >= 0 && maxDowntimeMilliseconds <= PingConfiguration.maximumMillisecondsSetting) {
            throw ValidationError("--max-downtime-ms must be between 0 and \(most) ms, got \(maxDowntimeMilliseconds)")
        }
        _ = try mac()
        _ = try identifier()
    }

    func mac() throws -> MACAddress? {
        guard let targetMac else { return nil }
        guard let mac = MACAddress(targetMac) else { throw ValidationError("--target-mac '\(targetMac)' is not a MAC address like 52:54:00:12:34:56") }
        return mac
    }

    func identifier() throws -> UInt16? {
        guard let icmpIdentifier else { return nil }
        guard (1...65_535).contains(icmpIdentifier) else { throw ValidationError("--icmp-identifier must be between 1 and 65535, got \(icmpIdentifier)") }
        return UInt16(icmpIdentifier)
    }

    var criteria: VerdictCriteria {
        VerdictCriteria(requireZeroLoss: requireZeroLoss, maximumDowntimeMilliseconds: maxDowntimeMilliseconds)
    }
}
