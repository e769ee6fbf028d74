import Foundation

/// Collects what a child prints on its pipes (standard output, standard error, or both), on
/// a reader thread of its own, keeping each stream apart and at most ``limitBytes`` of each.
///
/// The pipes are polled together, so that a child filling one while the other is waited on
/// never blocks. Reading ends when every pipe is at its end, or once ``requestStop()`` was
/// called and nothing has been ready for 100 ms: a daemon the child started may hold a pipe
/// open for good. The collector closes the descriptors it was given.
final class OutputCollector: @unchecked Sendable {
    // @unchecked: `streams` and `stop` are guarded by `lock`; the rest is immutable.
    private let lock = NSLock()
    private var streams: [Data]
    private var stop = false
    /// At most this much of each stream is kept (what comes after is read and dropped).
    let limitBytes: Int
    /// Left once the reader thread has closed every descriptor.
    private let reading = DispatchGroup()

    private init(streamCount: Int, limitBytes: Int) {
        streams = Array(repeating: Data(), count: streamCount)
        self.limitBytes = limitBytes
    }

    /// Starts reading `descriptors` on a new thread named `threadName`; stream `i` of the
    /// collector is what came from `descriptors[i]`. The collector owns the descriptors from
    /// now on and closes them.
    static func start(reading descriptors: [Int32], limitBytes: Int = .max, threadName: String) -> OutputCollector {
        let collector = OutputCollector(streamCount: descriptors.count, limitBytes: limitBytes)
        collector.reading.enter()
        let reader = Thread {
            collector.drain(descriptors)
            collector.reading.leave()
        }
        reader.name = threadName
        reader.start()
        return collector
    }

    /// Stream `index` as read so far, as text.
    func text(_ index: Int) -> String {
        lock.lock(); defer { lock.unlock() }
        return String(decoding: streams[index], as: UTF8.self)
    }

    /// Ends reading once nothing has been ready for 100 ms.
    func requestStop() {
        lock.lock(); defer { lock.unlock() }
        stop = true
    }

    /// Waits up to `timeoutSeconds` for reading to end; whether it did. May be called again.
    func waitForEnd(timeoutSeconds: Double) -> Bool {
        reading.wait(timeout: .now() + timeoutSeconds) == .success
    }

    private var stopRequested: Bool {
        lock.lock(); defer { lock.unlock() }
        return stop
    }

    private func append(_ bytes: ArraySlice<UInt8>, to index: Int) {
        lock.lock(); defer { lock.unlock() }
        let room = max(0, limitBytes - streams[index].count)
        streams[index].append(contentsOf: bytes.prefix(room))
    }

    /// Reads every descriptor until each is at its end (or fails), or until a stop is
    /// requested and nothing has been ready for 100 ms; closes them all.
    private func drain(_ descriptors: [Int32]) {
        var open = descriptors  // -1 once at its end: poll skips it
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while open.contains(where: { $0 >= 0 }) {
            var pollers = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&pollers, nfds_t(pollers.count), 100)
            if ready == 0 {
                if stopRequested { break }
                continue
            }
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            for index in pollers.indices where pollers[index].fd >= 0 && pollers[index].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(pollers[index].fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    append(buffer[..<count], to: index)
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    close(pollers[index].fd)
                    open[index] = -1
                }
            }
        }
        for descriptor in open where descriptor >= 0 { close(descriptor) }
    }
}
