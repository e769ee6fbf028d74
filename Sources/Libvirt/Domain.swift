import CLibvirt
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A libvirt domain (`virDomainPtr`), freed when the value goes away.
///
/// The value refers to the domain on one connection; it stays valid after the domain stops
/// or migrates away (calls then fail with a ``LibvirtError``).
public final class Domain: @unchecked Sendable {
    /// The connection this domain handle belongs to.
    public let connection: Connection
    /// The domain's name, read once when the handle was made.
    public let name: String
    let handle: virDomainPtr

    init(handle: virDomainPtr, connection: Connection) {
        self.handle = handle
        self.connection = connection
        self.name = virDomainGetName(handle).map { String(cString: $0) } ?? "<unnamed>"
    }

    deinit {
        virDomainFree(handle)
    }

    func error(_ call: String) -> LibvirtError {
        LibvirtError.last(call: call, uri: connection.uri, domainName: name)
    }

    func check(_ call: String, _ result: Int32) throws {
        if result < 0 { throw error(call) }
    }

    /// The domain's UUID as text.
    ///
    /// The corresponding C function is `virDomainGetUUIDString`.
    public func uuidString() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(VIR_UUID_STRING_BUFLEN))
        try check("virDomainGetUUIDString", virDomainGetUUIDString(handle, &buffer))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The running domain's id, or `nil` when it does not run.
    ///
    /// The corresponding C function is `virDomainGetID`.
    public func id() -> UInt32? {
        let value = virDomainGetID(handle)
        return value == UInt32.max ? nil : value
    }

    /// The domain's state and the reason for it.
    ///
    /// The corresponding C function is `virDomainGetState`.
    public func state() throws -> DomainStateInfo {
        var state: Int32 = 0
        var reason: Int32 = 0
        try check("virDomainGetState", virDomainGetState(handle, &state, &reason, 0))
        return DomainStateInfo(rawState: state, rawReason: reason)
    }

    /// Whether the domain runs.
    ///
    /// The corresponding C function is `virDomainIsActive`.
    public func isActive() throws -> Bool {
        let result = virDomainIsActive(handle)
        try check("virDomainIsActive", result)
        return result == 1
    }

    /// Whether the domain has a persistent definition.
    ///
    /// The corresponding C function is `virDomainIsPersistent`.
    public func isPersistent() throws -> Bool {
        let result = virDomainIsPersistent(handle)
        try check("virDomainIsPersistent", result)
        return result == 1
    }

    /// The current maximum and used memory, in KiB, and the number of vCPUs.
    ///
    /// The corresponding C function is `virDomainGetInfo`.
    public func info() throws -> DomainInfo {
        var info = virDomainInfo()
        try check("virDomainGetInfo", virDomainGetInfo(handle, &info))
        return DomainInfo(state: DomainStateInfo(rawState: Int32(info.state), rawReason: 0),
                          maximumMemoryKiB: UInt64(info.maxMem), memoryKiB: UInt64(info.memory),
                          virtualCPUCount: Int(info.nrVirtCpu), cpuTimeNanoseconds: info.cpuTime)
    }

    /// The domain's XML description.
    ///
    /// The corresponding C function is `virDomainGetXMLDesc`.
    public func xmlDescription(inactive: Bool = false, migratable: Bool = false) throws -> String {
        var flags: UInt32 = 0
        if inactive { flags |= VIR_DOMAIN_XML_INACTIVE.rawValue }
        if migratable { flags |= VIR_DOMAIN_XML_MIGRATABLE.rawValue }
        guard let text = virDomainGetXMLDesc(handle, flags) else { throw error("virDomainGetXMLDesc") }
        defer { free(text) }
        return String(cString: text)
    }

    /// Starts a defined domain.
    ///
    /// The corresponding C function is `virDomainCreateWithFlags`.
    public func start(paused: Bool = false) throws {
        try check("virDomainCreateWithFlags",
                  virDomainCreateWithFlags(handle, paused ? VIR_DOMAIN_START_PAUSED.rawValue : 0))
    }

    /// Stops the domain at once (power off); a transient domain disappears.
    ///
    /// The corresponding C function is `virDomainDestroy`.
    public func destroy() throws {
        try check("virDomainDestroy", virDomainDestroy(handle))
    }

    /// Asks the guest to shut down (ACPI); returns before it has.
    ///
    /// The corresponding C function is `virDomainShutdown`.
    public func shutdown() throws {
        try check("virDomainShutdown", virDomainShutdown(handle))
    }

    /// Pauses the domain's vCPUs.
    ///
    /// The corresponding C function is `virDomainSuspend`.
    public func suspend() throws {
        try check("virDomainSuspend", virDomainSuspend(handle))
    }

    /// Resumes a paused domain.
    ///
    /// The corresponding C function is `virDomainResume`.
    public func resume() throws {
        try check("virDomainResume", virDomainResume(handle))
    }

    /// Removes the persistent definition (a running domain keeps running, as transient),
    /// with its managed save image and snapshot metadata.
    ///
    /// The corresponding C function is `virDomainUndefineFlags`.
    public func undefine(removingNVRAM: Bool = false) throws {
        var flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE.rawValue | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA.rawValue
        if removingNVRAM { flags |= VIR_DOMAIN_UNDEFINE_NVRAM.rawValue }
        try check("virDomainUndefineFlags", virDomainUndefineFlags(handle, flags))
    }
}

/// Basic figures of a domain, from ``Domain/info()``.
public struct DomainInfo: Sendable, Equatable {
    public var state: DomainStateInfo
    public var maximumMemoryKiB: UInt64
    public var memoryKiB: UInt64
    public var virtualCPUCount: Int
    public var cpuTimeNanoseconds: UInt64
}
