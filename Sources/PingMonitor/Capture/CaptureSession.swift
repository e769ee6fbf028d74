import CPcap
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How finely the capture's timestamps resolve time.
public enum TimestampPrecision: String, Sendable, Codable {
    /// Nanosecond timestamps.
    case nano
    /// Microsecond timestamps.
    case micro
    /// Neither: a pcapng file whose first interface records another resolution (milliseconds,
    /// a power of two, ...), or whose first interface could not be read before libpcap's.
    case unknown

    /// For messages, e.g. "nanosecond precision".
    public var phrase: String {
        switch self {
        case .nano: "nanosecond precision"
        case .micro: "microsecond precision"
        case .unknown: "the precision recorded in the pcapng file (neither micro- nor nanoseconds)"
        }
    }
}

/// One captured packet. Its pointers belong to libpcap and are valid only until the next read
/// from the same session.
public struct CapturedPacket {
    /// Capture time in nanoseconds since the Unix epoch.
    public var timeNanoseconds: Int64
    /// The captured bytes (at most the snapshot length).
    public var bytes: UnsafeRawBufferPointer
    /// The packet's length on the wire (more than `bytes.count` when the snapshot cut it).
    public var originalLength: Int
}

/// Owns one libpcap handle (`pcap_t`), live on an interface or reading a file, and closes it in
/// `deinit`. Each libpcap call is wrapped once and turns a failure into a `PingMonitorError`
/// that names the interface or file and quotes `pcap_geterr`.
///
/// Not thread-safe, except `breakLoop()`, which another thread may call to end a blocking read.
public final class CaptureSession: @unchecked Sendable {
    /// The interface or file name, for messages.
    public let source: String
    /// True when reading a file.
    public let isFile: Bool
    /// The precision of the timestamps delivered (files: as recorded in the file).
    public private(set) var timestampPrecision: TimestampPrecision = .micro
    /// How the timestamps were taken.
    public private(set) var timestampSource: String = ""
    /// Problems libpcap reported that did not stop the capture.
    public private(set) var warnings: [String] = []
    /// The link layer of the packets.
    public private(set) var linkLayer: LinkLayer = .ethernet
    private let handle: OpaquePointer
    /// Multiplier from the header's sub-second field to nanoseconds.
    private var subsecondScale: Int64 = 1_000
    /// Packets returned so far (for messages about damaged files).
    public private(set) var packetsRead = 0

    /// Opens `interface` for live capture. The corresponding C functions are `pcap_create`,
    /// `pcap_set_*` and `pcap_activate`.
    ///
    /// - Parameters:
    ///   - snapshotLengthBytes: bytes kept of each packet.
    ///   - bufferSizeBytes: the kernel ring buffer; packets beyond it are dropped and counted.
    ///   - timeoutMilliseconds: how long the kernel may hold packets to deliver them in batches.
    public init(interface: String, snapshotLengthBytes: Int, bufferSizeBytes: Int, timeoutMilliseconds: Int) throws {
        source = interface
        isFile = false
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let created = pcap_create(interface, &errorBuffer) else {
            throw PingMonitorError.captureFailed(interface: interface, call: "pcap_create", message: Self.text(errorBuffer))
        }
        handle = created
        try check(pcap_set_snaplen(handle, Int32(snapshotLengthBytes)), call: "pcap_set_snaplen")
        try check(pcap_set_promisc(handle, 0), call: "pcap_set_promisc")
        try check(pcap_set_timeout(handle, Int32(timeoutMilliseconds)), call: "pcap_set_timeout")
        try check(pcap_set_buffer_size(handle, Int32(clamping: bufferSizeBytes)), call: "pcap_set_buffer_size")
        // Software timestamps from the kernel: the same clock (CLOCK_REALTIME) for both directions.
        if pcap_set_tstamp_type(handle, PCAP_TSTAMP_HOST) != 0 {
            warnings.append("\(interface): could not select host timestamps; using libpcap's default")
        }
        let nanoStatus = pcap_set_tstamp_precision(handle, Int32(PCAP_TSTAMP_PRECISION_NANO))
        if nanoStatus != 0 {
            warnings.append("\(interface): nanosecond timestamps not offered (\(String(cString: pcap_statustostr(nanoStatus)))); using microseconds")
        }
        let status = pcap_activate(handle)
        if status < 0 {
            let message = String(cString: pcap_geterr(handle))
            let detail = message.isEmpty ? String(cString: pcap_statustostr(status)) : message
            switch status {
            case PCAP_ERROR_PERM_DENIED:
                throw PingMonitorError.permissionDenied(operation: "capture on \(interface)", detail: "pcap_activate: \(detail)")
            case PCAP_ERROR_NO_SUCH_DEVICE:
                throw PingMonitorError.interfaceNotFound(interface)
            default:
                throw PingMonitorError.captureFailed(interface: interface, call: "pcap_activate", message: detail)
            }
        } else if status > 0 {
            warnings.append("\(interface): pcap_activate: \(String(cString: pcap_statustostr(status))) \(String(cString: pcap_geterr(handle)))")
        }
        let precision = pcap_get_tstamp_precision(handle)
        timestampPrecision = precision == Int32(PCAP_TSTAMP_PRECISION_NANO) ? .nano : .micro
        subsecondScale = timestampPrecision == .nano ? 1 : 1_000
        timestampSource = "host: kernel software timestamps (libpcap PCAP_TSTAMP_HOST, CLOCK_REALTIME), taken as each packet passed the capture point of \(interface)"
        linkLayer = try Self.linkLayer(of: handle, source: interface)
    }

