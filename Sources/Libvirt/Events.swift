import CLibvirt
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// libvirt's client-side event loop, needed for domain events and keepalive.
public enum EventLoop {
    private static let started: Result<Void, LibvirtError> = {
        _ = libvirtLibraryInitialized
        guard virEventRegisterDefaultImpl() == 0 else {
            return .failure(LibvirtError.last(call: "virEventRegisterDefaultImpl", uri: nil, domainName: nil))
        }
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { _ in
            while true { _ = virEventRunDefaultImpl() }
        }, nil)
        guard created == 0 else {
            return .failure(LibvirtError(call: "pthread_create", uri: nil, domainName: nil, code: created,
                                         errorDomain: -1, message: "could not start the libvirt event thread"))
        }
        pthread_detach(thread)
        return .success(())
    }()

    /// Registers libvirt's default event loop and runs it on a background thread, once per
    /// process. Call before opening the connections whose events you want.
    ///
    /// The corresponding C functions are `virEventRegisterDefaultImpl` and `virEventRunDefaultImpl`.
    public static func startDefault() throws {
        try started.get()
    }
}

/// A lifecycle change of a domain (`virDomainEventType`).
public enum LifecycleEventKind: Int32, Sendable, Codable {
    /// `VIR_DOMAIN_EVENT_DEFINED`: the domain's configuration was defined or updated.
    case defined = 0
    /// `VIR_DOMAIN_EVENT_UNDEFINED`: the domain's configuration was removed.
    case undefined = 1
    /// `VIR_DOMAIN_EVENT_STARTED`: the domain started (e.g. as an incoming migration).
    case started = 2
    /// `VIR_DOMAIN_EVENT_SUSPENDED`: the domain was paused (e.g. for a migration's final copy).
    case suspended = 3
    /// `VIR_DOMAIN_EVENT_RESUMED`: the domain resumed running.
    case resumed = 4
    /// `VIR_DOMAIN_EVENT_STOPPED`: the domain stopped (e.g. migrated away).
    case stopped = 5
    /// `VIR_DOMAIN_EVENT_SHUTDOWN`: the guest shut down.
    case shutdown = 6
    /// `VIR_DOMAIN_EVENT_PMSUSPENDED`: the guest suspended itself via power management.
    case pmSuspended = 7
    /// `VIR_DOMAIN_EVENT_CRASHED`: the guest crashed.
    case crashed = 8
}

/// The lifecycle event details the verifier reads (`virDomainEvent*DetailType`).
public enum LifecycleEventDetail {
    /// `.suspended`: paused by a migration (pre-copy's switch-over).
    public static let suspendedMigrated = Int32(VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED.rawValue)
    /// `.suspended`: paused for post-copy.
    public static let suspendedPostCopy = Int32(VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY.rawValue)
    /// `.suspended`: paused because post-copy failed.
    public static let suspendedPostCopyFailed = Int32(VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED.rawValue)
    /// `.stopped`: the emulator or libvirt failed.
    public static let stoppedFailed = Int32(VIR_DOMAIN_EVENT_STOPPED_FAILED.rawValue)
}

/// A domain event delivered by ``Connection/subscribeDomainEvents(_:)``.
public enum DomainEvent: Sendable, Equatable {
    /// The domain's lifecycle changed; `detail` is libvirt's per-kind detail value
    /// (e.g. for `.stopped`, 3 = migrated; for `.started`, 1 = migrated).
    case lifecycle(domainName: String, kind: LifecycleEventKind?, rawKind: Int32, detail: Int32)
    /// An outgoing migration started a new memory copy pass.
    case migrationIteration(domainName: String, iteration: Int32)
    /// A job finished; the fields are those of ``JobStats/fields``.
    case jobCompleted(domainName: String, stats: JobStats)

    /// The domain the event is about.
    public var domainName: String {
        switch self {
        case .lifecycle(let name, _, _, _), .migrationIteration(let name, _), .jobCompleted(let name, _): name
        }
    }
}

