import CLibvirt

/// Flags of a migration (`virDomainMigrateFlags`).
public struct MigrationFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Keep the guest running while its memory is copied (`VIR_MIGRATE_LIVE`).
    public static let live = MigrationFlags(rawValue: VIR_MIGRATE_LIVE.rawValue)
    /// The source daemon talks to the destination itself (`VIR_MIGRATE_PEER2PEER`).
    public static let peerToPeer = MigrationFlags(rawValue: VIR_MIGRATE_PEER2PEER.rawValue)
    /// Tunnel the data through the libvirt connection (`VIR_MIGRATE_TUNNELLED`).
    public static let tunnelled = MigrationFlags(rawValue: VIR_MIGRATE_TUNNELLED.rawValue)
    /// Define the domain persistently on the destination (`VIR_MIGRATE_PERSIST_DEST`).
    public static let persistOnDestination = MigrationFlags(rawValue: VIR_MIGRATE_PERSIST_DEST.rawValue)
    /// Undefine the domain on the source after success (`VIR_MIGRATE_UNDEFINE_SOURCE`).
    public static let undefineSource = MigrationFlags(rawValue: VIR_MIGRATE_UNDEFINE_SOURCE.rawValue)
    /// Leave the domain paused on the destination (`VIR_MIGRATE_PAUSED`).
    public static let paused = MigrationFlags(rawValue: VIR_MIGRATE_PAUSED.rawValue)
    /// Refuse changes to the domain during migration (`VIR_MIGRATE_CHANGE_PROTECTION`).
    public static let changeProtection = MigrationFlags(rawValue: VIR_MIGRATE_CHANGE_PROTECTION.rawValue)
    /// Skip libvirt's safety checks (`VIR_MIGRATE_UNSAFE`).
    public static let unsafe = MigrationFlags(rawValue: VIR_MIGRATE_UNSAFE.rawValue)
    /// Compress the data (`VIR_MIGRATE_COMPRESSED`), see ``MigrationParameters/compressionMethods``.
    public static let compressed = MigrationFlags(rawValue: VIR_MIGRATE_COMPRESSED.rawValue)
    /// Abort on an I/O error of a disk (`VIR_MIGRATE_ABORT_ON_ERROR`).
    public static let abortOnError = MigrationFlags(rawValue: VIR_MIGRATE_ABORT_ON_ERROR.rawValue)
    /// Throttle the guest's vCPUs when it dirties faster than the copy (`VIR_MIGRATE_AUTO_CONVERGE`).
    public static let autoConverge = MigrationFlags(rawValue: VIR_MIGRATE_AUTO_CONVERGE.rawValue)
    /// Allow switching to post-copy (`VIR_MIGRATE_POSTCOPY`), see ``Domain/startPostCopy()``.
    public static let postCopy = MigrationFlags(rawValue: VIR_MIGRATE_POSTCOPY.rawValue)
    /// Resume a post-copy migration that failed (`VIR_MIGRATE_POSTCOPY_RESUME`, with ``postCopy``).
    public static let postCopyResume = MigrationFlags(rawValue: VIR_MIGRATE_POSTCOPY_RESUME.rawValue)
    /// Use several connections for the memory (`VIR_MIGRATE_PARALLEL`).
    public static let parallel = MigrationFlags(rawValue: VIR_MIGRATE_PARALLEL.rawValue)
    /// Encrypt with TLS (`VIR_MIGRATE_TLS`).
    public static let tls = MigrationFlags(rawValue: VIR_MIGRATE_TLS.rawValue)
}

