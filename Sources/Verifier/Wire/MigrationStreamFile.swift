import Foundation

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
