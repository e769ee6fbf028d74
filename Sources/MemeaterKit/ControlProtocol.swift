#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Version of memeater's control protocol; clients can check it with `info`.
public let controlProtocolVersion = 1

/// A command of the control protocol; the raw value is the `command` string on the wire.
public enum ControlCommand: String, Codable, Sendable, CaseIterable {
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
    /// Spoils one page (`page`, optional `byteOffset`): fault injection for testing the checks.
    case corruptPage = "corrupt-page"
    /// memeater replies, then stops.
    case stop
}

/// A request whose `command` is a string memeater does not know. Thrown while decoding a
/// ``ControlRequest``, so that the server can name the command in its error reply.
public struct UnknownControlCommand: Error, Sendable, Equatable, CustomStringConvertible {
    /// The `command` string as the client sent it.
    public var command: String

    public init(command: String) {
        self.command = command
    }

    public var description: String { "unknown command \"\(command)\"" }
}

/// One request line of the control protocol: a JSON object with a `command` (see
/// ``ControlCommand``) and the arguments that command takes. Anything else gets an error reply
/// and the server keeps running.
public struct ControlRequest: Codable, Sendable, Equatable {
    public var command: ControlCommand
    public var mibPerSecond: Double?
    public var pagesPerSecond: Double?
    public var page: Int?
    public var byteOffset: Int?

    public init(command: ControlCommand, mibPerSecond: Double? = nil, pagesPerSecond: Double? = nil, page: Int? = nil,
                byteOffset: Int? = nil) {
        self.command = command
        self.mibPerSecond = mibPerSecond
        self.pagesPerSecond = pagesPerSecond
        self.page = page
        self.byteOffset = byteOffset
    }

    private enum CodingKeys: String, CodingKey {
        case command, mibPerSecond, pagesPerSecond, page, byteOffset
    }

    /// Decodes a request; a `command` string that is no ``ControlCommand`` throws
    /// ``UnknownControlCommand`` (not a `DecodingError`), so the reply can name it.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .command)
        guard let command = ControlCommand(rawValue: text) else { throw UnknownControlCommand(command: text) }
        self.command = command
        mibPerSecond = try container.decodeIfPresent(Double.self, forKey: .mibPerSecond)
        pagesPerSecond = try container.decodeIfPresent(Double.self, forKey: .pagesPerSecond)
        page = try container.decodeIfPresent(Int.self, forKey: .page)
        byteOffset = try container.decodeIfPresent(Int.self, forKey: .byteOffset)
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

    public static func failure(_ message: String, command: String? = nil) -> ControlReply {
        ControlReply(ok: false, command: command, error: message)
    }
}

/// Turns request lines into actions on a session and reply lines. Holds no connection state,
/// so one handler serves every client.
public struct ControlHandler: Sendable {
    public let session: MemeaterSession
    /// Called once when a client asks memeater to stop, after the reply is built.
    public let onStop: @Sendable () -> Void

    public init(session: MemeaterSession, onStop: @escaping @Sendable () -> Void) {
        self.session = session
        self.onStop = onStop
    }

    /// Handles one line (without its newline) and returns the reply line (without newline).
    public func reply(toLine line: Substring) -> (reply: String, stop: Bool) {
        let reply: ControlReply
        var stop = false
        do {
            let request = try JSONDecoder().decode(ControlRequest.self, from: Data(line.utf8))
            (reply, stop) = handle(request)
        } catch let unknown as UnknownControlCommand {
            reply = .failure(unknown.description, command: unknown.command)
        } catch {
            reply = .failure("malformed request: expected one JSON object with a \"command\" per line")
        }
        return (encodeLine(reply), stop)
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
                seed: engine.configuration.seed)
        case .stats:
            reply.stats = session.latestProgress()
            reply.badPages = engine.statistics().badPages
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
        case .corruptPage:
            guard let page = request.page else { return (.failure("corrupt-page needs a page", command: name), false) }
            do {
                try engine.corruptPage(page, byteOffset: request.byteOffset ?? 0)
            } catch {
                return (.failure(error.description, command: name), false)
            }
        case .stop:
            return (reply, true)
        }
        return (reply, false)
    }
}

/// Encodes a value as one line of JSON (no newline), keys sorted so that output is stable.
public func encodeLine<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    guard let data = try? encoder.encode(value) else { return #"{"ok":false,"error":"cannot encode reply"}"# }
    return String(decoding: data, as: UTF8.self)
}
