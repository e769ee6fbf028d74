import Foundation

extension Lab {
    /// Processes of the lab that are still alive: those recorded in the journal (same PID
    /// and start time), every process inside a lab namespace, and a KVM probe QEMU writing
    /// its console into the state directory (it runs outside the namespaces and is not
    /// journaled; a crash during the probe leaves it). Never a process merely because its
    /// command line mentions the state directory: `--state-directory /usr` would match
    /// half the machine.
    public func labProcesses() -> [Int32] {
        var pids = Set<Int32>()
        for case .process(let pid, let start, _) in journal.resources() where ProcessTable.isSameProcess(pid, startTime: start) {
            pids.insert(pid)
        }
        for namespace in labNamespacesPresent() {
            pids.formUnion(ProcessTable.processes(inNamespace: namespace))
        }
        if FileManager.default.fileExists(atPath: configuration.journalPath) {
            // The probe's exact serial argument, a file only the lab writes.
            for pid in ProcessTable.processes(commandLineContaining: " -serial file:\(configuration.acceleratorProbeConsolePath) ")
            where ProcessTable.name(of: pid)?.hasPrefix("qemu-system") == true {
                pids.insert(pid)
            }
        }
        pids.remove(getpid())
        return pids.sorted()
    }

    /// Throws unless ``LabConfiguration/stateDirectory`` is absent, empty, or a directory
    /// (not a symbolic link) holding the lab's journal: `lab down` deletes that directory
    /// and stops what the journal names, so it must never act on some other directory
    /// (`--state-directory /usr`).
    public func checkStateDirectoryIsTheLabs() throws(LabError) {
        let path = configuration.stateDirectory
        let step = "check that \(path) is the lab's state directory"
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw LabError(step: step, reason: "cannot inspect \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw LabError(step: step, reason: "\(path) is not a directory (a lab's state directory is one): nothing was touched")
        }
        var journalInfo = stat()
        if lstat(configuration.journalPath, &journalInfo) == 0, journalInfo.st_mode & S_IFMT == S_IFREG { return }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [""]
        guard entries.isEmpty else {
            throw LabError(step: step, reason: "\(path) holds no lab journal (\(configuration.journalPath)): not a lab's state directory, nothing was touched")
        }
    }

    /// The lab's namespaces that exist now (configured ones and any recorded in the journal).
    public func labNamespacesPresent() -> [String] {
        var names = configuration.namespaces
        for case .namespace(let name) in journal.resources() where !names.contains(name) { names.append(name) }
        return names.filter(NetworkNamespace.exists)
    }

    /// Removes everything the lab made: kills its processes (daemons, QEMU, sshd), deletes
    /// its namespaces (with their bridges, veths and taps), removes the directories it
    /// created and its state directory. Idempotent; works without a running daemon and
    /// after a crash. The cache (built images, private emulators) is kept.
    ///
    /// - Throws: ``LabError`` before touching anything when the state directory is not the
    ///   lab's (``checkStateDirectoryIsTheLabs()``).
    @discardableResult
    public func down() throws(LabError) -> LabDownReport {
        try checkStateDirectoryIsTheLabs()
        var actions: [String] = []
        let processes = labProcesses()
        if !processes.isEmpty {
            let described = processes.map { "\($0) \(ProcessTable.name(of: $0) ?? "?")" }
            let survivors = ProcessTable.terminate(processes)
            actions.append("stopped processes: \(described.joined(separator: ", "))"
                           + (survivors.isEmpty ? "" : " (still alive: \(survivors))"))
        }
        for namespace in labNamespacesPresent() {
            // Anything that entered the namespace after the sweep above.
            ProcessTable.terminate(ProcessTable.processes(inNamespace: namespace))
            let result = try? CommandRunner.capture(["ip", "netns", "delete", namespace], step: "delete namespace \(namespace)")
            actions.append(result?.succeeded == true ? "deleted namespace \(namespace)"
                           : "could not delete namespace \(namespace): \(result?.transcript.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")")
        }
        // Mount points such as /run/libvirt stay while any libvirtd or sshd runs: another lab
        // (or the system's daemon) may have mounted over them in its own mount namespace.
        let mountPointInUse = ProcessTable.allProcesses().contains {
            ProcessTable.isAlive($0) && ["libvirtd", "sshd"].contains(ProcessTable.name(of: $0) ?? "")
        }
        for case .directory(let path) in journal.resources().reversed() where !mountPointInUse {
            if (try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty == true {
                try? FileManager.default.removeItem(atPath: path)
                actions.append("removed directory \(path)")
            }
        }
        if FileManager.default.fileExists(atPath: configuration.stateDirectory) {
            do {
                try FileManager.default.removeItem(atPath: configuration.stateDirectory)
                actions.append("removed \(configuration.stateDirectory)")
            } catch {
                actions.append("could not remove \(configuration.stateDirectory): \(error)")
            }
        }
        return LabDownReport(actions: actions, leftovers: leftovers())
    }

    /// Everything of the lab that exists now, one line per thing: namespaces, processes,
    /// lab interfaces in the root namespace, mounts, and the state directory. Empty after
    /// a clean `lab down`.
    public func leftovers() -> [String] {
        var found: [String] = []
        for namespace in labNamespacesPresent() { found.append("namespace \(namespace)") }
        for pid in labProcesses() {
            found.append("process \(pid) \(ProcessTable.name(of: pid) ?? "?"): \(ProcessTable.commandLine(of: pid) ?? "")")
        }
        let labInterfaceNames = Topology.interfaceNames(configuration)
        if let links = try? CommandRunner.capture(["ip", "-o", "link", "show"], step: "list root namespace links") {
            for line in links.output.split(whereSeparator: \.isNewline) {
                let fields = line.split(separator: ":")
                guard fields.count > 1 else { continue }
                let name = fields[1].trimmingCharacters(in: .whitespaces).split(separator: "@").first.map(String.init) ?? ""
                if labInterfaceNames.contains(name) { found.append("interface \(name) in the root namespace") }
            }
        }
        if let mounts = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) {
            for line in mounts.split(whereSeparator: \.isNewline)
            where line.contains(configuration.stateDirectory) || line.contains("/run/netns/\(configuration.namePrefix)-") {
                found.append("mount \(line)")
            }
        }
        if FileManager.default.fileExists(atPath: configuration.stateDirectory) {
            found.append("directory \(configuration.stateDirectory)")
        }
        for case .directory(let path) in journal.resources() where FileManager.default.fileExists(atPath: path) {
            found.append("directory \(path)")
        }
        return found
    }
}
