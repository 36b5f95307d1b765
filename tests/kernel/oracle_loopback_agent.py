"""Loopback probes for the kernel oracle (tests/kernel/test_oracle_loopback.py), run inside one
namespace (`ip netns exec NS python3 oracle_loopback_agent.py listen|send`). Standard library
only.

  listen (the host under test): stdin {"port", "lo_port", "est_sport", "deadline_s"}
    binds UDP on 0.0.0.0:port and [::]:port; then, over lo, makes a conntrack entry
    127.0.0.1:est_sport -> 127.0.0.1:port ESTABLISHED (a datagram and its reply), and sends one
    datagram 127.0.0.1 -> 127.0.0.1:lo_port (lo traffic to a port no rule opens but lo's);
    stdout {"ready": true, "established": bool, "lo": bool}; after "stop" on stdin (or the
    deadline) {"seen": [[tag, src, sport], ...]}: the datagrams the port received.
  send (the peer): stdin {"iface", "src_mac", "dst_mac", "packets": [{"family", "src", "dst",
    "sport", "dport", "tag"}]}: each packet as a whole Ethernet frame on an AF_PACKET socket, so
    its source address (127.0.0.x, ::1) is whatever the test wants and the sender's own IP stack
    (routing, source checks) never sees it; stdout {"sent": n}.
"""

from __future__ import annotations

import ipaddress
import json
import selectors
import socket
import struct
import sys
import time

UDP = 17


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(packet: dict, src_mac: bytes, dst_mac: bytes) -> bytes:
    payload = packet["tag"].encode()
    src = ipaddress.ip_address(packet["src"]).packed
    dst = ipaddress.ip_address(packet["dst"]).packed
    length = 8 + len(payload)
    if packet["family"] == 4:
        # UDP checksum 0: "no checksum" for IPv4 (RFC 768).
        udp = struct.pack("!HHHH", packet["sport"], packet["dport"], length, 0) + payload
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 1, 0x4000, 64, UDP, 0, src, dst)
        header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        return dst_mac + src_mac + b"\x08\x00" + header + udp
    # IPv6 requires the UDP checksum, over the pseudo-header (RFC 8200 8.1).
    pseudo = src + dst + struct.pack("!IxxxB", length, UDP)
    udp = struct.pack("!HHHH", packet["sport"], packet["dport"], length, 0) + payload
    udp = udp[:6] + struct.pack("!H", _checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    header = struct.pack("!IHBB16s16s", 6 << 28, length, UDP, 64, src, dst)
    return dst_mac + src_mac + b"\x86\xdd" + header + udp


def send(config: dict) -> int:
    src_mac = bytes.fromhex(config["src_mac"].replace(":", ""))
    dst_mac = bytes.fromhex(config["dst_mac"].replace(":", ""))
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((config["iface"], 0))
        for packet in config["packets"]:
            sock.send(_frame(packet, src_mac, dst_mac))
    print(json.dumps({"sent": len(config["packets"])}), flush=True)
    return 0


def _udp(family: socket.AddressFamily, address: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((address, port))
    return sock


def _received(sock: socket.socket, wait_s: float) -> tuple[bytes, tuple] | None:
    sock.settimeout(wait_s)
    try:
        return sock.recvfrom(2048)
    except TimeoutError:
        return None


def listen(config: dict) -> int:
    port = config["port"]
    v4 = _udp(socket.AF_INET, "0.0.0.0", port)
    v6 = _udp(socket.AF_INET6, "::", port)
    # The conntrack entry a spoofed ESTABLISHED packet matches: 127.0.0.1:est -> 127.0.0.1:port.
    client = _udp(socket.AF_INET, "127.0.0.1", config["est_sport"])
    client.sendto(b"setup", ("127.0.0.1", port))
    got = _received(v4, 1.0)
    established = False
    if got is not None:
        v4.sendto(b"setup-reply", got[1])
        established = _received(client, 1.0) is not None
    lo_sock = _udp(socket.AF_INET, "0.0.0.0", config["lo_port"])
    with _udp(socket.AF_INET, "127.0.0.1", 0) as sender:
        sender.sendto(b"lo", ("127.0.0.1", config["lo_port"]))
    lo = _received(lo_sock, 1.0) is not None
    print(json.dumps({"ready": True, "established": established, "lo": lo}), flush=True)
    selector = selectors.DefaultSelector()
    for sock in (v4, v6):
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, sock)
    selector.register(sys.stdin, selectors.EVENT_READ, None)
    seen: list[list] = []
    deadline = time.monotonic() + config["deadline_s"]
    stopped = False
    while not stopped and (left := deadline - time.monotonic()) > 0:
        for key, _ in selector.select(timeout=left):
            if key.data is None:
                stopped = True
                continue
            data, peer = key.data.recvfrom(2048)
            seen.append([data.decode(errors="replace"), peer[0], peer[1]])
    print(json.dumps({"seen": seen}), flush=True)
    return 0


if __name__ == "__main__":
    mode = sys.argv[1]
    settings = json.loads(sys.stdin.readline())
    sys.exit(listen(settings) if mode == "listen" else send(settings))
