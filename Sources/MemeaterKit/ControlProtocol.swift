import CMemeater

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Version of memeater's control protocol; clients can check it with `info`. Version 2
/// added `auth`: a server that requires a token obeys nothing before it; version 3 `history`.
public let controlProtocolVersion = 3

/// A command of the control protocol; the raw value is the `command` string on the wire.
public enum ControlCommand: String, Codable, Sendable, CaseIterable {
    /// The connection's first request when the server requires a token (`token`); a wrong
    /// or missing token gets one error reply and the connection is closed.
    case auth
    /// Static facts: boot id, uptime, region (reply: `info`).
    case info
    /// The latest progress record and the bad pages found so far (reply: `stats`, `badPages`).
    case stats
    /// A new target rate: exactly one of `mibPerSecond` or `pagesPerSecond`.
    case setRate = "set-rate"
    /// The workers stop dirtying; the region keeps its contents.
    case pause
    /// The workers dirty again at the set rate.
    case resume
    /// Every page checked (reply: `verification`).
    case verifyAll = "verify-all"
    /// The largest loop gap seen so far starts again from 0.
    case resetStall = "reset-stall"
    /// Spoils one page (`page`, optional `byteOffset`): fault injection for testing the checks,
    /// refused unless the server was started with `--allow-fault-injection`.
    case corruptPage = "corrupt-page"
    /// memeater replies, then stops.
    case stop
    /// The unique-page counter at each progress report of the last ten minutes, on the
    /// guest's clock (reply: `history`, `guestMonotonicNanoseconds`).
    case history
}

/// One request line of the control protocol: a JSON object with a `command` (see
/// ``ControlCommand``) and the arguments that command takes. Clients encode it; the server
/// reads a line with ``decode(line:limits:)``, which checks every field before anything converts.
/// Anything else gets an error reply and the server keeps running.
public struct ControlRequest: Encodable, Sendable, Equatable {
    public var command: ControlCommand
    public var mibPerSecond: Double?
    public var pagesPerSecond: Double?
    public var page: Int?
    public var byteOffset: Int?
    /// The control token (`auth` only).
    public var token: String?

    public init(command: ControlCommand, mibPerSecond: Double? = nil, pagesPerSecond: Double? = nil, page: Int? = nil,
                byteOffset: Int? = nil, token: String? = nil) {
        self.command = command
        self.mibPerSecond = mibPerSecond
        self.pagesPerSecond = pagesPerSecond
        self.page = page
        self.byteOffset = byteOffset
        self.token = token
    }

    /// The `auth` request that presents `token`.
    public static func auth(_ token: ControlToken) -> ControlRequest {
        ControlRequest(command: .auth, token: token.text)
    }
}

/// Static facts about the running memeater and its guest.
public struct ControlInfo: Codable, Sendable, Equatable {
    public var protocolVersion: Int
    public var pid: Int
    /// Changes when the guest reboots; stays across a migration.
    public var bootId: String?
    public var uptimeSeconds: Double?
    public var sizeMiB: Int
    public var pageSizeBytes: Int
    public var pageCount: Int
    public var threads: Int
    public var pattern: PagePattern
    public var bytesPerWrite: Int
    public var seed: UInt64
    /// Whether `corrupt-page` is obeyed (`serve --allow-fault-injection`); `nil` from a
    /// memeater older than protocol version 2, which always obeyed it.
    public var faultInjectionAllowed: Bool?
    /// Whether clients must present a token (`false`: `serve --no-auth`); `nil` from a
    /// memeater older than protocol version 2, which required none.
    public var tokenRequired: Bool?
    /// The guest's OS (`PRETTY_NAME` of /etc/os-release, or "no /etc/os-release") and kernel
    /// release (`uname -r`); `nil` from an older memeater.
    public var operatingSystem: String?
    public var kernelRelease: String?
}

