#!/usr/bin/env python3
"""A user-space ICMP echo responder: the target of bench/pingmon's queued outages.

Run inside the target namespace with the kernel's own echo replies off
(net.ipv4.icmp_echo_ignore_all=1 there). It answers every echo request it reads from a raw
ICMP socket. SIGSTOP pauses it like a paused guest: the kernel keeps queueing the requests in
the socket's receive buffer (enlarged so that none is dropped), and on SIGCONT it answers them
all at once, late, then the new ones as they come: the queue-then-release of a guest's virtio
ring across a migration's pause. Prints `ready` once the socket is open.
"""
import socket
import struct
import sys

SO_RCVBUFFORCE = 33  # Linux; not in Python's socket module everywhere
RECEIVE_BUFFER_BYTES = 256 << 20


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    # Root may exceed net.core.rmem_max: a 500 ms pause at 13,000 requests/s must fit.
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER_BYTES)
    print("ready", flush=True)
    while True:
        packet, (source, _) = sock.recvfrom(65535)
        icmp = packet[(packet[0] & 0x0F) * 4:]
        if len(icmp) < 8 or icmp[0] != 8 or icmp[1] != 0:
            continue  # not an echo request (or our own reply seen again)
        reply = bytearray(icmp)
        reply[0] = 0
        reply[2:4] = b"\0\0"
        reply[2:4] = struct.pack("!H", checksum(bytes(reply)))
        sock.sendto(reply, (source, 0))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
