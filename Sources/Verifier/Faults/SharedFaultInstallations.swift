import Foundation

/// A host-wide fault shared by the guests of an evacuation that migrate at once: the first
/// guest's run to install it installs it, the others hold the one in place, and it is removed
/// only when the last holder lets go (each earlier one waits for that removal and reports
/// it). Otherwise the first guest to finish would lift the firewall under the others'
/// migrations. A run of one guest alone has none of this (its fault acts as always).
public final class SharedFaultInstallations: @unchecked Sendable {
    // @unchecked: every field is guarded by `condition`'s lock.
    private struct Entry {
        var installation: any Sendable
        var holders: Int
        var generation: Int
    }

    private let condition = NSCondition()
    private var entries: [String: Entry] = [:]
    private var removals: [Int: Bool] = [:]
    private var generations = 0
    private var installs = 0

    /// An empty set of installations.
    public init() {}

    /// How many times an installation was made (one per span in which some run held it).
    public var installCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return installs
    }

    /// The installation of `key` (e.g. `perform-fail on dst`): the one in place, held once
    /// more, or made now by `install` when no run holds one.
    public func acquire<Installation: Sendable>(_ key: String, install: () throws(VerifierError) -> Installation) throws(VerifierError) -> Installation {
        condition.lock()
        defer { condition.unlock() }
        if var entry = entries[key] {
            guard let installation = entry.installation as? Installation else {
                throw .environment("the shared fault \(key) is held as \(type(of: entry.installation)), not \(Installation.self)")
            }
            entry.holders += 1
            entries[key] = entry
            return installation
        }
        // Installed under the lock: a second guest must not install it beside the first.
        let installation = try install()
        generations += 1
        installs += 1
        entries[key] = Entry(installation: installation, holders: 1, generation: generations)
        return installation
    }

    /// Lets go of `key`: the last holder removes it with `remove` (whether it is gone); every
    /// other waits until then. Returns whether it was removed; `nil` when `key` is not held.
    public func release<Installation: Sendable>(_ key: String, remove: (Installation) -> Bool) -> Bool? {
        condition.lock()
        defer { condition.unlock() }
        guard var entry = entries[key] else { return nil }
        entry.holders -= 1
        if entry.holders == 0 {
            entries[key] = nil
            let removed = (entry.installation as? Installation).map(remove) ?? false
            removals[entry.generation] = removed
            condition.broadcast()
            return removed
        }
        entries[key] = entry
        while removals[entry.generation] == nil { condition.wait() }
        return removals[entry.generation]
    }
}