/// The typed parameters of a migration (`VIR_MIGRATE_PARAM_*`); `nil` leaves libvirt's default.
public struct MigrationParameters: Sendable, Equatable {
    /// Where QEMU sends the memory (`migrate_uri`), e.g. `tcp://198.18.0.2`; default: the
    /// destination daemon's `migration_host`.
    public var migrationURI: String?
    /// A new name on the destination (`destination_name`).
    public var destinationName: String?
    /// A replacement XML for the destination (`destination_xml`).
    public var destinationXML: String?
    /// Bandwidth limit in MiB/s (`bandwidth`).
    public var bandwidthMiBPerSecond: UInt64?
    /// Bandwidth limit after switching to post-copy, in MiB/s (`bandwidth.postcopy`).
    public var postCopyBandwidthMiBPerSecond: UInt64?
    /// Address the destination QEMU listens on (`listen_address`).
    public var listenAddress: String?
    /// Compression methods, e.g. `["xbzrle"]` or `["zstd"]` (`compression`, one entry each).
    public var compressionMethods: [String]
    /// Initial auto-converge throttle in percent (`auto_converge.initial`).
    public var autoConvergeInitialPercent: Int32?
    /// Auto-converge throttle increment in percent (`auto_converge.increment`).
    public var autoConvergeIncrementPercent: Int32?
    /// Number of parallel connections (`parallel.connections`), with ``MigrationFlags/parallel``.
    public var parallelConnections: Int32?

    /// Creates parameters; every one left out keeps libvirt's default.
    public init(migrationURI: String? = nil, destinationName: String? = nil, destinationXML: String? = nil,
                bandwidthMiBPerSecond: UInt64? = nil, postCopyBandwidthMiBPerSecond: UInt64? = nil,
                listenAddress: String? = nil, compressionMethods: [String] = [],
                autoConvergeInitialPercent: Int32? = nil, autoConvergeIncrementPercent: Int32? = nil,
                parallelConnections: Int32? = nil) {
        self.migrationURI = migrationURI
        self.destinationName = destinationName
        self.destinationXML = destinationXML
        self.bandwidthMiBPerSecond = bandwidthMiBPerSecond
        self.postCopyBandwidthMiBPerSecond = postCopyBandwidthMiBPerSecond
        self.listenAddress = listenAddress
        self.compressionMethods = compressionMethods
        self.autoConvergeInitialPercent = autoConvergeInitialPercent
        self.autoConvergeIncrementPercent = autoConvergeIncrementPercent
        self.parallelConnections = parallelConnections
    }

    func typedParameters() throws -> TypedParameterList {
        let list = TypedParameterList()
        if let migrationURI { try list.add(VIR_MIGRATE_PARAM_URI, string: migrationURI) }
        if let destinationName { try list.add(VIR_MIGRATE_PARAM_DEST_NAME, string: destinationName) }
        if let destinationXML { try list.add(VIR_MIGRATE_PARAM_DEST_XML, string: destinationXML) }
        if let bandwidthMiBPerSecond { try list.add(VIR_MIGRATE_PARAM_BANDWIDTH, uint64: bandwidthMiBPerSecond) }
        if let postCopyBandwidthMiBPerSecond {
            try list.add(VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY, uint64: postCopyBandwidthMiBPerSecond)
        }
        if let listenAddress { try list.add(VIR_MIGRATE_PARAM_LISTEN_ADDRESS, string: listenAddress) }
        for method in compressionMethods { try list.add(VIR_MIGRATE_PARAM_COMPRESSION, string: method) }
        if let autoConvergeInitialPercent {
            try list.add(VIR_MIGRATE_PARAM_AUTO_CONVERGE_INITIAL, int32: autoConvergeInitialPercent)
        }
        if let autoConvergeIncrementPercent {
            try list.add(VIR_MIGRATE_PARAM_AUTO_CONVERGE_INCREMENT, int32: autoConvergeIncrementPercent)
        }
        if let parallelConnections {
            try list.add(VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS, int32: parallelConnections)
        }
        return list
    }
}

extension Domain {
    /// Migrates the domain with the destination connection driven by this client ("managed
    /// direct" migration, `virsh migrate` without `--p2p`). Blocks until the migration ends.
    /// Returns the domain on the destination.
    ///
    /// The corresponding C function is `virDomainMigrate3`.
    public func migrate(to destination: Connection, parameters: MigrationParameters = MigrationParameters(),
                        flags: MigrationFlags = [.live]) throws -> Domain {
        let list = try parameters.typedParameters()
        guard let migrated = virDomainMigrate3(handle, destination.handle, list.parameters, UInt32(list.count),
                                               flags.rawValue) else {
            var failure = error("virDomainMigrate3")
            failure.call = "virDomainMigrate3 to \(destination.uri)"
            throw failure
        }
        return Domain(handle: migrated, connection: destination)
    }

