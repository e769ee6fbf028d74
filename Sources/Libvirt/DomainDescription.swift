import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// What the lab and the verifier read from a domain's XML (``Domain/xmlDescription(inactive:migratable:)``),
/// taken through an XML parser and XPath from the `<domain>` element, as virsh does
/// (`./devices/interface/target/@dev`), never by searching the text.
///
/// Quoting, attribute order, whitespace and character references are the parser's business,
/// so `<target dev="vnet0"/>`, `<target dev='vnet0'/>` and `<target  dev='vnet&#48;'/>` read alike.
public struct DomainDescription: Sendable, Equatable {
    /// The domain's `type` attribute (libvirt's hypervisor type): `kvm` for KVM, `qemu` for
    /// QEMU's software emulation (TCG); `nil` when the element has none.
    public var accelerator: String?
    /// The domain's `<name>`, if any.
    public var name: String?
    /// The host-side devices (taps) of the domain's network interfaces, in document order
    /// (`./devices/interface/target/@dev`); interfaces without a target are left out.
    public var interfaceTargets: [String]
    /// The file the guest's serial console is written to: the `<log file=…>` of a
    /// `<serial>` or `<console>` device, or the `<source path=…>` of one of `type='file'`.
    /// Serial devices are looked at before console devices, each in document order; within a
    /// device its log comes before its source. `nil` when no device writes to a file.
    public var consoleLogPath: String?
    /// The guest kernel's command line (`./os/cmdline`), when the domain boots a kernel directly.
    public var kernelCommandLine: String?
    /// The domain's maximum memory (`./memory`, converted from its `unit`), in KiB.
    public var memoryKiB: UInt64?

    /// Creates a description from its parts.
    public init(accelerator: String? = nil, name: String? = nil, interfaceTargets: [String] = [],
                consoleLogPath: String? = nil, kernelCommandLine: String? = nil, memoryKiB: UInt64? = nil) {
        self.accelerator = accelerator
        self.name = name
        self.interfaceTargets = interfaceTargets
        self.consoleLogPath = consoleLogPath
        self.kernelCommandLine = kernelCommandLine
        self.memoryKiB = memoryKiB
    }

    /// Parses domain XML.
    ///
    /// External entities are never loaded.
    ///
    /// - Throws: ``DomainXMLError`` when the text is not well-formed XML, its root element
    ///   is not `<domain>`, or `<memory>` holds no size.
    public init(xml: String) throws(DomainXMLError) {
        try Self.checkWellFormed(xml)
        let document: XMLDocument
        do {
            document = try XMLDocument(xmlString: xml, options: [.nodeLoadExternalEntitiesNever])
        } catch {
            throw .unparsable(reason: "\(error)", excerpt: DomainXMLError.excerpt(of: xml))
        }
        guard let root = document.rootElement() else {
            throw .unparsable(reason: "the document has no root element", excerpt: DomainXMLError.excerpt(of: xml))
        }
        guard root.name == "domain" else { throw .notADomain(rootElement: root.name ?? "?") }

        func strings(_ path: String) -> [String] {
            ((try? root.nodes(forXPath: path)) ?? []).compactMap(\.stringValue)
        }
        func string(_ path: String, in node: XMLNode = root) -> String? {
            ((try? node.nodes(forXPath: path)) ?? []).first?.stringValue
        }
        func nonEmpty(_ text: String?) -> String? { text.flatMap { $0.isEmpty ? nil : $0 } }

        accelerator = nonEmpty(string("./@type"))
        name = string("./name")
        interfaceTargets = strings("./devices/interface/target/@dev").filter { !$0.isEmpty }
        var logPath: String?
        devices: for device in ["serial", "console"] {
            for node in (try? root.nodes(forXPath: "./devices/\(device)")) ?? [] {
                if let log = nonEmpty(string("./log/@file", in: node)) {
                    logPath = log
                    break devices
                }
                if string("./@type", in: node) == "file", let path = nonEmpty(string("./source/@path", in: node)) {
                    logPath = path
                    break devices
                }
            }
        }
        consoleLogPath = logPath
        kernelCommandLine = string("./os/cmdline")
        if let memory = string("./memory") {
            let unit = string("./memory/@unit")
            guard let kiB = Self.kibibytes(memory, unit: unit) else {
                throw .invalidValue(path: "./memory", value: memory + (unit.map { " (unit '\($0)')" } ?? ""),
                                    domainName: name)
            }
            memoryKiB = kiB
        } else {
            memoryKiB = nil
        }
    }

