import Foundation
import PingMonitor

/// Why a capture file taken on a host could not be read. One line each, naming the file and
/// which capture it is (`migration-port capture`, `destination echo capture`).
public enum CaptureFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file is empty: the capture tool wrote not even its header.
    case empty(path: String, capture: String)
    /// libpcap could not open or read it (what pingmon's capture reader said).
    case unreadable(path: String, capture: String, reason: String)

    public var description: String {
        switch self {
        case .empty(let path, let capture):
            return "the \(capture) \(path) is empty: the capture tool wrote not even its file header"
        case .unreadable(let path, let capture, let reason):
            // pingmon's reader names the file itself.
            return reason.contains(path) ? "\(capture): \(reason)" : "cannot read the \(capture) \(path): \(reason)"
        }
    }
}

/// Reads a capture file (pcap or pcapng, as `tcpdump -w` writes it: Linux cooked v1 or v2 from
/// `-i any`, or Ethernet) with libpcap, through pingmon's ``PingMonitor/CaptureSession``.
enum CaptureFile {
    /// Hands every packet of the file at `path` to `body`, in order, with the file's link layer.
    ///
    /// - Throws: ``CaptureFileError`` (naming `capture`) when the file is empty, not a capture
    ///   file, of a link type that cannot be decoded, or damaged part-way (a truncated last
    ///   packet too: what was captured must be read whole to be evidence).
    static func forEachPacket(path: String, capture: String,
                              _ body: (CapturedPacket, LinkLayer) -> Void) throws(CaptureFileError) {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
        if size == 0 { throw .empty(path: path, capture: capture) }
        do {
            let session = try CaptureSession(file: path)
            while true {
                switch try session.next() {
                case .packet(let packet): body(packet, session.linkLayer)
                case .timeout, .finished: return  // a file never times out: its end
                }
            }
        } catch let error as PingMonitorError {
            throw .unreadable(path: path, capture: capture, reason: error.description)
        } catch {
            throw .unreadable(path: path, capture: capture, reason: "\(error)")
        }
    }
}

/// Reads a capture file of the migration ports (pcap or pcapng, as `tcpdump -w` writes it:
/// Linux cooked v1 or v2 from `-i any`, or Ethernet) with libpcap, through pingmon's
/// ``PingMonitor/CaptureSession``, and analyses its connections.
public enum MigrationStreamFile {
    /// The connections of the capture at `path` to `ports` on `hostName`.
    ///
    /// - Throws: ``CaptureFileError`` when the file cannot be read whole (``CaptureFile``).
    public static func analyze(path: String, ports: ClosedRange<Int>, hostName: String, packetLimit: Int? = nil,
                               packetsDroppedByKernel: Int? = nil, keptPath: String? = nil) throws(CaptureFileError) -> MigrationStreamObservation {
        var analyzer = MigrationStreamAnalyzer(ports: ports)
        try CaptureFile.forEachPacket(path: path, capture: "migration-port capture") { packet, linkLayer in
            analyzer.add(frame: packet.bytes, wireLengthBytes: packet.originalLength, linkLayer: linkLayer)
        }
        let (connections, others) = analyzer.connections()
        return MigrationStreamObservation(hostName: hostName, lowestPort: ports.lowerBound, highestPort: ports.upperBound,
                                          packetsCaptured: analyzer.framesRead, packetLimit: packetLimit,
                                          packetsDroppedByKernel: packetsDroppedByKernel, connections: connections,
                                          otherConnections: others, undecodedFrames: analyzer.undecodedFrames, capturePath: keptPath)
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
