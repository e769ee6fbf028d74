import ArgumentParser
import Foundation
import Lab
import Libvirt
import MigrationModel

/// `migverify lab ...`: the two-host lab on this machine.
struct LabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "Build, inspect and remove the two-host migration lab on this machine.",
        discussion: """
            The lab is made of network namespaces (the switches, hosts src and dst, a client), one libvirt \
            daemon and one sshd per host, and a guest carrying memeater. The management network \
            (198.18.0.0/24, 2001:2::/64: daemons, ssh, migration) is apart from the guest network \
            (198.18.1.0/24, 2001:2:0:1::/64); nothing is configured in the root namespace. See docs/lab.md.
            """,
        subcommands: [Up.self, Status.self, Down.self, Doctor.self]
    )
}

extension LabCommand {
    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring the lab up (idempotent: repairs what is missing, changes nothing when up).")

        @OptionGroup var location: LabLocationOptions

        @Option(help: "Emulator: default (QEMU from bookworm-backports), qemu-7.2 (private, loses dirty pages under TCG), or a path to qemu-system-x86_64.")
        var emulator = "default"

        @Option(help: "Accelerator: auto (bounded KVM boot test, else TCG), kvm or tcg.")
        var accel: AcceleratorPreference = .auto

        @Option(help: "Guest to start on src: initramfs (busybox and the host's kernel), debian11 (Debian 11, kernel 5.10), debian (Debian 12, kernel 6.1; also debian12), debian13 (Debian 13, kernel 6.12), or none. Each Debian guest boots its own release's kernel; its image is built once (debootstrap) and cached.")
        var guest = LabGuestChoice(.initramfs)

        @Option(name: .customLong("memory-mib"), help: """
            Guest RAM in MiB (any size, e.g. 2111), at least 64 and at most what lets two QEMUs of that size \
            fit into this machine's memory during a migration.
            """)
        var memoryMiB = 512

        @Option(name: .customLong("memeater-size-mib"),
                help: "Memory memeater manages in the guest, in MiB (default: half the guest RAM).")
        var memeaterSizeMiB: Int?

        @Option(help: "memeater's load in the guest: sequential, random, hotset or hotset:FRACTION:PROBABILITY, optionally followed by /threads=N and /bytes=B.")
        var pattern = "sequential"

        @Option(help: "Static memeater binary to put into the guest (default: $MIGRATION_LAB_MEMEATER, else <package>/.build-static/release/memeater, built or brought up to date first).")
        var memeater: String?

        @Flag(help: "Restart the guest when the running one differs from these options.")
        var replaceGuest = false

        @Option(name: .customLong("guest-count"), help: ArgumentHelp("""
            Run N guests for a host evacuation (`migverify run --guest-count N`): lab-guest-1…N at 198.18.1.11…, each \
            with these options, its own memeater and token; as many as two QEMUs of each fit into this machine's memory. \
            1 is the one guest, lab-guest; guests of another count are removed.
            """, valueName: "N"))
        var guestCount = 1

        @Flag(name: .customLong("no-sshd"), help: "Do not start an sshd per host (qemu+ssh:// URIs then do not work).")
        var noSSHD = false

        func validate() throws {
            do {
                try location.lab.checkStateDirectoryIsTheLabs()
            } catch {
                throw ValidationError("--state-directory: \(error.reason)")
            }
            try validateLabGuestMemory([memoryMiB])
            try validateLabGuestCount(guestCount, memoryMiB: memoryMiB)
            if let memeaterSizeMiB, memeaterSizeMiB < 1 || memeaterSizeMiB >= memoryMiB {
                throw ValidationError("--memeater-size-mib must be at least 1 and less than --memory-mib (\(memoryMiB))")
            }
            do {
                _ = try EmulatorChoice(name: emulator)
            } catch let error as LabError {
                throw ValidationError(error.reason)
            }
            do {
                _ = try MemeaterLoad(parsing: pattern)
            } catch {
                throw ValidationError(error.description)
            }
        }

