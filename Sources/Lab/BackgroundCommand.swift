import Foundation

/// A command left running while the caller does something else (a capture during a
/// migration): its standard output goes to a file, its standard error is collected, and its
/// standard input is a pipe that only ``stop(graceSeconds:)`` closes.
///
/// Closing standard input is how it is told to end, so that the same stop works on this
/// machine, in a network namespace and over ssh, where no signal of ours reaches the far
/// side: a script run this way reads its standard input and ends what it started when that
/// ends. The end of file also comes when this process dies outright, so nothing outlives it.
/// The command runs in a process group of its own (`POSIX_SPAWN_SETPGROUP`). Its exit is
/// observed without reaping it (`waitid` with `WNOWAIT`), so until ``stop(graceSeconds:)``
/// reaps it, its process id and group id cannot be given to another process: when it does
/// not end within the grace time the group is sent SIGTERM, then SIGKILL, and whatever is
/// left of the group is killed before the command is reaped. No other process can be hit.
public final class BackgroundCommand: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `lock`.
    /// The command as started.
    public let command: [String]
    /// The child's process id, which is also its process group's id.
    public let processID: pid_t

    private let lock = NSLock()
    /// The write end of the child's standard input; -1 once closed.
    private var inputDescriptor: Int32
    /// Its exit status once it ended (128 + signal when a signal ended it), seen but not reaped.
    private var status: Int32?
    /// Reaped (by ``stop(graceSeconds:)``): its ids are no longer ours.
    private var reaped = false
    /// Its standard error, read on a thread of its own.
    private let errors: OutputCollector
    private var readerFinished = false

    /// At most this much of the standard error is kept (the last of it is dropped).
    public static let errorOutputLimitBytes = 65_536

    private init(command: [String], processID: pid_t, inputDescriptor: Int32, errors: OutputCollector) {
        self.command = command
        self.processID = processID
        self.inputDescriptor = inputDescriptor
        self.errors = errors
    }

    /// Starts `command` with its standard output written to a new file at
    /// `standardOutputPath` (created with mode 0600, truncated if it exists; a symbolic link
    /// there is refused), in a process group of its own.
    ///
    /// - Throws: ``LabError`` naming `step` when the file cannot be created or the command
    ///   cannot be started.
    public static func start(_ command: [String], step: String, standardOutputPath: String) throws -> BackgroundCommand {
        guard let name = command.first else { throw LabError(step: step, reason: "empty command") }
        guard let executable = CommandRunner.locate(name) else {
            throw LabError(step: step, reason: "command '\(name)' not found on \(CommandRunner.searchPath)", command: command)
        }
        let output = open(standardOutputPath, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard output >= 0 else {
            throw LabError(step: step, reason: "cannot create \(standardOutputPath): \(String(cString: strerror(errno)))", command: command)
        }
        defer { close(output) }
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = CommandRunner.searchPath
        environment["LC_ALL"] = "C"

        CommandRunner.spawnLock.lock()
        var inputPipe: [Int32] = [-1, -1]
        var errorPipe: [Int32] = [-1, -1]
        guard pipe(&inputPipe) == 0, pipe(&errorPipe) == 0 else {
            let reason = String(cString: strerror(errno))
            for descriptor in inputPipe + errorPipe where descriptor >= 0 { close(descriptor) }
            CommandRunner.spawnLock.unlock()
            throw LabError(step: step, reason: "pipe: \(reason)", command: command)
        }
        for descriptor in inputPipe + errorPipe { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        let spawned = CommandRunner.spawn(executable, command, environment: environment, input: inputPipe[0], output: output,
                                          error: errorPipe[1], ownProcessGroup: true)
        close(inputPipe[0])
        close(errorPipe[1])
        CommandRunner.spawnLock.unlock()
        let pid: pid_t
        switch spawned {
        case .success(let started): pid = started
        case .failure(let failure):
            close(inputPipe[1])
            close(errorPipe[0])
            throw LabError(step: step, reason: "could not start \(executable): \(String(cString: strerror(failure.code)))", command: command)
        }
        let errors = OutputCollector.start(reading: [errorPipe[0]], limitBytes: errorOutputLimitBytes,
                                           threadName: "background-command-stderr")
        return BackgroundCommand(command: command, processID: pid, inputDescriptor: inputPipe[1], errors: errors)
    }

    deinit {
        _ = stop(graceSeconds: 0)
    }

    /// What it has printed on standard error so far; once ``exitStatus`` is set, all of it
    /// (unless something it started holds its standard error open for more than 2 s).
    public var errorOutput: String { errors.text(0) }

    /// Its exit status once it has ended; `nil` while it runs. Not reaped here: see the type.
    public var exitStatus: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return observeLocked()
    }

    /// Ends the command and returns its exit status: closes its standard input, waits up to
    /// `graceSeconds` for it to end, then sends its process group SIGTERM and, 2 s later,
    /// SIGKILL; kills whatever is left of its group and reaps it. Idempotent: a second call
    /// returns the same status.
    @discardableResult
    public func stop(graceSeconds: Double) -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if inputDescriptor >= 0 {
            close(inputDescriptor)
            inputDescriptor = -1
        }
        if reaped { return status ?? -1 }
        if waitLocked(seconds: graceSeconds) == nil {
            kill(-processID, SIGTERM)
            if waitLocked(seconds: 2) == nil { kill(-processID, SIGKILL) }
        }
        // The leader is not reaped yet, so the group id is still this command's.
        kill(-processID, SIGKILL)
        var raw: Int32 = 0
        while waitpid(processID, &raw, 0) < 0 && errno == EINTR {}
        reaped = true
        if status == nil {
            let signal = raw & 0x7f
            status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
        }
        finishReadingLocked()
        return status ?? -1
    }

    /// Polls for the exit for up to `seconds`.
    private func waitLocked(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let status = observeLocked() { return status }
            if Date() >= deadline { return nil }
            usleep(5_000)
        }
    }

    /// The exit status if the command has ended, seen with `WNOWAIT`: it stays a zombie.
    private func observeLocked() -> Int32? {
        if let status { return status }
        var info = siginfo_t()
        while waitid(P_PID, id_t(processID), &info, WEXITED | WNOHANG | WNOWAIT) < 0 {
            guard errno == EINTR else {
                status = -1  // not our child any more: nothing left to wait for
                return status
            }
        }
        guard info._sifields._sigchld.si_pid == processID else { return nil }
        let value = info._sifields._sigchld.si_status
        status = info.si_code == Int32(CLD_EXITED) ? value : 128 + value
        finishReadingLocked()
        return status
    }

    /// Waits (once, at most 2 s) for the standard error to end, so that it is whole.
    private func finishReadingLocked() {
        guard !readerFinished else { return }
        readerFinished = true
        if !errors.waitForEnd(timeoutSeconds: 2) { errors.requestStop() }
    }
}
