/// One echo request or reply of a probe stream, as seen by the capture.
///
/// Times are nanoseconds since the Unix epoch on the capture's clock (CLOCK_REALTIME for
/// kernel software timestamps); only differences between them matter to the analysis.
public struct ProbeEvent: Sendable, Equatable {
    /// Whether the packet went to the target or came back from it.
    public enum Kind: UInt8, Sendable {
        /// An echo request sent to the target.
        case request
        /// An echo reply from the target.
        case reply
    }

    public var kind: Kind
    /// The probe's sequence number, unique within a run (64 bits, so it never wraps).
    public var sequence: UInt64
    /// When the capture saw the packet, in nanoseconds since the Unix epoch.
    public var timeNanoseconds: Int64

    public init(kind: Kind, sequence: UInt64, timeNanoseconds: Int64) {
        self.kind = kind
        self.sequence = sequence
        self.timeNanoseconds = timeNanoseconds
    }

    /// An echo request of probe `sequence` seen at `timeNanoseconds`.
    public static func request(_ sequence: UInt64, at timeNanoseconds: Int64) -> ProbeEvent {
        ProbeEvent(kind: .request, sequence: sequence, timeNanoseconds: timeNanoseconds)
    }

    /// An echo reply to probe `sequence` seen at `timeNanoseconds`.
    public static func reply(_ sequence: UInt64, at timeNanoseconds: Int64) -> ProbeEvent {
        ProbeEvent(kind: .reply, sequence: sequence, timeNanoseconds: timeNanoseconds)
    }
}

/// A frame by which the target announces where it is: after a live migration QEMU sends RARP
/// frames with the guest's MAC (whatever IP family the guest uses), and the guest itself may
/// send gratuitous ARPs (IPv4) or unsolicited Neighbor Advertisements (IPv6).
public struct AnnounceFrame: Sendable, Equatable {
    /// The kind of announcement.
    public enum Kind: String, Sendable, Codable {
        /// An ARP packet whose sender and target protocol addresses are both the target's address.
        case gratuitousARP = "gratuitousArp"
        /// A reverse-ARP frame (ethertype 0x8035) from the target's MAC.
        case rarp
        /// An ICMPv6 Neighbor Advertisement (type 136) for the target's IPv6 address with the
        /// Solicited flag clear.
        case unsolicitedNeighborAdvertisement
    }

    public var kind: Kind
    /// When the capture saw the frame, in nanoseconds since the Unix epoch.
    public var timeNanoseconds: Int64
    /// The frame's link-layer source address, when the link layer has one.
    public var sourceMAC: MACAddress?

    public init(kind: Kind, timeNanoseconds: Int64, sourceMAC: MACAddress?) {
        self.kind = kind
        self.timeNanoseconds = timeNanoseconds
        self.sourceMAC = sourceMAC
    }
}

/// Everything the analysis looks at: the probe stream and the target's announcements.
public struct ProbeLog: Sendable, Equatable {
    /// Requests and replies, in capture order.
    public var events: [ProbeEvent]
    /// Announce frames from the target, in capture order.
    public var announces: [AnnounceFrame]
    /// The interval the sender was asked to keep, in nanoseconds, when known (pingmon's probes
    /// carry it in their payload); nil when unknown.
    public var nominalIntervalNanoseconds: Int64?

    public init(events: [ProbeEvent] = [], announces: [AnnounceFrame] = [], nominalIntervalNanoseconds: Int64? = nil) {
        self.events = events
        self.announces = announces
        self.nominalIntervalNanoseconds = nominalIntervalNanoseconds
    }
}
