// The strict reader of one control request line: a flat JSON object of known fields.

/// A value of a request field as the line holds it; a number keeps its text, so that it is
/// range-checked as written before anything converts it.
enum WireValue: Equatable {
    case string(String)
    case number(String)
    case boolean(Bool)
    case null
    /// An array or object: refused where it starts, never read.
    case nested(String)

    /// The value as an error reply shows it: escaped, cut short.
    var shown: String {
        switch self {
        case .string(let text): return "\"\(TextExcerpt.of(text))\""
        case .number(let text): return TextExcerpt.of(text)
        case .boolean(let value): return value ? "true" : "false"
        case .null: return "null"
        case .nested(let kind): return kind
        }
    }

    /// What kind of value it is, without the value (for a token).
    var kind: String {
        switch self {
        case .string: return "a string"
        case .number: return "a number"
        case .boolean: return "a boolean"
        case .null: return "null"
        case .nested(let kind): return kind
        }
    }
}

/// Reads the one JSON object of a request line into its fields, byte by byte: strict JSON
/// (RFC 8259) for everything a request may hold, and nothing beyond. It never recurses (a
/// nested value is refused where it starts), so no input can exhaust the stack, and it
/// stops at the first unknown or repeated field.
struct WireObjectReader {
    private let bytes: [UInt8]
    private var index = 0
    private let limits: ControlRequestLimits

    private init(_ line: Substring, limits: ControlRequestLimits) {
        bytes = Array(line.utf8)
        self.limits = limits
    }

    /// The fields of the object on `line`.
    static func fields(of line: Substring, limits: ControlRequestLimits) throws(ControlRequestError) -> [ControlRequestField: WireValue] {
        var reader = WireObjectReader(line, limits: limits)
        return try reader.object()
    }

    private mutating func object() throws(ControlRequestError) -> [ControlRequestField: WireValue] {
        skipWhitespace()
        guard peek == UInt8(ascii: "{") else { throw malformed(index == bytes.count ? "an empty line" : "not a JSON object") }
        index += 1
        var fields: [ControlRequestField: WireValue] = [:]
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                guard peek == UInt8(ascii: "\"") else { throw malformed("expected a field name") }
                let name = try string()
                guard let field = ControlRequestField(rawValue: name) else { throw .unknownField(TextExcerpt.of(name)) }
                guard fields[field] == nil else { throw .duplicateField(field.rawValue) }
                skipWhitespace()
                guard peek == UInt8(ascii: ":") else { throw malformed("expected : after \"\(field.rawValue)\"") }
                index += 1
                skipWhitespace()
                let value = try value()
                if case .nested(let kind) = value {
                    throw .invalidField(command: nil, field: field, allowed: limits.allowed(field), got: kind)
                }
                fields[field] = value
                skipWhitespace()
                if peek == UInt8(ascii: ",") { index += 1; continue }
                guard peek == UInt8(ascii: "}") else { throw malformed("expected , or } after the value of \(field.rawValue)") }
                index += 1
                break
            }
        }
        skipWhitespace()
        guard index == bytes.count else { throw malformed("text after the object") }
        return fields
    }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d { index += 1 }
    }

    private func malformed(_ reason: String) -> ControlRequestError {
        .malformed(index < bytes.count ? "\(reason) at byte \(index + 1)" : "\(reason) at the end of the line")
    }

    private mutating func value() throws(ControlRequestError) -> WireValue {
        guard let byte = peek else { throw malformed("expected a value") }
        switch byte {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        case UInt8(ascii: "t"): try literal("true"); return .boolean(true)
        case UInt8(ascii: "f"): try literal("false"); return .boolean(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "["): return .nested("an array")
        case UInt8(ascii: "{"): return .nested("an object")
        default: throw malformed("expected a value")
        }
    }

    private mutating func literal(_ word: String) throws(ControlRequestError) {
        let expected = Array(word.utf8)
        guard bytes.count - index >= expected.count, Array(bytes[index..<index + expected.count]) == expected else {
            throw malformed("expected a value")
        }
        index += expected.count
    }

    /// A number's text, checked against JSON's grammar: `-`, an integer part without leading
    /// zeros, an optional fraction and an optional exponent.
    private mutating func number() throws(ControlRequestError) -> String {
        let start = index
        if peek == UInt8(ascii: "-") { index += 1 }
        guard let first = peek, isDigit(first) else { throw malformed("expected a digit") }
        index += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek == UInt8(ascii: ".") {
            index += 1
            guard let digit = peek, isDigit(digit) else { throw malformed("expected a digit after the decimal point") }
            skipDigits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard let digit = peek, isDigit(digit) else { throw malformed("expected a digit in the exponent") }
            skipDigits()
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private mutating func skipDigits() {
        while let byte = peek, isDigit(byte) { index += 1 }
    }

    /// A string's contents, its escapes resolved. A raw control character is refused, as JSON
    /// requires; an escaped one is kept (and later shown escaped, never raw).
    private mutating func string() throws(ControlRequestError) -> String {
        index += 1  // the opening quote
        var scalars = String.UnicodeScalarView()
        var run = index  // start of the bytes not yet copied
        func flush(_ end: Int) {
            scalars.append(contentsOf: String(decoding: bytes[run..<end], as: UTF8.self).unicodeScalars)
        }
        while true {
            guard let byte = peek else { throw malformed("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                flush(index)
                index += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                flush(index)
                index += 1
                scalars.append(try escape())
                run = index
            case 0x00..<0x20:
                throw malformed("a raw control character (U+\(String(byte, radix: 16, uppercase: true))) in a string: JSON needs it escaped")
            default:
                index += 1
            }
        }
    }

    /// One escape after its backslash.
    private mutating func escape() throws(ControlRequestError) -> Unicode.Scalar {
        guard let byte = peek else { throw malformed("unterminated string") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{8}"
        case UInt8(ascii: "f"): return "\u{C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try hexUnit()
            switch unit {
            case 0xD800...0xDBFF:
                // A high surrogate must be followed by its low half.
                guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    throw malformed("a lone surrogate in a \\u escape")
                }
                index += 2
                let low = try hexUnit()
                guard (0xDC00...0xDFFF).contains(low),
                      let scalar = Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)) else {
                    throw malformed("a lone surrogate in a \\u escape")
                }
                return scalar
            case 0xDC00...0xDFFF:
                throw malformed("a lone surrogate in a \\u escape")
            default:
                guard let scalar = Unicode.Scalar(unit) else { throw malformed("an invalid \\u escape") }
                return scalar
            }
        default:
            index -= 1
            throw malformed("an invalid escape")
        }
    }

    /// The four hex digits of a `\u` escape.
    private mutating func hexUnit() throws(ControlRequestError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw malformed("a \\u escape needs four hex digits") }
        var unit: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw malformed("a \\u escape needs four hex digits")
            }
            unit = unit << 4 | UInt32(digit)
            index += 1
        }
        return unit
    }
}
