#!/usr/bin/env python3
"""Writes the seed corpus of the pingmon-analyze fuzzer: the captures of the PingMonitor
tests (Tests/PingMonitorTests/Support/SyntheticPackets.swift), built byte by byte the same
way, as classic pcap (ns and µs) and as pcapng (with if_tsresol and if_tsoffset), plus a
truncated one; and the IPv6 stream of Support/SyntheticIPv6.swift (ICMPv6 echo, RARP and an
unsolicited Neighbor Advertisement) over Ethernet, Linux cooked (SLL) and raw IP; and the
held-probe outages of HeldProbeTests.swift (a probe held at the start of the outage, probes held
at its end, every probe held and answered in one burst), shortened, over IPv4 and IPv6.
Usage: make-seeds.py DIRECTORY"""
import os
import struct
import sys

PROBER, TARGET = bytes([198, 18, 13, 1]), bytes([198, 18, 13, 2])
PROBER_MAC, TARGET_MAC = bytes.fromhex("020000000001"), bytes.fromhex("525400123456")
IDENTIFIER = 0x4242
PROBER6 = bytes.fromhex("20010002000000000000000000000001")
TARGET6 = bytes.fromhex("20010002000000000000000000000002")
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo(request, sequence, interval=1000, pingmon=True):
    icmp = bytearray([8 if request else 0, 0, 0, 0]) + struct.pack("!HH", IDENTIFIER, sequence & 0xFFFF)
    icmp += struct.pack("!IIQQQ", 0x504D4F4E, interval, sequence, 0, 0) if pingmon else b"\xab" * 32
    icmp[2:4] = struct.pack("!H", checksum(bytes(icmp)))
    src, dst = (PROBER, TARGET) if request else (TARGET, PROBER)
    ip = bytearray(struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(icmp), 0, 0x4000, 64, 1, 0)) + src + dst
    ip[10:12] = struct.pack("!H", checksum(bytes(ip)))
    macs = (TARGET_MAC + PROBER_MAC) if request else (PROBER_MAC + TARGET_MAC)
    return macs + struct.pack("!H", 0x0800) + bytes(ip) + bytes(icmp)


def rarp():
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 3) + TARGET_MAC + bytes(4) + TARGET_MAC + bytes(4)
    return b"\xff" * 6 + TARGET_MAC + struct.pack("!H", 0x8035) + arp


def stream(count=40, outage=range(15, 25), start=1_700_000_000 * 10**9, ipv6=False):
    """Requests every ms, replies 200 µs later except during the outage; a RARP at its end
    (and for IPv6 an unsolicited Neighbor Advertisement)."""
    build = echo6 if ipv6 else echo
    records = []
    for n in range(count):
        t = start + n * 1_000_000
        records.append((t, build(True, n)))
        if n not in outage:
            records.append((t + 200_000, build(False, n)))
        if n == outage.stop:
            records.append((t + 100_000, rarp()))
            if ipv6:
                records.append((t + 150_000, neighbor_advertisement()))
    return records


def held_stream(held, lost=(), count=40, release=24, start=1_700_000_000 * 10**9, ipv6=False):
    """Requests every ms, replies 200 µs later, except that the probes in `lost` get none and
    those in `held` are answered 1 µs apart from 0.5 ms after probe `release` was sent: a
    paused target answering its queue when it resumes (HeldProbeTests.swift, shortened)."""
    build = echo6 if ipv6 else echo
    resume = start + release * 1_000_000 + 500_000
    records = []
    for n in range(count):
        t = start + n * 1_000_000
        records.append((t, build(True, n)))
        if n in held:
            records.append((resume + sorted(held).index(n) * 1_000, build(False, n)))
        elif n not in lost:
            records.append((t + 200_000, build(False, n)))
    return sorted(records, key=lambda record: record[0])


def icmpv6(kind, body, src, dst):
    message = bytearray([kind, 0, 0, 0]) + body
    pseudo = src + dst + struct.pack("!I", len(message)) + b"\0\0\0\x3a"
    message[2:4] = struct.pack("!H", checksum(bytes(pseudo + message)))
    return bytes(message)


def ipv6_packet(src, dst, payload, hop_limit=64):
    return struct.pack("!IHBB", 0x60000000, len(payload), 58, hop_limit) + src + dst + payload


