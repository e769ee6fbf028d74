import Foundation
import FoundationXML
import Libvirt
import MemeaterKit
import XCTest
@testable import Lab

/// memeater's page pattern in the lab guest: parsing, the kernel arguments the lab writes,
/// reading them back, and the shell both guests run to turn them into memeater's flags.
final class GuestWorkloadTests: XCTestCase {
    private let hotset = MemeaterLoad(pattern: .hotset, hotFraction: 0.05, hotProbability: 0.95)

    private func sampleImage() -> GuestImage {
        GuestImage(kind: .initramfs, kernelPath: "/cache/vmlinuz", initrdPath: "/cache/initrd.img", diskPath: nil,
                   inputsDigest: "abc", kernelRelease: "6.1.0-56-amd64", containsMemeater: true)
    }

    func testParsingAndDescriptionRoundTrip() throws {
        for text in ["sequential", "random", "hotset", "hotset:0.05:0.95", "hotset:0.125:1", "random/threads=4",
                     "sequential/bytes=256", "hotset:0.05:0.95/threads=2/bytes=64"] {
            XCTAssertEqual(try MemeaterLoad(parsing: text).description, text)
        }
        XCTAssertEqual(try MemeaterLoad(parsing: "hotset:0.1:0.9").description, "hotset", "memeater's defaults read as plain hotset")
        XCTAssertEqual(try MemeaterLoad(parsing: "hotset"), MemeaterLoad(pattern: .hotset, hotFraction: 0.1, hotProbability: 0.9))
        XCTAssertNil(MemeaterLoad(pattern: .random, hotFraction: 0.3).hotFraction, "shares belong to hotset only")
        let failures: [(String, MemeaterLoadParseError.Problem)] = [
            ("zigzag", .unknownPattern), ("", .unknownPattern), ("hotset:1:0.5", .sharesOutOfRange),
            ("hotset:0.5:-0.1", .sharesOutOfRange), ("sequential:0.1:0.2", .sharesOnlyForHotset), ("hotset:0.1:0.2:0.3", .sharesOnlyForHotset),
            ("random/threads=0", .badSetting("threads=0")), ("random/threads=65", .badSetting("threads=65")),
            ("random/bytes=100", .badSetting("bytes=100")), ("random/bytes=8192", .badSetting("bytes=8192")),
            ("random/threads=2/threads=3", .badSetting("threads=3")), ("random/speed=fast", .badSetting("speed=fast")),
            ("random/", .badSetting("")),
        ]
        for (text, problem) in failures {
            XCTAssertThrowsError(try MemeaterLoad(parsing: text), text) { error in
                XCTAssertEqual((error as? MemeaterLoadParseError)?.problem, problem, text)
            }
        }
    }

    func testGuestDefinitionCarriesThePatternAndReadsBack() throws {
        let lab = Lab()
        for load in [MemeaterLoad.sequential, MemeaterLoad(pattern: .random), hotset] {
            let definition = lab.guestDefinition(image: sampleImage(), memoryMiB: 1024, memeaterSizeMiB: 512, memeaterLoad: load,
                                                 emulatorPath: "/usr/bin/qemu-system-x86_64", accelerator: .tcg)
            XCTAssertTrue(definition.kernelArguments.contains("lab.memeater_size_mib=512"))
            XCTAssertEqual(MemeaterLoad(kernelArguments: definition.kernelArguments), load, "\(load)")
            // And through the domain XML, as the lab reads a running domain.
            XCTAssertEqual(Lab.memeaterLoad(inDomainXML: definition.xml()), load, "\(load)")
        }
        let hot = lab.guestDefinition(image: sampleImage(), memoryMiB: 1024, memeaterSizeMiB: 512, memeaterLoad: hotset,
                                      emulatorPath: "/q", accelerator: .kvm)
        XCTAssertEqual(Array(hot.kernelArguments.suffix(3)),
                       ["lab.memeater_pattern=hotset", "lab.memeater_hot_fraction=0.05", "lab.memeater_hot_probability=0.95"])
        let plain = lab.guestDefinition(image: sampleImage(), memoryMiB: 1024, memeaterSizeMiB: 512,
                                        emulatorPath: "/q", accelerator: .kvm)
        XCTAssertFalse(plain.kernelArguments.contains { $0.hasPrefix("lab.memeater_pattern") },
                       "sequential adds nothing: a guest defined before patterns reads the same")
        XCTAssertEqual(Array(lab.guestDefinition(image: sampleImage(), memoryMiB: 1024, memeaterSizeMiB: 512,
                                                 memeaterLoad: MemeaterLoad(pattern: .random), emulatorPath: "/q",
                                                 accelerator: .kvm).kernelArguments.suffix(1)), ["lab.memeater_pattern=random"])
    }

