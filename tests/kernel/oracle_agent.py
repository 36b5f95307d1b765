"""The helper process run inside one namespace (`ip netns exec NS python3 oracle_agent.py`).

It listens on every given TCP, UDP and UDP-Lite port (IPv4 and IPv6), records each TCP
connection its listener accepted and each UDP/UDP-Lite datagram it received as (proto, family,
src, sport, dport), and sends the probes it is given (TCP connects and datagrams from an explicit source address and
port, pings as ICMP/ICMPv6 echo requests from a raw socket, with the probe's sport as the echo
identifier) in parallel threads with a short timeout. Standard library only: it runs in the
namespace, outside pytest.

Protocol on stdin/stdout, one JSON document per line:
  in:  {"ports": [...], "probes": [{"id", "family", "proto", "src", "dst", "sport", "dport"}],
        "timeout_s": 0.5, "raw": [other IP protocols to receive, optional]}
  out: {"ready": true}                     listeners bound
  in:  "go"
  out: {"probes": {"<id>": "connected" | "refused" | "timeout" | "sent" | "replied" | "error: ..."}}
  in:  "stop"
  out: {"seen": [[proto, family, src, sport, dport], ...]}
"""

from __future__ import annotations

import errno
import ipaddress
import json
import selectors
import socket
import struct
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

TCP = 6
UDP = 17
UDPLITE = 136
ICMP = {4: 1, 6: 58}
# (echo request, echo reply) types: RFC 792 and RFC 4443.
ECHO = {4: (8, 0), 6: (128, 129)}


def normal(addr: str) -> str:
    return str(ipaddress.ip_address(addr.split("%")[0]))


def _bind_listeners(ports: list[int]) -> list[tuple[socket.socket, int, int, int]]:
    bound = []
    for family, wildcard in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for port in ports:
            for kind, proto in (
                (socket.SOCK_STREAM, TCP),
                (socket.SOCK_DGRAM, UDP),
                (socket.SOCK_DGRAM, UDPLITE),
            ):
                sock = socket.socket(family, kind, proto)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((wildcard, port))
                if kind == socket.SOCK_STREAM:
                    sock.listen(256)
                sock.setblocking(False)
                bound.append((sock, proto, 4 if family == socket.AF_INET else 6, port))
    return bound


def _serve(listeners: list, seen: list, stop: threading.Event) -> None:
    selector = selectors.DefaultSelector()
    for sock, proto, family, port in listeners:
        selector.register(sock, selectors.EVENT_READ, (proto, family, port))
    while not stop.is_set():
        for key, _ in selector.select(timeout=0.05):
            proto, family, port = key.data
            sock = key.fileobj
            try:
                if proto == TCP:
                    conn, peer = sock.accept()
                    conn.close()
                    seen.append([proto, family, normal(peer[0]), peer[1], port])
                else:
                    while True:
                        _, peer = sock.recvfrom(2048)
                        seen.append([proto, family, normal(peer[0]), peer[1], port])
            except (BlockingIOError, InterruptedError):
                continue
    selector.close()


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ping(probe: dict, timeout_s: float) -> str:
    """One echo request from probe["src"]; "replied" when its echo reply comes back."""
    v4 = probe["family"] == 4
    request, reply = ECHO[probe["family"]]
    ident = probe["sport"]
    payload = b"fwcheck-oracle"
    message = struct.pack("!BBHHH", request, 0, 0, ident, 1) + payload
    if v4:  # the kernel fills in ICMPv6 checksums of raw sockets itself (RFC 3542), not ICMP's
        message = message[:2] + struct.pack("!H", checksum(message)) + message[4:]
    family = socket.AF_INET if v4 else socket.AF_INET6
    proto = socket.IPPROTO_ICMP if v4 else socket.IPPROTO_ICMPV6
    with socket.socket(family, socket.SOCK_RAW, proto) as sock:
        sock.bind((probe["src"], 0))
        try:
            sock.sendto(message, (probe["dst"], 0))
        except OSError as error:  # EPERM: the host's own OUTPUT chain dropped it
            return f"error: {errno.errorcode.get(error.errno or 0, error.errno)}"
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                break
            if v4:  # raw IPv4 sockets see the IP header too
                data = data[(data[0] & 0x0F) * 4 :]
            if len(data) < 8 or normal(peer[0]) != normal(probe["dst"]):
                continue
            kind, _, _, got_ident, _ = struct.unpack("!BBHHH", data[:8])
            if kind == reply and got_ident == ident:
                return "replied"
        return "timeout"


