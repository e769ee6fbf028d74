import Foundation
import XCTest
@testable import Lab

/// The guest kinds (Debian 11, 12 and 13 beside the initramfs), their kernels' module lists
/// and the Debian image's cache key: everything that needs no boot.
final class GuestKindTests: XCTestCase {
    // MARK: kinds

    func testEveryDebianKindNamesItsReleaseAndDebianStaysDebian12() throws {
        XCTAssertEqual(GuestKind.allCases, [.initramfs, .debian11, .debian, .debian13])
        XCTAssertEqual(GuestKind.allCases.map(\.rawValue), ["initramfs", "debian11", "debian", "debian13"])
        XCTAssertNil(GuestKind.initramfs.debianRelease)
        XCTAssertEqual(GuestKind.debian11.debianRelease, .bullseye)
        XCTAssertEqual(GuestKind.debian.debianRelease, .bookworm)
        XCTAssertEqual(GuestKind.debian13.debianRelease, .trixie)
        XCTAssertEqual(GuestKind.allCases.compactMap(\.debianRelease?.version), [11, 12, 13])
        XCTAssertEqual(GuestKind.debian13.summary, "Debian 13 (trixie)")
        XCTAssertEqual(GuestKind.initramfs.summary, "busybox initramfs")
        XCTAssertEqual(GuestKind(name: "debian12"), .debian, "the alias")
        XCTAssertEqual(GuestKind(name: "debian11"), .debian11)
        XCTAssertNil(GuestKind(name: "debian10"))
        XCTAssertNil(GuestKind(name: "all"), "all is a list, not a kind")
    }

    /// lab.json and result files written before the new kinds still read, and new ones store
    /// their raw value.
    func testGuestKindCodingKeepsOldFilesReadable() throws {
        let old = try JSONDecoder().decode([GuestKind].self, from: Data(#"["initramfs","debian"]"#.utf8))
        XCTAssertEqual(old, [.initramfs, .debian])
        let encoded = String(decoding: try JSONEncoder().encode([GuestKind.debian11, .debian13]), as: UTF8.self)
        XCTAssertEqual(encoded, #"["debian11","debian13"]"#)
    }

    func testEveryDebianGuestBootsFromItsDisk() {
        for kind in GuestKind.allCases {
            let image = GuestImage(kind: kind, kernelPath: "/k", initrdPath: "/i",
                                   diskPath: kind.debianRelease == nil ? nil : "/d.qcow2", inputsDigest: "abc",
                                   kernelRelease: "5.10.0-32-amd64", containsMemeater: true)
            let definition = Lab().guestDefinition(image: image, memoryMiB: 512, memeaterSizeMiB: 256,
                                                   emulatorPath: "/q", accelerator: .tcg)
            XCTAssertEqual(definition.kernelCommandLine.contains("root=/dev/vda"), kind != .initramfs, "\(kind)")
            XCTAssertEqual(definition.xml().contains("<source file='/d.qcow2'/>"), kind != .initramfs, "\(kind)")
        }
    }

    // MARK: the Debian image's recipe and cache key

    func testTheCacheKeyCoversTheSuiteAndTheKernelPackage() throws {
        let configuration = LabConfiguration()
        let builders = DebianRelease.allCases.map {
            DebianGuestBuilder(configuration: configuration, memeaterPath: nil, release: $0)
        }
        XCTAssertEqual(builders.map(\.kind), [.debian11, .debian, .debian13])
        for builder in builders {
            XCTAssertTrue(builder.recipe.contains("suite \(builder.release.rawValue)"), builder.recipe)
            XCTAssertTrue(builder.recipe.contains("linux-image-amd64"), "the guest's own kernel is an input")
            XCTAssertTrue(builder.debootstrapCacheDirectory.hasSuffix("/debootstrap-\(builder.release.rawValue)"))
        }
        XCTAssertEqual(Set(builders.map(\.debootstrapCacheDirectory)).count, 3, "one debootstrap cache per suite")
        let digests = try builders.map { try inputsDigest(files: [], extra: $0.recipe) }
        XCTAssertEqual(Set(digests).count, 3, "each release has its own image")
        XCTAssertEqual(try inputsDigest(files: [], extra: builders[0].recipe), digests[0], "the key is stable")
        XCTAssertTrue(DebianGuestBuilder.packages.contains("linux-image-amd64"))
    }

    func testTheNewestKernelIsChosenNumericallyAndOnlyWithModules() {
        let names = ["vmlinuz-6.1.0-9-amd64", "vmlinuz-6.1.0-10-amd64", "config-6.1.0-11-amd64", "vmlinuz-6.1.0-12-amd64", "System.map"]
        XCTAssertEqual(GuestKernel.newestRelease(vmlinuzNames: names, hasModules: { $0 != "6.1.0-12-amd64" }), "6.1.0-10-amd64")
        XCTAssertNil(GuestKernel.newestRelease(vmlinuzNames: ["initrd.img-5.10.0-32-amd64"], hasModules: { _ in true }))
    }

    func testTheKernelOfADebootstrappedRootIsItsOwn() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/boot", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(root)/lib/modules/6.12.43+deb13-amd64", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(root)/boot/vmlinuz-6.12.43+deb13-amd64", contents: Data("k".utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(root)/lib/modules/6.12.43+deb13-amd64/modules.dep", contents: Data()))
        let kernel = try GuestKernel.newest(inRoot: root)
        XCTAssertEqual(kernel.release, "6.12.43+deb13-amd64")
        XCTAssertEqual(kernel.imagePath, "\(root)/boot/vmlinuz-6.12.43+deb13-amd64")
        XCTAssertEqual(kernel.modulesDirectory, "\(root)/lib/modules/6.12.43+deb13-amd64")
        XCTAssertThrowsError(try GuestKernel.newest(inRoot: "\(root)/nothing")) { error in
            XCTAssertTrue("\(error)".contains("install linux-image-amd64"), "\(error)")
        }
        // A /boot that cannot be read as a directory says so, instead of asking for a package.
        let broken = "\(root)/broken"
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(broken)/boot", contents: Data("not a directory".utf8)))
        XCTAssertThrowsError(try GuestKernel.newest(inRoot: broken)) { error in
            XCTAssertTrue("\(error)".contains("cannot read \(broken)/boot"), "\(error)")
        }
    }

