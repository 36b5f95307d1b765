"""Loopback probes for the kernel oracle (tests/kernel/test_oracle_loopback.py), run inside one
namespace (`ip netns exec NS python3 oracle_loopback_agent.py listen|send`). Standard library
only.

  listen (the host under test): stdin {"port", "lo_port", "est_sport", "deadline_s",
    optional "tcp_ports", "egress": [[dst], ...]}
    binds UDP on 0.0.0.0:port and [::]:port and TCP listeners on tcp_ports (both families),
    opens raw IPv4 ICMP, TCP, UDP, GRE and protocol-253 sockets (they get a copy of every packet delivered locally, after
    the INPUT hook); then, over lo, makes a conntrack entry 127.0.0.1:est_sport ->
    127.0.0.1:port ESTABLISHED (a datagram and its reply), sends one datagram 127.0.0.1 ->
    127.0.0.1:lo_port (lo traffic to a port no rule opens but lo's), and one packet of protocol
    253 (RFC 3692) to each egress address (sendto fails with EPERM when OUTPUT drops it);
    stdout {"ready": true, "established": bool, "lo": bool, "egress": [result, ...]}; after
    "stop" on stdin (or the deadline) {"seen": [[tag, src, sport], ...], "raw": [[proto, src,
    sport, dport, tcp flags], ...], "accepted": [[src, port], ...]}: the datagrams the port
    received, the IPv4 packets the raw sockets saw, the TCP connections accepted.
  send (the peer): stdin {"iface", "src_mac", "dst_mac", "packets": [{"family", "src", "dst",
    "sport", "dport", "tag", optional "proto": 6 for a TCP SYN, 1 with "type", "code" and
    "inner" (hex: the packet an ICMP error is about) for ICMP, another number for a bare
    payload}]}: each packet as a whole
    Ethernet frame on an AF_PACKET socket, so its source address (127.0.0.x, ::1) is whatever
    the test wants and the sender's own IP stack (routing, source checks) never sees it;
    stdout {"sent": n}.
  connect (the peer): stdin {"connects": [[src, dst, dport], ...], "timeout_s"}: TCP connects
    from each source address; stdout {"connected": [bool, ...]}.
"""

from __future__ import annotations

import ipaddress
import json
import selectors
import socket
import struct
import sys
import time

ICMP = 1
TCP = 6
UDP = 17
GRE = 47
# RFC 3692's experimentation protocol: no rule a generator writes names it, so a firewall
# decides it by its default alone.
EXPERIMENT = 253


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _tcp_syn(packet: dict, src: bytes, dst: bytes) -> bytes:
    """A SYN (RFC 9293 3.1), its checksum over the IPv4 pseudo-header."""
    segment = struct.pack(
        "!HHIIBBHHH", packet["sport"], packet["dport"], 1000, 0, 5 << 4, 0x02, 65535, 0, 0
    )
    pseudo = src + dst + struct.pack("!xBH", TCP, len(segment))
    return segment[:16] + struct.pack("!H", _checksum(pseudo + segment)) + segment[18:]


def inner_udp(src: str, dst: str, sport: int, dport: int) -> str:
    """The IPv4 header and UDP header of a datagram, as an ICMP error quotes them (hex)."""
    a, b = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 1, 0x4000, 64, UDP, 0, a, b)
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return (header + struct.pack("!HHHH", sport, dport, 8, 0)).hex()


def _frame(packet: dict, src_mac: bytes, dst_mac: bytes) -> bytes:
    payload = packet["tag"].encode()
    src = ipaddress.ip_address(packet["src"]).packed
    dst = ipaddress.ip_address(packet["dst"]).packed
    length = 8 + len(payload)
    if packet["family"] == 4:
        proto = packet.get("proto", UDP)
        if proto == TCP:
            body = _tcp_syn(packet, src, dst)
        elif proto == ICMP:
            # An error carries the packet it is about ("inner", hex: IP header + 8 bytes).
            inner = bytes.fromhex(packet.get("inner", "")) or payload
            body = struct.pack("!BBHI", packet.get("type", 8), packet.get("code", 0), 0, 1) + inner
            body = body[:2] + struct.pack("!H", _checksum(body)) + body[4:]
        elif proto != UDP:
            body = payload  # a protocol without ports (EXPERIMENT 253, RFC 3692; GRE)
        else:
            # UDP checksum 0: "no checksum" for IPv4 (RFC 768).
            body = struct.pack("!HHHH", packet["sport"], packet["dport"], length, 0) + payload
        header = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0x4000, 64, proto, 0, src, dst
        )
        header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        return dst_mac + src_mac + b"\x08\x00" + header + body
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


