/// Picks the probe stream to one target out of decoded packets and builds the probe log.
///
/// Shared by the live monitor and the offline analysis, so both turn the same packets into the
/// same log. Pure: it only sees decoded packets and their capture times.
public struct ProbeCollector: Sendable {
    /// The probed address.
    public let target: IPAddress
    /// The ICMP identifier of the stream; when not given, the first echo request to the target
    /// that carries pingmon's payload decides it (or, if there is none, the first echo request).
    public private(set) var identifier: UInt16?
    /// The target's MAC, when known beforehand; otherwise learned from its replies, or from its
    /// ARP packets or Neighbor Advertisements.
    public let targetMAC: MACAddress?
    /// Packets offered to `ingest`.
    public private(set) var packetsSeen = 0
    /// Packets that were not part of the stream or an announcement candidate.
    public private(set) var packetsIgnored = 0

    private var events: [ProbeEvent] = []
    private var nominalIntervalNanoseconds: Int64?
    private var lastSequence: UInt64?
    private var learnedMAC: MACAddress?
    private var undecided: [(EchoPacket, Int64)] = []
    private var arpCandidates: [(ARPPacket, Int64)] = []
    /// Unsolicited Neighbor Advertisements of the target, as they came.
    private var advertisements: [(NeighborAdvertisement, Int64)] = []

    public init(target: IPAddress, identifier: UInt16?, targetMAC: MACAddress?) {
        self.target = target
        self.identifier = identifier
        self.targetMAC = targetMAC
    }

    /// Takes one decoded packet (nil for one the decoder did not recognise); returns the probe
    /// event it produced, if any.
    @discardableResult
    public mutating func ingest(_ packet: DecodedPacket?, timeNanoseconds: Int64) -> ProbeEvent? {
        packetsSeen += 1
        switch packet {
        case .echo(let echo):
            guard isToOrFromTarget(echo) else {
                packetsIgnored += 1
                return nil
            }
            if identifier == nil {
                guard echo.isRequest, echo.probe != nil else {
                    // Kept until the stream is known; replayed then.
                    undecided.append((echo, timeNanoseconds))
                    return nil
                }
                identifier = echo.identifier
                replayUndecided()
            }
            return accept(echo, timeNanoseconds: timeNanoseconds)
        case .arp(let arp):
            // Classified in `finish`, once the target's MAC is known.
            arpCandidates.append((arp, timeNanoseconds))
            return nil
        case .neighborAdvertisement(let advertisement):
            // The target's own address, announced unsolicited; an answer to a solicitation
            // (the S flag) is ordinary neighbour discovery, not an announcement.
            guard target == .v6(advertisement.targetAddress), !advertisement.isSolicited else {
                packetsIgnored += 1
                return nil
            }
            advertisements.append((advertisement, timeNanoseconds))
            return nil
        case nil:
            packetsIgnored += 1
            return nil
        }
    }

    /// The probe log, with the announce frames from the target.
    public mutating func finish() -> ProbeLog {
        if identifier == nil, let first = undecided.first(where: { $0.0.isRequest }) {
            // No pingmon probe in the capture: analyse the first foreign echo stream instead.
            identifier = first.0.identifier
        }
        replayUndecided()
        let mac = targetMAC ?? learnedMAC
            ?? arpCandidates.first(where: { !$0.0.isReverse && .v4($0.0.senderAddress) == target })?.0.senderHardware
            ?? advertisements.lazy.compactMap({ $0.0.targetLinkLayerAddress ?? $0.0.linkSource }).first
        var announces: [AnnounceFrame] = []
        for (arp, time) in arpCandidates {
            let source = arp.linkSource ?? arp.senderHardware
            if arp.isReverse {
                if let mac, source == mac || arp.senderHardware == mac {
                    announces.append(AnnounceFrame(kind: .rarp, timeNanoseconds: time, sourceMAC: source))
                } else {
                    packetsIgnored += 1
                }
            } else if .v4(arp.senderAddress) == target, .v4(arp.targetAddress) == target {
                announces.append(AnnounceFrame(kind: .gratuitousARP, timeNanoseconds: time, sourceMAC: source))
            } else {
                packetsIgnored += 1
            }
        }
        arpCandidates = []
        if !advertisements.isEmpty {
            for (advertisement, time) in advertisements {
                announces.append(AnnounceFrame(kind: .unsolicitedNeighborAdvertisement, timeNanoseconds: time,
                                               sourceMAC: advertisement.linkSource ?? advertisement.targetLinkLayerAddress))
            }
            advertisements = []
            // Both kinds in time order (the analysis orders them by time too).
            announces.sort { $0.timeNanoseconds < $1.timeNanoseconds }
        }
        return ProbeLog(events: events, announces: announces, nominalIntervalNanoseconds: nominalIntervalNanoseconds)
    }

    private func isToOrFromTarget(_ echo: EchoPacket) -> Bool {
        echo.isRequest ? echo.destination == target : echo.source == target
    }

    private mutating func replayUndecided() {
        let pending = undecided
        undecided = []
        for (echo, time) in pending {
            if identifier == nil {
                undecided.append((echo, time))
            } else {
                _ = accept(echo, timeNanoseconds: time)
            }
        }
    }

    private mutating func accept(_ echo: EchoPacket, timeNanoseconds: Int64) -> ProbeEvent? {
        guard echo.identifier == identifier else {
            packetsIgnored += 1
            return nil
        }
        let sequence: UInt64
        if let probe = echo.probe {
            sequence = probe.sequence
            // The payload's interval comes from the wire: only one pingmon could have sent counts.
            if nominalIntervalNanoseconds == nil,
               (PingConfiguration.minimumIntervalMicroseconds...PingConfiguration.maximumIntervalMicroseconds).contains(Int(probe.intervalMicroseconds)) {
                nominalIntervalNanoseconds = Int64(probe.intervalMicroseconds) * 1_000
            }
        } else {
            sequence = unwrap(echo.sequence16)
        }
        lastSequence = max(lastSequence ?? sequence, sequence)
        if !echo.isRequest, learnedMAC == nil { learnedMAC = echo.linkSource }
        let event = ProbeEvent(kind: echo.isRequest ? .request : .reply, sequence: sequence, timeNanoseconds: timeNanoseconds)
        events.append(event)
        return event
    }

    /// Extends a 16-bit ICMP sequence to the 64-bit one nearest to the last seen (pingmon's
    /// 16-bit sequence is the low half of its 64-bit one, so both kinds of packet agree).
    private func unwrap(_ sequence16: UInt16) -> UInt64 {
        guard let last = lastSequence else { return UInt64(sequence16) }
        // Written without overflow: sequence numbers come from the wire.
        let candidate = (last & ~0xFFFF) | UInt64(sequence16)
        if last > candidate, last - candidate > 0x8000, candidate <= UInt64.max - 0x1_0000 {
            return candidate + 0x1_0000
        }
        if candidate > last, candidate - last > 0x8000, candidate >= 0x1_0000 {
            return candidate - 0x1_0000
        }
        return candidate
    }
}
