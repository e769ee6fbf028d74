// libFuzzer harness for `pingmon analyze`: every input is written to a file and read by
// `CaptureFileAnalysis.analyze(path:target:options:)`, the function the command calls,
// then the report is encoded as `--json` would. A typed error is a pass; a trap, an
// address-sanitizer report, a hang or unbounded memory is a finding. See fuzz/README.md.
import Foundation
import PingMonitor

/// One scratch file per fuzzing process, in memory when /dev/shm exists.
private let scratchPath: String = {
    let directory = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return "\(directory)/pingmon-fuzz-\(getpid()).capture"
}()

/// The addresses the seed captures probe (the test fixtures' targets, IPv4 and IPv6); each input
/// is analysed for both, so that both families' collection paths run. Another target only
/// shortens the analysis.
private let targets = ["198.18.13.2", "2001:2::2"].compactMap(IPAddress.init)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    guard FileManager.default.createFile(atPath: scratchPath, contents: bytes) else { return 0 }
    let optionSets = [OfflineAnalysisOptions(), OfflineAnalysisOptions(intervalMicroseconds: 1_000, gapThresholdMilliseconds: 0)]
    for target in targets {
        for options in optionSets {
            guard let report = try? CaptureFileAnalysis.analyze(path: scratchPath, target: target, options: options) else { continue }
            _ = try? JSONEncoder().encode(report)
            _ = report.analysis.downtimeMilliseconds
        }
    }
    return 0
}
