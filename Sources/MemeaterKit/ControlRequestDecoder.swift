/// The ranges a request's numbers are checked against: what this memeater's region allows.
public struct ControlRequestLimits: Sendable, Equatable {
    /// Pages in the region: `page` is below it, `pagesPerSecond` at most it.
    public var pageCount: Int
    /// Bytes per page.
    public var pageSizeBytes: Int
    /// Bytes each write owns at the start of a page: `byteOffset` is below it.
    public var bytesPerWrite: Int

    /// Limits for a region of `pageCount` pages of `pageSizeBytes`, `bytesPerWrite` of each owned.
    public init(pageCount: Int, pageSizeBytes: Int, bytesPerWrite: Int) {
        self.pageCount = pageCount
        self.pageSizeBytes = pageSizeBytes
        self.bytesPerWrite = bytesPerWrite
    }

    /// The limits of `engine`'s region.
    public init(engine: DirtyingEngine) {
        self.init(pageCount: engine.pageCount, pageSizeBytes: engine.pageSizeBytes, bytesPerWrite: engine.configuration.bytesPerWrite)
    }

    /// The largest `mibPerSecond`: every page of the region once a second.
    public var maximumMiBPerSecond: Double { Double(pageCount) * Double(pageSizeBytes) / Double(bytesPerMiB) }

    /// What `field` may hold, as an error reply says it.
    func allowed(_ field: ControlRequestField) -> String {
        switch field {
        case .command:
            return "a string, one of " + ControlCommand.allCases.map(\.rawValue).joined(separator: ", ")
        case .mibPerSecond:
            return "a number from 0 to \(Self.text(maximumMiBPerSecond)) (unique MiB per second, at most the region's size; 0 = as fast as possible)"
        case .pagesPerSecond:
            return "a number from 0 to \(pageCount) (unique pages per second, at most the region's pages; 0 = as fast as possible)"
        case .page:
            return "an integer from 0 to \(pageCount - 1) (a page of the region)"
        case .byteOffset:
            return "an integer from 0 to \(bytesPerWrite - 1) (a byte memeater writes in each page)"
        case .token:
            return "a string of \(ControlToken.minimumLength) to \(ControlToken.maximumLength) printable ASCII characters without spaces"
        }
    }

    /// A limit as text: whole numbers without a fraction.
    private static func text(_ value: Double) -> String {
        // Bounded first: Int(value) traps outside Int's range.
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
    }
}

/// A field of a request line, by its name on the wire.
public enum ControlRequestField: String, Sendable, CaseIterable {
    case command, mibPerSecond, pagesPerSecond, page, byteOffset, token
}

/// Why a request line was refused: each case names the field and what it may hold, so that
/// the error reply tells the client what to send instead. Nothing of a refused request runs.
public enum ControlRequestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not one JSON object on the line (the reason says where it went wrong).
    case malformed(String)
    /// A field named twice: which one counts would depend on the parser.
    case duplicateField(String)
    /// A field no command takes (its name escaped and cut short).
    case unknownField(String)
    /// No `command` field.
    case missingCommand
    /// A `command` string memeater does not know (escaped and cut short).
    case unknownCommand(String)
    /// A field of the protocol that this command does not take.
    case fieldNotTaken(command: ControlCommand, field: ControlRequestField)
    /// A field this command needs.
    case fieldMissing(command: ControlCommand, field: ControlRequestField, allowed: String)
    /// `set-rate` with both rates or none.
    case rateNotExactlyOne
    /// A value of the wrong type or out of range: the field, what it may hold, what came.
    case invalidField(command: ControlCommand?, field: ControlRequestField, allowed: String, got: String)

    /// The command the request named, when it was one memeater knows.
    public var command: ControlCommand? {
        switch self {
        case .fieldNotTaken(let command, _), .fieldMissing(let command, _, _): return command
        case .rateNotExactlyOne: return .setRate
        case .invalidField(let command, _, _, _): return command
        case .malformed, .duplicateField, .unknownField, .missingCommand, .unknownCommand: return nil
        }
    }

    /// The `command` string the reply echoes: a known command's, or an unknown one's as shown.
    public var commandText: String? {
        if case .unknownCommand(let text) = self { return text }
        return command?.rawValue
    }

    public var description: String {
        switch self {
        case .malformed(let reason):
            return "malformed request: expected one JSON object with a \"command\" per line (\(reason))"
        case .duplicateField(let name):
            return "malformed request: field \(name) appears twice (a request names each field once)"
        case .unknownField(let name):
            return "unknown field \"\(name)\" (a request's fields: "
                + ControlRequestField.allCases.map(\.rawValue).joined(separator: ", ") + ")"
        case .missingCommand:
            return "malformed request: no \"command\" field"
        case .unknownCommand(let text):
            return "unknown command \"\(text)\" (commands: " + ControlCommand.allCases.map(\.rawValue).joined(separator: ", ") + ")"
        case .fieldNotTaken(let command, let field):
            let taken = command.fields.map(\.rawValue)
            return "\(command.rawValue) takes no \(field.rawValue)" + (taken.isEmpty ? " (it takes no field)" : " (its fields: \(taken.joined(separator: ", ")))")
        case .fieldMissing(let command, let field, let allowed):
            return "\(command.rawValue) needs a \(field.rawValue): \(allowed)"
        case .rateNotExactlyOne:
            return "set-rate needs exactly one of mibPerSecond or pagesPerSecond"
        case .invalidField(let command, let field, let allowed, let got):
            return (command.map { "\($0.rawValue): " } ?? "") + "\(field.rawValue) must be \(allowed), got \(got)"
        }
    }
}

