import Foundation
import XCTest
@testable import Libvirt

/// Domain XML read through the XML parser: what the lab and the verifier take from it.
final class DomainDescriptionTests: XCTestCase {
    /// A running domain as `virsh dumpxml` prints it (libvirt 9, single quotes), with two
    /// bridged interfaces, one without a target, a disk whose `<target dev=...>` is no
    /// interface, a file-backed serial console and its console twin, and a comment that
    /// looks like an interface.
    static let liveXML = """
        <domain type='kvm' id='7'>
          <name>mig-guest</name>
          <uuid>3d5c1a5e-5b4f-4a53-9d1e-8f1f3b0c2a11</uuid>
          <memory unit='KiB'>2161664</memory>
          <currentMemory unit='KiB'>2161664</currentMemory>
          <vcpu placement='static'>1</vcpu>
          <resource>
            <partition>/machine</partition>
          </resource>
          <os>
            <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
            <kernel>/var/lib/mlab/cache/vmlinuz</kernel>
            <initrd>/var/lib/mlab/cache/initrd.img</initrd>
            <cmdline>console=ttyS0,115200 panic=-1 loglevel=4 lab.ip=198.18.0.10/24 lab.memeater_port=7777 lab.memeater_size_mib=1024</cmdline>
            <boot dev='hd'/>
          </os>
          <features>
            <acpi/>
          </features>
          <cpu mode='host-passthrough' check='none' migratable='on'/>
          <clock offset='utc'/>
          <on_poweroff>destroy</on_poweroff>
          <on_reboot>destroy</on_reboot>
          <on_crash>destroy</on_crash>
          <devices>
            <emulator>/usr/bin/qemu-system-x86_64</emulator>
            <disk type='file' device='disk'>
              <driver name='qemu' type='qcow2' cache='none'/>
              <source file='/var/lib/mlab/guests/mig-guest.qcow2' index='1'/>
              <backingStore/>
              <target dev='vda' bus='virtio'/>
              <alias name='virtio-disk0'/>
              <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
            </disk>
            <!-- <interface type='bridge'><target dev='commented-out'/></interface> -->
            <interface type='bridge'>
              <mac address='52:54:00:6c:61:62'/>
              <source bridge='br-host'/>
              <target dev='vnet3'/>
              <model type='virtio'/>
              <alias name='net0'/>
              <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
            </interface>
            <interface type="network">
              <mac address="52:54:00:6c:61:63"/>
              <source network="default" portid="5c0a0c52-2b51-4a40-b1c6-7c9c0fd1e0b2" bridge="virbr0"/>
              <target dev="vnet4"/>
              <model type="virtio"/>
            </interface>
            <interface type='user'>
              <mac address='52:54:00:6c:61:64'/>
              <model type='e1000'/>
            </interface>
            <serial type='file'>
              <source path='/var/lib/mlab/guests/mig-guest.console.log' append='on'/>
              <target type='isa-serial' port='0'>
                <model name='isa-serial'/>
              </target>
              <alias name='serial0'/>
            </serial>
            <console type='file'>
              <source path='/var/lib/mlab/guests/mig-guest.console.log' append='on'/>
              <target type='serial' port='0'/>
              <alias name='serial0'/>
            </console>
            <memballoon model='none'/>
          </devices>
          <seclabel type='dynamic' model='dac' relabel='yes'>
            <label>+0:+0</label>
            <imagelabel>+0:+0</imagelabel>
          </seclabel>
        </domain>
        """

    func testALiveDomainIsReadThroughXPath() throws {
        let description = try DomainDescription(xml: Self.liveXML)
        XCTAssertEqual(description.accelerator, "kvm")
        XCTAssertEqual(description.name, "mig-guest")
        XCTAssertEqual(description.interfaceTargets, ["vnet3", "vnet4"],
                       "both quote styles; not the disk's target, the comment, or the interface without a target")
        XCTAssertEqual(description.consoleLogPath, "/var/lib/mlab/guests/mig-guest.console.log")
        XCTAssertEqual(description.kernelCommandLine,
                       "console=ttyS0,115200 panic=-1 loglevel=4 lab.ip=198.18.0.10/24 lab.memeater_port=7777 lab.memeater_size_mib=1024")
        XCTAssertEqual(description.memoryKiB, 2_161_664)
        XCTAssertEqual(description.kernelParameter("lab.memeater_size_mib"), "1024")
        XCTAssertEqual(description.kernelParameter("lab.ip"), "198.18.0.10/24")
        XCTAssertNil(description.kernelParameter("lab.memeater"), "a prefix of a name is no parameter")
    }

