import CLibvirt
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An error reported by libvirt, with the context of the call that failed.
///
/// libvirt keeps its last error per thread; every wrapper in this module copies it right
/// after the failing C call and adds what the caller would need to act on it: the call,
/// the connection URI and the domain name.
public struct LibvirtError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The libvirt function that failed, e.g. `virDomainLookupByName`.
    public var call: String
    /// The URI of the connection the call used, when there was one.
    public var uri: String?
    /// The name of the domain the call was about, when there was one.
    public var domainName: String?
    /// libvirt's error code (`virErrorNumber`), e.g. `VIR_ERR_NO_DOMAIN` = 42.
    public var code: Int32
    /// libvirt's error domain (`virErrorDomain`): which part of libvirt raised it.
    public var errorDomain: Int32
    /// libvirt's message, or a description made up here when libvirt set none.
    public var message: String

    /// Creates an error from its parts.
    public init(call: String, uri: String?, domainName: String?, code: Int32, errorDomain: Int32, message: String) {
        self.call = call
        self.uri = uri
        self.domainName = domainName
        self.code = code
        self.errorDomain = errorDomain
        self.message = message
    }

    /// The kind of failure, for callers that branch on it.
    public var kind: Kind { Kind(code: code) }

    /// The common kinds of libvirt failure this project branches on.
    public enum Kind: Sendable, Equatable, Codable {
        /// No domain with that name, UUID or id (`VIR_ERR_NO_DOMAIN`).
        case noDomain
        /// The operation is not valid in the domain's current state (`VIR_ERR_OPERATION_INVALID`).
        case operationInvalid
        /// A job was aborted by the user (`VIR_ERR_OPERATION_ABORTED`).
        case operationAborted
        /// The driver does not support the call (`VIR_ERR_NO_SUPPORT`).
        case notSupported
        /// An argument was rejected (`VIR_ERR_INVALID_ARG`).
        case invalidArgument
        /// The XML was malformed or invalid (`VIR_ERR_XML_ERROR`, `VIR_ERR_XML_DETAIL`).
        case xml
        /// The connection could not be opened or broke (`VIR_ERR_NO_CONNECT`,
        /// `VIR_ERR_SYSTEM_ERROR` from the RPC layer, `VIR_ERR_RPC`).
        case connection
        /// A domain of that name or UUID exists already (`VIR_ERR_DOM_EXIST`).
        case domainExists
        /// A migration step failed (`VIR_ERR_MIGRATE_UNSAFE`, `VIR_ERR_OPERATION_FAILED` and others).
        case operationFailed
        /// Anything else; see ``LibvirtError/code``.
        case other

        init(code: Int32) {
            switch code {
            case Int32(VIR_ERR_NO_DOMAIN.rawValue): self = .noDomain
            case Int32(VIR_ERR_OPERATION_INVALID.rawValue): self = .operationInvalid
            case Int32(VIR_ERR_OPERATION_ABORTED.rawValue): self = .operationAborted
            case Int32(VIR_ERR_NO_SUPPORT.rawValue): self = .notSupported
            case Int32(VIR_ERR_INVALID_ARG.rawValue): self = .invalidArgument
            case Int32(VIR_ERR_XML_ERROR.rawValue), Int32(VIR_ERR_XML_DETAIL.rawValue): self = .xml
            case Int32(VIR_ERR_NO_CONNECT.rawValue), Int32(VIR_ERR_RPC.rawValue),
                 Int32(VIR_ERR_SYSTEM_ERROR.rawValue), Int32(VIR_ERR_AUTH_FAILED.rawValue):
                self = .connection
            case Int32(VIR_ERR_DOM_EXIST.rawValue): self = .domainExists
            case Int32(VIR_ERR_OPERATION_FAILED.rawValue), Int32(VIR_ERR_MIGRATE_UNSAFE.rawValue),
                 Int32(VIR_ERR_MIGRATE_PERSIST_FAILED.rawValue), Int32(VIR_ERR_MIGRATE_FINISH_OK.rawValue),
                 Int32(VIR_ERR_INTERNAL_ERROR.rawValue):
                self = .operationFailed
            default: self = .other
            }
        }
    }

    public var description: String {
        var context: [String] = []
        if let uri { context.append("uri \(uri)") }
        if let domainName { context.append("domain \(domainName)") }
        let where_ = context.isEmpty ? "" : " (\(context.joined(separator: ", ")))"
        return "\(call) failed\(where_): \(message) [libvirt error \(code)]"
    }

    /// Copies libvirt's last error of this thread and resets it.
    static func last(call: String, uri: String?, domainName: String?) -> LibvirtError {
        guard let error = virGetLastError() else {
            return LibvirtError(call: call, uri: uri, domainName: domainName, code: -1, errorDomain: -1,
                                message: "libvirt reported a failure but set no error")
        }
        let message = error.pointee.message.map { String(cString: $0) } ?? "no message"
        let result = LibvirtError(call: call, uri: uri, domainName: domainName, code: error.pointee.code,
                                  errorDomain: error.pointee.domain, message: message)
        virResetLastError()
        return result
    }
}

/// Called once before the first libvirt call: initialises libvirt for threads, stops it
/// from printing every error to standard error (errors are thrown instead) and ignores
/// SIGPIPE, as libvirt asks of its applications: a remote connection whose peer went away
/// (e.g. the ssh of a `qemu+ssh://` URI) must fail the call, not kill the process.
let libvirtLibraryInitialized: Void = {
    _ = virInitialize()
    virSetErrorFunc(nil) { _, _ in }
    signal(SIGPIPE, SIG_IGN)
}()