/// One reply line. `ok` is false exactly when `error` is set.
public struct ControlReply: Codable, Sendable, Equatable {
    public var ok: Bool
    /// The request's `command` string, echoed (also when it is unknown; absent when the
    /// request was malformed).
    public var command: String?
    public var error: String?
    public var info: ControlInfo?
    public var stats: ProgressRecord?
    public var badPages: [BadPage]?
    public var verification: VerificationReport?
    /// The guest's CLOCK_MONOTONIC when memeater answered `stats`, ns. A paused VM's clock
    /// stops, so two readings around a migration, against the host's clock, say how long the
    /// guest did not run (``GuestLoadDuringMigration/guestClockLag`` in the verifier).
    public var guestMonotonicNanoseconds: UInt64?
    /// The counter's recent samples, oldest first (`history`).
    public var history: [RateHistorySample]?

    public static func failure(_ message: String, command: String? = nil) -> ControlReply {
        ControlReply(ok: false, command: command, error: message)
    }
}

/// Who may send requests to `memeater serve`.
public enum ControlAccess: Sendable {
    /// Only a client whose first request is `auth` with this token (`serve --token-file`/`--token`).
    case token(ControlToken)
    /// Anyone who can connect (`serve --no-auth`); an `auth` request is answered ok with its
    /// token unchecked (only its form is), so a client that always presents a token works here too.
    case open
}

/// What the server does with a connection after sending a reply.
public enum ControlAfterReply: Sendable, Equatable {
    /// Reads the next request.
    case serveNext
    /// Closes the connection (a failed or missing authentication): the client learns why
    /// from the reply and nothing it sent ran.
    case close
    /// Closes the connection and stops memeater (`stop`).
    case stop
}

/// One connection's state: whether its client has authenticated yet.
public struct ControlConnectionState: Sendable, Equatable {
    /// True once the client presented the token (from the start with ``ControlAccess/open``).
    public internal(set) var isAuthenticated: Bool

    /// A new connection under `access`.
    public init(access: ControlAccess) {
        if case .open = access { isAuthenticated = true } else { isAuthenticated = false }
    }
}

/// Turns request lines into actions on a session and reply lines. Holds no connection state
/// (that is the caller's ``ControlConnectionState``), so one handler serves every client.
public struct ControlHandler: Sendable {
    public let session: MemeaterSession
    /// Who may send requests.
    public let access: ControlAccess
    /// Whether `corrupt-page` is obeyed: fault injection must be asked for when serve starts,
    /// so that a guest on a real network cannot be made to report an integrity failure.
    public let allowsFaultInjection: Bool
    /// Called once when a client asks memeater to stop, after the reply is built.
    public let onStop: @Sendable () -> Void
    /// The ranges of the session's region that requests are checked against.
    public let limits: ControlRequestLimits

    public init(session: MemeaterSession, access: ControlAccess, allowsFaultInjection: Bool = false,
                onStop: @escaping @Sendable () -> Void) {
        self.session = session
        limits = ControlRequestLimits(engine: session.engine)
        self.access = access
        self.allowsFaultInjection = allowsFaultInjection
        self.onStop = onStop
    }

    /// Handles one line (without its newline) on a connection in `state`, and returns the
    /// reply line (without newline) and what to do with the connection next. The line is
    /// checked whole before anything runs (``ControlRequest/decode(line:limits:)``): a bad
    /// field gets a reply naming it and its range. Before the client has authenticated, only
    /// a correct `auth` is obeyed; anything else is refused with one reply and `.close`, and
    /// runs nothing.
    public func reply(toLine line: Substring, connection state: inout ControlConnectionState) -> (reply: String, then: ControlAfterReply) {
        let request: ControlRequest
        do {
            request = try ControlRequest.decode(line: line, limits: limits)
        } catch {
            if error.command == .auth, case .token = access {
                // A token that cannot be one fails like a wrong one (and says why).
                state.isAuthenticated = false
                return (encodeLine(ControlReply.failure("\(Self.authenticationFailed) (\(error))", command: "auth")), .close)
            }
            guard state.isAuthenticated else { return (encodeLine(Self.notAuthenticated), .close) }
            return (encodeLine(ControlReply.failure(error.description, command: error.commandText)), .serveNext)
        }
        if request.command == .auth {
            guard authenticates(request.token) else {
                state.isAuthenticated = false
                return (encodeLine(ControlReply.failure(Self.authenticationFailed, command: "auth")), .close)
            }
            state.isAuthenticated = true
            return (encodeLine(ControlReply(ok: true, command: "auth")), .serveNext)
        }
        guard state.isAuthenticated else { return (encodeLine(Self.notAuthenticated), .close) }
        let (reply, stop) = handle(request)
        return (encodeLine(reply), stop ? .stop : .serveNext)
    }