    // MARK: module lists

    /// 5.10 (bullseye): no virtio_pci_modern_dev or virtio_pci_legacy_dev.
    private let bullseyeDep = """
        kernel/drivers/virtio/virtio_ring.ko:
        kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
        kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/net/core/failover.ko:
        kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
        kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/lib/crc16.ko:
        kernel/fs/mbcache.ko:
        kernel/fs/jbd2/jbd2.ko:
        kernel/crypto/crc32c_generic.ko:
        kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
        kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/drivers/firmware/qemu_fw_cfg.ko:

        """

    /// 6.12 (trixie): compressed modules, the split virtio_pci helpers listed after the
    /// module that needs them, and a dependency (`crc_t10dif`, made up) the boot list does not name.
    private let trixieDep = """
        kernel/drivers/virtio/virtio_ring.ko.xz:
        kernel/drivers/virtio/virtio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz
        kernel/drivers/virtio/virtio_pci.ko.xz: kernel/drivers/virtio/virtio_pci_legacy_dev.ko.xz kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
        kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz:
        kernel/drivers/virtio/virtio_pci_legacy_dev.ko.xz:
        kernel/net/core/failover.ko.xz:
        kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz
        kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz kernel/net/core/failover.ko.xz kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
        kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
        kernel/lib/crc_t10dif.ko.xz:
        kernel/fs/jbd2/jbd2.ko.xz:
        kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc_t10dif.ko.xz kernel/fs/jbd2/jbd2.ko.xz
        kernel/drivers/firmware/qemu_fw_cfg.ko.xz:

        """

    func testModuleNamesComeFromTheirFiles() {
        XCTAssertEqual(KernelModuleTree.moduleName(ofFile: "kernel/fs/ext4/ext4.ko.xz"), "ext4")
        XCTAssertEqual(KernelModuleTree.moduleName(ofFile: "kernel/fs/ext4/ext4.ko"), "ext4")
        XCTAssertEqual(KernelModuleTree.moduleName(ofFile: "kernel/drivers/char/hw_random/virtio-rng.ko.zst"), "virtio_rng")
        XCTAssertEqual(KernelModuleTree.moduleName(ofFile: "kernel/lib/crc16.ko.gz"), "crc16")
    }

    func testOnAnOlderKernelTheModulesItLacksAreSkipped() throws {
        let tree = KernelModuleTree(directory: "/lib/modules/5.10.0-32-amd64", modulesDep: bullseyeDep, modulesBuiltin: "")
        let order = try tree.loadOrder(for: DebianGuestBuilder.bootModules).map(\.name)
        XCTAssertEqual(order, ["failover", "net_failover", "virtio_ring", "virtio", "virtio_pci", "virtio_net", "qemu_fw_cfg",
                               "virtio_blk", "crc16", "mbcache", "jbd2", "crc32c_generic", "ext4"])
        XCTAssertEqual(try tree.loadOrder(for: [.required("ext4")]).first?.path, "/lib/modules/5.10.0-32-amd64/kernel/lib/crc16.ko")
    }