    func testKernelParametersThatAreNoLoadReadAsNone() {
        XCTAssertEqual(MemeaterLoad(kernelArguments: ["lab.ip=1.2.3.4/24"]), .sequential)
        XCTAssertNil(MemeaterLoad(kernelArguments: ["lab.memeater_pattern=zigzag"]))
        XCTAssertNil(MemeaterLoad(kernelArguments: ["lab.memeater_pattern=hotset", "lab.memeater_hot_fraction=lots"]))
        XCTAssertEqual(MemeaterLoad(kernelArguments: ["lab.memeater_pattern=random", "lab.memeater_pattern=hotset"]),
                       MemeaterLoad(pattern: .hotset), "the last word wins, as the guest's shell reads it")
        XCTAssertNil(Lab.memeaterLoad(inDomainXML: "<domain><os><cmdline>lab.memeater_pattern=hotset"), "unparsable XML")
    }

    /// The lab's record of the running guest decides whether `lab up` reuses it: a record
    /// from before patterns existed (no `memeaterLoad`) decodes and counts as sequential.
    func testGuestRecordWithoutALoadDecodesAsBefore() throws {
        let record = GuestRecord(name: "g", kind: .initramfs, memoryMiB: 512, memeaterSizeMiB: 256, memeaterLoad: hotset,
                                 address: "198.18.1.10", memeaterPort: 7070, image: sampleImage(), emulatorPath: "/q",
                                 accelerator: .tcg, startedOn: "src", bootID: nil, bootSeconds: nil)
        let encoded = try JSONEncoder().encode(record)
        XCTAssertEqual(try JSONDecoder().decode(GuestRecord.self, from: encoded).memeaterLoad, hotset)
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        object.removeValue(forKey: "memeaterLoad")
        let old = try JSONDecoder().decode(GuestRecord.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertNil(old.memeaterLoad)
    }

    func testLabUpOptionsDefaultToSequential() {
        XCTAssertEqual(LabUpOptions().memeaterLoad, .sequential)
        XCTAssertNotEqual(LabUpOptions(memeaterLoad: hotset), LabUpOptions())
    }

    // MARK: the guests' shell

    /// Runs the guests' shell function on `words` with /bin/sh and returns what it printed.
    private func loadArguments(for words: [String]) throws -> [String] {
        try shellFunction(GuestWorkloadScript.loadArgumentsFunction, "memeater_load_arguments", words: words)
    }

    private func shellFunction(_ definition: String, _ name: String, words: [String]) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", definition + "\n\(name) \"$@\"", "sh"] + words
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        return String(decoding: data, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    }

    func testGuestShellBuildsTheMemeaterFlagsFromTheKernelArguments() throws {
        let lab = Lab()
        let threaded = MemeaterLoad(pattern: .random, threads: 4, bytesPerWrite: 256)
        for load in [MemeaterLoad.sequential, MemeaterLoad(pattern: .random), hotset, MemeaterLoad(pattern: .hotset), threaded,
                     MemeaterLoad(pattern: .sequential, threads: 2)] {
            let definition = lab.guestDefinition(image: sampleImage(), memoryMiB: 1024, memeaterSizeMiB: 512, memeaterLoad: load,
                                                 emulatorPath: "/q", accelerator: .tcg)
            // The whole command line, as /proc/cmdline has it, with the lab's other words around.
            let words = ["console=ttyS0"] + definition.kernelArguments + ["quiet"]
            XCTAssertEqual(try loadArguments(for: words), load.memeaterArguments, "\(load)")
        }
        XCTAssertEqual(hotset.memeaterArguments, ["--pattern", "hotset", "--hot-fraction", "0.05", "--hot-probability", "0.95"])
        XCTAssertEqual(MemeaterLoad.sequential.memeaterArguments, ["--pattern", "sequential"])
        XCTAssertEqual(threaded.memeaterArguments, ["--pattern", "random", "--threads", "4", "--bytes-per-page-write", "256"])
        XCTAssertEqual(MemeaterLoad(pattern: .sequential, threads: 2).kernelArguments, ["lab.memeater_threads=2"])
        XCTAssertEqual(MemeaterLoad(kernelArguments: ["lab.memeater_threads=2"]), MemeaterLoad(pattern: .sequential, threads: 2))
        XCTAssertNil(MemeaterLoad(kernelArguments: ["lab.memeater_threads=many"]))
    }