def _bind_raw(raw: list[int]) -> list[tuple[socket.socket, int, int, int]]:
    """Other IP protocols: a raw socket per protocol receives every such packet delivered here
    (recorded with ports 0)."""
    bound = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for proto in raw:
            sock = socket.socket(family, socket.SOCK_RAW, proto)
            sock.setblocking(False)
            bound.append((sock, proto, 4 if family == socket.AF_INET else 6, 0))
    return bound


def _raw(probe: dict) -> str:
    """One datagram of another IP protocol (GRE, ESP …) from probe["src"]: a raw socket."""
    family = socket.AF_INET if probe["family"] == 4 else socket.AF_INET6
    with socket.socket(family, socket.SOCK_RAW, probe["proto"]) as sock:
        sock.bind((probe["src"], 0))
        try:
            sock.sendto(b"fwcheck-oracle-raw", (probe["dst"], 0))
        except OSError as error:  # EPERM: the host's own OUTPUT chain dropped it
            return f"error: {errno.errorcode.get(error.errno or 0, error.errno)}"
        return "sent"


def _probe(probe: dict, timeout_s: float) -> str:
    if probe["proto"] == ICMP[probe["family"]]:
        return _ping(probe, timeout_s)
    family = socket.AF_INET if probe["family"] == 4 else socket.AF_INET6
    kind = socket.SOCK_STREAM if probe["proto"] == TCP else socket.SOCK_DGRAM
    with socket.socket(family, kind, probe["proto"]) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((probe["src"], probe["sport"]))
        except OSError as error:
            return f"bind-failed: {errno.errorcode.get(error.errno or 0, error.errno)}"
        if kind == socket.SOCK_DGRAM:
            try:
                sock.sendto(b"fwcheck-oracle", (probe["dst"], probe["dport"]))
            except OSError as error:  # EPERM: the host's own OUTPUT chain dropped it
                return f"error: {errno.errorcode.get(error.errno or 0, error.errno)}"
            return "sent"
        sock.settimeout(timeout_s)
        try:
            sock.connect((probe["dst"], probe["dport"]))
        except TimeoutError:
            return "timeout"
        except ConnectionRefusedError:
            return "refused"
        except OSError as error:
            return f"error: {errno.errorcode.get(error.errno or 0, error.errno)}"
        # Wait for the listener's close (FIN) so that the handshake's last ACK has been sent
        # and our close does not race the listener's accept; bounded by the same timeout.
        try:
            sock.recv(16)
        except OSError:
            pass
        return "connected"


def main() -> int:
    config = json.loads(sys.stdin.readline())
    raw = config.get("raw", [])
    listeners = _bind_listeners(config["ports"]) + _bind_raw(raw)
    seen: list = []
    stop = threading.Event()
    server = threading.Thread(target=_serve, args=(listeners, seen, stop), daemon=True)
    server.start()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "go":
            probes = config["probes"]
            results: dict[str, str] = {}
            if probes:
                with ThreadPoolExecutor(max_workers=min(64, len(probes))) as pool:
                    outcomes = pool.map(
                        lambda p: _raw(p) if p["proto"] in raw else _probe(p, config["timeout_s"]),
                        probes,
                    )
                    results = {p["id"]: r for p, r in zip(probes, outcomes, strict=True)}
            print(json.dumps({"probes": results}), flush=True)
        elif command == "stop":
            stop.set()
            server.join(timeout=5)
            print(json.dumps({"seen": seen}), flush=True)
            return 0
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
