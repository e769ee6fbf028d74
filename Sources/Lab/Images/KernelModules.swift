import Foundation

/// A kernel module a guest's initramfs loads.
struct BootModule: Sendable, Equatable {
    /// The module's name (`virtio_net`).
    var name: String
    /// Whether the kernel may lack it altogether: it appeared in a later kernel
    /// (`virtio_pci_modern_dev` and `virtio_pci_legacy_dev` came after 5.10), or a kernel
    /// may do without it (`crc32c_generic`). A module built into the kernel is never missing.
    var optional: Bool

    /// A module the guest cannot boot without (unless it is built in).
    static func required(_ name: String) -> BootModule { BootModule(name: name, optional: false) }
    /// A module the guest boots without when the kernel has none of that name.
    static func optional(_ name: String) -> BootModule { BootModule(name: name, optional: true) }
}

/// Why a module list could not be resolved against a kernel's module tree.
struct ModuleResolutionError: Error, Equatable, CustomStringConvertible {
    /// The module that is neither a file of the tree nor built in.
    var module: String
    /// The module that needs it, when it is a dependency.
    var neededBy: String?
    /// The tree, for the message.
    var directory: String

    var description: String {
        "module \(module)\(neededBy.map { " (needed by \($0))" } ?? "") is neither in \(directory)/modules.dep nor built in (modules.builtin)"
    }
}

/// What a kernel's module tree (`/lib/modules/RELEASE`) holds: every module file and what it
/// needs (`modules.dep`), and the modules built into the kernel (`modules.builtin`). Read
/// from those files, not by walking the tree, so it is the kernel's own view.
struct KernelModuleTree: Sendable, Equatable {
    /// The tree, e.g. `/lib/modules/6.12.43+deb13-amd64`.
    var directory: String
    /// Each module's file, relative to ``directory`` (`kernel/drivers/net/virtio_net.ko.xz`), by name.
    var files: [String: String]
    /// The modules each module needs loaded first, by name, as `modules.dep` lists them.
    var dependencies: [String: [String]]
    /// The modules built into the kernel (nothing to load).
    var builtIn: Set<String>

    /// A tree from the text of its `modules.dep` and `modules.builtin`.
    init(directory: String, modulesDep: String, modulesBuiltin: String) {
        self.directory = directory
        var files: [String: String] = [:]
        var dependencies: [String: [String]] = [:]
        for line in modulesDep.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let file = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
            guard !file.isEmpty else { continue }
            let name = Self.moduleName(ofFile: file)
            files[name] = file
            dependencies[name] = line[line.index(after: colon)...].split(separator: " ").map { Self.moduleName(ofFile: String($0)) }
        }
        self.files = files
        self.dependencies = dependencies
        builtIn = Set(modulesBuiltin.split(whereSeparator: \.isNewline).map { Self.moduleName(ofFile: String($0)) })
    }

    /// Reads `DIRECTORY/modules.dep` and `DIRECTORY/modules.builtin` (the latter may be absent).
    static func read(directory: String) throws -> KernelModuleTree {
        let dep: String
        do {
            dep = try String(contentsOfFile: "\(directory)/modules.dep", encoding: .utf8)
        } catch {
            throw LabError(step: "read the kernel's modules", reason: "\(directory)/modules.dep is missing or unreadable: \(error.localizedDescription)")
        }
        let builtin = (try? String(contentsOfFile: "\(directory)/modules.builtin", encoding: .utf8)) ?? ""
        return KernelModuleTree(directory: directory, modulesDep: dep, modulesBuiltin: builtin)
    }

    /// A module's name from its file: the base name without `.ko`, `.ko.xz`, `.ko.zst` or
    /// `.ko.gz`, with `-` as `_` (the kernel's spelling: `virtio-rng.ko` is `virtio_rng`).
    static func moduleName(ofFile path: String) -> String {
        var name = Substring(path.split(separator: "/").last ?? Substring(path))
        for suffix in [".ko.xz", ".ko.zst", ".ko.gz", ".ko"] where name.hasSuffix(suffix) {
            name = name.dropLast(suffix.count)
            break
        }
        return name.replacingOccurrences(of: "-", with: "_")
    }

    /// The module files to load for `modules`, in load order: each module after the modules
    /// it needs (from `modules.dep`, whether listed or not), each once. A module built into
    /// the kernel is skipped, so is an optional one the kernel does not have.
    /// - Throws: ``ModuleResolutionError`` for a required module (or a dependency) that is
    ///   neither a file of the tree nor built in.
    func loadOrder(for modules: [BootModule]) throws(ModuleResolutionError) -> [(name: String, path: String)] {
        var order: [(name: String, path: String)] = []
        var placed: Set<String> = []
        func place(_ name: String, neededBy: String?, visiting: Set<String>) throws(ModuleResolutionError) {
            guard !placed.contains(name), !builtIn.contains(name), !visiting.contains(name) else { return }
            guard let file = files[name] else {
                throw ModuleResolutionError(module: name, neededBy: neededBy, directory: directory)
            }
            for dependency in dependencies[name] ?? [] {
                try place(dependency, neededBy: name, visiting: visiting.union([name]))
            }
            placed.insert(name)
            order.append((name, "\(directory)/\(file)"))
        }
        for module in modules {
            if module.optional, files[module.name] == nil { continue }
            try place(module.name, neededBy: nil, visiting: [])
        }
        return order
    }
}

/// Puts a kernel module into an initramfs as plain `.ko`: busybox's insmod may not read a
/// compressed module, so `.ko.xz` is decompressed with `xz` and `.ko.zst` with `zstd`.
func installModule(from source: String, to target: String, step: String) throws {
    let fileManager = FileManager.default
    try? fileManager.removeItem(atPath: target)
    if source.hasSuffix(".ko.xz") {
        try CommandRunner.run(["sh", "-c", "xz -dc \(shellQuoted(source)) > \(shellQuoted(target))"], step: step)
    } else if source.hasSuffix(".ko.zst") {
        try CommandRunner.run(["sh", "-c", "zstd -qdc \(shellQuoted(source)) > \(shellQuoted(target))"], step: step)
    } else if source.hasSuffix(".ko.gz") {
        try CommandRunner.run(["sh", "-c", "gzip -dc \(shellQuoted(source)) > \(shellQuoted(target))"], step: step)
    } else {
        try fileManager.copyItem(atPath: source, toPath: target)
    }
}
