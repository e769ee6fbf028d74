import Foundation

/// How a TCP connection's stream began, judged from the first bytes its client sent (the
/// source QEMU connects to the destination's migration port).
public enum StreamStart: String, Sendable, Equatable, Codable, CaseIterable {
    /// `QEVM` then version 3: QEMU's main migration stream in clear (`QEMU_VM_FILE_MAGIC`).
    case qemuMainStream = "qemu-main-stream"
    /// `0x11223344` then version 1: a multifd channel in clear (`MULTIFD_MAGIC`, migration/multifd.c).
    case multifdChannel = "multifd-channel"
    /// A TLS handshake record (content type 0x16, version 3.1 to 3.3): a ClientHello.
    case tlsHandshake = "tls-handshake"
    /// Bytes that are none of these.
    case unknown
    /// The capture has no opening (SYN) of the connection: it began before the capture did,
    /// so its first bytes are not known.
    case joinedMidStream = "joined-mid-stream"
    /// The opening was captured, but not the segment at the stream's start.
    case firstBytesMissing = "first-bytes-missing"
    /// The client sent no data.
    case noData = "no-data"

    /// The stream in clear: QEMU's own framing is on the wire.
    public var isClear: Bool { self == .qemuMainStream || self == .multifdChannel }

    /// For evidence, e.g. `QEVM (QEMU's main stream in clear)`.
    public var phrase: String {
        switch self {
        case .qemuMainStream: return "QEVM (QEMU's main stream in clear)"
        case .multifdChannel: return "multifd magic 0x11223344 (a multifd channel in clear)"
        case .tlsHandshake: return "TLS handshake"
        case .unknown: return "unknown bytes"
        case .joinedMidStream: return "joined mid-stream (no SYN captured: its first bytes came before the capture)"
        case .firstBytesMissing: return "its first bytes were not captured"
        case .noData: return "no data from the client"
        }
    }

    /// Short, for notes: `QEVM`, `multifd`, `TLS`, ...
    public var shortName: String {
        switch self {
        case .qemuMainStream: return "QEVM"
        case .multifdChannel: return "multifd magic"
        case .tlsHandshake: return "TLS"
        case .unknown: return "unknown bytes"
        case .joinedMidStream: return "joined mid-stream"
        case .firstBytesMissing: return "first bytes missing"
        case .noData: return "no data"
        }
    }
}

/// One way of a captured TCP connection.
public struct StreamDirection: Sendable, Equatable, Codable {
    /// Packets captured this way.
    public var packets: Int
    /// The IP packets' lengths summed, bytes (headers included; from the IP header, not the
    /// snapshot length).
    public var ipBytes: UInt64
    /// TCP payload bytes (from the IP and TCP headers' lengths).
    public var payloadBytes: UInt64
    /// The first payload bytes of the stream this way, in sequence order, as hex (empty: none).
    public var firstBytesHex: String

    public init(packets: Int = 0, ipBytes: UInt64 = 0, payloadBytes: UInt64 = 0, firstBytesHex: String = "") {
        self.packets = packets
        self.ipBytes = ipBytes
        self.payloadBytes = payloadBytes
        self.firstBytesHex = firstBytesHex
    }
}

/// A TCP connection to one of the destination's migration ports, as captured.
public struct StreamConnection: Sendable, Equatable, Codable {
    /// `ADDRESS:PORT` of the side that opened it (`[ADDRESS]:PORT` for IPv6).
    public var client: String
    /// `ADDRESS:PORT` of the side that listened.
    public var server: String
    public var serverPort: Int
    /// The opening SYN was captured.
    public var sawOpening: Bool
    public var clientToServer: StreamDirection
    public var serverToClient: StreamDirection
    /// How the client's stream began.
    public var start: StreamStart

    public init(client: String, server: String, serverPort: Int, sawOpening: Bool, clientToServer: StreamDirection,
                serverToClient: StreamDirection, start: StreamStart) {
        self.client = client
        self.server = server
        self.serverPort = serverPort
        self.sawOpening = sawOpening
        self.clientToServer = clientToServer
        self.serverToClient = serverToClient
        self.start = start
    }

    /// Data went either way.
    public var carriesData: Bool { clientToServer.payloadBytes > 0 || serverToClient.payloadBytes > 0 }

