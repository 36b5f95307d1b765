"""`ss -tulpn` output (with or without -H) as `ListeningSockets`.

Source: ss(8) of iproute2 (tested against iproute2 6.1 in a network namespace: see
tests/parsers/netfilter/test_ss_listen.py). One socket per line:

    Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process
    tcp   LISTEN 0      128          0.0.0.0:8080      0.0.0.0:*     users:(("nginx",pid=7,fd=6))
    udp   UNCONN 0      0         0.0.0.0%d0:68        0.0.0.0:*     users:(("dhclient",pid=3,fd=9))

The local address is `0.0.0.0` or `[::]` (the wildcard of one family), `*` (an IPv6 wildcard
socket without IPV6_V6ONLY: both families), an IPv4 address or a bracketed IPv6 one; a `%dev`
suffix is the device the socket is bound to (for an IPv6 link-local address, its scope).
`Process` (with -p, as root) gives `users:(("name",pid=N,fd=N),…)`: the first name is the
program. Only tcp LISTEN and udp UNCONN lines are listening sockets; other states (a connected
UDP socket, ESTAB) are skipped. The header line and blank lines are skipped; anything else is
a ParseError naming file:line.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from checker.errors import Location, ParseError, Problem
from checker.parsers.options import NO_OPTIONS, ParseOptions, ParserOption

# Imported where used: every run imports this module (the format registry reads its NAME,
# OPTIONS and sniff), only an input of this format needs these (bench/pre_commit.py).
if TYPE_CHECKING:
    from checker.model.listening import ListeningSocket, ListeningSockets

NAME = "ss-listen"
OPTIONS: tuple[ParserOption, ...] = ()  # reads no option
PATTERNS = ("*ss-tulpn*", "ss-listen*.txt")

_LINE = re.compile(
    r"^(?P<netid>tcp|udp)\s+(?P<state>[A-Z-]+)\s+\d+\s+\d+\s+(?P<local>\S+)\s+(?P<peer>\S+)"
    r"(?:\s+(?P<process>.*?))?\s*$"
)
_HEADER = re.compile(r"^Netid\s+State\s+Recv-Q\s+Send-Q\s+Local Address:Port")
_USER = re.compile(r'\(\("(?P<name>(?:[^"\\]|\\.)*)",pid=(?P<pid>\d+)')
_LISTENING = {"tcp": "LISTEN", "udp": "UNCONN"}
_PROTOCOLS = {"tcp": 6, "udp": 17}
# A line longer than this is no ss output (bounds the work on hostile input).
MAX_LINE = 4096


def sniff(head: bytes) -> bool:
    """True if the first non-blank line is ss's header or a tcp/udp socket line of it."""
    text = head.decode("latin-1")
    for raw in text.split("\n")[:50]:
        line = raw.strip()
        if not line:
            continue
        if _HEADER.match(line):
            return True
        match = _LINE.match(line)
        return match is not None and ":" in match["local"]
    return False


def _address(text: str, where: Location) -> tuple[frozenset[int], int | None, str | None]:
    host, device = text, None
    if host.startswith("["):
        inside, bracket, rest = host[1:].partition("]")
        if not bracket or rest:
            raise ParseError(Problem.at(where, "ss", f"bad local address {text!r}"))
        host = inside
        if "%" in host:
            host, device = host.split("%", 1)
    elif "%" in host:
        host, device = host.split("%", 1)
    if host == "*":
        return frozenset({4, 6}), None, device
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ParseError(Problem.at(where, "ss", f"bad local address {text!r}")) from None
    family = address.version
    if address.is_unspecified:
        return frozenset({family}), None, device
    # A link-local address's %scope names its interface too: only that link reaches it.
    return frozenset({family}), int(address), device


def parse_line(line: str, where: Location) -> ListeningSocket | None:
    from checker.model.listening import ListeningSocket

    match = _LINE.match(line)
    if match is None:
        raise ParseError(Problem.at(where, "ss", "not an ss -tulpn line"))
    if match["state"] != _LISTENING[match["netid"]]:
        return None
    local = match["local"]
    address_text, colon, port_text = local.rpartition(":")
    if not colon or not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise ParseError(Problem.at(where, "ss", f"bad local address:port {local!r}"))
    families, address, device = _address(address_text, where)
    program = pid = None
    if match["process"]:
        user = _USER.search(match["process"])
        if user is not None:
            program = user["name"].replace('\\"', '"')
            pid = int(user["pid"]) if len(user["pid"]) <= 10 else None
    return ListeningSocket(
        protocol=_PROTOCOLS[match["netid"]],
        families=families,
        address=address,
        port=int(port_text),
        program=program,
        origin=where,
        device=device,
        pid=pid,
    )


def parse(data: bytes, origin: str, options: ParseOptions = NO_OPTIONS) -> ListeningSockets:
    from checker.model.listening import ListeningSockets

    text = data.decode("utf-8", errors="replace")
    sockets: list[ListeningSocket] = []
    problems: list[Problem] = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        where = Location(origin, number)
        if not line or _HEADER.match(line):
            continue
        if len(line) > MAX_LINE:
            problems.append(Problem.at(where, "ss", "line too long for ss output"))
            continue
        try:
            socket = parse_line(line, where)
        except ParseError as exc:
            problems.extend(exc.problems)
            continue
        if socket is not None:
            sockets.append(socket)
    if problems:
        raise ParseError(*problems)
    return ListeningSockets(tuple(sockets), origin)
