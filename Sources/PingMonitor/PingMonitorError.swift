#if canImport(Glibc)
import Glibc
#endif

/// Everything that stops pingmon, each with the object and the call involved and what the
/// system or libpcap said. `description` is one line, meant to be shown as is.
public enum PingMonitorError: Error, Equatable, CustomStringConvertible {
    /// The target is not a numeric IPv4 or IPv6 address.
    case invalidTarget(String)
    /// The target is an IPv6 address with a zone (`fe80::1%eth0`); the zone is the interface.
    case targetHasZone(String)
    /// The target is outside the networks pingmon may probe.
    case targetNotAllowed(target: IPAddress, allowed: [IPNetwork])
    case targetNotUnicast(target: IPAddress, reason: String)
    /// The target is an IPv4-mapped IPv6 address (`::ffff:0:0/96`), which never appears on the wire.
    case targetIPv4Mapped(target: IPv6Address)
    /// No interface of that name in this network namespace.
    case interfaceNotFound(String)
    /// The probe interval is out of range.
    case intervalOutOfRange(microseconds: Int, minimum: Int, maximum: Int)
    /// A setting is out of range (name, value, what is allowed).
    case invalidSetting(name: String, value: String, expected: String)
    /// Raw sockets and capture need root (or CAP_NET_RAW and CAP_NET_ADMIN).
    case permissionDenied(operation: String, detail: String)
    /// A socket call failed.
    case socketFailed(call: String, interface: String, errno: Int32)
    /// A libpcap call on a live interface failed; `message` is what libpcap said.
    case captureFailed(interface: String, call: String, message: String)
    /// The capture filter did not compile or could not be set.
    case filterFailed(source: String, expression: String, message: String)
    /// The capture delivers a link type pingmon cannot decode.
    case unsupportedLinkType(source: String, linkType: Int32, name: String)
    /// A capture file could not be opened or is not a capture file.
    case captureFileOpenFailed(path: String, message: String)
    /// A capture file broke off or is corrupt part-way.
    case captureFileReadFailed(path: String, packetsRead: Int, message: String)
    /// A capture file could not be written.
    case captureFileWriteFailed(path: String, message: String)
    /// The monitor was asked to start twice, or for a result before it started.
    case invalidState(String)

    public var description: String {
        switch self {
        case .invalidTarget(let text):
            "target '\(text)' is not a numeric IPv4 address or IPv6 address (names are not resolved, so that no DNS query is sent)"
        case .targetHasZone(let text):
            "target '\(text)' has a zone: give the address without its '%...' part; pingmon sends from --interface, which is its zone"
        case .targetIPv4Mapped(let target):
            "target \(target) is an IPv4-mapped IPv6 address (::ffff:0:0/96), which no host answers on the wire: give the IPv4 address \(target.mappedIPv4Address.map(\.description) ?? "?") instead"
        case .targetNotUnicast(let target, let reason):
            "target \(target) is \(reason), not one host: name the guest's unicast address"
        case .targetNotAllowed(let target, let allowed):
            "target \(target) is outside the allowed networks \(allowed.map(\.description).joined(separator: ", ")); widen them with --allowed-networks"
        case .interfaceNotFound(let name):
            "interface '\(name)' does not exist in this network namespace"
        case .intervalOutOfRange(let value, let minimum, let maximum):
            "probe interval \(value) µs is out of range: it must be between \(minimum) and \(maximum) µs"
        case .invalidSetting(let name, let value, let expected):
            "\(name) \(value) is invalid: \(expected)"
        case .permissionDenied(let operation, let detail):
            "permission denied to \(operation): pingmon must run as root (or with CAP_NET_RAW and CAP_NET_ADMIN) (\(detail))"
        case .socketFailed(let call, let interface, let code):
            "\(call) on \(interface) failed: \(errnoDescription(code))"
        case .captureFailed(let interface, let call, let message):
            "capture on \(interface): \(call) failed: \(message)"
        case .filterFailed(let source, let expression, let message):
            "capture filter '\(expression)' on \(source) failed: \(message)"
        case .unsupportedLinkType(let source, let linkType, let name):
            "\(source) has link type \(name) (\(linkType)), which pingmon cannot decode (supported: Ethernet, Linux cooked v1/v2, raw IP, BSD loopback)"
        case .captureFileOpenFailed(let path, let message):
            "cannot read capture file \(path): \(message)"
        case .captureFileReadFailed(let path, let count, let message):
            "capture file \(path) is damaged after \(count) packets: \(message)"
        case .captureFileWriteFailed(let path, let message):
            "cannot write capture file \(path): \(message)"
        case .invalidState(let message):
            message
        }
    }
}

/// `strerror` text with the errno name's number, e.g. "Operation not permitted (errno 1)".
func errnoDescription(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}
