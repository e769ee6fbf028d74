import CLibvirt
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A libvirt library or daemon version, decoded from libvirt's `major * 1,000,000 +
/// minor * 1,000 + release` encoding.
public struct LibvirtVersion: Sendable, Equatable, Comparable, Codable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var release: Int

    /// Creates a version from its parts.
    public init(major: Int, minor: Int, release: Int) {
        self.major = major
        self.minor = minor
        self.release = release
    }

    /// Decodes libvirt's integer encoding (e.g. 11003000 is 11.3.0).
    public init(encoded: UInt) {
        self.init(major: Int(encoded / 1_000_000), minor: Int((encoded / 1_000) % 1_000), release: Int(encoded % 1_000))
    }

    public var description: String { "\(major).\(minor).\(release)" }

    public static func < (lhs: LibvirtVersion, rhs: LibvirtVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.release) < (rhs.major, rhs.minor, rhs.release)
    }
}

/// The version of the libvirt client library this process linked.
///
/// The corresponding C function is `virGetVersion`.
public func libvirtLibraryVersion() throws -> LibvirtVersion {
    _ = libvirtLibraryInitialized
    var version: UInt = 0
    guard virGetVersion(&version, nil, nil) == 0 else {
        throw LibvirtError.last(call: "virGetVersion", uri: nil, domainName: nil)
    }
    return LibvirtVersion(encoded: version)
}

/// An open connection to a libvirt driver (`virConnectPtr`), closed when the value goes away.
///
/// libvirt connections may be used from several threads at once, which is why the type is
/// `Sendable`. Errors thrown by its methods are ``LibvirtError`` values naming the URI.
public final class Connection: @unchecked Sendable {
    /// The URI the connection was opened with, as the caller gave it.
    public let uri: String
    let handle: virConnectPtr

    /// Opens a connection to the driver named by `uri`, e.g. `qemu+tcp://198.18.0.1/system`
    /// or `test:///default`.
    ///
    /// The corresponding C functions are `virConnectOpen` and `virConnectOpenReadOnly`.
    public init(uri: String, readOnly: Bool = false) throws {
        _ = libvirtLibraryInitialized
        self.uri = uri
        let opened = readOnly ? virConnectOpenReadOnly(uri) : virConnectOpen(uri)
        guard let opened else {
            throw LibvirtError.last(call: readOnly ? "virConnectOpenReadOnly" : "virConnectOpen", uri: uri, domainName: nil)
        }
        handle = opened
    }

    deinit {
        virConnectClose(handle)
    }

    func error(_ call: String, domainName: String? = nil) -> LibvirtError {
        LibvirtError.last(call: call, uri: uri, domainName: domainName)
    }

    /// The URI libvirt resolved the connection to (e.g. with defaults filled in).
    ///
    /// The corresponding C function is `virConnectGetURI`.
    public func canonicalURI() throws -> String {
        guard let text = virConnectGetURI(handle) else { throw error("virConnectGetURI") }
        defer { free(text) }
        return String(cString: text)
    }

    /// The version of libvirt on the other end (the daemon, for a remote URI).
    ///
    /// The corresponding C function is `virConnectGetLibVersion`.
    public func libvirtVersion() throws -> LibvirtVersion {
        var version: UInt = 0
        guard virConnectGetLibVersion(handle, &version) == 0 else { throw error("virConnectGetLibVersion") }
        return LibvirtVersion(encoded: version)
    }

    /// The version of the hypervisor (for QEMU: the QEMU version libvirt probed).
    ///
    /// The corresponding C function is `virConnectGetVersion`.
    public func hypervisorVersion() throws -> LibvirtVersion {
        var version: UInt = 0
        guard virConnectGetVersion(handle, &version) == 0 else { throw error("virConnectGetVersion") }
        return LibvirtVersion(encoded: version)
    }

    /// The name of the driver in use, e.g. `QEMU` or `Test`.
    ///
    /// The corresponding C function is `virConnectGetType`.
    public func hypervisorType() throws -> String {
        guard let text = virConnectGetType(handle) else { throw error("virConnectGetType") }
        return String(cString: text)
    }

    /// The host name of the machine the driver runs on.
    ///
    /// The corresponding C function is `virConnectGetHostname`.
    public func hostname() throws -> String {
        guard let text = virConnectGetHostname(handle) else { throw error("virConnectGetHostname") }
        defer { free(text) }
        return String(cString: text)
    }

    /// The driver's capabilities XML (host CPU, guests and emulators it can run).
    ///
    /// The corresponding C function is `virConnectGetCapabilities`.
    public func capabilities() throws -> String {
        guard let text = virConnectGetCapabilities(handle) else { throw error("virConnectGetCapabilities") }
        defer { free(text) }
        return String(cString: text)
    }

