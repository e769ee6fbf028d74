import Foundation
import Lab
import MigrationModel
import PingMonitor
import Synchronization

/// How tcpdump captures on the destination during a migration call: its migration ports, or
/// (``guestAddress`` set) the probed guest's echoes.
public struct StreamCaptureSettings: Sendable, Equatable {
    /// The ports QEMU listens on for an incoming migration (libvirt's `migration_port_min` to
    /// `migration_port_max`; the lab keeps libvirt's default).
    public var ports: ClosedRange<Int> = ScenarioRunner.migrationPorts
    /// Bytes kept of each packet: the link, IP and TCP headers and the first payload bytes.
    public var snapLengthBytes = 256
    /// The capture file's bound: tcpdump stops after ``packetLimit`` packets, each at most a
    /// 16-byte record header plus the snapshot length. Only each connection's first bytes
    /// matter, and those come first.
    public var maximumFileBytes = 8 * 1_048_576
    /// How long tcpdump may take to start listening (over ssh: the connection too).
    public var startTimeoutSeconds = 15.0
    /// How long tcpdump may take to end once told (it writes its last packets and its counts).
    public var stopGraceSeconds = 5.0
    /// The probed guest, whose ICMP echoes an echo capture takes instead of the ports (`nil`: a
    /// capture of the ports): when the pinger's probes reached the destination and when the
    /// guest first answered there (``DestinationEchoObservation``).
    public var guestAddress: IPAddress?

    public init() {}

    /// Packets tcpdump writes before it stops by itself (`-c`).
    public var packetLimit: Int { max(1, maximumFileBytes / (snapLengthBytes + 16)) }

    /// What tcpdump captures: TCP to or from the ports, or ICMP to or from the guest (its
    /// address as parsed, so the filter holds no other text).
    public var filter: String {
        guestAddress.map { "host \($0) and (icmp or icmp6)" } ?? "tcp portrange \(ports.lowerBound)-\(ports.upperBound)"
    }

    /// tcpdump's command line: every interface (`any`: Linux cooked headers), no name
    /// lookups, each packet written as it comes (`-U`, `--immediate-mode`), the snapshot
    /// length and packet limit above, pcap to standard output, the filter.
    public var tcpdumpArguments: [String] {
        ["tcpdump", "-i", "any", "-n", "-U", "--immediate-mode", "-s", String(snapLengthBytes), "-c", String(packetLimit),
         "-w", "-", filter]
    }

    /// What tcpdump says on standard error once it captures.
    static let listeningMarker = "listening on"
    /// What the host script says when the host has no tcpdump.
    static let missingMarker = "migverify-capture: tcpdump is not installed"

    /// The script run on the destination host. It becomes tcpdump (`exec`), so tcpdump is
    /// the process started (over ssh: the remote shell's), and its end is seen at once; a
    /// watcher it leaves behind reads the script's standard input and sends tcpdump SIGTERM
    /// when it ends (``HostProcess/stop(graceSeconds:)`` closes it; so does this process's
    /// death, over ssh too), if that process id is still tcpdump's (`/proc/PID/stat`). tcpdump
    /// then writes its last packets and counts them. The watcher keeps nothing else open, so
    /// a tcpdump that ends by itself (its packet limit, an error) ends the command.
    public var hostScript: String {
        """
        command -v tcpdump >/dev/null 2>&1 || { echo \(shellQuoted(Self.missingMarker)) >&2; exit 127; }
        exec 3<&0
        { read -r _ <&3; [ "$(cut -d' ' -f2 /proc/$$/stat 2>/dev/null)" = "(tcpdump)" ] && kill $$; } </dev/null >/dev/null 2>&1 &
        exec \(tcpdumpArguments.map(shellQuoted).joined(separator: " ")) </dev/null 3<&-
        """
    }
}