    static let authenticationFailed = "authentication failed: wrong or missing token"

    /// The reply to any request before `auth`: no command is named, so none seems to have run.
    static let notAuthenticated = ControlReply.failure(
        #"not authenticated: the first request must be {"command":"auth","token":"…"}"#)

    /// Whether an `auth` request's token lets the client in (always with ``ControlAccess/open``).
    private func authenticates(_ token: String?) -> Bool {
        switch access {
        case .open: return true
        case .token(let expected): return expected.matches(token ?? "")
        }
    }

    func handle(_ request: ControlRequest) -> (ControlReply, stop: Bool) {
        let engine = session.engine
        let name = request.command.rawValue
        var reply = ControlReply(ok: true, command: name)
        switch request.command {
        case .info:
            reply.info = ControlInfo(
                protocolVersion: controlProtocolVersion, pid: Int(getpid()), bootId: SystemInfo.bootID(),
                uptimeSeconds: SystemInfo.uptimeSeconds(), sizeMiB: engine.configuration.sizeMiB,
                pageSizeBytes: engine.pageSizeBytes, pageCount: engine.pageCount, threads: engine.configuration.threads,
                pattern: engine.configuration.pattern, bytesPerWrite: engine.configuration.bytesPerWrite,
                seed: engine.configuration.seed, faultInjectionAllowed: allowsFaultInjection, tokenRequired: tokenRequired,
                operatingSystem: SystemInfo.operatingSystem(), kernelRelease: SystemInfo.kernelRelease())
        case .stats:
            reply.stats = session.latestProgress()
            reply.badPages = engine.statistics().badPages
            reply.guestMonotonicNanoseconds = me_monotonic_ns()
        case .setRate:
            let rate: DirtyRate
            switch (request.mibPerSecond, request.pagesPerSecond) {
            case (let mib?, nil): rate = .mibPerSecond(mib)
            case (nil, let pages?): rate = .pagesPerSecond(pages)
            default: return (.failure("set-rate needs exactly one of mibPerSecond or pagesPerSecond", command: name), false)
            }
            do {
                try engine.setRate(rate)
            } catch {
                return (.failure(error.description, command: name), false)
            }
        case .pause:
            engine.isPaused = true
        case .resume:
            engine.isPaused = false
        case .verifyAll:
            reply.verification = session.verifyAll()
        case .resetStall:
            engine.resetMaxStall()
        case .auth:
            // Answered by reply(toLine:connection:) before a request gets here.
            break
        case .corruptPage:
            guard allowsFaultInjection else {
                return (.failure("corrupt-page is fault injection, refused: this memeater was started without --allow-fault-injection",
                                 command: name), false)
            }
            guard let page = request.page else { return (.failure("corrupt-page needs a page", command: name), false) }
            do {
                try engine.corruptPage(page, byteOffset: request.byteOffset ?? 0)
            } catch {
                return (.failure(error.description, command: name), false)
            }
        case .stop:
            return (reply, true)
        case .history:
            reply.history = session.history()
            reply.guestMonotonicNanoseconds = me_monotonic_ns()
        }
        return (reply, false)
    }
}

extension ControlHandler {
    /// Whether clients must present a token.
    public var tokenRequired: Bool {
        if case .token = access { return true }
        return false
    }
}

/// Encodes a value as one line of JSON (no newline), keys sorted so that output is stable.
public func encodeLine<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    guard let data = try? encoder.encode(value) else { return #"{"ok":false,"error":"cannot encode reply"}"# }
    return String(decoding: data, as: UTF8.self)
}