    /// Migrates the domain to the daemon at `destinationURI`, e.g.
    /// `qemu+tcp://198.18.0.2/system`. For QEMU this needs ``MigrationFlags/peerToPeer``: the
    /// source daemon connects to the destination itself. Blocks until the migration ends.
    ///
    /// The corresponding C function is `virDomainMigrateToURI3`.
    public func migrate(toURI destinationURI: String, parameters: MigrationParameters = MigrationParameters(),
                        flags: MigrationFlags = [.live, .peerToPeer]) throws {
        let list = try parameters.typedParameters()
        guard virDomainMigrateToURI3(handle, destinationURI, list.parameters, UInt32(list.count),
                                     flags.rawValue) == 0 else {
            var failure = error("virDomainMigrateToURI3")
            failure.call = "virDomainMigrateToURI3 to \(destinationURI)"
            throw failure
        }
    }

    /// Sets the longest pause QEMU may take to switch over, in milliseconds. Can be called
    /// before and during a migration.
    ///
    /// The corresponding C function is `virDomainMigrateSetMaxDowntime`.
    public func setMigrationMaxDowntime(milliseconds: UInt64) throws {
        try check("virDomainMigrateSetMaxDowntime", virDomainMigrateSetMaxDowntime(handle, milliseconds, 0))
    }

    /// The longest switch-over pause QEMU may take, in milliseconds.
    ///
    /// The corresponding C function is `virDomainMigrateGetMaxDowntime`.
    public func migrationMaxDowntimeMilliseconds() throws -> UInt64 {
        var value: UInt64 = 0
        try check("virDomainMigrateGetMaxDowntime", virDomainMigrateGetMaxDowntime(handle, &value, 0))
        return value
    }

    /// Sets the migration bandwidth limit in MiB/s (before or during a migration).
    ///
    /// The corresponding C function is `virDomainMigrateSetMaxSpeed`.
    public func setMigrationMaxSpeed(mibPerSecond: UInt) throws {
        try check("virDomainMigrateSetMaxSpeed", virDomainMigrateSetMaxSpeed(handle, mibPerSecond, 0))
    }

    /// Switches a running migration started with ``MigrationFlags/postCopy`` to post-copy.
    ///
    /// The corresponding C function is `virDomainMigrateStartPostCopy`.
    public func startPostCopy() throws {
        try check("virDomainMigrateStartPostCopy", virDomainMigrateStartPostCopy(handle, 0))
    }

    /// Aborts the domain's current job (e.g. an outgoing migration); the migration call then
    /// fails with a ``LibvirtError`` of kind `.operationAborted`.
    ///
    /// The corresponding C function is `virDomainAbortJob`.
    public func abortJob() throws {
        try check("virDomainAbortJob", virDomainAbortJob(handle))
    }

    /// Pauses a post-copy migration (QEMU's `migrate-pause`): both sides go to post-copy
    /// failed, from where ``MigrationFlags/postCopyResume`` recovers it.
    ///
    /// The corresponding C function is `virDomainAbortJobFlags` with `VIR_DOMAIN_ABORT_JOB_POSTCOPY`.
    public func pausePostCopy() throws {
        try check("virDomainAbortJobFlags", virDomainAbortJobFlags(handle, VIR_DOMAIN_ABORT_JOB_POSTCOPY.rawValue))
    }

    /// Statistics of the domain's current job, or with `completed` of the last completed
    /// one (kept by libvirt until the next job or until read with `keepCompleted: false`).
    ///
    /// The corresponding C function is `virDomainGetJobStats`.
    public func jobStats(completed: Bool = false, keepCompleted: Bool = true) throws -> JobStats {
        var type: Int32 = 0
        var parameters: virTypedParameterPtr?
        var count: Int32 = 0
        var flags: UInt32 = 0
        if completed {
            flags |= VIR_DOMAIN_JOB_STATS_COMPLETED.rawValue
            if keepCompleted { flags |= VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED.rawValue }
        }
        try check("virDomainGetJobStats", virDomainGetJobStats(handle, &type, &parameters, &count, flags))
        defer { if let parameters { virTypedParamsFree(parameters, count) } }
        return JobStats(rawType: type, fields: readTypedParameters(parameters, count: count))
    }
}
