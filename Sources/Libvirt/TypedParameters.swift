import CLibvirt

/// One value of a libvirt typed parameter (`virTypedParameter`), as read back from libvirt.
public enum TypedParameterValue: Sendable, Equatable, CustomStringConvertible {
    /// `VIR_TYPED_PARAM_INT`: a signed 32-bit integer.
    case int(Int32)
    /// `VIR_TYPED_PARAM_UINT`: an unsigned 32-bit integer.
    case uint(UInt32)
    /// `VIR_TYPED_PARAM_LLONG`: a signed 64-bit integer.
    case long(Int64)
    /// `VIR_TYPED_PARAM_ULLONG`: an unsigned 64-bit integer (most job stats).
    case ulong(UInt64)
    /// `VIR_TYPED_PARAM_DOUBLE`: a double.
    case double(Double)
    /// `VIR_TYPED_PARAM_BOOLEAN`: a boolean.
    case boolean(Bool)
    /// `VIR_TYPED_PARAM_STRING`: a string.
    case string(String)

    /// The value as a signed 64-bit integer, when it is an integer type that fits.
    public var int64Value: Int64? {
        switch self {
        case .int(let v): return Int64(v)
        case .uint(let v): return Int64(v)
        case .long(let v): return v
        case .ulong(let v): return v <= UInt64(Int64.max) ? Int64(v) : nil
        case .boolean(let v): return v ? 1 : 0
        case .double, .string: return nil
        }
    }

    /// The value as an unsigned 64-bit integer, when it is a non-negative integer.
    public var uint64Value: UInt64? {
        switch self {
        case .int(let v): return v >= 0 ? UInt64(v) : nil
        case .uint(let v): return UInt64(v)
        case .long(let v): return v >= 0 ? UInt64(v) : nil
        case .ulong(let v): return v
        case .boolean(let v): return v ? 1 : 0
        case .double, .string: return nil
        }
    }

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .uint(let v): return String(v)
        case .long(let v): return String(v)
        case .ulong(let v): return String(v)
        case .double(let v): return String(v)
        case .boolean(let v): return String(v)
        case .string(let v): return v
        }
    }
}

/// A list of typed parameters being built for a libvirt call; frees itself.
final class TypedParameterList {
    private(set) var parameters: virTypedParameterPtr?
    private(set) var count: Int32 = 0
    private var capacity: Int32 = 0

    init() {}

    deinit {
        if let parameters { virTypedParamsFree(parameters, count) }
    }

    func add(_ name: String, string value: String) throws {
        try check(name, virTypedParamsAddString(&parameters, &count, &capacity, name, value))
    }

    func add(_ name: String, uint64 value: UInt64) throws {
        try check(name, virTypedParamsAddULLong(&parameters, &count, &capacity, name, value))
    }

    func add(_ name: String, int32 value: Int32) throws {
        try check(name, virTypedParamsAddInt(&parameters, &count, &capacity, name, value))
    }

    private func check(_ name: String, _ result: Int32) throws {
        if result < 0 {
            throw LibvirtError.last(call: "virTypedParamsAdd(\(name))", uri: nil, domainName: nil)
        }
    }
}

/// Reads an array of typed parameters that libvirt allocated into name/value pairs.
func readTypedParameters(_ parameters: virTypedParameterPtr?, count: Int32) -> [String: TypedParameterValue] {
    guard let parameters, count > 0 else { return [:] }
    var result: [String: TypedParameterValue] = [:]
    for index in 0..<Int(count) {
        var parameter = parameters[index]
        let name = withUnsafeBytes(of: &parameter.field) { raw -> String in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
        let value: TypedParameterValue?
        switch UInt32(bitPattern: parameter.type) {
        case VIR_TYPED_PARAM_INT.rawValue: value = .int(parameter.value.i)
        case VIR_TYPED_PARAM_UINT.rawValue: value = .uint(parameter.value.ui)
        case VIR_TYPED_PARAM_LLONG.rawValue: value = .long(parameter.value.l)
        case VIR_TYPED_PARAM_ULLONG.rawValue: value = .ulong(parameter.value.ul)
        case VIR_TYPED_PARAM_DOUBLE.rawValue: value = .double(parameter.value.d)
        case VIR_TYPED_PARAM_BOOLEAN.rawValue: value = .boolean(parameter.value.b != 0)
        case VIR_TYPED_PARAM_STRING.rawValue: value = parameter.value.s.map { .string(String(cString: $0)) }
        default: value = nil
        }
        if let value { result[name] = value }
    }
    return result
}
