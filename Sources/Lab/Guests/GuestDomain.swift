import Foundation
import MemeaterKit

/// How guest code runs: hardware virtualisation or QEMU's software emulator.
public enum Accelerator: String, Sendable, Codable {
    /// KVM (`<domain type='kvm'>`, host CPU model).
    case kvm
    /// TCG software emulation (`<domain type='qemu'>`, `qemu64` CPU).
    case tcg
}

/// Everything needed to write the guest's libvirt domain XML.
public struct GuestDomainDefinition: Sendable, Equatable {
    /// The domain name.
    public var name: String
    /// Guest RAM in MiB (any size; libvirt rounds to 1 MiB).
    public var memoryMiB: Int
    /// Number of vCPUs.
    public var virtualCPUCount: Int
    /// KVM or TCG.
    public var accelerator: Accelerator
    /// The `qemu-system-x86_64` binary (`<emulator>`).
    public var emulatorPath: String
    /// QEMU machine type; `pc` is the emulator's newest i440fx machine.
    public var machineType: String
    /// The image to boot.
    public var image: GuestImage
    /// Extra kernel command line words (the lab's `lab.*` settings).
    public var kernelArguments: [String]
    /// The host bridge the NIC is plugged into.
    public var bridgeName: String
    /// The NIC's fixed MAC address.
    public var macAddress: String
    /// The tap device name on the host.
    public var tapName: String
    /// The file the serial console is appended to.
    public var consoleLogPath: String
    /// The host file QEMU hands the guest as the firmware configuration entry
    /// ``memeaterTokenFirmwareEntry`` (memeater's control token), or nil for none.
    public var memeaterTokenFile: String?

    /// Creates a definition from its parts.
    public init(name: String, memoryMiB: Int, virtualCPUCount: Int = 1, accelerator: Accelerator, emulatorPath: String,
                machineType: String = "pc", image: GuestImage, kernelArguments: [String], bridgeName: String,
                macAddress: String, tapName: String, consoleLogPath: String, memeaterTokenFile: String? = nil) {
        self.name = name
        self.memoryMiB = memoryMiB
        self.virtualCPUCount = virtualCPUCount
        self.accelerator = accelerator
        self.emulatorPath = emulatorPath
        self.machineType = machineType
        self.image = image
        self.kernelArguments = kernelArguments
        self.bridgeName = bridgeName
        self.macAddress = macAddress
        self.tapName = tapName
        self.consoleLogPath = consoleLogPath
        self.memeaterTokenFile = memeaterTokenFile
    }

    /// The kernel command line: serial console first, then the root (Debian guest) and
    /// the lab's settings. A panic reboots at once, and libvirt then destroys the domain
    /// (`on_reboot` is `destroy`), so a dead guest never spins.
    public var kernelCommandLine: String {
        var words = ["console=ttyS0,115200", "panic=-1", "loglevel=4"]
        if image.kind.debianRelease != nil { words += ["root=/dev/vda", "rw", "net.ifnames=0"] }
        return (words + kernelArguments).joined(separator: " ")
    }

    /// The domain XML.
    public func xml() -> String {
        let cpu: String
        switch accelerator {
        case .kvm: cpu = "<cpu mode='host-passthrough' check='none' migratable='on'/>"
        case .tcg: cpu = "<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>"
        }
        var disk = ""
        if let diskPath = image.diskPath {
            disk = """

                <disk type='file' device='disk'>
                  <driver name='qemu' type='qcow2' cache='none'/>
                  <source file='\(escaped(diskPath))'/>
                  <target dev='vda' bus='virtio'/>
                </disk>
            """
        }
        var sysinfo = ""
        if let memeaterTokenFile {
            // By file, not by value: QEMU then gets `-fw_cfg name=…,file=PATH`, and its command
            // line (which every local user reads in /proc) holds the path only.
            sysinfo = """

              <sysinfo type='fwcfg'>
                <entry name='\(Self.memeaterTokenFirmwareEntry)' file='\(escaped(memeaterTokenFile))'/>
              </sysinfo>
            """
        }
        return """
        <domain type='\(accelerator == .kvm ? "kvm" : "qemu")'>
          <name>\(escaped(name))</name>
          <memory unit='MiB'>\(memoryMiB)</memory>
          <currentMemory unit='MiB'>\(memoryMiB)</currentMemory>
          <vcpu placement='static'>\(virtualCPUCount)</vcpu>
          <os>
            <type arch='x86_64' machine='\(escaped(machineType))'>hvm</type>
            <kernel>\(escaped(image.kernelPath))</kernel>
            <initrd>\(escaped(image.initrdPath))</initrd>
            <cmdline>\(escaped(kernelCommandLine))</cmdline>
          </os>\(sysinfo)
          <features><acpi/></features>
          \(cpu)
          <clock offset='utc'/>
          <on_poweroff>destroy</on_poweroff>
          <on_reboot>destroy</on_reboot>
          <on_crash>destroy</on_crash>
          <devices>
            <emulator>\(escaped(emulatorPath))</emulator>\(disk)
            <interface type='bridge'>
              <source bridge='\(escaped(bridgeName))'/>
              <mac address='\(escaped(macAddress))'/>
              <target dev='\(escaped(tapName))'/>
              <model type='virtio'/>
            </interface>
            <serial type='file'>
              <source path='\(escaped(consoleLogPath))' append='on'/>
              <target port='0'/>
            </serial>
            <console type='file'>
              <source path='\(escaped(consoleLogPath))' append='on'/>
              <target type='serial' port='0'/>
            </console>
            <memballoon model='none'/>
          </devices>
        </domain>
        """
    }
}

extension GuestDomainDefinition {
    /// The firmware configuration (fw_cfg) entry that hands the guest's memeater its control
    /// token; the guest reads it from `/sys/firmware/qemu_fw_cfg/by_name/ENTRY/raw`.
    public static let memeaterTokenFirmwareEntry = "opt/migration-lab/memeater-token"

    /// Whether the guest starts memeater (its start-up does when `lab.memeater_port` is given).
    public var startsMemeater: Bool { kernelArguments.contains { $0.hasPrefix("lab.memeater_port=") } }

    /// The same definition with memeater's control token handed over from the host file
    /// `path` (0600, root's): QEMU reads it into the firmware configuration entry
    /// ``memeaterTokenFirmwareEntry``, and the guest's start-up copies it to a 0600 file for
    /// `memeater serve --token-file`. Neither the domain XML nor QEMU's command line holds
    /// the token, and one cached image serves every token.
    public func handingOver(memeaterTokenFile path: String) -> GuestDomainDefinition {
        var copy = self
        copy.memeaterTokenFile = path
        return copy
    }
}

private func escaped(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "'", with: "&apos;")
        .replacingOccurrences(of: "\"", with: "&quot;")
}