extension ControlCommand {
    /// The fields besides `command` that this command takes.
    public var fields: [ControlRequestField] {
        switch self {
        case .auth: return [.token]
        case .setRate: return [.mibPerSecond, .pagesPerSecond]
        case .corruptPage: return [.page, .byteOffset]
        case .info, .stats, .pause, .resume, .verifyAll, .resetStall, .stop, .history: return []
        }
    }
}

extension ControlRequest {
    /// Reads one request line as the server does, checking every field before any value is
    /// converted: the line must be one JSON object whose values are strings, numbers, `true`,
    /// `false` or `null` (no request field holds an array or an object, so nothing nests),
    /// each field named once and known, taken by the command, of its type and in its range
    /// under `limits`. A number meant as an integer must be written as one (`77`, not `77.0`
    /// or `7.7e1`); `-0` is 0.
    public static func decode(line: Substring, limits: ControlRequestLimits) throws(ControlRequestError) -> ControlRequest {
        let fields = try WireObjectReader.fields(of: line, limits: limits)
        guard let commandValue = fields[.command] else { throw .missingCommand }
        guard case .string(let commandText) = commandValue else {
            throw .invalidField(command: nil, field: .command, allowed: limits.allowed(.command), got: commandValue.shown)
        }
        guard let command = ControlCommand(rawValue: commandText) else { throw .unknownCommand(TextExcerpt.of(commandText)) }
        for field in ControlRequestField.allCases where field != .command && fields[field] != nil && !command.fields.contains(field) {
            throw .fieldNotTaken(command: command, field: field)
        }
        var request = ControlRequest(command: command)
        switch command {
        case .auth:
            guard let value = fields[.token] else { throw .fieldMissing(command: command, field: .token, allowed: limits.allowed(.token)) }
            request.token = try token(value, limits: limits)
        case .setRate:
            switch (fields[.mibPerSecond], fields[.pagesPerSecond]) {
            case (let mib?, nil):
                request.mibPerSecond = try rate(mib, field: .mibPerSecond, maximum: limits.maximumMiBPerSecond, limits: limits)
            case (nil, let pages?):
                request.pagesPerSecond = try rate(pages, field: .pagesPerSecond, maximum: Double(limits.pageCount), limits: limits)
            default:
                throw .rateNotExactlyOne
            }
        case .corruptPage:
            guard let page = fields[.page] else { throw .fieldMissing(command: command, field: .page, allowed: limits.allowed(.page)) }
            request.page = try integer(page, field: .page, below: limits.pageCount, command: command, limits: limits)
            request.byteOffset = try fields[.byteOffset].map { (value) throws(ControlRequestError) in
                try integer(value, field: .byteOffset, below: limits.bytesPerWrite, command: command, limits: limits)
            }
        case .info, .stats, .pause, .resume, .verifyAll, .resetStall, .stop, .history:
            break
        }
        return request
    }

    /// A rate from 0 to `maximum`; `-0` is 0.
    private static func rate(_ value: WireValue, field: ControlRequestField, maximum: Double,
                             limits: ControlRequestLimits) throws(ControlRequestError) -> Double {
        // The grammar admits no NaN; an exponent too large for a Double reads as infinity,
        // which the upper bound refuses.
        guard case .number(let text) = value, let number = Double(text), number >= 0, number <= maximum else {
            throw .invalidField(command: .setRate, field: field, allowed: limits.allowed(field), got: value.shown)
        }
        return number == 0 ? 0 : number
    }

    /// An integer written as one, from 0 to `upper - 1`.
    private static func integer(_ value: WireValue, field: ControlRequestField, below upper: Int, command: ControlCommand,
                                limits: ControlRequestLimits) throws(ControlRequestError) -> Int {
        // Digits only (and a sign), and few enough of them for an Int: Int(text) then cannot
        // fail, and no Double stands in between to round 2^53 + 1.
        guard case .number(let text) = value, !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), text.utf8.count <= 19,
              let number = Int(text), number >= 0, number < upper else {
            throw .invalidField(command: command, field: field, allowed: limits.allowed(field), got: value.shown)
        }
        return number
    }

    /// A token's text: printable ASCII without spaces, of a token's length. Never echoed.
    private static func token(_ value: WireValue, limits: ControlRequestLimits) throws(ControlRequestError) -> String {
        guard case .string(let text) = value else {
            throw .invalidField(command: .auth, field: .token, allowed: limits.allowed(.token), got: value.kind)
        }
        let length = text.utf8.count
        guard (ControlToken.minimumLength...ControlToken.maximumLength).contains(length),
              text.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else {
            throw .invalidField(command: .auth, field: .token, allowed: limits.allowed(.token), got: "a string of \(length) bytes")
        }
        return text
    }
}