        func run() throws {
            // Before the lab changes: a refused journal is one line, exit 1.
            try location.checkFaultJournal()
            var configuration = location.lab.configuration
            configuration.startSSHDaemons = !noSSHD
            let lab = Lab(configuration: configuration)
            var memeaterPath = memeater
            if memeaterPath == nil, guest.kind != nil {
                // Built (or brought up to date) here: a guest never starts without memeater.
                memeaterPath = try MemeaterBinary.resolve { print("lab up: \($0)…") }
            }
            let options = LabUpOptions(emulator: try EmulatorChoice(name: emulator), accelerator: accel,
                                       guest: guest.kind,
                                       guestMemoryMiB: memoryMiB, memeaterSizeMiB: memeaterSizeMiB,
                                       memeaterPath: memeaterPath, memeaterLoad: try MemeaterLoad(parsing: pattern),
                                       replaceDifferentGuest: replaceGuest, guestCount: guestCount)
            let report = try lab.up(options) { phase in
                print("lab up: \(phase)…")
            }
            if report.actions.isEmpty {
                print("lab up: already up, nothing changed")
            } else {
                for action in report.actions { print("  \(action)") }
            }
            let timings = report.phaseSeconds.map { "\($0.phase) \(String(format: "%.1f", $0.seconds)) s" }
            try location.removeLeftoverFaults()
            print("lab up: done (\(timings.joined(separator: ", ")))")
            print("accelerator: \(report.record.accelerator.accelerator.rawValue) (\(report.record.accelerator.reason)\(report.record.accelerator.cached ? ", cached" : ""))")
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show what runs, where, versions and accelerator.")

        @OptionGroup var location: LabLocationOptions

        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            let status = location.lab.status()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(status), as: UTF8.self))
            } else {
                print(render(status))
            }
            if !status.isUp { throw ExitCode(3) }
        }

        func render(_ status: LabStatus) -> String {
            var lines: [String] = []
            lines.append("lab: \(status.isUp ? "up" : "not up")")
            for (name, present) in status.namespaces.sorted(by: { $0.key < $1.key }) {
                lines.append("  namespace \(name): \(present ? "present" : "missing")")
            }
            if let record = status.record {
                lines.append("emulator: \(record.emulatorName) \(record.emulatorVersion ?? "?") (\(record.emulatorPath))")
                lines.append("accelerator: \(record.accelerator.accelerator.rawValue) (\(record.accelerator.reason))")
            }
            if !status.processes.isEmpty {
                let total = status.processes.reduce(0) { $0 + $1.cpuPercent }
                lines.append("processes: \(formatNumber(total)) % of a core over \(formatNumber(status.usageWindowSeconds)) s in all")
                for process in status.processes.sorted(by: { $0.cpuPercent > $1.cpuPercent }) {
                    lines.append("  \(process.name) (pid \(process.pid)): \(formatNumber(process.cpuPercent)) % CPU, \(process.residentMiB) MiB resident")
                }
            }
            for host in status.hosts {
                lines.append("host \(host.name) \(host.address) on the management network [\(host.namespace)]")
                lines.append("  libvirtd: \(host.libvirtdPID.map { "pid \($0)" } ?? "not running")"
                             + (host.daemon.map { ", libvirt \($0.libvirtVersion), QEMU \($0.hypervisorVersion), hostname \($0.hostname)" } ?? ""))
                if let error = host.daemonError { lines.append("  error: \(error)") }
                lines.append("  sshd: \(host.sshdPID.map { "pid \($0)" } ?? "not running")")
                lines.append("  URIs: \(host.tcpURI)   \(host.sshURI)")
                for (name, state) in host.domains.sorted(by: { $0.key < $1.key }) {
                    lines.append("  domain \(name): \(state)")
                }
            }
            for guest in status.guests {
                let record = guest.record
                lines.append("guest \(record.name) (\(record.kind.rawValue), \(record.memoryMiB) MiB, memeater \(record.memeaterSizeMiB) MiB"
                             + " on port \(record.memeaterPort)) at \(record.address) on the guest network")
                lines.append("  running on: \(guest.runningOn ?? "nowhere"); answers ping: \(guest.answersPing ? "yes" : "no")")
                if let error = guest.pingError { lines.append("  ping: \(error)") }
                // Where to find the token for a look by hand (its first request: {"command":"auth","token":…}).
                let configuration = LabGuestFleet.configuration(location.lab.configuration, named: record.name)
                lines.append("  memeater token: \(configuration.memeaterTokenPath)")
                if let info = guest.memeaterInfo { lines.append("  memeater info: \(info)") }
                if let error = guest.memeaterError { lines.append("  memeater: \(error)") }
                if !record.image.containsMemeater { lines.append("  note: the guest image has no memeater") }
            }
            return lines.joined(separator: "\n")
        }
    }

    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove everything the lab made (idempotent; works after a crash or SIGKILL).")

        @OptionGroup var location: LabLocationOptions

        // Before anything is stopped or removed: down deletes the state directory.
        func validate() throws {
            do {
                try location.lab.checkStateDirectoryIsTheLabs()
            } catch {
                throw ValidationError("--state-directory: \(error.reason)")
            }
        }

        func run() throws {
            try location.removeLeftoverFaults()  // while the daemons still answer; a refused journal stops down here
            let report: LabDownReport
            do {
                report = try location.lab.down()
            } catch {
                throw ValidationError("--state-directory: \(error.reason)")
            }
            try location.removeLeftoverFaults()  // what lived in the lab's namespaces went with them
            if report.actions.isEmpty { print("lab down: nothing to remove") }
            for action in report.actions { print("  \(action)") }
            if !report.leftovers.isEmpty {
                print("lab down: left over:")
                for leftover in report.leftovers { print("  \(leftover)") }
                throw ExitCode.failure
            }
            print("lab down: nothing of the lab is left")
        }
    }

    struct Doctor: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what this machine can do: packages, versions and known issues, KVM.")

        @OptionGroup var location: LabLocationOptions

        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            let findings = location.lab.doctor()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(findings), as: UTF8.self))
                return
            }
            for finding in findings {
                print("[\(finding.verdict.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0))] \(finding.check): \(finding.detail)")
            }
        }
    }
}

