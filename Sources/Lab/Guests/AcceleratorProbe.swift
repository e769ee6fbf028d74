import Foundation

/// What the lab should use to run guests.
public enum AcceleratorPreference: String, Sendable, Codable, CaseIterable {
    /// Probe KVM with a bounded boot; fall back to TCG.
    case auto
    /// Use KVM without probing.
    case kvm
    /// Use TCG without probing.
    case tcg
}

/// The outcome of deciding the accelerator, with the evidence.
public struct AcceleratorDecision: Sendable, Codable, Equatable {
    /// The accelerator guests run with.
    public var accelerator: Accelerator
    /// Why, in one line (e.g. "KVM probe boot printed nothing within 30 s").
    public var reason: String
    /// Whether the decision came from the cache of an earlier probe.
    public var cached: Bool
}

/// Decides KVM or TCG by booting the guest kernel under KVM for a bounded time.
///
/// On machines whose /dev/kvm is a nesting module that cannot run the stock Debian kernel
/// (`-cpu host` aborts, other models hang in the decompressor), the probe fails fast or
/// times out and the lab uses TCG. A definite result (the marker, or QEMU ending by itself
/// without it) is cached per emulator, kernel and CPU flags; a timeout is not.
struct AcceleratorProbe {
    let configuration: LabConfiguration

    var cachePath: String { "\(configuration.cacheDirectory)/accelerator-probe.json" }

    /// Decisions by probe key (emulator, its version, kernel, CPU flags, KVM modules).
    typealias Cache = [String: AcceleratorDecision]

    /// The accelerator for guests of `image` on `emulatorPath`. `decidedInThisLab` is the
    /// decision the running lab recorded for the same emulator and kernel (its `lab.json`):
    /// an inconclusive probe is not cached, but it is not repeated for every `lab up` of the
    /// same lab either; `lab down` forgets it, and the next lab probes again.
    func decide(preference: AcceleratorPreference, emulatorPath: String, image: GuestImage,
                decidedInThisLab: AcceleratorDecision? = nil) -> AcceleratorDecision {
        switch preference {
        case .kvm: return AcceleratorDecision(accelerator: .kvm, reason: "KVM requested", cached: false)
        case .tcg: return AcceleratorDecision(accelerator: .tcg, reason: "TCG requested", cached: false)
        case .auto: break
        }
        guard FileManager.default.fileExists(atPath: "/dev/kvm") else {
            return AcceleratorDecision(accelerator: .tcg, reason: "/dev/kvm does not exist", cached: false)
        }
        let key = [emulatorPath, EmulatorChoice.version(of: emulatorPath) ?? "?", image.kernelRelease,
                   Self.virtualisationFlags(), Self.kvmModules()].joined(separator: "|")
        var cache = FileManager.default.contents(atPath: cachePath).flatMap { try? JSONDecoder().decode(Cache.self, from: $0) } ?? [:]
        if var decision = cache[key], !Self.isLegacyTimeout(decision) {
            decision.cached = true
            return decision
        }
        if var earlier = decidedInThisLab, Self.isInconclusive(earlier) {
            earlier.cached = true
            return earlier
        }
        let outcome = probe(emulatorPath: emulatorPath, image: image)
        let decision = Self.decision(for: outcome)
        // Only a definite answer is remembered: a probe that ran out of time (a loaded machine)
        // must not pin the lab to TCG for good.
        guard Self.isDefinite(outcome) else { return decision }
        cache[key] = decision
        if let data = try? JSONEncoder().encode(cache) {
            try? FileManager.default.createDirectory(atPath: configuration.cacheDirectory, withIntermediateDirectories: true)
            try? AtomicFile.write(data, to: cachePath)
        }
        return decision
    }

    /// How a KVM probe boot ended.
    enum ProbeOutcome: Equatable {
        /// The guest printed its probe marker: KVM runs this kernel.
        case reachedUserspace
        /// QEMU ended by itself without the marker (it refused KVM, or the guest died):
        /// its exit status and what it said.
        case failed(exitStatus: Int32, said: String)
        /// No answer in time, or QEMU was killed by a signal: says nothing about KVM.
        case inconclusive(String)
    }