    /// `198.18.0.1:41234→198.18.0.2:49152`.
    public var endpoints: String { "\(client)→\(server)" }

    /// One line of evidence: endpoints, how it began, the first bytes, the bytes each way.
    public var description: String {
        let first = clientToServer.firstBytesHex.isEmpty ? "" : " [\(Self.spaced(clientToServer.firstBytesHex))]"
        let back = serverToClient.firstBytesHex.isEmpty ? "" : ", answered [\(Self.spaced(serverToClient.firstBytesHex))]"
        return "\(endpoints): \(start.phrase)\(first)\(back); \(clientToServer.payloadBytes) payload bytes sent "
            + "(\(clientToServer.ipBytes) IP bytes in \(clientToServer.packets) packets), \(serverToClient.payloadBytes) back "
            + "(\(serverToClient.ipBytes) IP bytes in \(serverToClient.packets) packets)"
    }

    /// `5145564d` → `51 45 56 4d`.
    static func spaced(_ hex: String) -> String {
        var pairs: [Substring] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) ?? hex.endIndex
            pairs.append(hex[index..<next])
            index = next
        }
        return pairs.joined(separator: " ")
    }
}

/// What a capture of the destination's migration ports during the migration call showed:
/// the connections to those ports and how each began (`stream-encrypted` judges it).
public struct MigrationStreamObservation: Sendable, Equatable, Codable {
    /// The host captured on, for evidence.
    public var hostName: String
    /// The migration ports captured (libvirt's `migration_port_min`...`migration_port_max`).
    public var lowestPort: Int
    public var highestPort: Int
    /// Packets in the capture file.
    public var packetsCaptured: Int
    /// The capture stopped after this many packets (`nil`: no limit): the byte counts are
    /// those of the packets it holds.
    public var packetLimit: Int?
    /// Packets the kernel dropped, as the capture tool said when it ended (`nil`: not said).
    public var packetsDroppedByKernel: Int?
    /// The connections to a migration port of the destination, in the order they were first seen.
    public var connections: [StreamConnection]
    /// TCP connections in the capture between other ports (the capture filter matches a
    /// migration port on either side, e.g. a client's ephemeral port).
    public var otherConnections: Int
    /// Frames that were no IPv4 or IPv6 TCP segment.
    public var undecodedFrames: Int
    /// The capture file, when kept (`--save-captures`).
    public var capturePath: String?

    public init(hostName: String, lowestPort: Int, highestPort: Int, packetsCaptured: Int, packetLimit: Int? = nil,
                packetsDroppedByKernel: Int? = nil, connections: [StreamConnection], otherConnections: Int = 0,
                undecodedFrames: Int = 0, capturePath: String? = nil) {
        self.hostName = hostName
        self.lowestPort = lowestPort
        self.highestPort = highestPort
        self.packetsCaptured = packetsCaptured
        self.packetLimit = packetLimit
        self.packetsDroppedByKernel = packetsDroppedByKernel
        self.connections = connections
        self.otherConnections = otherConnections
        self.undecodedFrames = undecodedFrames
        self.capturePath = capturePath
    }

    /// `TCP 49152-49215 on dst`.
    public var portsDescription: String { "TCP \(lowestPort)-\(highestPort) on \(hostName)" }

    /// The capture stopped at its packet limit.
    public var limitReached: Bool { packetLimit.map { packetsCaptured >= $0 } ?? false }

    /// The connections that carried data.
    public var carryingData: [StreamConnection] { connections.filter(\.carriesData) }

    /// What the capture covered, e.g. `1234 packets captured on TCP 49152-49215 on dst, 0 dropped by the kernel`.
    public var coverage: String {
        var text = "\(packetsCaptured) packets captured on \(portsDescription)"
        if let dropped = packetsDroppedByKernel { text += ", \(dropped) dropped by the kernel" }
        if limitReached, let packetLimit {
            text += "; the capture stopped at its limit of \(packetLimit) packets, so the byte counts are those of the packets it holds"
        }
        return text
    }

