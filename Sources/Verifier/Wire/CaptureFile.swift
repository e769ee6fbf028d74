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
