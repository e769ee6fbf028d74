import Foundation

/// Runs code inside a named network namespace (`/run/netns/NAME`, as made by `ip netns add`).
///
/// The switch happens on a fresh thread that is dropped afterwards, so no other code of
/// this process ever runs in the namespace. Sockets opened inside keep their namespace:
/// a libvirt connection opened in the client namespace keeps talking to the lab.
public enum NetworkNamespace {
    private typealias SetNamespace = @convention(c) (Int32, Int32) -> Int32
    /// `setns(2)`, looked up at run time (Glibc's Swift module does not export it).
    private static let setNamespace: SetNamespace? = {
        // A null handle is glibc's RTLD_DEFAULT: search every loaded object.
        guard let symbol = dlsym(nil, "setns") else { return nil }
        return unsafeBitCast(symbol, to: SetNamespace.self)
    }()
    private static let newNetworkNamespaceFlag: Int32 = 0x4000_0000 // CLONE_NEWNET

    /// Runs `body` on a new thread inside namespace `name` and returns its result.
    public static func run<Result: Sendable>(in name: String, _ body: @escaping @Sendable () throws -> Result) throws -> Result {
        let box = ResultBox<Result>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            let path = "/run/netns/\(name)"
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                box.result = .failure(LabError(step: "enter network namespace \(name)",
                                               reason: "cannot open \(path): \(String(cString: strerror(errno)))"))
                return
            }
            defer { close(descriptor) }
            guard let setNamespace else {
                box.result = .failure(LabError(step: "enter network namespace \(name)", reason: "setns is not available"))
                return
            }
            guard setNamespace(descriptor, newNetworkNamespaceFlag) == 0 else {
                box.result = .failure(LabError(step: "enter network namespace \(name)",
                                               reason: "setns failed: \(String(cString: strerror(errno)))"))
                return
            }
            box.result = Swift.Result { try body() }
        }
        thread.stackSize = 8 << 20
        thread.start()
        done.wait()
        guard let result = box.result else {
            throw LabError(step: "enter network namespace \(name)", reason: "the namespace thread returned nothing")
        }
        return try result.get()
    }

    /// Whether `/run/netns/NAME` exists.
    public static func exists(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: "/run/netns/\(name)")
    }
}

private final class ResultBox<Value>: @unchecked Sendable {
    var result: Result<Value, Error>?
}
