import Foundation
import Libvirt
import MemeaterKit

/// A host as `lab status` sees it.
public struct HostStatus: Sendable, Codable {
    public var name: String
    public var namespace: String
    public var address: String
    public var tcpURI: String
    public var sshURI: String
    public var libvirtdPID: Int32?
    public var sshdPID: Int32?
    /// What the daemon said when asked just now; `nil` when it did not answer.
    public var daemon: DaemonFacts?
    /// Why the daemon could not be asked.
    public var daemonError: String?
    /// Domains on this host: name → state (with reason).
    public var domains: [String: String]
}

/// The guest as `lab status` sees it.
public struct GuestStatus: Sendable, Codable {
    public var record: GuestRecord
    /// The host it runs on now, if any.
    public var runningOn: String?
    /// Whether it answered a ping from the client namespace.
    public var answersPing: Bool
    /// Why it could not be pinged (the probe could not run), if so.
    public var pingError: String?
    /// memeater's `info` reply (JSON), or why there was none.
    public var memeaterInfo: String?
    public var memeaterError: String?
}

/// What `lab status` reports: what runs, where, versions and accelerator.
public struct LabStatus: Sendable, Codable {
    /// Whether every namespace exists and both daemons answer.
    public var isUp: Bool
    public var namespaces: [String: Bool]
    public var hosts: [HostStatus]
    /// The guests `lab up` started, in name order.
    public var guests: [GuestStatus]
    /// The record of the last `lab up` (emulator, accelerator, versions).
    public var record: LabRecord?
    /// What the lab's processes (daemons, sshd, QEMU) use, measured over ``usageWindowSeconds``.
    public var processes: [ProcessUsage]
    /// The window over which `processes` was measured, in seconds.
    public var usageWindowSeconds: Double
}

extension Lab {
    /// Looks at the lab as it is now (namespaces, daemons, domains, guests, memeater).
    public func status(checkGuest: Bool = true) -> LabStatus {
        var namespaces: [String: Bool] = [:]
        for name in configuration.namespaces { namespaces[name] = NetworkNamespace.exists(name) }
        let clientReady = namespaces[configuration.clientNamespace] == true
        var hosts: [HostStatus] = []
        var guestHosts: [String: String] = [:]
        for host in configuration.hosts {
            var status = HostStatus(name: host.name, namespace: host.namespace, address: host.address, tcpURI: host.tcpURI,
                                    sshURI: configuration.sshURI(host), libvirtdPID: daemons.daemonPID(host),
                                    sshdPID: daemons.sshdPID(host), daemon: nil, daemonError: nil, domains: [:])
            if clientReady && status.libvirtdPID != nil {
                do {
                    status.daemon = try daemons.probe(host)
                    let connection = try connect(to: host)
                    for summary in try connection.domainSummaries() {
                        status.domains[summary.name] = summary.state.description
                        if summary.state.isActive { guestHosts[summary.name] = host.name }
                    }
                } catch {
                    status.daemonError = "\(error)"
                }
            } else {
                status.daemonError = clientReady ? "libvirtd is not running" : "the lab's namespaces do not exist"
            }
            hosts.append(status)
        }
        let record = currentRecord()
        let guests = (record?.guests ?? []).map { guestRecord in
            var status = GuestStatus(record: guestRecord, runningOn: guestHosts[guestRecord.name], answersPing: false)
            let guestLab = Lab(configuration: LabGuestFleet.configuration(configuration, named: guestRecord.name))
            if checkGuest && status.runningOn != nil {
                do throws(LabError) {
                    status.answersPing = try guestLab.pingGuest(count: 2, replyTimeoutMilliseconds: 2_000).answered
                } catch {
                    status.pingError = error.description
                }
                do {
                    status.memeaterInfo = encodeLine(try guestLab.connectToMemeater(timeoutSeconds: 3).info())
                } catch {
                    status.memeaterError = "\(error)"
                }
            }
            return status
        }
        let isUp = namespaces.values.allSatisfy { $0 } && hosts.allSatisfy { $0.daemon != nil }
        // Measured last, after the guest was asked, and over a second: an idle lab should cost next to nothing.
        let window = 1.0
        return LabStatus(isUp: isUp, namespaces: namespaces, hosts: hosts, guests: guests, record: record,
                         processes: ProcessTable.cpuUse(of: labProcesses(), overSeconds: window), usageWindowSeconds: window)
    }
}
