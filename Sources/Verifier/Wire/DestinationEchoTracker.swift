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