    /// libvirt's usual serial console: a pty whose output is also logged to a file. The
    /// declaration, double quotes and character references are the parser's business.
    func testAPTYConsoleWithALogFileIsReadFromItsLog() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <domain type="qemu">
              <name>g&amp;h</name>
              <memory unit="MiB">2111</memory>
              <devices>
                <interface type="bridge"><target dev="vnet&#48;"/></interface>
                <serial type="pty">
                  <source path="/dev/pts/3"/>
                  <log file="/var/log/libvirt/qemu/g&amp;h-serial0.log" append="on"/>
                  <target type="isa-serial" port="0"/>
                </serial>
                <console type="pty" tty="/dev/pts/3">
                  <source path="/dev/pts/3"/>
                  <log file="/var/log/libvirt/qemu/g&amp;h-serial0.log" append="on"/>
                  <target type="serial" port="0"/>
                </console>
              </devices>
            </domain>
            """
        let description = try DomainDescription(xml: xml)
        XCTAssertEqual(description.accelerator, "qemu")
        XCTAssertEqual(description.name, "g&h")
        XCTAssertEqual(description.interfaceTargets, ["vnet0"])
        XCTAssertEqual(description.consoleLogPath, "/var/log/libvirt/qemu/g&h-serial0.log")
        XCTAssertEqual(description.memoryKiB, 2111 * 1024)
        XCTAssertNil(description.kernelCommandLine, "no <os><cmdline>")
        XCTAssertNil(description.kernelParameter("lab.memeater_size_mib"))
    }

    /// Serial devices first, each device's log before its source; a pty or an empty path is
    /// no file; the console is used when no serial device writes to a file.
    func testTheConsoleFileFollowsTheOrderOfTheStringHelper() throws {
        func path(_ devices: String) throws -> String? {
            try DomainDescription(xml: "<domain type='kvm'><devices>\(devices)</devices></domain>").consoleLogPath
        }
        XCTAssertNil(try path("<serial type='pty'><source path='/dev/pts/3'/></serial>"), "a pty is not a file")
        XCTAssertNil(try path(""))
        XCTAssertNil(try path("<serial type='file'><source path=''/></serial>"), "an empty path is none")
        XCTAssertEqual(try path("<serial type='pty'><source path='/dev/pts/1'/></serial><console type='file'><source path='/c.log'/></console>"),
                       "/c.log")
        XCTAssertEqual(try path("<console type='file'><source path='/c.log'/></console><serial type='file'><source path='/s.log'/></serial>"),
                       "/s.log", "serial devices come first")
        XCTAssertEqual(try path("<serial type='file'><source path='/s.log'/><log file='/l.log'/></serial>"), "/l.log",
                       "a device's log comes before its source")
        XCTAssertEqual(try path("<serial type='pty'/><serial type='file'><source path=\"/it's.log\"/></serial>"), "/it's.log",
                       "the second serial device; a quote inside the value")
        XCTAssertEqual(try path("<serial type='unix'><source mode='bind' path='/run/s.sock'/></serial>"), nil,
                       "a socket is no file")
        XCTAssertEqual(try path("<channel type='file'><source path='/chan.log'/></channel>"), nil, "a channel is no console")
    }

    func testMalformedXMLIsATypedErrorThatShowsTheText() {
        for bad in ["<domain type='kvm'><name>x", "", "not xml at all", "<domain type='kvm'><devices></domain>"] {
            XCTAssertThrowsError(try DomainDescription(xml: bad), bad) { error in
                guard case .unparsable(let reason, let excerpt)? = error as? DomainXMLError else {
                    return XCTFail("expected .unparsable for '\(bad)', got \(error)")
                }
                XCTAssertFalse(reason.isEmpty)
                XCTAssertEqual(excerpt, bad.isEmpty ? "(empty)" : bad)
                XCTAssertTrue("\(error)".hasPrefix("domain XML cannot be parsed"), "\(error)")
            }
        }
        XCTAssertThrowsError(try DomainDescription(xml: "<capabilities><host/></capabilities>")) { error in
            XCTAssertEqual(error as? DomainXMLError, .notADomain(rootElement: "capabilities"))
            XCTAssertTrue("\(error)".contains("<capabilities>"), "\(error)")
        }
        XCTAssertThrowsError(try DomainDescription(xml: "<domain><name>g</name><memory unit='parsecs'>3</memory></domain>")) { error in
            XCTAssertEqual(error as? DomainXMLError, .invalidValue(path: "./memory", value: "3 (unit 'parsecs')", domainName: "g"))
        }
        XCTAssertThrowsError(try DomainDescription(xml: "<domain><memory>lots</memory></domain>")) { error in
            XCTAssertEqual(error as? DomainXMLError, .invalidValue(path: "./memory", value: "lots", domainName: nil))
        }
    }

    func testAnEmptyDomainHasNothing() throws {
        XCTAssertEqual(try DomainDescription(xml: "<domain/>"), DomainDescription())
    }

    func testMemorySizesAreConvertedToKiBFromLibvirtUnits() {
        XCTAssertEqual(DomainDescription.kibibytes("2048", unit: nil), 2048, "KiB when no unit is given")
        XCTAssertEqual(DomainDescription.kibibytes("2111", unit: "MiB"), 2111 * 1024)
        XCTAssertEqual(DomainDescription.kibibytes("2", unit: "G"), 2 * 1024 * 1024)
        XCTAssertEqual(DomainDescription.kibibytes("1", unit: "GB"), 976_563, "10^9 bytes, rounded up")
        XCTAssertEqual(DomainDescription.kibibytes("1000", unit: "bytes"), 1, "rounded up to whole KiB")
        XCTAssertEqual(DomainDescription.kibibytes(" 4096 ", unit: "k"), 4096)
        XCTAssertNil(DomainDescription.kibibytes("-1", unit: "KiB"))
        XCTAssertNil(DomainDescription.kibibytes("1", unit: "EiB"))
        XCTAssertNil(DomainDescription.kibibytes("18446744073709551615", unit: "TiB"), "overflow")
    }

    func testKernelParametersAreWordsOfTheCommandLine() {
        let line = "console=ttyS0 quiet  lab.size=1\tlab.size=2 xlab.other=9 lab.other_x=3 lab.empty="
        XCTAssertEqual(DomainDescription.kernelParameter("lab.size", inCommandLine: line), "2", "the last word wins")
        XCTAssertEqual(DomainDescription.kernelParameter("quiet", inCommandLine: line), "", "a bare flag")
        XCTAssertEqual(DomainDescription.kernelParameter("lab.empty", inCommandLine: line), "")
        XCTAssertNil(DomainDescription.kernelParameter("lab.other", inCommandLine: line), "neither a longer nor a prefixed name")
        XCTAssertNil(DomainDescription.kernelParameter("lab.size", inCommandLine: ""))
    }
}