/// What a stopped capture's file is read into: the migration ports' connections
/// (``MigrationStreamObservation``) or the guest's echoes (``DestinationEchoObservation``).
public protocol HostCaptureReading: Sendable, Equatable {
    /// What `settings` captures, for messages: `the migration ports (TCP 49152-49215)`, `the echoes of 198.18.1.10`.
    static func subject(_ settings: StreamCaptureSettings) -> String
    /// What the file at `path`, captured on `hostName` with `settings`, holds.
    static func read(path: String, settings: StreamCaptureSettings, on hostName: String, sharesClock: Bool,
                     packetsDroppedByKernel: Int?, keptPath: String?) throws(CaptureFileError) -> Self
}

extension MigrationStreamObservation: HostCaptureReading {
    public static func subject(_ settings: StreamCaptureSettings) -> String {
        "the migration ports (TCP \(settings.ports.lowerBound)-\(settings.ports.upperBound))"
    }

    public static func read(path: String, settings: StreamCaptureSettings, on hostName: String, sharesClock: Bool,
                            packetsDroppedByKernel: Int?, keptPath: String?) throws(CaptureFileError) -> MigrationStreamObservation {
        try MigrationStreamFile.analyze(path: path, ports: settings.ports, hostName: hostName, packetLimit: settings.packetLimit,
                                        packetsDroppedByKernel: packetsDroppedByKernel, keptPath: keptPath)
    }
}

extension DestinationEchoObservation: HostCaptureReading {
    public static func subject(_ settings: StreamCaptureSettings) -> String {
        "the echoes of \(settings.guestAddress?.description ?? "the guest")"
    }

    public static func read(path: String, settings: StreamCaptureSettings, on hostName: String, sharesClock: Bool,
                            packetsDroppedByKernel: Int?, keptPath: String?) throws(CaptureFileError) -> DestinationEchoObservation {
        guard let guestAddress = settings.guestAddress else {
            throw .unreadable(path: path, capture: "destination echo capture", reason: "no guest address to follow")
        }
        return try DestinationEchoFile.analyze(path: path, guestAddress: guestAddress, hostName: hostName, sharesClock: sharesClock,
                                               packetLimit: settings.packetLimit, keptPath: keptPath)
    }
}

/// tcpdump on the destination's migration ports.
public typealias StreamCapture = HostCapture<MigrationStreamObservation>
/// tcpdump on the destination, following the probed guest's echoes.
public typealias EchoCapture = HostCapture<DestinationEchoObservation>

/// tcpdump on the destination host, capturing to a local file for the length of a migration
/// call: started before the call (``start(on:path:keep:settings:interrupted:)`` returns once
/// tcpdump listens), stopped after it (``stop()``), which reads the file into `Seen`. Stopping
/// is idempotent, so a `defer` stops it on every way out of the run, and the script ends by
/// itself when this process dies (its standard input ends).
public final class HostCapture<Seen: HostCaptureReading>: Sendable {
    private enum State {
        /// tcpdump runs and writes to `path`.
        case running(any HostProcess)
        /// It could not be started, and why.
        case failed(String)
        /// Stopped: what it showed, or why not.
        case stopped(Looked<Seen>)
    }

    private let state: Mutex<State>
    private let hostName: String
    /// The host's clock is this machine's (a lab namespace or this machine itself).
    private let sharesClock: Bool
    private let path: String
    private let keep: Bool
    private let settings: StreamCaptureSettings

    private init(state: State, hostName: String, sharesClock: Bool = false, path: String, keep: Bool, settings: StreamCaptureSettings) {
        self.state = Mutex(state)
        self.hostName = hostName
        self.sharesClock = sharesClock
        self.path = path
        self.keep = keep
        self.settings = settings
    }

