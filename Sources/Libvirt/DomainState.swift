import CLibvirt

/// A domain's state (`virDomainState`).
public enum DomainState: Int32, Sendable, Codable, CustomStringConvertible {
    /// `VIR_DOMAIN_NOSTATE`: no state.
    case noState = 0
    /// `VIR_DOMAIN_RUNNING`: the domain is running.
    case running = 1
    /// `VIR_DOMAIN_BLOCKED`: the domain is blocked on a resource.
    case blocked = 2
    /// `VIR_DOMAIN_PAUSED`: the domain is paused (e.g. by a migration or a user).
    case paused = 3
    /// `VIR_DOMAIN_SHUTDOWN`: the domain is being shut down.
    case shuttingDown = 4
    /// `VIR_DOMAIN_SHUTOFF`: the domain is shut off (e.g. after migrating away).
    case shutOff = 5
    /// `VIR_DOMAIN_CRASHED`: the domain crashed.
    case crashed = 6
    /// `VIR_DOMAIN_PMSUSPENDED`: the guest suspended itself via power management.
    case pmSuspended = 7

    public var description: String {
        switch self {
        case .noState: return "no state"
        case .running: return "running"
        case .blocked: return "blocked"
        case .paused: return "paused"
        case .shuttingDown: return "shutting down"
        case .shutOff: return "shut off"
        case .crashed: return "crashed"
        case .pmSuspended: return "pm-suspended"
        }
    }
}

/// A domain's state together with libvirt's reason for it (e.g. shut off because "migrated").
public struct DomainStateInfo: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The state; `nil` when libvirt reported a value this module does not know.
    public var state: DomainState?
    /// libvirt's raw state value.
    public var rawState: Int32
    /// libvirt's raw reason value; its meaning depends on the state.
    public var rawReason: Int32

    /// Creates a state from libvirt's raw values.
    public init(rawState: Int32, rawReason: Int32) {
        self.state = DomainState(rawValue: rawState)
        self.rawState = rawState
        self.rawReason = rawReason
    }

    /// The reason spelled as `virsh domstate --reason` does (e.g. "booted", "migrated").
    public var reason: String {
        let reasons: [String]
        switch state {
        case .noState?: reasons = ["unknown"]
        case .running?:
            reasons = ["unknown", "booted", "migrated", "restored", "from snapshot", "unpaused",
                       "migration canceled", "save canceled", "event wakeup", "crashed", "post-copy",
                       "post-copy failed"]
        case .blocked?: reasons = ["unknown"]
        case .paused?:
            reasons = ["unknown", "user", "migrating", "saving", "dumping", "I/O error", "watchdog",
                       "from snapshot", "shutting down", "creating snapshot", "crashed", "starting up",
                       "post-copy", "post-copy failed", "api error"]
        case .shuttingDown?: reasons = ["unknown", "user"]
        case .shutOff?:
            reasons = ["unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed",
                       "from snapshot", "daemon"]
        case .crashed?: reasons = ["unknown", "panicked"]
        case .pmSuspended?: reasons = ["unknown"]
        case nil: reasons = []
        }
        return rawReason >= 0 && Int(rawReason) < reasons.count ? reasons[Int(rawReason)] : "reason \(rawReason)"
    }

    /// Whether the domain runs (running or paused counts: QEMU is alive).
    public var isActive: Bool {
        switch state {
        case .running?, .blocked?, .paused?, .shuttingDown?, .pmSuspended?: return true
        default: return false
        }
    }

    /// True for a domain that is shut off because it was migrated away.
    public var isShutOffAfterMigration: Bool {
        state == .shutOff && rawReason == Int32(VIR_DOMAIN_SHUTOFF_MIGRATED.rawValue)
    }

    public var description: String {
        "\(state.map(\.description) ?? "state \(rawState)") (\(reason))"
    }
}
