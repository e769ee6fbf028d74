/// The BPF expression a live capture uses: this run's echo requests to the target and the
/// target's echo replies, plus the ARP and RARP frames by which the target may announce itself.
public enum CaptureFilter {
    /// - Parameters:
    ///   - identifier: this run's ICMP identifier, so that other pings to the same target (for
    ///     instance a side-by-side `ping`) stay out of the capture.
    ///   - targetMAC: when known, RARP and ARP frames are kept only from this address; otherwise
    ///     ARP frames whose sender address is the target and all RARP frames are kept, and the
    ///     analysis keeps those from the MAC its replies come from.
    public static func expression(target: IPv4Address, identifier: UInt16, targetMAC: MACAddress?, linkLayer: LinkLayer) -> String {
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

    private static func hex(_ value: UInt32) -> String {
        "0x" + String(value, radix: 16)
    }
}