    /// Whether the connection still works (a remote connection whose daemon died is not alive).
    ///
    /// The corresponding C function is `virConnectIsAlive`.
    public func isAlive() -> Bool {
        virConnectIsAlive(handle) == 1
    }

    /// Defines a persistent domain from its XML, or updates the definition of an existing one.
    ///
    /// The corresponding C function is `virDomainDefineXML`.
    public func defineDomain(xml: String) throws -> Domain {
        guard let domain = virDomainDefineXML(handle, xml) else { throw error("virDomainDefineXML") }
        return Domain(handle: domain, connection: self)
    }

    /// Creates and starts a transient domain from its XML; it disappears when it stops.
    ///
    /// The corresponding C function is `virDomainCreateXML`.
    public func createDomain(xml: String, startPaused: Bool = false) throws -> Domain {
        let flags = startPaused ? VIR_DOMAIN_START_PAUSED.rawValue : 0
        guard let domain = virDomainCreateXML(handle, xml, flags) else { throw error("virDomainCreateXML") }
        return Domain(handle: domain, connection: self)
    }

    /// The domain with this name; throws a ``LibvirtError`` of kind `.noDomain` when none exists.
    ///
    /// The corresponding C function is `virDomainLookupByName`.
    public func lookupDomain(name: String) throws -> Domain {
        guard let domain = virDomainLookupByName(handle, name) else {
            throw error("virDomainLookupByName", domainName: name)
        }
        return Domain(handle: domain, connection: self)
    }

    /// The domain with this name, or `nil` when there is none (other failures still throw).
    ///
    /// The corresponding C function is `virDomainLookupByName`.
    public func domainIfPresent(name: String) throws -> Domain? {
        do {
            return try lookupDomain(name: name)
        } catch let failure as LibvirtError where failure.kind == .noDomain {
            return nil
        }
    }

    /// Which domains ``listDomains(_:)`` returns.
    public struct DomainFilter: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Running or paused domains.
        public static let active = DomainFilter(rawValue: VIR_CONNECT_LIST_DOMAINS_ACTIVE.rawValue)
        /// Defined domains that do not run.
        public static let inactive = DomainFilter(rawValue: VIR_CONNECT_LIST_DOMAINS_INACTIVE.rawValue)
        /// Domains with a persistent definition.
        public static let persistent = DomainFilter(rawValue: VIR_CONNECT_LIST_DOMAINS_PERSISTENT.rawValue)
        /// Domains that exist only while they run.
        public static let transient = DomainFilter(rawValue: VIR_CONNECT_LIST_DOMAINS_TRANSIENT.rawValue)
        /// Every domain (no filter).
        public static let all: DomainFilter = []
    }

    /// The domains of this connection, filtered.
    ///
    /// The corresponding C function is `virConnectListAllDomains`.
    public func listDomains(_ filter: DomainFilter = .all) throws -> [Domain] {
        var list: UnsafeMutablePointer<virDomainPtr?>?
        let count = virConnectListAllDomains(handle, &list, filter.rawValue)
        guard count >= 0 else { throw error("virConnectListAllDomains") }
        guard let list else { return [] }
        defer { free(list) }
        var domains: [Domain] = []
        for index in 0..<Int(count) {
            if let domain = list[index] { domains.append(Domain(handle: domain, connection: self)) }
        }
        return domains
    }

    /// Name, state and reason of every domain, in one call per domain.
    ///
    /// The corresponding C functions are `virConnectListAllDomains`, `virDomainGetName`
    /// and `virDomainGetState`.
    public func domainSummaries(_ filter: DomainFilter = .all) throws -> [DomainSummary] {
        try listDomains(filter).map { domain in
            let state = try domain.state()
            return DomainSummary(name: domain.name, state: state, isPersistent: try domain.isPersistent())
        }
    }

    /// Makes the client send keepalive messages every `intervalSeconds`, closing the
    /// connection after `count` unanswered ones. Needs a running event loop
    /// (``EventLoop/startDefault()``) on the client side to take effect.
    ///
    /// The corresponding C function is `virConnectSetKeepAlive`.
    public func setKeepAlive(intervalSeconds: Int32, count: UInt32) throws {
        guard virConnectSetKeepAlive(handle, intervalSeconds, count) >= 0 else { throw error("virConnectSetKeepAlive") }
    }
}

/// A domain's name and state as listed by ``Connection/domainSummaries(_:)``.
public struct DomainSummary: Sendable, Equatable {
    public var name: String
    public var state: DomainStateInfo
    public var isPersistent: Bool
}
