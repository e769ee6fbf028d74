/// Everything that stops memeater, each with the value that caused it.
public enum MemeaterError: Error, Equatable, CustomStringConvertible {
    /// A region size below 1 MiB.
    case sizeNotPositive(sizeMiB: Int)
    /// A region larger than the guest's available memory (`MemAvailable`).
    case sizeAboveAvailableMemory(sizeMiB: Int, availableMiB: Int)
    /// A dirty rate that is not a finite, non-negative number.
    case rateInvalid(String)
    /// A dirty rate above what the region can dirty uniquely in one second.
    case rateAboveRegion(ratePagesPerSecond: Double, regionPages: Int, sizeMiB: Int)
    /// A worker thread count below 1 or above the region's pages (at most 4096).
    case threadsInvalid(threads: Int, regionPages: Int)
    /// Bytes per page write not a multiple of 8 between 32 and the page size.
    case bytesPerWriteInvalid(bytes: Int, pageSizeBytes: Int)
    /// A hot set fraction outside (0, 1) or a probability outside [0, 1].
    case hotSetInvalid(fraction: Double, probability: Double)
    /// The memory region could not be set up.
    case engineCreationFailed(String)
    /// A worker thread could not be started.
    case threadCreationFailed(errno: Int32)
    /// A page index outside the region.
    case pageOutOfRange(page: Int, pageCount: Int)
    /// A byte offset outside the bytes memeater writes in each page.
    case byteOffsetOutOfRange(byteOffset: Int, bytesPerWrite: Int)
    /// An operation that needs the workers stopped was asked while they run.
    case workersRunning(operation: String)
    /// The control server's TCP port is already in use.
    case portInUse(port: Int)
    /// A socket call of the control server failed.
    case socketFailed(call: String, errno: Int32)
    /// A system file (e.g. `/proc/meminfo`) cannot be read or lacks the expected figure.
    case systemInformationUnavailable(path: String)
    /// A control token that is too short, too long, or not printable ASCII without spaces.
    case tokenInvalid(reason: String)
    /// The token file cannot be opened, read or is no regular file.
    case tokenFileUnreadable(path: String, reason: String)
    /// The token file can be read by users other than its owner (its mode, e.g. 0o644).
    case tokenFileNotPrivate(path: String, mode: UInt32)
    /// The token file cannot be written.
    case tokenFileUnwritable(path: String, errno: Int32)
    /// No random bytes for a new token.
    case randomBytesUnavailable(errno: Int32)
    /// A setting of the control server out of its range (connection limit, timeout).
    case controlSettingInvalid(reason: String)

    public var description: String {
        switch self {
        case .sizeNotPositive(let size):
            "region size must be at least 1 MiB, got \(size) MiB"
        case .sizeAboveAvailableMemory(let size, let available):
            "region of \(size) MiB is larger than the \(available) MiB of memory available (MemAvailable)"
        case .rateInvalid(let reason):
            "invalid rate: \(reason)"
        case .rateAboveRegion(let rate, let pages, let size):
            // A rate from the wire may be any finite number: Int(rate) traps above Int.max.
            "rate of \(rate < 1e15 ? String(Int(rate)) : "\(rate)") unique pages/s exceeds what a \(size) MiB region of \(pages) pages can dirty uniquely in one second"
        case .threadsInvalid(let threads, let pages):
            "thread count \(threads) must be between 1 and the region's \(min(pages, 4096)) pages"
        case .bytesPerWriteInvalid(let bytes, let page):
            "bytes per page write \(bytes) must be a multiple of 8 between 32 and the page size \(page)"
        case .hotSetInvalid(let fraction, let probability):
            "hot set fraction \(fraction) must be in (0, 1) and its probability \(probability) in [0, 1]"
        case .engineCreationFailed(let reason):
            "cannot set up the region: \(reason)"
        case .threadCreationFailed(let code):
            "cannot start a worker thread: \(errnoDescription(code))"
        case .pageOutOfRange(let page, let count):
            "page \(page) is outside the region of \(count) pages"
        case .byteOffsetOutOfRange(let offset, let bytes):
            "byte offset \(offset) is outside the \(bytes) bytes written in each page"
        case .workersRunning(let operation):
            "cannot \(operation) while the workers run: stop them first"
        case .portInUse(let port):
            "TCP port \(port) is already in use"
        case .socketFailed(let call, let code):
            "\(call) failed: \(errnoDescription(code))"
        case .systemInformationUnavailable(let path):
            "cannot read \(path)"
        case .tokenInvalid(let reason):
            "invalid control token: \(reason)"
        case .tokenFileUnreadable(let path, let reason):
            "cannot read the token file \(path): \(reason)"
        case .tokenFileNotPrivate(let path, let mode):
            "the token file \(path) can be read by others (mode \(String(mode & 0o777, radix: 8))): chmod 600 it"
        case .tokenFileUnwritable(let path, let code):
            "cannot write the token file \(path): \(errnoDescription(code))"
        case .randomBytesUnavailable(let code):
            "cannot read random bytes for a control token: \(errnoDescription(code))"
        case .controlSettingInvalid(let reason):
            "invalid control server setting: \(reason)"
        }
    }
}
