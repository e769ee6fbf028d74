import Foundation

/// Runs gnuplot on a script and returns the SVG it printed.
///
/// Standard output (the SVG) and standard error (gnuplot's warnings and reasons) go to two
/// files of a private scratch directory, so neither pipe can fill up while the other is
/// waited on and the two never mix. gnuplot starts no daemons, so Foundation's `Process`
/// notices its exit; it is killed when it runs past ``timeoutSeconds``.
public struct GnuplotRunner: Sendable {
    /// The directories searched for `gnuplot`.
    public var searchPath: [String]
    /// A plot taking longer than this is killed and reported.
    public var timeoutSeconds: Double

    /// The standard places packages install `gnuplot` to.
    public static let defaultSearchPath = ["/usr/local/bin", "/usr/bin", "/bin"]

    public init(searchPath: [String] = GnuplotRunner.defaultSearchPath, timeoutSeconds: Double = 30) {
        self.searchPath = searchPath
        self.timeoutSeconds = timeoutSeconds
    }

    /// The gnuplot executable, or ``ReportError/gnuplotNotFound(searchPath:)``.
    public func locate() throws -> URL {
        for directory in searchPath {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent("gnuplot")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw ReportError.gnuplotNotFound(searchPath: searchPath)
    }

    /// Runs `script` (which must print its plot to standard output) and returns that output.
    ///
    /// - Parameters:
    ///   - plot: the plot's name, for errors.
    ///   - scratchDirectory: where the script and the captured outputs are kept.
    /// - Throws: ``ReportError`` naming `plot`, with gnuplot's standard error.
    public func render(script: String, plot: String, scratchDirectory: URL) throws -> String {
        let executable = try locate()
        let scriptFile = scratchDirectory.appendingPathComponent("\(plot).gp")
        let outputFile = scratchDirectory.appendingPathComponent("\(plot).stdout")
        let errorFile = scratchDirectory.appendingPathComponent("\(plot).stderr")
        do {
            try Data(script.utf8).write(to: scriptFile)
            try Data().write(to: outputFile)
            try Data().write(to: errorFile)
        } catch {
            throw ReportError.cannotWrite(path: scratchDirectory.path, reason: ReportError.reason(of: error))
        }
        let outputHandle: FileHandle
        let errorHandle: FileHandle
        do {
            outputHandle = try FileHandle(forWritingTo: outputFile)
            errorHandle = try FileHandle(forWritingTo: errorFile)
        } catch {
            throw ReportError.gnuplotNotStarted(plot: plot, reason: "cannot open capture files: \(error)")
        }
        defer {
            try? outputHandle.close()
            try? errorHandle.close()
        }

        let process = Process()
        process.executableURL = executable
        process.arguments = [scriptFile.path]
        process.currentDirectoryURL = scratchDirectory
        // C locale for '.' decimals; HOME in the scratch directory so no ~/.gnuplot alters the plots.
        process.environment = ["PATH": searchPath.joined(separator: ":"), "LC_ALL": "C",
                               "HOME": scratchDirectory.path]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = outputHandle
        process.standardError = errorHandle
        do {
            try process.run()
        } catch {
            throw ReportError.gnuplotNotStarted(plot: plot, reason: "\(error)")
        }

        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning {
            if Date() >= deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw ReportError.gnuplotTimedOut(plot: plot, seconds: timeoutSeconds,
                                                  standardError: Self.text(of: errorFile))
            }
            usleep(5_000)
        }
        process.waitUntilExit()
        let standardError = Self.text(of: errorFile)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let status = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
            throw ReportError.gnuplotFailed(plot: plot, exitStatus: status, standardError: standardError)
        }
        return Self.text(of: outputFile)
    }

    private static func text(of file: URL) -> String {
        guard let data = FileManager.default.contents(atPath: file.path) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// An SVG as gnuplot wrote it, and the form that can sit inside an HTML page.
public enum InlineSVG {
    /// `svg` without its XML prolog, DOCTYPE and comments before `<svg`, with every `id`
    /// (and every `#id` reference) prefixed by `idPrefix`, so several plots in one page keep
    /// distinct ids (gnuplot names its point symbols `gpPt0`... in every file).
    ///
    /// - Throws: ``ReportError/unusableSVG(plot:reason:)`` when there is no `<svg` element or
    ///   the SVG carries a script or an external reference, which a self-contained report must not.
    public static func inlinable(_ svg: String, plot: String, idPrefix: String) throws -> String {
        guard let start = svg.range(of: "<svg"), let end = svg.range(of: "</svg>", options: .backwards) else {
            throw ReportError.unusableSVG(plot: plot, reason: "no <svg> element in gnuplot's output")
        }
        var body = String(svg[start.lowerBound..<end.upperBound])
        let lowered = body.lowercased()
        if lowered.contains("<script") || lowered.contains("onload=") {
            throw ReportError.unusableSVG(plot: plot, reason: "it holds a script")
        }
        if let reference = loadedReferences(in: body).first {
            throw ReportError.unusableSVG(plot: plot, reason: "it loads \(reference)")
        }
        for quote in ["\"", "'"] {
            body = body.replacingOccurrences(of: " id=\(quote)", with: " id=\(quote)\(idPrefix)")
            body = body.replacingOccurrences(of: "href=\(quote)#", with: "href=\(quote)#\(idPrefix)")
        }
        body = body.replacingOccurrences(of: "url(#", with: "url(#\(idPrefix)")
        return body
    }

    /// The references in `svg` a browser would load: `href`/`src` attributes and `url(...)`
    /// values that do not point into the document (`#id`). An address that is only text
    /// (a label quoting a URL) loads nothing and is not listed.
    public static func loadedReferences(in svg: String) -> [String] {
        let patterns = [#"(?:href|src)\s*=\s*["'][^#"'][^"']*["']"#, #"url\(\s*['"]?[^#'")\s][^)]*\)"#]
        return patterns.flatMap { pattern -> [String] in
            var found: [String] = []
            var searchStart = svg.startIndex
            while let match = svg.range(of: pattern, options: .regularExpression, range: searchStart..<svg.endIndex) {
                found.append(String(svg[match]))
                searchStart = match.upperBound
            }
            return found
        }
    }

    /// The `http://`/`https://` addresses in `text` that are not XML namespace declarations
    /// (`xmlns="http://www.w3.org/2000/svg"` names a namespace; nothing is fetched).
    public static func externalReferences(in text: String) -> [String] {
        var references: [String] = []
        var searchStart = text.startIndex
        while let match = text.range(of: "http", range: searchStart..<text.endIndex) {
            searchStart = match.upperBound
            let rest = text[match.lowerBound...]
            guard rest.hasPrefix("http://") || rest.hasPrefix("https://") else { continue }
            let before = text[text.startIndex..<match.lowerBound]
            let declaration = before.suffix(16)
            let isNamespace = declaration.range(of: #"xmlns(:[A-Za-z]+)?=["']$"#, options: .regularExpression) != nil
            if !isNamespace {
                let address = rest.prefix { !$0.isWhitespace && $0 != "\"" && $0 != "'" && $0 != "<" && $0 != ">" }
                references.append(String(address))
            }
        }
        return references
    }
}
