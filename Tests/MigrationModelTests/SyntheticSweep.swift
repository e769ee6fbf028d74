import MigrationModel

/// Sweeps generated from known parameters, with small deterministic noise.
enum SyntheticSweep {
    static let mib = 1_048_576.0
    static let gib = 1_073_741_824.0
    static let truth = PreCopyFitParameters(setupMilliseconds: 800, resumeMilliseconds: 40, dirtyRateFactor: 1.3,
                                            scanMillisecondsPerGiB: 150)

    /// Guests of 1–8 GiB with memeater on half the RAM, four dirty rates, two links, `repeats`
    /// repeats; each time and downtime is multiplied by 1 + noise × (a fixed value in [-1, 1]).
    static func observations(parameters: PreCopyFitParameters = truth, noise: Double = 0, repeats: Int = 3,
                             pattern: DirtyPattern = .sequential,
                             ratesMiBPerSecond: [Double] = [0, 10, 30, 60]) -> [MigrationObservation] {
        var result: [MigrationObservation] = []
        var draw = 0
        for memoryGiB in [1.0, 2, 4, 8] {
            for rateMiB in ratesMiBPerSecond {
                for linkMiB in [125.0, 1000] {
                    let cell = "\(Int(memoryGiB))GiB/\(Int(rateMiB))MiBps/\(Int(linkMiB))MiBps"
                    let prediction = parameters.predict(memoryBytes: memoryGiB * gib, dirtySetBytes: memoryGiB * gib / 2,
                                                        pattern: pattern, dirtyRateBytesPerSecond: rateMiB * mib,
                                                        transferRateBytesPerSecond: linkMiB * mib, timeoutSeconds: 120)
                    for _ in 0..<repeats {
                        draw += 1
                        // A fixed sequence in [-1, 1]: reproducible, no generator state to share.
                        let wobble = Double((draw * 7919) % 13 - 6) / 6
                        result.append(MigrationObservation(
                            cell: cell, memoryBytes: memoryGiB * gib, dirtySetBytes: memoryGiB * gib / 2, pattern: pattern,
                            dirtyRateBytesPerSecond: rateMiB * mib, transferRateBytesPerSecond: linkMiB * mib, timeoutSeconds: 120,
                            converged: prediction.converges, migrationMilliseconds: prediction.totalMilliseconds.map { $0 * (1 + noise * wobble) },
                            downtimeMilliseconds: prediction.downtimeMilliseconds.map { $0 * (1 - noise * wobble) },
                            iterations: prediction.passes.iterations))
                    }
                }
            }
        }
        return result
    }
}
