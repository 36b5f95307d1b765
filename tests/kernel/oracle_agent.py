"""The helper process run inside one namespace (`ip netns exec NS python3 oracle_agent.py`).

It listens on every given TCP and UDP port (IPv4 and IPv6), records each TCP connection its
listener accepted and each UDP datagram it received as (proto, family, src, sport, dport), and
sends the probes it is given (TCP connects and UDP datagrams from an explicit source address and
port) in parallel threads with a short timeout. Standard library only: it runs in the
namespace, outside pytest.

Protocol on stdin/stdout, one JSON document per line:
  in:  {"ports": [...], "probes": [{"id", "family", "proto", "src", "dst", "sport", "dport"}],
        "timeout_s": 0.5}
  out: {"ready": true}                     listeners bound
  in:  "go"
  out: {"probes": {"<id>": "connected" | "refused" | "timeout" | "sent" | "error: ..."}}
  in:  "stop"
  out: {"seen": [[proto, family, src, sport, dport], ...]}
"""

from __future__ import annotations

import errno
import ipaddress
import json
import selectors
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

TCP = 6
UDP = 17


def _normal(addr: str) -> str:
    return str(ipaddress.ip_address(addr.split("%")[0]))


def _bind_listeners(ports: list[int]) -> list[tuple[socket.socket, int, int, int]]:
    bound = []
    for family, wildcard in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for port in ports:
            for kind, proto in ((socket.SOCK_STREAM, TCP), (socket.SOCK_DGRAM, UDP)):
                sock = socket.socket(family, kind)
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
                    seen.append([proto, family, _normal(peer[0]), peer[1], port])
                else:
                    while True:
                        _, peer = sock.recvfrom(2048)
                        seen.append([proto, family, _normal(peer[0]), peer[1], port])
            except (BlockingIOError, InterruptedError):
                continue
    selector.close()


def _probe(probe: dict, timeout_s: float) -> str:
    family = socket.AF_INET if probe["family"] == 4 else socket.AF_INET6
    kind = socket.SOCK_STREAM if probe["proto"] == TCP else socket.SOCK_DGRAM
    with socket.socket(family, kind) as sock:
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
    listeners = _bind_listeners(config["ports"])
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
                    outcomes = pool.map(lambda p: _probe(p, config["timeout_s"]), probes)
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
