"""Raw IP probes for the kernel oracle, run inside one namespace (`ip netns exec NS python3
oracle_raw.py listen|send`): packets of any IP protocol, e.g. IPv4 packets of protocol 58 that
look like an ICMPv6 neighbour solicitation, which the TCP/UDP/ping agent cannot send.

A packet's payload starts with a type byte (the ICMP/ICMPv6 type for those protocols) and code 0;
for ICMP (v4) the checksum is filled in, for ICMPv6 the kernel fills it in (RFC 3542), any other
protocol carries the bytes as they are. Standard library only.

  listen: stdin {"sockets": [[family, proto], ...], "from": [addr, ...], "deadline_s": N}
          stdout {"ready": true}, then after "stop" on stdin (or the deadline)
          {"seen": [[family, proto, type, src], ...]}
  send:   stdin {"packets": [{"family", "proto", "type", "src", "dst"}, ...]}
          stdout {"sent": [result, ...]}
"""

from __future__ import annotations

import json
import selectors
import socket
import struct
import sys
import time

from oracle_agent import checksum, normal


def _family(family: int) -> socket.AddressFamily:
    return socket.AF_INET if family == 4 else socket.AF_INET6


def listen(config: dict) -> int:
    selector = selectors.DefaultSelector()
    wanted = {normal(a) for a in config["from"]}
    for family, proto in config["sockets"]:
        sock = socket.socket(_family(family), socket.SOCK_RAW, proto)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, (family, proto))
    selector.register(sys.stdin, selectors.EVENT_READ, None)
    print(json.dumps({"ready": True}), flush=True)
    seen: list[list] = []
    deadline = time.monotonic() + config["deadline_s"]
    stopped = False
    while not stopped and (left := deadline - time.monotonic()) > 0:
        for key, _ in selector.select(timeout=left):
            if key.data is None:
                stopped = True
                continue
            family, proto = key.data
            data, peer = key.fileobj.recvfrom(4096)
            if family == 4:  # raw IPv4 sockets see the IP header too
                data = data[(data[0] & 0x0F) * 4 :]
            if data and normal(peer[0]) in wanted:
                seen.append([family, proto, data[0], normal(peer[0])])
    print(json.dumps({"seen": seen}), flush=True)
    return 0


def send(config: dict) -> int:
    results = []
    for packet in config["packets"]:
        message = struct.pack("!BBHI", packet["type"], 0, 0, 0) + b"fwcheck-oracle-raw"
        if packet["family"] == 4 and packet["proto"] == 1:
            message = message[:2] + struct.pack("!H", checksum(message)) + message[4:]
        with socket.socket(_family(packet["family"]), socket.SOCK_RAW, packet["proto"]) as sock:
            sock.bind((packet["src"], 0))
            try:
                sock.sendto(message, (packet["dst"], 0))
                results.append("sent")
            except OSError as error:
                results.append(f"error: {error}")
    print(json.dumps({"sent": results}), flush=True)
    return 0


if __name__ == "__main__":
    mode = sys.argv[1]
    settings = json.loads(sys.stdin.readline())
    sys.exit(listen(settings) if mode == "listen" else send(settings))
