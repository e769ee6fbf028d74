import Foundation

/// The SHA-256 of every file of a built guest image, kept beside them (`image.sha256`,
/// `sha256sum` format) and written last: a cached image is reused only when the manifest
/// exists and every file still has its hash, so an interrupted build or copy, a truncated
/// or altered file is rebuilt instead of booted.
public struct ImageManifest: Sendable, Equatable {
    /// The manifest's file name in the image directory.
    public static let fileName = "image.sha256"

    /// Hex SHA-256 by file name (no directory).
    public var digests: [String: String]

    /// Reads `sha256sum` output (`HASH  NAME` per line); `nil` when a line is not of that form.
    public init?(sha256sumOutput text: String) {
        var digests: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ", maxSplits: 1)
            guard fields.count == 2, fields[0].count == 64, fields[0].allSatisfy(\.isHexDigit) else { return nil }
            // sha256sum marks binary mode with '*' and separates with two spaces.
            let name = fields[1].drop { $0 == " " || $0 == "*" }
            guard !name.isEmpty else { return nil }
            digests[String((name as Substring).split(separator: "/").last ?? name)] = fields[0].lowercased()
        }
        guard !digests.isEmpty else { return nil }
        self.digests = digests
    }

    /// The manifest text, one `HASH  NAME` line per file, sorted by name.
    public var text: String {
        digests.sorted { $0.key < $1.key }.map { "\($0.value)  \($0.key)\n" }.joined()
    }

    /// Hashes `paths` with `sha256sum`.
    /// - Throws: ``LabError`` when sha256sum fails or prints something unexpected.
    public static func compute(_ paths: [String]) throws -> ImageManifest {
        let step = "hash the guest image"
        let result = try CommandRunner.run(["sha256sum", "--"] + paths, step: step, timeoutSeconds: 600)
        guard let manifest = ImageManifest(sha256sumOutput: result.output), manifest.digests.count == paths.count else {
            throw LabError(step: step, reason: "unexpected sha256sum output", command: ["sha256sum", "--"] + paths, output: result.output)
        }
        return manifest
    }

    /// Records the hashes of `paths` (files of `directory`) in its manifest, atomically.
    public static func record(_ paths: [String], in directory: String) throws {
        do {
            try AtomicFile.write(try compute(paths).text, to: "\(directory)/\(fileName)")
        } catch let error as FileWriteError {
            throw LabError(step: "record the guest image's hashes", reason: error.description)
        }
    }

    /// Whether `paths` (files of `directory`) all exist with the hashes the manifest recorded.
    /// Any doubt (no manifest, an unreadable or missing file, another hash) is `false`.
    public static func isIntact(_ paths: [String], in directory: String) -> Bool {
        guard let text = try? String(contentsOfFile: "\(directory)/\(fileName)", encoding: .utf8),
              let recorded = ImageManifest(sha256sumOutput: text),
              paths.allSatisfy(FileManager.default.fileExists),
              let current = try? compute(paths) else { return false }
        return paths.allSatisfy { path in
            let name = (path as NSString).lastPathComponent
            return recorded.digests[name] != nil && recorded.digests[name] == current.digests[name]
        }
    }

    /// Removes the manifest, before a build replaces the files it vouches for.
    public static func invalidate(in directory: String) {
        try? FileManager.default.removeItem(atPath: "\(directory)/\(fileName)")
    }
}