    /// Opens a capture file (pcap or pcapng). The corresponding C function is
    /// `pcap_open_offline_with_tstamp_precision`.
    public init(file path: String) throws {
        source = path
        isFile = true
        let recorded = try Self.recordedFormat(path: path)
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        // Ask for nanoseconds: libpcap scales microsecond files up, so nothing is lost either way.
        guard let opened = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer) else {
            throw PingMonitorError.captureFileOpenFailed(path: path, message: Self.text(errorBuffer))
        }
        handle = opened
        let precision = pcap_get_tstamp_precision(handle)
        subsecondScale = precision == Int32(PCAP_TSTAMP_PRECISION_NANO) ? 1 : 1_000
        timestampPrecision = recorded.precision
        timestampSource = recorded.precision == .unknown
            ? "capture file \(path) (pcapng, a resolution other than micro- or nanoseconds, converted to nanoseconds by libpcap)"
            : "capture file \(path) (\(recorded.pcapng ? "pcapng" : "pcap"), \(recorded.precision.rawValue)second resolution)"
        linkLayer = try Self.linkLayer(of: handle, source: path)
    }

    deinit {
        pcap_close(handle)
    }

    /// Keeps only packets matching the BPF `expression`. The corresponding C functions are
    /// `pcap_compile` and `pcap_setfilter`.
    public func setFilter(_ expression: String) throws {
        var program = bpf_program()
        guard pcap_compile(handle, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw PingMonitorError.filterFailed(source: source, expression: expression, message: String(cString: pcap_geterr(handle)))
        }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(handle, &program) == 0 else {
            throw PingMonitorError.filterFailed(source: source, expression: expression, message: String(cString: pcap_geterr(handle)))
        }
    }

    /// The outcome of one read.
    public enum Read {
        /// A packet was read.
        case packet(CapturedPacket)
        /// Live: nothing arrived before the timeout.
        case timeout
        /// File: end of file. Live: `breakLoop()` was called.
        case finished
    }

    /// Reads the next packet. The corresponding C function is `pcap_next_ex`.
    public func next() throws -> Read {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        let status = pcap_next_ex(handle, &header, &data)
        switch status {
        case 1:
            guard let header, let data else { return .timeout }
            packetsRead += 1
            let seconds = Int64(header.pointee.ts.tv_sec)
            let subsecond = Int64(header.pointee.ts.tv_usec)
            guard let time = Self.nanoseconds(seconds: seconds, subsecond: subsecond, scale: subsecondScale) else {
                // A crafted file (a pcapng if_tsoffset, a huge timestamp) must not wrap the
                // analysis' time arithmetic: times are kept where their differences fit.
                let message = "packet \(packetsRead) has timestamp \(seconds).\(subsecond), outside 1970 to 2100"
                if isFile { throw PingMonitorError.captureFileReadFailed(path: source, packetsRead: packetsRead - 1, message: message) }
                throw PingMonitorError.captureFailed(interface: source, call: "pcap_next_ex", message: message)
            }
            return .packet(CapturedPacket(
                timeNanoseconds: time,
                bytes: UnsafeRawBufferPointer(start: data, count: Int(header.pointee.caplen)),
                originalLength: Int(header.pointee.len)))
        case 0:
            return .timeout
        case PCAP_ERROR_BREAK:
            return .finished
        default:
            let message = String(cString: pcap_geterr(handle))
            if isFile {
                throw PingMonitorError.captureFileReadFailed(path: source, packetsRead: packetsRead, message: message)
            }
            throw PingMonitorError.captureFailed(interface: source, call: "pcap_next_ex", message: message)
        }
    }

    /// Makes a blocked or later `next()` return `.finished`; safe from another thread. The
    /// corresponding C function is `pcap_breakloop`.
    public func breakLoop() {
        pcap_breakloop(handle)
    }

    /// Makes reads return at once when nothing is waiting. The corresponding C function is
    /// `pcap_setnonblock`.
    public func setNonBlocking() throws {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard pcap_setnonblock(handle, 1, &errorBuffer) == 0 else {
            throw PingMonitorError.captureFailed(interface: source, call: "pcap_setnonblock", message: Self.text(errorBuffer))
        }
    }

    /// Counters kept by the kernel for this capture. The corresponding C function is `pcap_stats`.
    public func statistics() throws -> CaptureStatistics {
        var stats = pcap_stat()
        guard pcap_stats(handle, &stats) == 0 else {
            throw PingMonitorError.captureFailed(interface: source, call: "pcap_stats", message: String(cString: pcap_geterr(handle)))
        }
        return CaptureStatistics(packetsReceived: Int(stats.ps_recv), packetsDroppedByKernel: Int(stats.ps_drop),
                                 packetsDroppedByInterface: Int(stats.ps_ifdrop))
    }

    /// Opens a capture file writer for `path`: a pcapng file with this capture's link type,
    /// snapshot length and timestamp resolution (and the interface's name, live). Packets go
    /// to a new temporary file beside it (created exclusively, never through a symbolic link);
    /// ``CaptureFileWriter/close()`` renames it to `path`. A previous file at `path` stays whole
    /// until then, and a symbolic link at `path` is refused (the file it points to is never opened).
    public func openWriter(path: String) throws -> CaptureFileWriter {
        try CaptureFileWriter(path: path, interface: fileInterface())
    }

    /// What a capture file written from this session says about its interface.
    func fileInterface() throws -> PcapngInterface {
        let dataLinkType = pcap_datalink(handle)
        guard let linkType = UInt16(exactly: Self.fileLinkType(dataLinkType: dataLinkType)) else {
            throw PingMonitorError.unsupportedLinkType(source: source, linkType: dataLinkType, name: "not storable in pcapng")
        }
        return PcapngInterface(linkType: linkType, snapshotLength: UInt32(clamping: pcap_snapshot(handle)),
                               resolution: timestampPrecision == .micro ? .micro : .nano, name: isFile ? nil : source)
    }

    /// The `LINKTYPE_` value that files store for libpcap's `DLT_` value: the same number for
    /// every link layer pingmon decodes but raw IP, whose `DLT_RAW` differs between systems
    /// (12 on Linux) while files say `LINKTYPE_RAW` (101). libpcap's `pcap_dump` maps the same
    /// way (`dlt_to_linktype`, not exported).
    static func fileLinkType(dataLinkType: Int32) -> Int32 {
        dataLinkType == DLT_RAW ? 101 : dataLinkType
    }

    /// The latest capture time accepted, in seconds since the epoch (2100-01-01): twice it
    /// still fits in `Int64` nanoseconds, so sums and differences of times never overflow.
    static let latestTimestampSeconds: Int64 = 4_102_444_800

    /// A packet's time in nanoseconds since the epoch from its header's seconds and
    /// subsecond (in units of `scale` ns); `nil` when outside 1970...2100 or the subsecond
    /// is not below one second.
    static func nanoseconds(seconds: Int64, subsecond: Int64, scale: Int64) -> Int64? {
        guard (0...latestTimestampSeconds).contains(seconds), scale > 0, subsecond >= 0,
              subsecond < 1_000_000_000 / scale else { return nil }
        return seconds * 1_000_000_000 + subsecond * scale
    }

    /// The NUL-terminated text libpcap wrote into an error buffer.
    private static func text(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func check(_ status: Int32, call: String) throws {
        guard status == 0 else {
            throw PingMonitorError.captureFailed(interface: source, call: call, message: String(cString: pcap_statustostr(status)))
        }
    }

    private static func linkLayer(of handle: OpaquePointer, source: String) throws -> LinkLayer {
        let type = pcap_datalink(handle)
        switch type {
        case DLT_EN10MB: return .ethernet
        case DLT_LINUX_SLL: return .linuxCooked
        case DLT_LINUX_SLL2: return .linuxCooked2
        case DLT_RAW, DLT_IPV4: return .rawIP
        case DLT_NULL: return .null
        default:
            let name = pcap_datalink_val_to_name(type).map { String(cString: $0) } ?? "unknown"
            throw PingMonitorError.unsupportedLinkType(source: source, linkType: type, name: name)
        }
    }

    /// Whether a capture file is pcapng, and the timestamp resolution it records: a pcap
    /// file's magic number, or a pcapng file's first interface (read from its first 64 KiB).
    private static func recordedFormat(path: String) throws -> (pcapng: Bool, precision: TimestampPrecision) {
        guard let file = fopen(path, "rb") else {
            throw PingMonitorError.captureFileOpenFailed(path: path, message: errnoDescription(errno))
        }
        defer { fclose(file) }
        var prefix = [UInt8](repeating: 0, count: 65_536)
        let count = prefix.withUnsafeMutableBytes { buffer in
            buffer.baseAddress.map { fread($0, 1, buffer.count, file) } ?? 0
        }
        guard count >= 4 else {
            throw PingMonitorError.captureFileOpenFailed(path: path, message: "shorter than a capture file header")
        }
        prefix.removeSubrange(count...)
        let magic = UInt32(prefix[0]) | UInt32(prefix[1]) << 8 | UInt32(prefix[2]) << 16 | UInt32(prefix[3]) << 24
        switch magic {
        case 0xA1B2_3C4D, 0x4D3C_B2A1: return (false, .nano)
        case 0xA1B2_C3D4, 0xD4C3_B2A1: return (false, .micro)
        case PcapngBlocks.sectionHeaderType: return (true, pcapngPrecision(prefix))
        default: return (false, .unknown)  // not a capture file: libpcap says so next
        }
    }

    /// The timestamp resolution of the first interface in a pcapng file that begins with
    /// `bytes`: its if_tsresol option, 10^-6 s when it has none (as the format says). `.unknown`
    /// for any other resolution, or when the first interface is not within `bytes` or the
    /// blocks before it are damaged (libpcap then says what is wrong).
    static func pcapngPrecision(_ bytes: [UInt8]) -> TimestampPrecision {
        guard bytes.count >= 12 else { return .unknown }
        let bigEndian: Bool
        switch (bytes[8], bytes[9], bytes[10], bytes[11]) {
        case (0x4D, 0x3C, 0x2B, 0x1A): bigEndian = false
        case (0x1A, 0x2B, 0x3C, 0x4D): bigEndian = true
        default: return .unknown
        }
        func integer(at offset: Int, bytes width: Int) -> Int {
            (0..<width).reduce(0) { value, index in
                value | Int(bytes[offset + index]) << (8 * (bigEndian ? width - 1 - index : index))
            }
        }
        var offset = 0
        for blockIndex in 0..<64 {
            guard offset + 12 <= bytes.count else { return .unknown }
            let type = integer(at: offset, bytes: 4)
            let length = integer(at: offset + 4, bytes: 4)
            guard length >= 12, length % 4 == 0, length <= bytes.count - offset else { return .unknown }
            if blockIndex > 0, type == Int(PcapngBlocks.sectionHeaderType) { return .unknown }
            if type == Int(PcapngBlocks.interfaceDescriptionType) {
                // Options follow the link type, reserved field and snapshot length.
                var option = offset + 16
                let end = offset + length - 4
                var resolution: Int?
                while option + 4 <= end {
                    let code = integer(at: option, bytes: 2)
                    let size = integer(at: option + 2, bytes: 2)
                    if code == Int(PcapngBlocks.endOfOptions) { break }
                    guard option + 4 + size <= end else { return .unknown }
                    if code == Int(PcapngBlocks.ifTimestampResolution), size == 1 { resolution = Int(bytes[option + 4]) }
                    option += 4 + size + PcapngBlocks.padding(size)
                }
                switch resolution {
                case nil, 6: return .micro
                case 9: return .nano
                default: return .unknown
                }
            }
            offset += length
        }
        return .unknown
    }
}

/// Counters of a live capture, from `pcap_stats`.
public struct CaptureStatistics: Sendable, Equatable, Codable {
    /// Packets that passed the filter (Linux: counted by the kernel).
    public var packetsReceived: Int
    /// Packets the kernel dropped because the capture buffer was full.
    public var packetsDroppedByKernel: Int
    /// Packets the interface dropped (as far as the driver reports it).
    public var packetsDroppedByInterface: Int

    public init(packetsReceived: Int, packetsDroppedByKernel: Int, packetsDroppedByInterface: Int) {
        self.packetsReceived = packetsReceived
        self.packetsDroppedByKernel = packetsDroppedByKernel
        self.packetsDroppedByInterface = packetsDroppedByInterface
    }
}
