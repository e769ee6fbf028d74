import CLibvirt
import Foundation

extension Domain {
    /// Sends one QMP command to the domain's QEMU through libvirt and returns QEMU's reply
    /// (JSON text). libvirt marks the domain tainted (`custom-monitor`) the first time.
    ///
    /// The corresponding C function is `virDomainQemuMonitorCommand` (libvirt-qemu).
    public func qemuMonitorCommand(_ json: String) throws -> String {
        var reply: UnsafeMutablePointer<CChar>?
        try check("virDomainQemuMonitorCommand", virDomainQemuMonitorCommand(handle, json, &reply, 0))
        guard let reply else { throw error("virDomainQemuMonitorCommand") }
        defer { free(reply) }
        return String(cString: reply)
    }

    /// QEMU's migration capabilities and parameters as they are now
    /// (`query-migrate-capabilities`, `query-migrate-parameters`).
    public func qemuMigrationSettings() throws -> QEMUMigrationSettings {
        try QEMUMigrationSettings(capabilitiesReply: qemuMonitorCommand(#"{"execute":"query-migrate-capabilities"}"#),
                                  parametersReply: qemuMonitorCommand(#"{"execute":"query-migrate-parameters"}"#))
    }
}

/// QEMU's migration settings: which capabilities are on, and every parameter's value as
/// compact JSON text (numbers, strings and objects compare alike).
public struct QEMUMigrationSettings: Codable, Sendable, Equatable {
    /// Capability name → on.
    public var capabilities: [String: Bool]
    /// Parameter name → its value as compact JSON with sorted keys.
    public var parameters: [String: String]

    /// Settings as given.
    public init(capabilities: [String: Bool], parameters: [String: String]) {
        self.capabilities = capabilities
        self.parameters = parameters
    }

    /// Settings from QEMU's two replies: `{"return": [{"capability": NAME, "state": BOOL}, …]}`
    /// and `{"return": {NAME: VALUE, …}}`.
    public init(capabilitiesReply: String, parametersReply: String) throws {
        guard let capabilities = Self.returned(capabilitiesReply) as? [[String: Any]] else {
            throw QEMUReplyError(command: "query-migrate-capabilities", reply: capabilitiesReply)
        }
        guard let parameters = Self.returned(parametersReply) as? [String: Any] else {
            throw QEMUReplyError(command: "query-migrate-parameters", reply: parametersReply)
        }
        var states: [String: Bool] = [:]
        for entry in capabilities {
            guard let name = entry["capability"] as? String, let state = entry["state"] as? Bool else {
                throw QEMUReplyError(command: "query-migrate-capabilities", reply: capabilitiesReply)
            }
            states[name] = state
        }
        var values: [String: String] = [:]
        for (name, value) in parameters {
            // Top-level fragments (numbers, strings) need `.fragmentsAllowed`.
            guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) else {
                throw QEMUReplyError(command: "query-migrate-parameters", reply: parametersReply)
            }
            values[name] = String(decoding: data, as: UTF8.self)
        }
        self.init(capabilities: states, parameters: values)
    }

    private static func returned(_ reply: String) -> Any? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any] else { return nil }
        return object["return"]
    }

    /// What differs from `other`, one phrase each, sorted: a capability turned on or off, a
    /// parameter changed, added or gone.
    public func differences(from other: QEMUMigrationSettings) -> [String] {
        var found: [String] = []
        for name in Set(capabilities.keys).union(other.capabilities.keys).sorted() where capabilities[name] != other.capabilities[name] {
            found.append("capability \(name) \(other.capabilities[name].map { $0 ? "on" : "off" } ?? "absent") → \(capabilities[name].map { $0 ? "on" : "off" } ?? "absent")")
        }
        for name in Set(parameters.keys).union(other.parameters.keys).sorted() where parameters[name] != other.parameters[name] {
            found.append("parameter \(name) \(other.parameters[name] ?? "absent") → \(parameters[name] ?? "absent")")
        }
        return found
    }
}

/// A QMP reply that is not what the command returns.
public struct QEMUReplyError: Error, CustomStringConvertible, Sendable {
    public let command: String
    public let reply: String
    public var description: String { "QEMU's reply to \(command) is not what it returns: \(reply.prefix(200))" }
}