/// A registration of domain event callbacks; cancelled on ``cancel()`` or when released.
public final class EventSubscription: @unchecked Sendable {
    private let connection: Connection
    private var callbackIDs: [Int32]

    init(connection: Connection, callbackIDs: [Int32]) {
        self.connection = connection
        self.callbackIDs = callbackIDs
    }

    /// Stops delivery of events.
    ///
    /// The corresponding C function is `virConnectDomainEventDeregisterAny`.
    public func cancel() {
        for id in callbackIDs { _ = virConnectDomainEventDeregisterAny(connection.handle, id) }
        callbackIDs = []
    }

    deinit { cancel() }
}

private final class EventHandlerBox {
    let handler: @Sendable (DomainEvent) -> Void
    init(_ handler: @escaping @Sendable (DomainEvent) -> Void) { self.handler = handler }
}

private func domainName(_ domain: virDomainPtr?) -> String {
    domain.flatMap { virDomainGetName($0) }.map { String(cString: $0) } ?? "<unknown>"
}

private func deliver(_ opaque: UnsafeMutableRawPointer?, _ event: DomainEvent) {
    guard let opaque else { return }
    Unmanaged<EventHandlerBox>.fromOpaque(opaque).takeUnretainedValue().handler(event)
}

extension Connection {
    /// Calls `handler` (on libvirt's event thread) for lifecycle, migration-iteration and
    /// job-completed events of every domain of this connection. Needs
    /// ``EventLoop/startDefault()`` to have been called before the connection was opened.
    ///
    /// The corresponding C function is `virConnectDomainEventRegisterAny`.
    public func subscribeDomainEvents(_ handler: @escaping @Sendable (DomainEvent) -> Void) throws -> EventSubscription {
        let box = EventHandlerBox(handler)
        let release: virFreeCallback = { opaque in
            if let opaque { Unmanaged<EventHandlerBox>.fromOpaque(opaque).release() }
        }
        let lifecycle: virConnectDomainEventCallback = { _, domain, event, detail, opaque in
            deliver(opaque, .lifecycle(domainName: domainName(domain), kind: LifecycleEventKind(rawValue: event),
                                       rawKind: event, detail: detail))
            return 0
        }
        let iteration: virConnectDomainEventMigrationIterationCallback = { _, domain, iteration, opaque in
            deliver(opaque, .migrationIteration(domainName: domainName(domain), iteration: iteration))
        }
        let completed: virConnectDomainEventJobCompletedCallback = { _, domain, parameters, count, opaque in
            let stats = JobStats(rawType: Int32(VIR_DOMAIN_JOB_COMPLETED.rawValue),
                                 fields: readTypedParameters(parameters, count: count))
            deliver(opaque, .jobCompleted(domainName: domainName(domain), stats: stats))
        }
        let registrations: [(Int32, virConnectDomainEventGenericCallback)] = [
            (Int32(VIR_DOMAIN_EVENT_ID_LIFECYCLE.rawValue), unsafeBitCast(lifecycle, to: virConnectDomainEventGenericCallback.self)),
            (Int32(VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION.rawValue), unsafeBitCast(iteration, to: virConnectDomainEventGenericCallback.self)),
            (Int32(VIR_DOMAIN_EVENT_ID_JOB_COMPLETED.rawValue), unsafeBitCast(completed, to: virConnectDomainEventGenericCallback.self)),
        ]
        var ids: [Int32] = []
        for (eventID, callback) in registrations {
            let opaque = Unmanaged.passRetained(box).toOpaque()
            let id = virConnectDomainEventRegisterAny(handle, nil, eventID, callback, opaque, release)
            if id < 0 {
                Unmanaged<EventHandlerBox>.fromOpaque(opaque).release()
                let failure = error("virConnectDomainEventRegisterAny")
                for registered in ids { _ = virConnectDomainEventDeregisterAny(handle, registered) }
                throw failure
            }
            ids.append(id)
        }
        return EventSubscription(connection: self, callbackIDs: ids)
    }
}