    /// Starts tcpdump on `host` writing to `path` on this machine and waits until it listens
    /// (at most ``StreamCaptureSettings/startTimeoutSeconds``, or until `interrupted` says so).
    /// Never throws: a capture that cannot run (no shell, no tcpdump, no permission) is
    /// returned failed, and ``stop()`` then says why it could not look.
    /// - Parameter keep: keep the file at `path` (`--save-captures`); otherwise it is removed once read.
    public static func start(on host: (any HostShell)?, path: String, keep: Bool, settings: StreamCaptureSettings = StreamCaptureSettings(),
                             interrupted: @Sendable () -> Bool = { false }) -> HostCapture {
        let subject = Seen.subject(settings)
        guard let host else {
            return HostCapture(state: .failed("no shell on the destination host to run tcpdump on: use a qemu+ssh:// URI or --dest-ssh USER@HOST"),
                               hostName: "the destination", path: path, keep: keep, settings: settings)
        }
        let failed = { (reason: String) in HostCapture(state: .failed(reason), hostName: host.hostName, path: path, keep: keep, settings: settings) }
        let process: any HostProcess
        do {
            process = try host.startBackground(settings.hostScript, step: "capture \(subject) with tcpdump", standardOutputPath: path)
        } catch {
            return failed(error.description)
        }
        let deadline = Date().addingTimeInterval(settings.startTimeoutSeconds)
        while !process.errorOutput.contains(StreamCaptureSettings.listeningMarker) {
            let ended = process.exitStatus != nil
            if ended || Date() >= deadline || interrupted() {
                let status = process.stop(graceSeconds: ended ? 0 : 1)
                let said = process.errorOutput
                // A capture that never ran leaves no file, kept or not.
                try? FileManager.default.removeItem(atPath: path)
                if said.contains(StreamCaptureSettings.missingMarker) {
                    return failed("tcpdump is not installed on \(host.hostName) (\(host.access)): install it (Debian: apt-get install tcpdump) to capture \(subject)")
                }
                let why = ended ? "tcpdump could not capture on \(host.hostName) (\(host.access)), exit status \(status)"
                    : interrupted() ? "the capture was interrupted before tcpdump listened on \(host.hostName)"
                    : "tcpdump did not start listening within \(formatNumber(settings.startTimeoutSeconds)) s on \(host.hostName) (\(host.access))"
                return failed(why + toldOnOneLine(said))
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        let sharesClock = switch host.access {
        case .namespace, .local: true
        case .ssh: false
        }
        return HostCapture(state: .running(process), hostName: host.hostName, sharesClock: sharesClock, path: path, keep: keep,
                           settings: settings)
    }

    /// Stops tcpdump and reads what it captured; idempotent (later calls return the same).
    @discardableResult
    public func stop() -> Looked<Seen> {
        state.withLock { state in
            switch state {
            case .stopped(let seen): return seen
            case .failed(let reason):
                state = .stopped(.notLooked(reason))
            case .running(let process):
                let status = process.stop(graceSeconds: settings.stopGraceSeconds)
                state = .stopped(read(said: process.errorOutput, status: status))
            }
            if case .stopped(let seen) = state { return seen }
            return .notLooked("the capture did not stop")
        }
    }

    private func read(said: String, status: Int32) -> Looked<Seen> {
        defer { if !keep { try? FileManager.default.removeItem(atPath: path) } }
        // tcpdump counts its packets when it ends normally (told to, or at its limit).
        guard said.contains("packets captured") else {
            return .notLooked("tcpdump on \(hostName) did not end cleanly (exit status \(status))" + toldOnOneLine(said))
        }
        do {
            return .seen(try Seen.read(path: path, settings: settings, on: hostName, sharesClock: sharesClock,
                                       packetsDroppedByKernel: Self.droppedByKernel(said), keptPath: keep ? path : nil))
        } catch {
            return .notLooked(error.description)
        }
    }

    /// tcpdump's `N packets dropped by kernel` line, if it said one.
    static func droppedByKernel(_ said: String) -> Int? {
        for line in said.split(whereSeparator: \.isNewline) where line.hasSuffix("packets dropped by kernel") {
            return line.split(separator: " ").first.flatMap { Int($0) }
        }
        return nil
    }
}

/// `: what it said / on one line`, or nothing when it said nothing.
private func toldOnOneLine(_ said: String) -> String {
    let lines = said.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    guard !lines.isEmpty else { return "" }
    let text = lines.joined(separator: " / ")
    return ": " + (text.count > 300 ? text.prefix(300) + "…" : text)
}