    /// One line for a run that is not judged on it: how each connection that carried data
    /// began, e.g. `stream in clear: QEVM on 198.18.0.1:41234→198.18.0.2:49152`.
    public var summary: String {
        let carrying = carryingData
        guard !carrying.isEmpty else { return "migration stream: no connection to \(portsDescription) carried data (\(coverage))" }
        let each = carrying.map { "\($0.start.shortName) on \($0.endpoints) (\($0.clientToServer.payloadBytes) bytes sent)" }
        let clear = carrying.contains { $0.start.isClear }
        return (clear ? "stream in clear: " : "migration stream: ") + each.joined(separator: "; ")
    }
}

/// The probed guest's ICMP echoes as a capture on the destination host saw them during the
/// migration call (its own tcpdump, beside the migration ports' whose bulk would fill a shared
/// packet limit before the switch-over): when the pinger's probes first reached the destination
/// (the switch learned the guest's new place from its announce) and when the guest's first
/// answer left it. The time between the two is the guest's own delay to answer once probes were
/// at its NIC, measured on the destination's clock alone; the network's part of the ping gap is
/// what lies outside it.
public struct DestinationEchoObservation: Sendable, Equatable, Codable {
    /// The guest address followed (the ping target).
    public var guestAddress: String
    /// The host captured on, for evidence.
    public var hostName = "the destination"
    /// The first echo request to the guest the capture holds (its earliest sighting on any of
    /// the host's interfaces), ns since the Unix epoch on the destination's clock, and its
    /// 16-bit ICMP sequence number (`nil`: no probe reached the destination).
    public var firstProbeEpochNanoseconds: Int64?
    public var firstProbeSequence: UInt16?
    /// The guest's first echo reply at or after the first probe, likewise (`nil`: it never
    /// answered there after a probe arrived).
    public var firstReplyEpochNanoseconds: Int64?
    public var firstReplySequence: UInt16?
    /// Probes (distinct sequence numbers) that reached the destination before the first reply.
    public var probesBeforeFirstReply: Int
    /// Replies (distinct sequence numbers) the guest sent there before any probe reached the
    /// host: to probes the source had delivered into its memory before the switch-over.
    public var repliesBeforeFirstProbe = 0
    /// Echo packets of the guest in the capture, every interface counted.
    public var echoPacketsCaptured: Int
    /// The capture's clock is this machine's (a lab host, or `qemu:///system`), so its
    /// instants go on the run clock; a remote host's clock is its own, and only the answer
    /// delay, a difference on that one clock, is kept.
    public var clockIsThisMachines = false
    /// tcpdump stopped at its packet limit (what came later is not in the capture).
    public var packetLimitReached = false
    /// The capture file, when kept (`--save-captures`).
    public var capturePath: String?

    public init(guestAddress: String, firstProbeEpochNanoseconds: Int64? = nil, firstProbeSequence: UInt16? = nil,
                firstReplyEpochNanoseconds: Int64? = nil, firstReplySequence: UInt16? = nil, probesBeforeFirstReply: Int = 0,
                echoPacketsCaptured: Int = 0) {
        self.guestAddress = guestAddress
        self.firstProbeEpochNanoseconds = firstProbeEpochNanoseconds
        self.firstProbeSequence = firstProbeSequence
        self.firstReplyEpochNanoseconds = firstReplyEpochNanoseconds
        self.firstReplySequence = firstReplySequence
        self.probesBeforeFirstReply = probesBeforeFirstReply
        self.echoPacketsCaptured = echoPacketsCaptured
    }

    /// From the first probe reaching the destination to the guest's first reply leaving it, ms
    /// (`nil`: either is missing).
    public var guestAnswerDelayMilliseconds: Double? {
        guard let probe = firstProbeEpochNanoseconds, let reply = firstReplyEpochNanoseconds, reply >= probe else { return nil }
        return Double(reply - probe) / 1e6
    }

    /// Why there is no answer delay, for notes (`nil`: there is one).
    public var answerDelayMissingReason: String? {
        if guestAnswerDelayMilliseconds != nil { return nil }
        let limit = packetLimitReached ? " (the capture stopped at its packet limit)" : ""
        if firstProbeEpochNanoseconds == nil { return "no probe to \(guestAddress) reached the destination while it was captured" + limit }
        let carried = repliesBeforeFirstProbe > 0
            ? " after the first probe reached it (only \(repliesBeforeFirstProbe) reply(ies) before, to probes carried in its memory)" : ""
        return "\(guestAddress) did not answer on the destination\(carried) while it was captured" + limit
    }
}