def _tcp_listeners(ports: list[int]) -> list[socket.socket]:
    out = []
    for family, wildcard in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for port in ports:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((wildcard, port))
            sock.listen(64)
            out.append(sock)
    return out


def _raw_record(data: bytes) -> list:
    """[proto, src, sport, dport, tcp flags] of a raw IPv4 socket's packet (ports 0 for a
    protocol without them)."""
    start = (data[0] & 0x0F) * 4
    proto = data[9]
    if proto not in (TCP, UDP):
        # ICMP: its type where TCP has its flags.
        kind = data[start] if proto == ICMP and len(data) > start else 0
        return [proto, str(ipaddress.ip_address(data[12:16])), 0, 0, kind]
    sport, dport = struct.unpack("!HH", data[start : start + 4])
    flags = data[start + 13] if proto == TCP and len(data) > start + 13 else 0
    return [proto, str(ipaddress.ip_address(data[12:16])), sport, dport, flags]


def _egress(targets: list) -> list[str]:
    """One EXPERIMENT packet to each address: sendto fails with EPERM when OUTPUT drops it."""
    results = []
    for (dst,) in targets:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, EXPERIMENT) as sock:
            try:
                sock.sendto(b"egress", (dst, 0))
                results.append("sent")
            except OSError as error:
                results.append(f"error: {error.strerror}")
    return results


def listen(config: dict) -> int:
    port = config["port"]
    v4 = _udp(socket.AF_INET, "0.0.0.0", port)
    v6 = _udp(socket.AF_INET6, "::", port)
    listeners = _tcp_listeners(config.get("tcp_ports", []))
    raws = [
        socket.socket(socket.AF_INET, socket.SOCK_RAW, proto)
        for proto in (ICMP, TCP, UDP, GRE, EXPERIMENT)
    ]
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
    egress = _egress(config.get("egress", []))
    # What the setup sent over lo is not what the peer sent: start the raw record clean.
    for raw in raws:
        raw.setblocking(False)
        while True:
            try:
                raw.recv(4096)
            except BlockingIOError:
                break
    ready = {"ready": True, "established": established, "lo": lo, "egress": egress}
    print(json.dumps(ready), flush=True)
    selector = selectors.DefaultSelector()
    for sock in (v4, v6):
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, ("udp", sock))
    for sock in raws:
        selector.register(sock, selectors.EVENT_READ, ("raw", sock))
    for sock in listeners:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, ("tcp", sock))
    selector.register(sys.stdin, selectors.EVENT_READ, None)
    seen: list[list] = []
    raw_seen: list[list] = []
    accepted: list[list] = []
    deadline = time.monotonic() + config["deadline_s"]
    stopped = False
    while not stopped and (left := deadline - time.monotonic()) > 0:
        for key, _ in selector.select(timeout=left):
            if key.data is None:
                stopped = True
                continue
            kind, sock = key.data
            if kind == "tcp":
                conn, peer = sock.accept()
                accepted.append(
                    [str(ipaddress.ip_address(peer[0].split("%")[0])), sock.getsockname()[1]]
                )
                conn.close()
            elif kind == "raw":
                raw_seen.append(_raw_record(sock.recv(4096)))
            else:
                data, peer = sock.recvfrom(2048)
                seen.append([data.decode(errors="replace"), peer[0], peer[1]])
    print(json.dumps({"seen": seen, "raw": raw_seen, "accepted": accepted}), flush=True)
    return 0


def connect(config: dict) -> int:
    results = []
    for src, dst, dport in config["connects"]:
        family = socket.AF_INET6 if ":" in dst else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(config["timeout_s"])
            try:
                sock.bind((src, 0))
                sock.connect((dst, dport))
                results.append(True)
            except OSError:
                results.append(False)
    print(json.dumps({"connected": results}), flush=True)
    return 0


if __name__ == "__main__":
    mode = sys.argv[1]
    settings = json.loads(sys.stdin.readline())
    sys.exit({"listen": listen, "send": send, "connect": connect}[mode](settings))