    func testDependenciesComeFirstEvenWhenUnlistedAndCompressedPathsAreKept() throws {
        let tree = KernelModuleTree(directory: "/m", modulesDep: trixieDep, modulesBuiltin: "kernel/fs/mbcache.ko\nkernel/lib/crc16.ko\n")
        let order = try tree.loadOrder(for: DebianGuestBuilder.bootModules)
        XCTAssertEqual(order.map(\.name), ["failover", "net_failover", "virtio_ring", "virtio", "virtio_pci_modern_dev",
                                           "virtio_pci_legacy_dev", "virtio_pci", "virtio_net", "qemu_fw_cfg", "virtio_blk", "jbd2",
                                           "crc_t10dif", "ext4"])
        XCTAssertEqual(Set(order.map(\.name)).count, order.count, "each module once")
        XCTAssertTrue(order.allSatisfy { $0.path.hasPrefix("/m/kernel/") && $0.path.hasSuffix(".ko.xz") })
        // What modules.dep says a module needs comes first, though those lines come after its own.
        XCTAssertEqual(try tree.loadOrder(for: [.required("virtio_pci")]).map(\.name),
                       ["virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_ring", "virtio", "virtio_pci"])
    }

    func testBuiltInModulesAreSatisfiedAndAMissingRequiredOneIsNamed() throws {
        let tree = KernelModuleTree(directory: "/m", modulesDep: "kernel/drivers/net/virtio_net.ko:\n",
                                    modulesBuiltin: "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\nkernel/drivers/virtio/virtio_pci.ko\n"
                                        + "kernel/drivers/firmware/qemu_fw_cfg.ko\n")
        XCTAssertEqual(try tree.loadOrder(for: InitramfsGuestBuilder.modules).map(\.name), ["virtio_net"])
        XCTAssertThrowsError(try tree.loadOrder(for: [.required("virtio_blk")])) { error in
            XCTAssertEqual(error as? ModuleResolutionError, ModuleResolutionError(module: "virtio_blk", neededBy: nil, directory: "/m"))
            XCTAssertTrue("\(error)".contains("module virtio_blk is neither in /m/modules.dep nor built in"), "\(error)")
        }
        let broken = KernelModuleTree(directory: "/m", modulesDep: "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko\n", modulesBuiltin: "")
        XCTAssertThrowsError(try broken.loadOrder(for: [.optional("ext4")])) { error in
            XCTAssertEqual((error as? ModuleResolutionError)?.neededBy, "ext4", "an optional module that exists still needs its dependencies")
        }
    }

    // MARK: compressed modules in the initramfs

    func testACompressedModuleIsDecompressedIntoTheInitramfs() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let content = Data((0..<4096).map { UInt8($0 % 251) })
        let plain = "\(directory)/virtio_net.ko"
        XCTAssertTrue(FileManager.default.createFile(atPath: plain, contents: content))
        _ = try CommandRunner.run(["xz", "-k", plain], step: "compress a test module")
        try installModule(from: "\(plain).xz", to: "\(directory)/out.ko", step: "test")
        XCTAssertEqual(FileManager.default.contents(atPath: "\(directory)/out.ko"), content, ".ko.xz is decompressed")
        try installModule(from: plain, to: "\(directory)/copy.ko", step: "test")
        XCTAssertEqual(FileManager.default.contents(atPath: "\(directory)/copy.ko"), content, ".ko is copied")
    }

    func testTheInitramfsCarriesPlainModulesAndTheirLoadOrder() throws {
        guard FileManager.default.isExecutableFile(atPath: "/bin/busybox"), getuid() == 0 else {
            throw XCTSkip("needs /bin/busybox and root (mknod)")
        }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for name in ["virtio", "ext4"] {
            XCTAssertTrue(FileManager.default.createFile(atPath: "\(directory)/\(name).ko", contents: Data(name.utf8)))
            _ = try CommandRunner.run(["xz", "\(directory)/\(name).ko"], step: "compress a test module")
        }
        try makeInitramfs(at: "\(directory)/initrd.img", initScript: "#!/bin/busybox sh\n", busyboxPath: "/bin/busybox",
                          modules: [("virtio", "\(directory)/virtio.ko.xz"), ("ext4", "\(directory)/ext4.ko.xz")],
                          extraFiles: [], workDirectory: "\(directory)/work", step: "test")
        let listing = try CommandRunner.run(["sh", "-c", "gzip -dc \(shellQuoted("\(directory)/initrd.img")) | cpio -t --quiet"],
                                            step: "list the initramfs").output
        let files = Set(listing.split(whereSeparator: \.isNewline).map(String.init))
        XCTAssertTrue(files.isSuperset(of: ["lib/modules/virtio.ko", "lib/modules/ext4.ko", "lib/modules/load-order", "init"]), listing)
        XCTAssertFalse(files.contains { $0.hasSuffix(".xz") }, listing)
        let order = try CommandRunner.run(["sh", "-c", "cd \(shellQuoted(directory)) && gzip -dc initrd.img | cpio -i --quiet --to-stdout lib/modules/load-order"],
                                          step: "read the load order").output
        XCTAssertEqual(order, "virtio\next4\n")
    }

    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("guestkind-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
