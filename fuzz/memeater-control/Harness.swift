// libFuzzer harness for memeater's control protocol: every input is the byte stream of one
// control connection. It is split into lines by ControlLineFramer, as `memeater serve` splits
// them, and each line goes to ControlHandler.reply(toLine:connection:) — the strict request
// decoder, authentication, and the handler that acts on a real memeater session (a 1 MiB
// region of 64-byte writes, its workers not started) — once on a server that requires a token and once on an
// open one with fault injection allowed. Each reply must be one line of JSON that decodes as a
// ControlReply whose `ok` is false exactly when it has an error, and every request the
// decoder accepts must encode and decode back to itself; a trap, an AddressSanitizer report,
// a hang or unbounded memory is a finding. See fuzz/README.md.
import Foundation
import MemeaterKit

/// The token of the token-requiring server; the seeds authenticate with it.
private let token = "fuzz-token-0123456789abcdef"

private struct Fixture {
    let engine: DirtyingEngine
    let guarded: ControlHandler
    let open: ControlHandler
}

/// One session for the whole run (a region per input would cost more than the input). Each
/// page's first 64 bytes are memeater's: a whole-region verification then reads 16 KiB, not
/// the whole MiB, which left the fuzzer a fifth of its time in the page checks.
private let fixture: Fixture = {
    do {
        let engine = try DirtyingEngine(configuration: MemeaterConfiguration(sizeMiB: 1, threads: 1, bytesPerWrite: 64))
        engine.isPaused = true
        let session = MemeaterSession(engine: engine)
        return Fixture(engine: engine,
                       guarded: ControlHandler(session: session, access: .token(try ControlToken(token)), onStop: {}),
                       open: ControlHandler(session: session, access: .open, allowsFaultInjection: true, onStop: {}))
    } catch {
        fatalError("cannot set up the fuzzed memeater session: \(error)")
    }
}()

/// Fails the run (a finding) when `condition` does not hold.
private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}

/// Serves the lines of `bytes` on one connection of `handler`, as the server would.
private func serve(_ bytes: [UInt8], handler: ControlHandler) {
    var state = ControlConnectionState(access: handler.access)
    var framer = ControlLineFramer()
    framer.append(bytes)
    while case .line(let line) = framer.next() {
        let (reply, then) = handler.reply(toLine: line, connection: &state)
        require(!reply.contains("\n"), "a reply of more than one line: \(reply)")
        guard let decoded = try? JSONDecoder().decode(ControlReply.self, from: Data(reply.utf8)) else {
            fatalError("a reply that is no ControlReply: \(reply)")
        }
        require(decoded.ok == (decoded.error == nil), "ok and error disagree: \(reply)")
        if let request = try? ControlRequest.decode(line: line, limits: handler.limits) {
            let again = encodeLine(request)
            require((try? ControlRequest.decode(line: again[...], limits: handler.limits)) == request,
                    "an accepted request does not survive its own encoding: \(again)")
        }
        if then != .serveNext { return }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    serve(bytes, handler: fixture.guarded)
    serve(bytes, handler: fixture.open)
    // The session's state stays in its ranges whatever was asked.
    let rate = fixture.engine.targetPagesPerSecond
    require(rate >= 0 && rate <= Double(fixture.engine.pageCount), "a rate outside the region: \(rate)")
    fixture.engine.isPaused = true
    return 0
}
