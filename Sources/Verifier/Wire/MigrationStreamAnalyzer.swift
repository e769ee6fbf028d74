import PingMonitor

/// Groups captured TCP segments into connections and says how each connection to a migration
/// port began: the client's first payload bytes, in sequence order from its SYN, classified as
/// QEMU's main stream in clear (`QEVM`), a multifd channel in clear (`0x11223344`), a TLS
/// handshake, or something else. Pure: frames or segments in, values out.
///
/// TCP may split the first bytes over segments, retransmit them or deliver them out of
/// order: the stream's start is found by sequence number (the SYN's plus one), not by arrival.
/// A connection whose SYN is not in the capture began before it: it is "joined mid-stream",
/// its first bytes unknown. A packet seen again on another interface (`-i any` on a host
/// with a bridge sees a frame on the port and on the bridge) is counted once.
public struct MigrationStreamAnalyzer: Sendable {
    /// The migration ports: a connection whose server listens on one of them is the migration's.
    public let ports: ClosedRange<Int>
    /// Frames read, and those that held no TCP segment.
    public private(set) var framesRead = 0
    public private(set) var undecodedFrames = 0

    private var open: [ConnectionKey: CapturedConnection] = [:]
    private var closed: [CapturedConnection] = []
    private var nextOrder = 0

    /// Payload bytes of a stream's start that are assembled and shown.
    public static let firstBytesKept = TCPSegmentDecoder.payloadBytesKept
    /// Data segments remembered per direction to find the stream's start (the earliest ones).
    static let segmentsKept = 64

    public init(ports: ClosedRange<Int>) {
        self.ports = ports
    }

    /// Adds one captured frame.
    public mutating func add(frame: UnsafeRawBufferPointer, wireLengthBytes: Int, linkLayer: LinkLayer) {
        framesRead += 1
        guard let segment = TCPSegmentDecoder.decode(frame, wireLengthBytes: wireLengthBytes, linkLayer: linkLayer) else {
            undecodedFrames += 1
            return
        }
        add(segment)
    }

    /// Adds one decoded segment (after every segment captured before it).
    public mutating func add(_ segment: TCPSegment) {
        let key = ConnectionKey(segment.source, segment.destination)
        let opening = segment.flags.contains(.syn) && !segment.flags.contains(.ack)
        if opening, let existing = open[key], existing.isReused(by: segment) {
            closed.append(existing)
            open[key] = nil
        }
        var connection = open[key] ?? CapturedConnection(order: nextOrder, firstSender: segment.source, firstReceiver: segment.destination)
        if open[key] == nil { nextOrder += 1 }
        connection.add(segment, opening: opening)
        open[key] = connection
    }

    /// The connections to a migration port in the order they were first seen, and how many
    /// other TCP connections the capture held.
    public func connections() -> (toMigrationPorts: [StreamConnection], others: Int) {
        let all = (closed + open.values).sorted { $0.order < $1.order }.map { $0.summary(ports: ports) }
        let migration = all.filter { ports.contains($0.serverPort) }
        return (migration, all.count - migration.count)
    }

    /// How a stream that begins with `first` began.
    public static func classify(_ first: [UInt8]) -> StreamStart {
        if first.starts(with: qemuFileMagic) { return .qemuMainStream }
        if first.starts(with: multifdMagic) { return .multifdChannel }
        if first.count >= 3, first[0] == tlsHandshakeRecord, first[1] == 0x03, (0x01...0x03).contains(first[2]) { return .tlsHandshake }
        return .unknown
    }

    /// `QEMU_VM_FILE_MAGIC` (0x5145564D, "QEVM"), the first bytes of QEMU's main migration stream.
    public static let qemuFileMagic: [UInt8] = [0x51, 0x45, 0x56, 0x4D]
    /// `MULTIFD_MAGIC` (0x11223344, big-endian), the first bytes of a multifd channel
    /// (`multifd_send_initial_packet`).
    public static let multifdMagic: [UInt8] = [0x11, 0x22, 0x33, 0x44]
    /// TLS record content type `handshake`.
    public static let tlsHandshakeRecord: UInt8 = 0x16
}

/// A connection's two endpoints, in either order.
struct ConnectionKey: Hashable, Sendable {
    let low: TCPEndpoint
    let high: TCPEndpoint

    init(_ a: TCPEndpoint, _ b: TCPEndpoint) {
        if a.description <= b.description {
            low = a
            high = b
        } else {
            low = b
            high = a
        }
    }
}

/// One way of a connection while it is being read.
struct DirectionState: Sendable {
    var packets = 0
    var ipBytes: UInt64 = 0
    var payloadBytes: UInt64 = 0
    /// The initial sequence number, from this side's SYN.
    var initialSequence: UInt32?
    /// The interface the first packet this way was captured on.
    var interfaceIndex: UInt32?
    /// The earliest data segments: where they sit, how long they were, what the capture kept.
    var segments: [(sequence: UInt32, length: Int, prefix: [UInt8])] = []

    mutating func add(_ segment: TCPSegment) {
        packets += 1
        ipBytes += UInt64(max(0, segment.ipLengthBytes))
        payloadBytes += UInt64(max(0, segment.payloadLengthBytes))
        if segment.flags.contains(.syn), initialSequence == nil { initialSequence = segment.sequence }
        if segment.payloadLengthBytes > 0, segments.count < MigrationStreamAnalyzer.segmentsKept {
            // A SYN's own sequence number is taken by the SYN: its data (if any) starts one later.
            let sequence = segment.flags.contains(.syn) ? segment.sequence &+ 1 : segment.sequence
            segments.append((sequence, segment.payloadLengthBytes, segment.payloadPrefix))
        }
    }