    /// Issue 24 finding 3: the guest's memeater listens on its guest-network addresses only,
    /// IPv4 and IPv6 (the verifier reaches it over either), not on every address.
    func testGuestShellBindsMemeaterToTheGuestNetworkAddresses() throws {
        let lab = Lab()
        let definition = lab.guestDefinition(image: sampleImage(), memoryMiB: 1024, memeaterSizeMiB: 512, emulatorPath: "/q", accelerator: .tcg)
        let words = ["console=ttyS0"] + definition.kernelArguments + ["quiet"]
        XCTAssertEqual(try shellFunction(GuestWorkloadScript.bindArgumentsFunction, "memeater_bind_arguments", words: words),
                       ["--bind", lab.configuration.guestAddress, "--bind", lab.configuration.guestIPv6Address])
        XCTAssertEqual(try shellFunction(GuestWorkloadScript.bindArgumentsFunction, "memeater_bind_arguments", words: ["quiet"]), [])
        XCTAssertTrue(InitramfsGuestBuilder.initScript.contains(#"set -- "$@" $(memeater_bind_arguments $(cat /proc/cmdline))"#))
        XCTAssertTrue(DebianGuestBuilder.setupScript.contains(#""$(memeater_bind_arguments $(cat /proc/cmdline))" > /run/lab-guest.env"#))
        for script in [InitramfsGuestBuilder.initScript, DebianGuestBuilder.setupScript] {
            XCTAssertTrue(script.contains(GuestWorkloadScript.bindArgumentsFunction))
        }
        let unit = DebianGuestBuilder.units.first { $0.name == "memeater.service" }?.text ?? ""
        XCTAssertTrue(unit.contains("$MEMEATER_LOAD_ARGS $MEMEATER_BIND_ARGS --token-file"), unit)
    }

    func testBothGuestsRunTheFunctionAndPassItsFlagsToMemeater() {
        let initScript = InitramfsGuestBuilder.initScript
        XCTAssertTrue(initScript.contains(GuestWorkloadScript.loadArgumentsFunction))
        XCTAssertTrue(initScript.contains(#"set -- "$@" $(memeater_load_arguments $(cat /proc/cmdline))"#))
        // The flags are added before memeater starts.
        let added = initScript.range(of: "memeater_load_arguments $(cat /proc/cmdline)")
        let started = initScript.range(of: #"( /bin/memeater "$@""#)
        XCTAssertNotNil(added)
        XCTAssertNotNil(started)
        if let added, let started { XCTAssertLessThan(added.lowerBound, started.lowerBound) }

        XCTAssertTrue(DebianGuestBuilder.setupScript.contains(GuestWorkloadScript.loadArgumentsFunction))
        XCTAssertTrue(DebianGuestBuilder.setupScript.contains(#"MEMEATER_LOAD_ARGS="%s""#))
        let unit = DebianGuestBuilder.units.first { $0.name == "memeater.service" }?.text ?? ""
        // Unbraced, so systemd splits the variable into words.
        XCTAssertTrue(unit.contains("--size-mib ${MEMEATER_SIZE_MIB} $MEMEATER_LOAD_ARGS $MEMEATER_BIND_ARGS --token-file"), unit)
    }
}

/// The lab hands each guest it starts a fresh control token for memeater: through the
/// firmware configuration entry of a 0600 file of the lab's state (which its clients read), then
/// into a 0600 file in the guest.
final class GuestTokenHandOverTests: XCTestCase {
    private let image = GuestImage(kind: .initramfs, kernelPath: "/k", initrdPath: "/i", diskPath: nil, inputsDigest: "abc",
                                   kernelRelease: "6.1", containsMemeater: true)

    func testTheTokenGoesByFirmwareConfigurationFileAndNeverOnACommandLine() throws {
        let lab = Lab()
        let definition = lab.guestDefinition(image: image, memoryMiB: 512, memeaterSizeMiB: 256, emulatorPath: "/q", accelerator: .tcg)
        XCTAssertTrue(definition.startsMemeater)
        XCTAssertNil(definition.memeaterTokenFile, "only startGuest hands one over")
        XCTAssertFalse(definition.xml().contains("fwcfg"))
        let handed = definition.handingOver(memeaterTokenFile: "/run/lab/guests/g.memeater-token")
        let xml = handed.xml()
        let document = try XMLDocument(xmlString: xml)
        let entries = try document.nodes(forXPath: "/domain/sysinfo[@type='fwcfg']/entry")
        XCTAssertEqual(entries.count, 1, xml)
        let entry = try XCTUnwrap(entries.first as? XMLElement)
        XCTAssertEqual(entry.attribute(forName: "name")?.stringValue, "opt/migration-lab/memeater-token")
        XCTAssertEqual(entry.attribute(forName: "file")?.stringValue, "/run/lab/guests/g.memeater-token")
        XCTAssertEqual(entry.stringValue ?? "", "", "by file: a value would go on QEMU's command line")
        XCTAssertFalse(handed.kernelCommandLine.contains("token"), handed.kernelCommandLine)
        XCTAssertEqual(MemeaterLoad(kernelArguments: handed.kernelArguments), .sequential, "the other settings read as before")

        var occupant = definition
        occupant.kernelArguments = []
        XCTAssertFalse(occupant.startsMemeater, "a guest without memeater (the dst-already-active stand-in) gets no token")
    }

    func testTheLabsClientsReadTheTokenFromItsState() throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("lab-token-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let lab = Lab(configuration: LabConfiguration(stateDirectory: state))
        XCTAssertEqual(lab.configuration.memeaterTokenPath, "\(state)/guests/lab-guest.memeater-token")
        XCTAssertThrowsError(try lab.memeaterToken()) { error in
            let error = error as? LabError
            XCTAssertEqual(error?.step, "read the guest's memeater token")
            XCTAssertTrue(error?.reason.contains("--replace-guest") == true, "\(String(describing: error))")
        }
        try FileManager.default.createDirectory(atPath: "\(state)/guests", withIntermediateDirectories: true)
        let token = try ControlToken.generate()
        try token.write(toFile: lab.configuration.memeaterTokenPath)
        XCTAssertEqual(try lab.memeaterToken().text, token.text)
    }

    func testBothGuestsTakeTheTokenFromTheFirmwareConfigurationAndServeWithIt() {
        let initScript = InitramfsGuestBuilder.initScript
        XCTAssertTrue(initScript.contains(GuestWorkloadScript.takeTokenFunction))
        XCTAssertTrue(initScript.contains(#"[ -n "$memeater_port" ] && ! memeater_take_token; then"#), initScript)
        XCTAssertTrue(initScript.contains("--token-file /run/memeater.token --allow-fault-injection"))
        XCTAssertFalse(initScript.contains("--token "), "never on memeater's command line, where ps shows it")
        XCTAssertFalse(initScript.contains("lab.memeater_token"), "never on the kernel command line")
        XCTAssertTrue(InitramfsGuestBuilder.modules.contains(.required("qemu_fw_cfg")))

        let setup = DebianGuestBuilder.setupScript
        XCTAssertTrue(setup.contains(GuestWorkloadScript.takeTokenFunction))
        XCTAssertTrue(setup.contains("memeater_take_token || echo"), setup)
        XCTAssertFalse(setup.contains("lab.memeater_token"))
        XCTAssertTrue(DebianGuestBuilder.bootModules.contains(.required("qemu_fw_cfg")), "loaded before switch_root")
        let unit = DebianGuestBuilder.units.first { $0.name == "memeater.service" }?.text ?? ""
        XCTAssertTrue(unit.contains("--token-file /run/memeater.token --allow-fault-injection"), unit)
    }

    /// The guest's shell function copies the entry into a file memeater accepts (0600, the
    /// token on its first line), and fails when the entry is missing.
    func testTheGuestShellCopiesTheFirmwareEntryIntoATokenFileMemeaterAccepts() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("guest-token-\(UUID().uuidString)").path
        let sysfs = "\(directory)/sys"
        let entry = "\(sysfs)/firmware/qemu_fw_cfg/by_name/\(GuestDomainDefinition.memeaterTokenFirmwareEntry)"
        try FileManager.default.createDirectory(atPath: entry, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The function itself, moved into the test's directory.
        let function = GuestWorkloadScript.takeTokenFunction
            .replacingOccurrences(of: "/sys/", with: "\(sysfs)/")
            .replacingOccurrences(of: GuestWorkloadScript.tokenFilePath, with: "\(directory)/memeater.token")
            .replacingOccurrences(of: "-lt 50", with: "-lt 2")  // a missing entry fails in 0.2 s, not 5
        func take() throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", function + "\nmemeater_take_token"]
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        let token = try ControlToken.generate()
        try token.write(toFile: "\(entry)/raw")
        XCTAssertEqual(try take(), 0)
        XCTAssertEqual(try ControlToken.read(fromFile: "\(directory)/memeater.token").text, token.text)

        try FileManager.default.removeItem(atPath: "\(entry)/raw")
        try FileManager.default.removeItem(atPath: "\(directory)/memeater.token")
        XCTAssertNotEqual(try take(), 0, "no entry, no token")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(directory)/memeater.token"))
    }
}

/// `lab up` keeps a running guest only when it is the one asked for; the load counts.
final class GuestReuseTests: XCTestCase {
    private let image = GuestImage(kind: .initramfs, kernelPath: "/k", initrdPath: "/i", diskPath: nil, inputsDigest: "abc",
                                   kernelRelease: "6.1", containsMemeater: true)

    private func record(load: MemeaterLoad?) -> GuestRecord {
        GuestRecord(name: "g", kind: .initramfs, memoryMiB: 512, memeaterSizeMiB: 256, memeaterLoad: load,
                    address: "198.18.1.10", memeaterPort: 7070, image: image, emulatorPath: "/q",
                    accelerator: .tcg, startedOn: "src", bootID: nil, bootSeconds: nil)
    }

    private func asks(_ load: MemeaterLoad) -> LabUpOptions {
        LabUpOptions(guestMemoryMiB: 512, memeaterSizeMiB: 256, memeaterLoad: load)
    }

    func testSamePatternReusesTheGuestAndADifferentOneDoesNot() {
        let hotset = MemeaterLoad(pattern: .hotset, hotFraction: 0.05, hotProbability: 0.95)
        let running = record(load: hotset)
        XCTAssertTrue(running.isAsAsked(kind: .initramfs, image: image, options: asks(hotset), emulatorPath: "/q", accelerator: .tcg))
        XCTAssertFalse(running.isAsAsked(kind: .initramfs, image: image, options: asks(.sequential), emulatorPath: "/q", accelerator: .tcg))
        XCTAssertFalse(running.isAsAsked(kind: .initramfs, image: image, options: asks(MemeaterLoad(pattern: .hotset)),
                                         emulatorPath: "/q", accelerator: .tcg), "other hot-set shares are another guest")
        // A record from before patterns existed is a sequential guest.
        XCTAssertTrue(record(load: nil).isAsAsked(kind: .initramfs, image: image, options: asks(.sequential), emulatorPath: "/q", accelerator: .tcg))
        XCTAssertFalse(record(load: nil).isAsAsked(kind: .initramfs, image: image, options: asks(MemeaterLoad(pattern: .random)),
                                                   emulatorPath: "/q", accelerator: .tcg))
        // The other fields still count.
        XCTAssertFalse(running.isAsAsked(kind: .initramfs, image: image, options: asks(hotset), emulatorPath: "/other", accelerator: .tcg))
        XCTAssertFalse(running.isAsAsked(kind: .debian, image: image, options: asks(hotset), emulatorPath: "/q", accelerator: .tcg))
    }
}
