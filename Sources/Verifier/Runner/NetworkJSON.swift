import Foundation

// The JSON that `ip -j` and `nft -j` print, decoded into the few fields the verifier reads.
// Each decoder is a pure function of the command's standard output, so it is tested on
// captured output without a host.

/// One link of `ip -j link show`.
public struct IPLink: Decodable, Sendable, Equatable {
    /// The interface name: `vethA`, never the `vethA@if2` of the text form.
    public var ifname: String
    /// The interface flags, e.g. `["BROADCAST", "MULTICAST", "UP", "LOWER_UP"]`.
    public var flags: [String]

    /// Whether the link is administratively up (`UP` among its flags).
    public var isUp: Bool { flags.contains("UP") }

    /// Creates a link.
    public init(ifname: String, flags: [String] = []) {
        self.ifname = ifname
        self.flags = flags
    }

    private enum CodingKeys: String, CodingKey { case ifname, flags }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        ifname = try container.decode(String.self, forKey: .ifname)
        flags = try container.decodeIfPresent([String].self, forKey: .flags) ?? []
    }

    /// The links of `ip -j link show [dev NAME]`.
    ///
    /// - Throws: ``VerifierError/environment(_:)`` naming the command when `json` is not its list of links.
    public static func list(fromJSON json: String) throws(VerifierError) -> [IPLink] {
        try decodeCommandJSON([IPLink].self, from: json, command: "ip -j link show")
    }
}

/// One route of `ip -j route get ADDRESS`.
public struct IPRoute: Decodable, Sendable, Equatable {
    /// The destination asked about.
    public var dst: String?
    /// The next hop, when the destination is not on a directly connected network.
    public var gateway: String?
    /// The interface the route leaves through.
    public var dev: String?

    /// Creates a route.
    public init(dst: String? = nil, gateway: String? = nil, dev: String? = nil) {
        self.dst = dst
        self.gateway = gateway
        self.dev = dev
    }

    /// The routes of `ip -j route get ADDRESS` (one, for a reachable address).
    ///
    /// - Throws: ``VerifierError/environment(_:)`` naming the command when `json` is not its list of routes.
    public static func list(fromJSON json: String) throws(VerifierError) -> [IPRoute] {
        try decodeCommandJSON([IPRoute].self, from: json, command: "ip -j route get")
    }
}

/// The parts of `nft -j list table FAMILY NAME` the verifier reads: the counters of its rules.
public struct NFTablesListing: Decodable, Sendable, Equatable {
    /// A rule's anonymous `counter` statement.
    public struct Counter: Decodable, Sendable, Equatable {
        /// Packets counted.
        public var packets: Int
        /// Bytes counted.
        public var bytes: Int

        /// Creates a counter.
        public init(packets: Int, bytes: Int) {
            self.packets = packets
            self.bytes = bytes
        }
    }

    /// A rule: its chain and the counters among its statements.
    public struct Rule: Decodable, Sendable, Equatable {
        /// The chain the rule is in.
        public var chain: String?
        /// The rule's counters (anonymous `counter` statements; a reference to a named
        /// counter has no numbers here and is left out).
        public var counters: [Counter]

        private enum CodingKeys: String, CodingKey { case chain, expr }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            chain = try container.decodeIfPresent(String.self, forKey: .chain)
            let statements = try container.decodeIfPresent([Statement].self, forKey: .expr) ?? []
            counters = statements.compactMap(\.counter)
        }
    }

    /// One statement of a rule's `expr`; only `counter` is read.
    private struct Statement: Decodable {
        var counter: Counter?

        private enum CodingKeys: String, CodingKey { case counter }

        init(from decoder: any Decoder) throws {
            // Statements are objects with one key each (`match`, `counter`, `drop`, ...).
            let container = try? decoder.container(keyedBy: CodingKeys.self)
            counter = try? container?.decodeIfPresent(Counter.self, forKey: .counter)
        }
    }

    /// One entry of the `nftables` array: a rule, or something else (metainfo, table, chain).
    private struct Entry: Decodable {
        var rule: Rule?
    }

    /// The table's rules, in order.
    public var rules: [Rule]

    private enum CodingKeys: String, CodingKey { case nftables }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        rules = try container.decode([Entry].self, forKey: .nftables).compactMap(\.rule)
    }

    /// Packets counted by all the rules' counters together; `nil` when no rule has a counter.
    public var countedPackets: Int? {
        let counters = rules.flatMap(\.counters)
        return counters.isEmpty ? nil : counters.reduce(0) { $0 + $1.packets }
    }

    /// Decodes `nft -j list table ...` output.
    ///
    /// - Throws: ``VerifierError/environment(_:)`` naming the command when `json` is not an nftables listing.
    public static func decode(fromJSON json: String) throws(VerifierError) -> NFTablesListing {
        try decodeCommandJSON(NFTablesListing.self, from: json, command: "nft -j list table")
    }
}

/// Decodes what `command` printed as `type`; a failure names the command and shows the text's start.
func decodeCommandJSON<T: Decodable>(_ type: T.Type, from json: String, command: String) throws(VerifierError) -> T {
    do {
        return try JSONDecoder().decode(type, from: Data(json.utf8))
    } catch {
        let excerpt = json.trimmingCharacters(in: .whitespacesAndNewlines).prefix(200)
        throw .environment("`\(command)` printed no JSON the verifier can read (\(describe(error))): "
            + (excerpt.isEmpty ? "(nothing)" : String(excerpt)))
    }
}

/// A decoding error in one line: what was wrong and where.
private func describe(_ error: any Error) -> String {
    guard let decoding = error as? DecodingError else { return "\(error)" }
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return keys.isEmpty ? "" : " at \(keys)"
    }
    switch decoding {
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return context.debugDescription + path(context)
    case .keyNotFound(let key, let context):
        return "no '\(key.stringValue)'" + path(context)
    @unknown default:
        return "\(decoding)"
    }
}
