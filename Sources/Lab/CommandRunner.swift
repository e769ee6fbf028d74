import Foundation

/// What a finished command returned.
public struct CommandResult: Sendable {
    /// The command that ran.
    public var command: [String]
    /// Its exit status (or 128 + signal when it was killed).
    public var exitStatus: Int32
    /// Its standard output only: what callers parse.
    public var output: String
    /// Its standard error: warnings and the reasons for a failure, for messages.
    public var errorOutput: String
    /// Whether it exited with status 0.
    public var succeeded: Bool { exitStatus == 0 }

    /// A result (commands make their own; fakes of a host's shell make theirs).
    public init(command: [String], exitStatus: Int32, output: String, errorOutput: String) {
        self.command = command
        self.exitStatus = exitStatus
        self.output = output
        self.errorOutput = errorOutput
    }

    /// Everything the command printed, for people: standard output, then standard error
    /// under a `standard error:` line (each only when not empty).
    public var transcript: String {
        if errorOutput.isEmpty { return output }
        if output.isEmpty { return errorOutput }
        return output + (output.hasSuffix("\n") ? "" : "\n") + "standard error:\n" + errorOutput
    }
}

/// Runs external commands (`ip`, `nft`, `libvirtd`, `qemu-system-x86_64`, ...) with a
/// timeout, capturing their standard output and standard error apart, and turns failures
/// into ``LabError``s that name the step and show both.
public enum CommandRunner {
    /// The search path used for commands: the sbin directories are included because `ip`,
    /// `libvirtd` and `sshd` live there.
    static let searchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Finds an executable on ``searchPath``; `nil` when absent.
    public static func locate(_ name: String) -> String? {
        if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for directory in searchPath.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Serialises spawning, so that a pipe made for one child never leaks into another
    /// child spawned at the same moment by another thread (``BackgroundCommand`` takes it too).
    static let spawnLock = NSLock()

    /// Runs `command` and returns its result, whatever its exit status: standard output in
    /// ``CommandResult/output``, standard error in ``CommandResult/errorOutput``.
    ///
    /// The child is started with `posix_spawn` (not Foundation's `Process`, which only
    /// notices an exit when every descendant has closed an inherited socket, so a command
    /// that starts a daemon would never end), with default signal dispositions and mask.
    ///
    /// - Parameters:
    ///   - step: what the lab is doing, for error messages.
    ///   - timeoutSeconds: the command is killed (SIGKILL) when it runs longer.
    /// - Throws: ``LabError`` when the command cannot be started or times out.
    @discardableResult
    public static func capture(_ command: [String], step: String, timeoutSeconds: Double = 60,
                               input: String? = nil) throws -> CommandResult {
        guard let name = command.first else {
            throw LabError(step: step, reason: "empty command")
        }
        guard let executable = locate(name) else {
            throw LabError(step: step, reason: "command '\(name)' not found on \(searchPath)", command: command)
        }
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = searchPath
        environment["LC_ALL"] = "C"

        spawnLock.lock()
        var outputPipe: [Int32] = [-1, -1]
        var errorPipe: [Int32] = [-1, -1]
        var inputPipe: [Int32] = [-1, -1]
        guard pipe(&outputPipe) == 0, pipe(&errorPipe) == 0, pipe(&inputPipe) == 0 else {
            let reason = String(cString: strerror(errno))
            for descriptor in outputPipe + errorPipe + inputPipe where descriptor >= 0 { close(descriptor) }
            spawnLock.unlock()
            throw LabError(step: step, reason: "pipe: \(reason)", command: command)
        }
        for descriptor in outputPipe + errorPipe + inputPipe { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        let spawned = spawn(executable, command, environment: environment, input: input != nil ? inputPipe[0] : nil,
                            output: outputPipe[1], error: errorPipe[1], ownProcessGroup: false)
        close(outputPipe[1])
        close(errorPipe[1])
        close(inputPipe[0])
        spawnLock.unlock()
        let pid: pid_t
        switch spawned {
        case .success(let started): pid = started
        case .failure(let failure):
            close(outputPipe[0])
            close(errorPipe[0])
            close(inputPipe[1])
            throw LabError(step: step, reason: "could not start \(executable): \(String(cString: strerror(failure.code)))",
                           command: command)
        }

        // Both pipes are read by one thread polling them together, started before any input
        // is written: a child that fills one pipe while it is not read would wait forever.
        let collected = OutputCollector.start(reading: [outputPipe[0], errorPipe[0]], threadName: "command-output")

        if let input {
            let bytes = Array(input.utf8)
            var written = 0
            while written < bytes.count {
                let count = bytes.withUnsafeBytes { write(inputPipe[1], $0.baseAddress! + written, $0.count - written) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                written += count
            }
        }
        close(inputPipe[1])

        let deadline = Date().addingTimeInterval(timeoutSeconds)
        var status: Int32 = 0
        var exitStatus: Int32?
        while exitStatus == nil {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                let signal = status & 0x7f
                exitStatus = signal == 0 ? (status >> 8) & 0xff : 128 + signal
            } else if result < 0 && errno != EINTR {
                exitStatus = -1
            } else if Date() >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                collected.requestStop()
                _ = collected.waitForEnd(timeoutSeconds: 2)
                throw LabError(step: step, reason: "timed out after \(Int(timeoutSeconds)) s", command: command,
                               output: collected.text(0), errorOutput: collected.text(1))
            } else {
                usleep(5_000)
            }
        }
        // A daemon started by the command may keep the pipes open: stop reading soon.
        if !collected.waitForEnd(timeoutSeconds: 2) {
            collected.requestStop()
            _ = collected.waitForEnd(timeoutSeconds: 1)
        }
        return CommandResult(command: command, exitStatus: exitStatus ?? -1, output: collected.text(0), errorOutput: collected.text(1))
    }

    /// Why `posix_spawn` failed: its error number.
    struct SpawnFailure: Error {
        let code: Int32
    }

    /// Starts `executable` with `arguments` (argv, the name first) and `environment`; standard
    /// input from `input` (`nil`: `/dev/null`), output and error to the given descriptors;
    /// default signal dispositions and an empty signal mask (not the caller's); in a process
    /// group of its own when `ownProcessGroup`. Callers hold ``spawnLock`` while their pipes
    /// are open, so that no other child inherits them.
    static func spawn(_ executable: String, _ arguments: [String], environment: [String: String], input: Int32?,
                      output: Int32, error: Int32, ownProcessGroup: Bool) -> Result<pid_t, SpawnFailure> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input {
            posix_spawn_file_actions_adddup2(&actions, input, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, error, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if ownProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        return result == 0 ? .success(pid) : .failure(SpawnFailure(code: result))
    }

    /// Runs `command` and throws a ``LabError`` naming `step`, the command and what it printed
    /// (standard output and standard error) unless it exits with status 0.
    @discardableResult
    public static func run(_ command: [String], step: String, timeoutSeconds: Double = 60,
                           input: String? = nil) throws -> CommandResult {
        let result = try capture(command, step: step, timeoutSeconds: timeoutSeconds, input: input)
        guard result.succeeded else {
            throw LabError(step: step, reason: "exit status \(result.exitStatus)", command: command,
                           output: result.output, errorOutput: result.errorOutput)
        }
        return result
    }
}
