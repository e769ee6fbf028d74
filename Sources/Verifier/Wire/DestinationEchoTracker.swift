import PingMonitor

/// Follows one guest's ICMP echoes through a capture taken on the destination host (every
/// interface: a probe is seen on the uplink, the bridge and the guest's tap, and its earliest
/// sighting counts). Pure: decoded packets and their times in, a ``DestinationEchoObservation`` out.
public struct DestinationEchoTracker: Sendable {
    /// The guest followed: requests to it, replies from it.
    public let guestAddress: IPAddress
    private var firstProbe: (timeNanoseconds: Int64, sequence: UInt16)?
    private var firstReply: (timeNanoseconds: Int64, sequence: UInt16)?
    /// The probes seen before the first reply (16-bit sequence numbers: a minute of probes at
    /// 1 kHz, far more than a switch-over holds).
    private var probesBeforeReply = Set<UInt16>()
    private var echoPackets = 0

    public init(guestAddress: IPAddress) {
        self.guestAddress = guestAddress
    }

    /// Takes one captured packet (`nil`: one the decoder did not recognise), in capture order.
    public mutating func add(_ packet: DecodedPacket?, timeNanoseconds: Int64) {
        guard case .echo(let echo)? = packet else { return }
        if echo.isRequest, echo.destination == guestAddress {
            echoPackets += 1
            if firstProbe.map({ timeNanoseconds < $0.timeNanoseconds }) ?? true {
                firstProbe = (timeNanoseconds, echo.sequence16)
            }
            if firstReply == nil { probesBeforeReply.insert(echo.sequence16) }
        } else if !echo.isRequest, echo.source == guestAddress {
            echoPackets += 1
            if firstReply.map({ timeNanoseconds < $0.timeNanoseconds }) ?? true {
                firstReply = (timeNanoseconds, echo.sequence16)
            }
        }
    }

    /// What the capture showed of the guest's echoes.
    public var observation: DestinationEchoObservation {
        DestinationEchoObservation(guestAddress: guestAddress.description, firstProbeEpochNanoseconds: firstProbe?.timeNanoseconds,
                                   firstProbeSequence: firstProbe?.sequence, firstReplyEpochNanoseconds: firstReply?.timeNanoseconds,
                                   firstReplySequence: firstReply?.sequence, probesBeforeFirstReply: probesBeforeReply.count,
                                   echoPacketsCaptured: echoPackets)
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