    /// The value of kernel parameter `name` (`name=value`) on ``kernelCommandLine``; `nil`
    /// when it is not there. See ``kernelParameter(_:inCommandLine:)``.
    public func kernelParameter(_ name: String) -> String? {
        kernelCommandLine.flatMap { Self.kernelParameter(name, inCommandLine: $0) }
    }

    /// The value of kernel parameter `name` on `commandLine`: the command line is split on
    /// white space into words, and the last word `name=value` wins, as the lab guest's init
    /// reads it. A bare `name` (no `=`) has the value `""`. Quoted values with spaces are not
    /// supported.
    public static func kernelParameter(_ name: String, inCommandLine commandLine: String) -> String? {
        var value: String?
        for word in commandLine.split(whereSeparator: \.isWhitespace) {
            if word == name {
                value = ""
            } else if word.hasPrefix(name + "=") {
                value = String(word.dropFirst(name.count + 1))
            }
        }
        return value
    }

    /// A libvirt memory size (`scaledInteger`: a count and a unit, `KiB` when none) in KiB,
    /// rounded up; `nil` when it is not one.
    static func kibibytes(_ text: String, unit: String?) -> UInt64? {
        guard let count = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        let bytesPerUnit: UInt64
        switch unit?.lowercased() ?? "kib" {
        case "b", "bytes": bytesPerUnit = 1
        case "kb": bytesPerUnit = 1_000
        case "k", "kib": bytesPerUnit = 1 << 10
        case "mb": bytesPerUnit = 1_000_000
        case "m", "mib": bytesPerUnit = 1 << 20
        case "gb": bytesPerUnit = 1_000_000_000
        case "g", "gib": bytesPerUnit = 1 << 30
        case "tb": bytesPerUnit = 1_000_000_000_000
        case "t", "tib": bytesPerUnit = 1 << 40
        default: return nil
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: bytesPerUnit)
        guard !overflow else { return nil }
        return bytes / 1024 + (bytes % 1024 == 0 ? 0 : 1)
    }

    /// Throws unless `xml` is one well-formed document with a root element.
    ///
    /// FoundationXML's `XMLDocument` on Linux parses in libxml2's recovery mode: it throws for
    /// no malformed text (a truncated domain reads as a shorter one) and fails hard on text
    /// without any element. A strict `XMLParser` pass goes first.
    static func checkWellFormed(_ xml: String) throws(DomainXMLError) {
        let parser = XMLParser(data: Data(xml.utf8))
        let elements = ElementCounter()
        parser.delegate = elements
        parser.shouldResolveExternalEntities = false
        let parsed = parser.parse()
        if let error = parser.parserError {
            throw .unparsable(reason: "not well-formed (libxml2 error \((error as NSError).code)) at line \(parser.lineNumber), "
                                  + "column \(parser.columnNumber)",
                              excerpt: DomainXMLError.excerpt(of: xml))
        }
        guard parsed, elements.count > 0 else {
            throw .unparsable(reason: "no element", excerpt: DomainXMLError.excerpt(of: xml))
        }
    }
}

/// Counts the elements an `XMLParser` reports.
private final class ElementCounter: NSObject, XMLParserDelegate {
    var count = 0

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        count += 1
    }
}

/// Domain XML that ``DomainDescription`` cannot read.
public enum DomainXMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text is not well-formed XML: the parser's message, and the text's start.
    case unparsable(reason: String, excerpt: String)
    /// The XML's root element is another element than `<domain>`.
    case notADomain(rootElement: String)
    /// An element or attribute (an XPath from `<domain>`) holds a value that cannot be read.
    case invalidValue(path: String, value: String, domainName: String?)

    public var description: String {
        switch self {
        case .unparsable(let reason, let excerpt):
            return "domain XML cannot be parsed (\(reason)); it starts: \(excerpt)"
        case .notADomain(let rootElement):
            return "the XML is no domain XML: its root element is <\(rootElement)>, not <domain>"
        case .invalidValue(let path, let value, let domainName):
            return "domain XML\(domainName.map { " of \($0)" } ?? ""): \(path) holds '\(value)', which is no valid value"
        }
    }

    /// The first 120 characters of `text`, on one line, for messages.
    static func excerpt(of text: String) -> String {
        let line = text.prefix(120).split(whereSeparator: \.isNewline).joined(separator: " ")
        return line.isEmpty ? "(empty)" : (text.count > 120 ? line + "…" : line)
    }
}
