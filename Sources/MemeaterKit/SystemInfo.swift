#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The text of `strerror` for an errno value, e.g. "Address already in use".
public func errnoDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}

/// Facts about the (guest) system that memeater runs on.
public enum SystemInfo {
    /// The system's page size in bytes.
    public static var pageSizeBytes: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }

    /// `MemAvailable` from /proc/meminfo, in bytes.
    public static func availableMemoryBytes() throws(MemeaterError) -> Int {
        let path = "/proc/meminfo"
        guard let text = readSmallFile(path) else { throw .systemInformationUnavailable(path: path) }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kibibytes = Int(fields[1]) { return kibibytes * 1024 }
        }
        throw .systemInformationUnavailable(path: path)
    }

    /// The kernel's boot id: it changes when the guest reboots, and not when it migrates.
    public static func bootID() -> String? {
        readSmallFile("/proc/sys/kernel/random/boot_id")?.split(separator: "\n").first.map(String.init)
    }

    /// The OS's name from /etc/os-release (`PRETTY_NAME`), or "no /etc/os-release" (the lab's
    /// busybox initramfs has none).
    public static func operatingSystem() -> String {
        guard let text = readSmallFile("/etc/os-release") ?? readSmallFile("/usr/lib/os-release") else { return "no /etc/os-release" }
        for line in text.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
            return String(line.dropFirst("PRETTY_NAME=".count).filter { $0 != "\"" && $0 != "'" })
        }
        return "no PRETTY_NAME in /etc/os-release"
    }

    /// The running kernel's release (`uname -r`), from /proc/sys/kernel/osrelease.
    public static func kernelRelease() -> String? {
        readSmallFile("/proc/sys/kernel/osrelease")?.split(separator: "\n").first.map(String.init)
    }

    /// Seconds since the guest booted, from /proc/uptime.
    public static func uptimeSeconds() -> Double? {
        readSmallFile("/proc/uptime")?.split(separator: " ").first.flatMap { Double($0) }
    }

    /// Reads a small text file such as those under /proc (which report size 0, so read until EOF).
    static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 { return nil }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// CLOCK_REALTIME in seconds, for timestamps that other tools correlate with.
public func wallClockSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