    /// The accelerator an outcome implies: KVM only when the probe reached userspace.
    static func decision(for outcome: ProbeOutcome) -> AcceleratorDecision {
        switch outcome {
        case .reachedUserspace:
            return AcceleratorDecision(accelerator: .kvm, reason: "KVM probe boot reached userspace", cached: false)
        case .failed(let status, let said):
            return AcceleratorDecision(accelerator: .tcg, reason: "KVM probe boot failed (exit \(status)\(said.isEmpty ? "" : ": \(said)"))",
                                       cached: false)
        case .inconclusive(let why):
            return AcceleratorDecision(accelerator: .tcg, reason: "KVM probe boot \(why)" + inconclusiveSuffix, cached: false)
        }
    }

    /// Whether an outcome is a definite answer, worth caching: KVM worked, or QEMU itself
    /// ended without the marker. A timeout or a kill under load is not.
    static func isDefinite(_ outcome: ProbeOutcome) -> Bool {
        switch outcome {
        case .reachedUserspace, .failed: return true
        case .inconclusive: return false
        }
    }

    /// Whether `decision` came from an inconclusive probe (``decision(for:)`` says so in its reason).
    static func isInconclusive(_ decision: AcceleratorDecision) -> Bool {
        decision.accelerator == .tcg && decision.reason.hasSuffix(inconclusiveSuffix)
    }

    /// How the reason of an inconclusive decision ends.
    static let inconclusiveSuffix = "; not cached, the next lab probes again"

    /// A timeout cached by an earlier version (which cached every answer): probed again.
    static func isLegacyTimeout(_ decision: AcceleratorDecision) -> Bool {
        decision.accelerator == .tcg && decision.reason.hasPrefix("KVM probe boot printed no marker within")
    }

    /// Boots the image under KVM with `-cpu host` and no network; KVM works when the guest
    /// prints its probe marker before the timeout.
    func probe(emulatorPath: String, image: GuestImage) -> ProbeOutcome {
        let console = configuration.acceleratorProbeConsolePath
        try? FileManager.default.createDirectory(atPath: configuration.stateDirectory, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: console)
        let timeout = configuration.acceleratorProbeTimeoutSeconds
        let command = [emulatorPath, "-accel", "kvm", "-cpu", "host", "-machine", "pc", "-m", "256", "-smp", "1",
                       "-nodefaults", "-display", "none", "-no-reboot", "-nic", "none", "-serial", "file:\(console)",
                       "-kernel", image.kernelPath, "-initrd", image.initrdPath,
                       "-append", "console=ttyS0 panic=-1 lab.probe=1"]
        defer { try? FileManager.default.removeItem(atPath: console) }
        do {
            let result = try CommandRunner.capture(command, step: "probe KVM", timeoutSeconds: timeout)
            let log = (try? String(contentsOfFile: console, encoding: .utf8)) ?? ""
            if log.contains(GuestConsoleMarker.probeOK) { return .reachedUserspace }
            // 128 + N: killed by signal N (the OOM killer, a stray kill), not QEMU's verdict.
            if result.exitStatus > 128 { return .inconclusive("was killed (exit \(result.exitStatus))") }
            // QEMU says why KVM failed on standard error.
            let said = (result.errorOutput.isEmpty ? result.output : result.errorOutput)
                .split(whereSeparator: \.isNewline).prefix(3).joined(separator: " / ")
            return .failed(exitStatus: result.exitStatus, said: said)
        } catch {
            return .inconclusive("printed no marker within \(Int(timeout)) s")
        }
    }

    /// `vmx`/`svm`/`hypervisor` flags of the host CPU.
    static func virtualisationFlags() -> String {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = cpuinfo.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("flags") }) else { return "" }
        return flags.split(separator: " ").filter { ["vmx", "svm", "hypervisor"].contains($0) }.joined(separator: ",")
    }

    /// Loaded KVM modules (e.g. `kvm_intel`, `kvm_pvm`).
    static func kvmModules() -> String {
        guard let modules = try? String(contentsOfFile: "/proc/modules", encoding: .utf8) else { return "" }
        return modules.split(whereSeparator: \.isNewline).compactMap { $0.split(separator: " ").first }
            .filter { $0.hasPrefix("kvm") }.joined(separator: ",")
    }
}
