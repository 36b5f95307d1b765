"""The kernel's socket tables (/proc/net/tcp, tcp6, udp, udp6) as `ListeningSockets`: what the
collector reads on hosts without ss(8).

Source: proc(5) ("/proc/net/tcp": "local_address … st …") and the kernel's
net/ipv4/tcp_ipv4.c / net/ipv6/tcp_ipv6.c / net/ipv4/udp.c, which print each address as the
hex of its bytes read as 32-bit host-order words (little-endian on x86 and arm64 Linux), a colon
and the port in hex. The collector runs `grep -H "" /proc/net/tcp /proc/net/tcp6 /proc/net/udp
/proc/net/udp6`, so every line starts with its file name:

    /proc/net/tcp:   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 …

A tcp socket listens in state 0A (TCP_LISTEN); a udp socket is listed when unconnected, state
07 (TCP_CLOSE, what ss shows as UNCONN). Header lines are skipped. The tables name no process:
the program of these sockets is unknown. Addresses assume a little-endian host (every Linux
platform fwcheck targets). Whether an IPv6 wildcard socket also takes IPv4 (no IPV6_V6ONLY,
the Linux default) is not in these tables, so one in tcp6/udp6 is taken to serve both
families: an exposure is never missed for it, at the price of a possible IPv4 result for a
V6ONLY socket.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from checker.errors import Location, ParseError, Problem
from checker.parsers.options import NO_OPTIONS, ParseOptions, ParserOption

# Imported where used: every run imports this module (the format registry reads its NAME,
# OPTIONS and sniff), only an input of this format needs these (bench/pre_commit.py).
if TYPE_CHECKING:
    from checker.model.listening import ListeningSocket, ListeningSockets

NAME = "proc-net"
OPTIONS: tuple[ParserOption, ...] = ()  # reads no option
PATTERNS = ("proc-net*.txt",)

_LINE = re.compile(
    r"^/proc/net/(?P<table>tcp6?|udp6?):\s*\d+:\s+(?P<addr>[0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):"
    r"(?P<port>[0-9A-Fa-f]{4})\s+\S+\s+(?P<state>[0-9A-Fa-f]{2})\s"
)
_HEADER = re.compile(r"^/proc/net/(tcp6?|udp6?):\s*sl\s+local_address")
_LISTENING = {"tcp": "0A", "udp": "07"}


def sniff(head: bytes) -> bool:
    text = head.decode("latin-1")
    first = next((line for line in text.split("\n") if line.strip()), "")
    return bool(_HEADER.match(first) or _LINE.match(first))


def _address(hex_text: str) -> int:
    """The address from the kernel's words: each 32-bit word's bytes are reversed."""
    words = [hex_text[i : i + 8] for i in range(0, len(hex_text), 8)]
    value = 0
    for word in words:
        value = (value << 32) | int.from_bytes(bytes.fromhex(word)[::-1], "big")
    return value


def parse(data: bytes, origin: str, options: ParseOptions = NO_OPTIONS) -> ListeningSockets:
    from checker.model.listening import ListeningSocket, ListeningSockets

    text = data.decode("utf-8", errors="replace")
    sockets: list[ListeningSocket] = []
    problems: list[Problem] = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or _HEADER.match(line):
            continue
        where = Location(origin, number)
        match = _LINE.match(line)
        if match is None:
            problems.append(Problem.at(where, "proc-net", "not a /proc/net/{tcp,udp}[6] line"))
            continue
        table = match["table"]
        kind = table.rstrip("6")
        if match["state"].upper() != _LISTENING[kind]:
            continue
        family = 6 if table.endswith("6") else 4
        if (family == 6) != (len(match["addr"]) == 32):
            problems.append(Problem.at(where, "proc-net", f"address width does not fit {table}"))
            continue
        address = _address(match["addr"])
        families = frozenset({4, 6}) if family == 6 and not address else frozenset({family})
        sockets.append(
            ListeningSocket(
                protocol=6 if kind == "tcp" else 17,
                families=families,
                address=address or None,
                port=int(match["port"], 16),
                program=None,
                origin=where,
            )
        )
    if problems:
        raise ParseError(*problems[:20])
    return ListeningSockets(tuple(sockets), origin)
