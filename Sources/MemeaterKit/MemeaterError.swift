/// Everything that stops memeater, each with the value that caused it.
public enum MemeaterError: Error, Equatable, CustomStringConvertible {
    case sizeNotPositive(sizeMiB: Int)
    case sizeAboveAvailableMemory(sizeMiB: Int, availableMiB: Int)
    case rateInvalid(String)
    case rateAboveRegion(ratePagesPerSecond: Double, regionPages: Int, sizeMiB: Int)
    case threadsInvalid(threads: Int, regionPages: Int)
    case bytesPerWriteInvalid(bytes: Int, pageSizeBytes: Int)
    case hotSetInvalid(fraction: Double, probability: Double)
    case engineCreationFailed(String)
    case threadCreationFailed(errno: Int32)
    case pageOutOfRange(page: Int, pageCount: Int)
    case workersRunning(operation: String)
    case portInUse(port: Int)
    case socketFailed(call: String, errno: Int32)
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
            "rate of \(Int(rate)) unique pages/s exceeds what a \(size) MiB region of \(pages) pages can dirty uniquely in one second"
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
