import Glibc

/// A numeric IPv4 or IPv6 address with a TCP port, as the C socket calls take it.
public enum SocketAddress: Sendable, CustomStringConvertible {
    /// An IPv4 address and port (`AF_INET`).
    case ipv4(sockaddr_in)
    /// An IPv6 address and port (`AF_INET6`).
    case ipv6(sockaddr_in6)

    /// Parses a numeric address (`198.18.0.10`, `2001:2::10`, `::`); `nil` when it is neither.
    public init?(numericHost host: String, port: Int) {
        guard (0...65_535).contains(port) else { return nil }
        let networkPort = in_port_t(UInt16(port).bigEndian)
        var v4 = sockaddr_in()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = networkPort
            self = .ipv4(v4)
            return
        }
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = networkPort
            self = .ipv6(v6)
            return
        }
        return nil
    }

    /// `AF_INET` or `AF_INET6`.
    public var family: Int32 {
        switch self {
        case .ipv4: return AF_INET
        case .ipv6: return AF_INET6
        }
    }

    /// Whether this is the IPv6 unspecified address `::` (every address).
    public var isIPv6Unspecified: Bool {
        guard case .ipv6(let address) = self else { return false }
        return withUnsafeBytes(of: address.sin6_addr) { $0.allSatisfy { $0 == 0 } }
    }

    /// Calls `body` with the C address and its length (for `bind` and `connect`).
    public func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        switch self {
        case .ipv4(var address):
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .ipv6(var address):
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }

    /// The port of the address a socket is bound to (`getsockname`); `nil` if it cannot be read.
    public static func boundPort(of socket: Int32) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        guard result == 0 else { return nil }
        return withUnsafePointer(to: &storage) { pointer -> Int? in
            switch Int32(pointer.pointee.ss_family) {
            case AF_INET: return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            case AF_INET6: return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            default: return nil
            }
        }
    }

    /// `host:port` for messages, with an IPv6 host in brackets (`[2001:2::10]:7070`); a host
    /// that is not a numeric address is shown as given.
    public static func endpointText(host: String, port: Int) -> String {
        SocketAddress(numericHost: host, port: port)?.description ?? "\(host):\(port)"
    }

    /// `address:port`, with an IPv6 address in brackets.
    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        // inet_ntop writes a NUL-terminated string into `text`.
        func written() -> String { String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        switch self {
        case .ipv4(var address):
            inet_ntop(AF_INET, &address.sin_addr, &text, socklen_t(text.count))
            return "\(written()):\(UInt16(bigEndian: address.sin_port))"
        case .ipv6(var address):
            inet_ntop(AF_INET6, &address.sin6_addr, &text, socklen_t(text.count))
            return "[\(written())]:\(UInt16(bigEndian: address.sin6_port))"
        }
    }
}
