/// The BPF expression a live capture uses: this run's echo requests to the target and the
/// target's echo replies, plus the frames by which the target may announce itself: ARP and
/// RARP for an IPv4 target; RARP (QEMU's self-announce, sent whatever the guest's IP family)
/// and unsolicited ICMPv6 Neighbor Advertisements for an IPv6 target.
public enum CaptureFilter {
    /// - Parameters:
    ///   - identifier: this run's ICMP identifier, so that other pings to the same target (for
    ///     instance a side-by-side `ping`) stay out of the capture.
    ///   - targetMAC: when known, RARP and ARP frames are kept only from this address; otherwise
    ///     ARP frames whose sender address is the target and all RARP frames are kept, and the
    ///     analysis keeps those from the MAC its replies come from.
    public static func expression(target: IPAddress, identifier: UInt16, targetMAC: MACAddress?, linkLayer: LinkLayer) -> String {
        switch target {
        case .v4(let address):
            ipv4Expression(target: address, identifier: identifier, targetMAC: targetMAC, linkLayer: linkLayer)
        case .v6(let address):
            ipv6Expression(target: address, identifier: identifier, targetMAC: targetMAC, linkLayer: linkLayer)
        }
    }

    private static func ipv4Expression(target: IPv4Address, identifier: UInt16, targetMAC: MACAddress?, linkLayer: LinkLayer) -> String {
        let echo = "(icmp and host \(target) and (icmp[icmptype] = icmp-echo or icmp[icmptype] = icmp-echoreply) and icmp[4:2] = \(identifier))"
        // ARP's sender protocol address sits at byte 14 of the ARP header (Ethernet/IPv4).
        let arpFromTarget = "(arp and arp[14:4] = \(hex(target.value)))"
        switch linkLayer {
        case .ethernet:
            if let targetMAC {
                return "\(echo) or ((arp or rarp) and ether src \(targetMAC)) or \(arpFromTarget)"
            }
            return "\(echo) or \(arpFromTarget) or rarp"
        case .linuxCooked, .linuxCooked2:
            return "\(echo) or \(arpFromTarget) or rarp"
        case .rawIP, .null:
            return echo
        }
    }

    /// ICMPv6 offsets are read from the end of the fixed IPv6 header (`ip6[40]` is the ICMPv6
    /// type), so packets with extension headers between the two are not matched: pingmon's
    /// probes, the replies and Neighbor Advertisements carry none.
    private static func ipv6Expression(target: IPv6Address, identifier: UInt16, targetMAC: MACAddress?, linkLayer: LinkLayer) -> String {
        // Echo request 128 and reply 129; the identifier follows type, code and checksum.
        let echo = "(icmp6 and host \(target) and (ip6[40] = 128 or ip6[40] = 129) and ip6[44:2] = \(identifier))"
        // Neighbor Advertisement 136 whose target address (ICMPv6 bytes 8-23) is the target.
        let words = (0..<4).map { index in
            let half = index < 2 ? target.high : target.low
            return UInt32(truncatingIfNeeded: half >> (index % 2 == 0 ? 32 : 0))
        }
        let advertisement = "(icmp6 and ip6[40] = 136"
            + words.enumerated().map { " and ip6[\(48 + 4 * $0.offset):4] = \(hex($0.element))" }.joined() + ")"
        switch linkLayer {
        case .ethernet:
            if let targetMAC {
                return "\(echo) or \(advertisement) or (rarp and ether src \(targetMAC))"
            }
            return "\(echo) or \(advertisement) or rarp"
        case .linuxCooked, .linuxCooked2:
            return "\(echo) or \(advertisement) or rarp"
        case .rawIP, .null:
            return "\(echo) or \(advertisement)"
        }
    }

    private static func hex(_ value: UInt32) -> String {
        "0x" + String(value, radix: 16)
    }
}
