#if canImport(Glibc)
import Glibc
#endif

private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Starts a POSIX thread running `body`. Memeater uses plain threads, not a pool:
/// each worker must own a core's worth of time without a scheduler in between.
func startThread(_ body: @escaping @Sendable () -> Void) throws(MemeaterError) -> pthread_t {
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        guard let raw else { return nil }
        Unmanaged<ThreadBody>.fromOpaque(raw).takeRetainedValue().run()
        return nil
    }, context)
    guard result == 0 else {
        Unmanaged<ThreadBody>.fromOpaque(context).release()
        throw .threadCreationFailed(errno: result)
    }
    return thread
}

/// Starts a detached POSIX thread running `body`: nobody joins it, and its stack is freed
/// when it ends. The control server's threads are detached; a joinable thread that is never
/// joined keeps its stack mapped, and a client reconnecting in a loop would pile them up.
func startDetachedThread(_ body: @escaping @Sendable () -> Void) throws(MemeaterError) {
    let thread = try startThread(body)
    pthread_detach(thread)
}