def echo6_packet(request, sequence, interval=1000):
    body = struct.pack("!HH", IDENTIFIER, sequence & 0xFFFF) + struct.pack("!IIQQQ", 0x504D4F4E, interval, sequence, 0, 0)
    src, dst = (PROBER6, TARGET6) if request else (TARGET6, PROBER6)
    return ipv6_packet(src, dst, icmpv6(128 if request else 129, body, src, dst))


def echo6(request, sequence):
    macs = (TARGET_MAC + PROBER_MAC) if request else (PROBER_MAC + TARGET_MAC)
    return macs + struct.pack("!H", 0x86DD) + echo6_packet(request, sequence)


def neighbor_advertisement():
    """Unsolicited (S clear, O set), with the Target Link-Layer Address option, hop limit 255."""
    body = bytes([0x20, 0, 0, 0]) + TARGET6 + bytes([2, 1]) + TARGET_MAC
    packet = ipv6_packet(TARGET6, ALL_NODES, icmpv6(136, body, TARGET6, ALL_NODES), hop_limit=255)
    return bytes.fromhex("333300000001") + TARGET_MAC + struct.pack("!H", 0x86DD) + packet


def cooked(frame):
    """An Ethernet frame as Linux cooked v1 (SLL): packet type, ARPHRD_ETHER, MAC, protocol."""
    return struct.pack("!HHH", 0, 1, 6) + frame[6:12] + b"\0\0" + frame[12:14] + frame[14:]


def pcap(records, nano=True, snaplen=262144, linktype=1):
    out = struct.pack("<IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)
    for t, frame in records:
        sec, frac = divmod(t, 10**9)
        cap = frame[:snaplen]
        out += struct.pack("<IIII", sec, frac if nano else frac // 1000, len(cap), len(frame)) + cap
    return out


def block(kind, body):
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def option(code, value):
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def pcapng(records, tsresol=9, tsoffset=0):
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    options = option(9, bytes([tsresol]))
    if tsoffset:
        options += option(14, struct.pack("<q", tsoffset))
    idb = block(1, struct.pack("<HHI", 1, 0, 262144) + options + option(0, b""))
    out = shb + idb
    for t, frame in records:
        units = (t - tsoffset * 10**9) // (10 ** (9 - tsresol))
        out += block(6, struct.pack("<IIIII", 0, units >> 32, units & 0xFFFFFFFF, len(frame), len(frame)) + frame)
    return out


def main():
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    records = stream()
    seeds = {
        "outage-ns.pcap": pcap(records),
        "outage-us.pcap": pcap(records, nano=False),
        "short-snaplen.pcap": pcap(records[:20], snaplen=60),
        "truncated.pcap": pcap(records[:30])[:-30],
        "other-pings.pcap": pcap([(t, echo(f[34] == 8, i // 2, pingmon=False)) for i, (t, f) in enumerate(records[:30])]),
        "outage-ns.pcapng": pcapng(records),
        "outage-us-offset.pcapng": pcapng(records[:30], tsresol=6, tsoffset=1_600_000_000),
        "header-only.pcap": pcap([]),
    }
    records6 = stream(ipv6=True)
    seeds.update({
        "ipv6-outage-ns.pcap": pcap(records6),
        "ipv6-outage-ns.pcapng": pcapng(records6),
        "ipv6-short-snaplen.pcap": pcap(records6[:20], snaplen=70),
        "ipv6-sll.pcap": pcap([(t, cooked(f)) for t, f in records6], linktype=113),
        "ipv6-raw.pcap": pcap([(t, f[14:]) for t, f in records6 if f[12:14] == b"\x86\xdd"], linktype=101),
    })
    held = {
        "held-start": dict(held={15}, lost=range(16, 25)),
        "held-end": dict(held=set(range(18, 25)), lost=range(15, 18)),
        "held-all": dict(held=set(range(15, 25))),
    }
    for name, shape in held.items():
        seeds[f"{name}.pcap"] = pcap(held_stream(**shape))
        seeds[f"ipv6-{name}.pcapng"] = pcapng(held_stream(**shape, ipv6=True))
    for name, data in seeds.items():
        with open(os.path.join(directory, name), "wb") as file:
            file.write(data)


if __name__ == "__main__":
    main()