    /// The stream's first bytes in sequence order from its start, as far as the capture kept
    /// them without a gap; empty when the segment at the start is missing. Without an initial
    /// sequence number, the first data segment captured.
    func firstBytes(limit: Int) -> [UInt8] {
        guard let initialSequence else { return Array((segments.first?.prefix ?? []).prefix(limit)) }
        let start = initialSequence &+ 1
        // Offsets from the start; a segment before it (a wrapped or foreign number) is ignored.
        let placed = segments.compactMap { segment -> (offset: Int, length: Int, prefix: [UInt8])? in
            let offset = Int(Int32(bitPattern: segment.sequence &- start))
            return offset >= 0 ? (offset, segment.length, segment.prefix) : nil
        }.sorted { $0.offset < $1.offset }
        var bytes: [UInt8] = []
        for segment in placed {
            guard bytes.count < limit else { break }
            guard segment.offset <= bytes.count else { break }  // a gap: the bytes after it are not the start's
            let skip = bytes.count - segment.offset
            guard skip < segment.prefix.count else {
                // Nothing new kept here; a segment whose payload the capture cut ends what is known.
                if segment.prefix.count < segment.length, segment.offset + segment.length > bytes.count { break }
                continue
            }
            bytes += segment.prefix[skip...]
            if segment.prefix.count < segment.length { break }  // the snapshot length cut it: what follows is unknown
        }
        return Array(bytes.prefix(limit))
    }
}

/// A connection while it is being read.
struct CapturedConnection: Sendable {
    let order: Int
    /// The endpoints as the first packet had them.
    let firstSender: TCPEndpoint
    let firstReceiver: TCPEndpoint
    var directions: [TCPEndpoint: DirectionState] = [:]
    /// Who sent the SYN, and who answered it.
    var opener: TCPEndpoint?
    var answerer: TCPEndpoint?
    /// Packets seen again on another interface, not counted.
    var duplicates = 0

    init(order: Int, firstSender: TCPEndpoint, firstReceiver: TCPEndpoint) {
        self.order = order
        self.firstSender = firstSender
        self.firstReceiver = firstReceiver
    }

    /// A SYN that opens a new connection on the same endpoints: not a retransmission of the
    /// SYN already seen (same initial sequence number) while nothing else came.
    func isReused(by syn: TCPSegment) -> Bool {
        if let initial = directions[syn.source]?.initialSequence, initial == syn.sequence { return false }
        return !directions.isEmpty
    }

    mutating func add(_ segment: TCPSegment, opening: Bool) {
        var direction = directions[segment.source] ?? DirectionState()
        if let seen = direction.interfaceIndex, let index = segment.interfaceIndex, seen != index {
            duplicates += 1
            return
        }
        if direction.interfaceIndex == nil { direction.interfaceIndex = segment.interfaceIndex }
        if opening, opener == nil { opener = segment.source }
        if segment.flags.contains(.syn), segment.flags.contains(.ack), answerer == nil { answerer = segment.source }
        direction.add(segment)
        directions[segment.source] = direction
    }

    /// The client and the server: who sent the SYN (or did not answer one); without either, the
    /// side on a migration port listens (the lower port when both are).
    func roles(ports: ClosedRange<Int>) -> (client: TCPEndpoint, server: TCPEndpoint) {
        let other = { (one: TCPEndpoint) in one == firstSender ? firstReceiver : firstSender }
        if let opener { return (opener, other(opener)) }
        if let answerer { return (other(answerer), answerer) }
        switch (ports.contains(firstSender.port), ports.contains(firstReceiver.port)) {
        case (true, false): return (firstReceiver, firstSender)
        case (true, true) where firstSender.port < firstReceiver.port: return (firstReceiver, firstSender)
        default: return (firstSender, firstReceiver)
        }
    }

    func summary(ports: ClosedRange<Int>) -> StreamConnection {
        let (client, server) = roles(ports: ports)
        let sent = directions[client] ?? DirectionState()
        let back = directions[server] ?? DirectionState()
        let limit = MigrationStreamAnalyzer.firstBytesKept
        let clientFirst = sent.firstBytes(limit: limit)
        let start: StreamStart
        if opener == nil {
            start = .joinedMidStream
        } else if sent.payloadBytes == 0 {
            start = .noData
        } else if clientFirst.isEmpty {
            start = .firstBytesMissing
        } else {
            start = MigrationStreamAnalyzer.classify(clientFirst)
        }
        func direction(_ state: DirectionState, first: [UInt8]) -> StreamDirection {
            StreamDirection(packets: state.packets, ipBytes: state.ipBytes, payloadBytes: state.payloadBytes,
                            firstBytesHex: first.map { hexByte($0) }.joined())
        }
        return StreamConnection(client: client.description, server: server.description, serverPort: server.port,
                                sawOpening: opener != nil, clientToServer: direction(sent, first: clientFirst),
                                serverToClient: direction(back, first: back.firstBytes(limit: limit)), start: start)
    }
}

/// `0x4d` → `4d`.
func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
}
