import Foundation
import PingMonitor

/// Why a capture of the migration ports could not be read. One line each, naming the file.
public enum MigrationStreamFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file is empty: the capture tool wrote not even its header.
    case empty(path: String)
    /// libpcap could not open or read it (what pingmon's capture reader said).
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .empty(let path):
            return "the migration-port capture \(path) is empty: the capture tool wrote not even its file header"
        case .unreadable(let path, let reason):
            // pingmon's reader names the file itself.
            return reason.contains(path) ? "migration-port capture: \(reason)" : "cannot read the migration-port capture \(path): \(reason)"
        }
    }
}

/// Reads a capture file of the migration ports (pcap or pcapng, as `tcpdump -w` writes it:
/// Linux cooked v1 or v2 from `-i any`, or Ethernet) with libpcap, through pingmon's
/// ``PingMonitor/CaptureSession``, and analyses its connections.
public enum MigrationStreamFile {
    /// The connections of the capture at `path` to `ports` on `hostName`.
    ///
    /// - Throws: ``MigrationStreamFileError`` when the file is empty, not a capture file,
    ///   of a link type that cannot be decoded, or damaged part-way (a truncated last packet too:
    ///   what was captured must be read whole to be evidence).
    public static func analyze(path: String, ports: ClosedRange<Int>, hostName: String, packetLimit: Int? = nil,
                               packetsDroppedByKernel: Int? = nil, keptPath: String? = nil) throws(MigrationStreamFileError) -> MigrationStreamObservation {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
        if size == 0 { throw .empty(path: path) }
        var analyzer = MigrationStreamAnalyzer(ports: ports)
        do {
            let session = try CaptureSession(file: path)
            readLoop: while true {
                switch try session.next() {
                case .packet(let packet):
                    analyzer.add(frame: packet.bytes, wireLengthBytes: packet.originalLength, linkLayer: session.linkLayer)
                case .timeout, .finished:  // a file never times out: its end
                    break readLoop
                }
            }
        } catch let error as PingMonitorError {
            throw .unreadable(path: path, reason: error.description)
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        let (connections, others) = analyzer.connections()
        return MigrationStreamObservation(hostName: hostName, lowestPort: ports.lowerBound, highestPort: ports.upperBound,
                                          packetsCaptured: analyzer.framesRead, packetLimit: packetLimit,
                                          packetsDroppedByKernel: packetsDroppedByKernel, connections: connections,
                                          otherConnections: others, undecodedFrames: analyzer.undecodedFrames, capturePath: keptPath)
    }
}
