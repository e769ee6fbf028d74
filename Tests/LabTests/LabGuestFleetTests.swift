import Foundation
import XCTest
@testable import Lab

/// The lab's guests of an evacuation: names, addresses, MACs, taps, domain XML, and how many fit.
final class LabGuestFleetTests: XCTestCase {
    private let image = GuestImage(kind: .initramfs, kernelPath: "/cache/vmlinuz", initrdPath: "/cache/initrd.img", diskPath: nil,
                                   inputsDigest: "d", kernelRelease: "6.1.0", containsMemeater: true)

    func testOneGuestStaysTheLabsGuest() {
        let base = LabConfiguration()
        XCTAssertEqual(LabGuestFleet.configuration(base, guest: 1, of: 1), base)
        XCTAssertEqual(LabGuestFleet.configurations(base, count: 1).map(\.guestName), ["lab-guest"])
    }

    func testEachGuestHasItsOwnNameAddressMACTapConsoleAndToken() {
        let guests = LabGuestFleet.configurations(LabConfiguration(), count: 3)
        XCTAssertEqual(guests.map(\.guestName), ["lab-guest-1", "lab-guest-2", "lab-guest-3"])
        XCTAssertEqual(guests.map(\.guestAddress), ["198.18.1.11", "198.18.1.12", "198.18.1.13"])
        XCTAssertEqual(guests.map(\.guestIPv6Address), ["2001:2:0:1::11", "2001:2:0:1::12", "2001:2:0:1::13"])
        XCTAssertEqual(guests.map(\.guestMACAddress), ["52:54:00:c6:12:0b", "52:54:00:c6:12:0c", "52:54:00:c6:12:0d"])
        XCTAssertEqual(guests.map(\.guestTapName), ["labtap1", "labtap2", "labtap3"])
        XCTAssertEqual(Set(guests.map(\.memeaterTokenPath)).count, 3)
        XCTAssertEqual(Set(guests.map(\.guestConsoleLogPath)).count, 3)
        // The last guest the network has room for stays below the client's address.
        let last = LabGuestFleet.configuration(LabConfiguration(), guest: LabGuestFleet.maximumGuestCount, of: LabGuestFleet.maximumGuestCount)
        XCTAssertEqual(last.guestAddress, "198.18.1.99")
        XCTAssertEqual(last.guestMACAddress, "52:54:00:c6:12:63")
    }

    func testEachGuestsDomainXMLIsItsOwn() {
        let guests = LabGuestFleet.configurations(LabConfiguration(), count: 2)
        let xmls = guests.map { Lab(configuration: $0).guestDefinition(image: image, memoryMiB: 512, memeaterSizeMiB: 256,
                                                                       emulatorPath: "/usr/bin/qemu-system-x86_64", accelerator: .kvm).xml() }
        XCTAssertTrue(xmls[0].contains("<name>lab-guest-1</name>"), xmls[0])
        XCTAssertTrue(xmls[1].contains("<name>lab-guest-2</name>"), xmls[1])
        XCTAssertTrue(xmls[1].contains("52:54:00:c6:12:0c"))
        XCTAssertTrue(xmls[1].contains("labtap2"))
        XCTAssertTrue(xmls[1].contains("lab.ip=198.18.1.12/"))
        XCTAssertFalse(xmls[1].contains("198.18.1.11/"))
    }

    /// 24 GiB: 512 MiB for the host, each 1024 MiB guest 2 × (1024 + 256) = 2560 MiB:
    /// (24576 − 512) / 2560 = 9 guests. One 1024 MiB guest agrees with GuestMemoryRange.
    func testTheMemoryLimitCountsTwoQEMUsPerGuest() throws {
        let range = GuestMemoryRange(hostMemTotalMiB: 24_576)
        XCTAssertEqual(LabGuestFleet.maximumGuestCount(guestMiB: 1024, range: range), 9)
        XCTAssertNoThrow(try LabGuestFleet.check(count: 9, guestMiB: 1024, range: range))
        XCTAssertThrowsError(try LabGuestFleet.check(count: 10, guestMiB: 1024, range: range)) { error in
            XCTAssertTrue("\(error)".hasPrefix("--guest-count must be between 1 and 9 for guests of 1024 MiB on this machine, not 10: "), "\(error)")
        }
        XCTAssertThrowsError(try LabGuestFleet.check(count: 0, guestMiB: 1024, range: range))
        // The largest single guest GuestMemoryRange allows is exactly one guest here.
        let largest = try XCTUnwrap(range.rangeMiB).upperBound
        XCTAssertEqual(LabGuestFleet.maximumGuestCount(guestMiB: largest, range: range), 1)
        XCTAssertEqual(LabGuestFleet.maximumGuestCount(guestMiB: largest + 1, range: range), 0)
        XCTAssertEqual(LabGuestFleet.maximumGuestCount(guestMiB: 64, range: GuestMemoryRange(hostMemTotalMiB: 1_048_576)), 89,
                       "the guest network's addresses bound it")
    }

    func testAGuestsRecordedNameLeadsBackToItsConfiguration() {
        let base = LabConfiguration()
        for guest in LabGuestFleet.configurations(base, count: 3) {
            XCTAssertEqual(LabGuestFleet.configuration(base, named: guest.guestName), guest)
        }
        XCTAssertEqual(LabGuestFleet.configuration(base, named: "lab-guest"), base)
        XCTAssertEqual(LabGuestFleet.configuration(base, named: "lab-guest-0").guestAddress, base.guestAddress, "no guest 0")
        XCTAssertEqual(LabGuestFleet.configuration(base, named: "lab-guest-x").guestName, "lab-guest-x")
    }

    func testARecordKeepsEveryGuestOnceInNameOrder() {
        func record(_ name: String, bootID: String) -> GuestRecord {
            GuestRecord(name: name, kind: .initramfs, memoryMiB: 512, memeaterSizeMiB: 256, address: "198.18.1.11", memeaterPort: 7000,
                        image: image, emulatorPath: "/usr/bin/qemu-system-x86_64", accelerator: .tcg, startedOn: "src", bootID: bootID)
        }
        var guests = LabRecord.guests([], replacing: record("lab-guest-2", bootID: "a"))
        guests = LabRecord.guests(guests, replacing: record("lab-guest-1", bootID: "b"))
        guests = LabRecord.guests(guests, replacing: record("lab-guest-2", bootID: "c"))
        XCTAssertEqual(guests.map(\.name), ["lab-guest-1", "lab-guest-2"])
        XCTAssertEqual(guests.map(\.bootID), ["b", "c"], "the new record replaces the old one")

        // From one guest to a fleet of two and back: the guests of the other count go.
        let fleet = LabGuestFleet.configurations(LabConfiguration(), count: 2)
        let sorted = LabGuestFleet.sort(recorded: [record("lab-guest", bootID: "d")] + guests, into: fleet)
        XCTAssertEqual(sorted.members.map(\.name), ["lab-guest-1", "lab-guest-2"])
        XCTAssertEqual(sorted.others, ["lab-guest"])
        let single = LabGuestFleet.sort(recorded: guests, into: LabGuestFleet.configurations(LabConfiguration(), count: 1))
        XCTAssertEqual(single.members, [])
        XCTAssertEqual(single.others, ["lab-guest-1", "lab-guest-2"])
    }
}
