import PingMonitor

/// Follows one guest's ICMP echoes through a capture taken on the destination host (every
/// interface: a probe is seen on the uplink, the bridge and the guest's tap, and its earliest
/// sighting counts). Pure: decoded packets and their times in, a ``DestinationEchoObservation`` out.
///
/// The guest's first reply is its first one *after* the first probe reached the host: a
/// reply can come earlier, to a probe the source had already put into the guest's memory
/// (its receive ring travels with the RAM and the resumed guest answers it at once; seen on
/// the lab over ssh). Such replies are counted apart, since no probe waited at the
/// destination for them.
public struct DestinationEchoTracker: Sendable {
    /// The guest followed: requests to it, replies from it.
    public let guestAddress: IPAddress
    /// Every sighting of a probe to the guest and of a reply from it, in capture order (the
    /// capture is bounded by its packet limit).
    private var probes: [(timeNanoseconds: Int64, sequence: UInt16)] = []
    private var replies: [(timeNanoseconds: Int64, sequence: UInt16)] = []

    public init(guestAddress: IPAddress) {
        self.guestAddress = guestAddress
    }

    /// Takes one captured packet (`nil`: one the decoder did not recognise), in capture order.
    public mutating func add(_ packet: DecodedPacket?, timeNanoseconds: Int64) {
        guard case .echo(let echo)? = packet else { return }
        if echo.isRequest, echo.destination == guestAddress {
            probes.append((timeNanoseconds, echo.sequence16))
        } else if !echo.isRequest, echo.source == guestAddress {
            replies.append((timeNanoseconds, echo.sequence16))
        }
    }

    /// The earliest of `sightings` at or after `notBefore` (`nil`: none).
    private static func earliest(_ sightings: [(timeNanoseconds: Int64, sequence: UInt16)],
                                 notBefore: Int64 = .min) -> (timeNanoseconds: Int64, sequence: UInt16)? {
        sightings.filter { $0.timeNanoseconds >= notBefore }.min { $0.timeNanoseconds < $1.timeNanoseconds }
    }

    /// What the capture showed of the guest's echoes.
    public var observation: DestinationEchoObservation {
        let firstProbe = Self.earliest(probes)
        let firstReply = Self.earliest(replies, notBefore: firstProbe?.timeNanoseconds ?? .min)
        // Probes (distinct, a minute of them at 1 kHz fits the 16-bit numbers) that waited for the first reply.
        let held = firstReply.map { reply in Set(probes.filter { $0.timeNanoseconds < reply.timeNanoseconds }.map(\.sequence)) }
            ?? Set(probes.map(\.sequence))
        let carried = firstProbe.map { probe in Set(replies.filter { $0.timeNanoseconds < probe.timeNanoseconds }.map(\.sequence)) } ?? []
        var seen = DestinationEchoObservation(
            guestAddress: guestAddress.description, firstProbeEpochNanoseconds: firstProbe?.timeNanoseconds,
            firstProbeSequence: firstProbe?.sequence, firstReplyEpochNanoseconds: firstReply?.timeNanoseconds,
            firstReplySequence: firstReply?.sequence, probesBeforeFirstReply: held.count, echoPacketsCaptured: probes.count + replies.count)
        seen.repliesBeforeFirstProbe = carried.count
        return seen
    }
}

/// Reads a capture file of the guest's echoes on the destination (``DestinationEchoTracker``).
public enum DestinationEchoFile {
    /// The echoes of `guestAddress` in the capture at `path`.
    ///
    /// - Throws: ``CaptureFileError`` when the file cannot be read whole (``CaptureFile``).
    public static func analyze(path: String, guestAddress: IPAddress, hostName: String, sharesClock: Bool, packetLimit: Int? = nil,
                               keptPath: String? = nil) throws(CaptureFileError) -> DestinationEchoObservation {
        var tracker = DestinationEchoTracker(guestAddress: guestAddress)
        var packets = 0
        try CaptureFile.forEachPacket(path: path, capture: "destination echo capture") { packet, linkLayer in
            packets += 1
            tracker.add(PacketDecoder.decode(packet.bytes, linkLayer: linkLayer), timeNanoseconds: packet.timeNanoseconds)
        }
        var seen = tracker.observation
        seen.hostName = hostName
        seen.clockIsThisMachines = sharesClock
        seen.packetLimitReached = packetLimit.map { packets >= $0 } ?? false
        seen.capturePath = keptPath
        return seen
    }
}
