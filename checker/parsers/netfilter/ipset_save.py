"""`ipset save` output (and the `ipset restore` input people keep in git) as `IpSets`.

Source: ipset(8) (set types, create and add options, the save format) and the kernel's
net/netfilter/ipset/ip_set_*.c. The format is one command per line:

    create NAME TYPE [family inet|inet6] [hashsize N] [maxelem N] [timeout N] [netmask N] …
    add NAME ELEMENT [timeout N] [nomatch] [packets N bytes N] [comment "…"] [skbmark …] …

An element has one comma-separated part per dimension of TYPE: `ip` (an address, `a-b` or
`a/len`), `net` (an address or `a/len`), `port` (`[proto:]port`, default tcp; `icmp:NAME` or
`icmp:TYPE/CODE` for ICMP, `ipv6-icmp:…` for ICMPv6; other protocols take port 0), `set` (a
member of a list:set) and the dimensions the engine does not model (`mac`, `iface`, `mark`),
which are kept as text-free placeholders so the set still parses and its matches stay unknown.

What is kept: every set's type, family, dimensions, elements with their line, `nomatch`
exceptions, and whether entries expire: an element with a non-zero `timeout`, or one without
`timeout` in a set created with a non-zero default `timeout`. ipset(8): "Zero timeout value
means the entry is added permanent to the set", and a set's `timeout` is the default for new
entries; `ipset save` prints every entry's remaining timeout, `timeout 0` for a permanent one.
So fail2ban's sets (`create f2b-sshd hash:ip timeout 0`, entries `timeout 0`) hold permanent
entries and are exact; the engine treats a set with an expiring entry as changing at runtime. Counters, comments,
skbinfo and hash sizing do not change what a set holds and are dropped. `hash:ip` and `bitmap:ip`
with `netmask N` hold whole /N networks (the kernel masks the packet's address before the
lookup); a `bitmask` that is not a prefix is kept but marked unmodelled.

Lines starting with `#` and blank lines are skipped; any other command (`flush`, `del`, `swap`,
…) or a garbled line is a ParseError naming file:line:col.
"""

from __future__ import annotations

import ipaddress
import re

from checker import numbers
from checker.errors import Location, ParseError, Problem
from checker.model.net import IPSET_PORT_PROTOCOLS
from checker.model.netfilter import IpSet, IpSetElement, IpSets
from checker.parsers.netfilter import iptables_values as values
from checker.parsers.netfilter.iptables_lexer import LineError
from checker.parsers.options import NO_OPTIONS, ParseOptions, ParserOption

NAME = "ipset-save"
OPTIONS: tuple[ParserOption, ...] = ()  # reads no option
PATTERNS = ("*.ipset", "*.ipsets", "ipset-save*", "ipsets*", "ipset.save", "ipset.txt")

_TYPE = re.compile(r"^(hash|bitmap|list):([a-z]+(?:,[a-z]+)*)$")
_WORD = re.compile(r'"[^"]*"|[^\s"]+|"')
# ipset(8): the dimension kinds; the engine models ip, net, port and set.
KNOWN_DIMS = frozenset({"ip", "net", "port", "set", "mac", "iface", "mark"})
MODELLED_DIMS = frozenset({"ip", "net", "port", "set"})
CREATE_ARGS = frozenset(
    {
        "family",
        "hashsize",
        "maxelem",
        "bucketsize",
        "initval",
        "timeout",
        "netmask",
        "bitmask",
        "range",
        "size",
        "markmask",
    }
)
CREATE_FLAGS = frozenset({"counters", "comment", "skbinfo", "forceadd"})
ADD_ARGS = frozenset(
    {"timeout", "packets", "bytes", "comment", "skbmark", "skbprio", "skbqueue", "before", "after"}
)
ADD_FLAGS = frozenset({"nomatch"})
ICMP = {1: 4, 58: 6}
SET_NAME_MAX = (
    31  # IPSET_MAXNAMELEN is 32 including the NUL (include/uapi/linux/netfilter/ipset/ip_set.h)
)


def sniff(head: bytes) -> bool:
    """True if the first command of `head` is an ipset `create NAME TYPE` line."""
    text = head.decode("latin-1")
    for raw in text.split("\n")[:200]:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        return len(words) >= 3 and words[0] == "create" and bool(_TYPE.match(words[2]))
    return False


def parse(data: bytes, origin: str, options: ParseOptions = NO_OPTIONS) -> IpSets:
    if b"\x00" in data:
        raise ParseError(
            Problem(origin, 1, 0, "ipset-binary", "binary data, not ipset save output")
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParseError(
            Problem(origin, line, 0, "ipset-encoding", "not UTF-8 text, not ipset save output")
        ) from None
    return _Reader(origin).run(text.split("\n"))


def _icmp_names(family: int) -> dict[str, int]:
    # ipset names one (type, code) pair per name: the iptables names of a single code, and the
    # names of a whole type (echo-request …) as code 0 (ipset's lib/icmp.c, lib/icmpv6.c).
    table = values.ICMP_TYPES if family == 4 else values.ICMPV6_TYPES
    return {name: kind * 256 + low for name, (kind, low, _high) in table.items()}


ICMP_NAMES = {4: _icmp_names(4), 6: _icmp_names(6)}


class _SetState:
    def __init__(self, name: str, kind: str, dims: tuple[str, ...], line: int) -> None:
        self.name = name
        self.kind = kind
        self.dims = dims
        self.line = line
        self.family = 4
        self.netmask: int | None = None
        # Some entry or member expires.
        self.timeout = False
        # The default timeout of new entries; None: created without timeout support.
        self.default_timeout: int | None = None
        self.unmodelled = ""
        self.elements: list[IpSetElement] = []
        self.members: list[str] = []


class _Reader:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.sets: dict[str, _SetState] = {}

    def run(self, lines: list[str]) -> IpSets:
        for number, raw in enumerate(lines, start=1):
            line = raw.rstrip("\r")
            try:
                self._line(line, number)
            except LineError as exc:
                col = exc.col or (line.find(exc.near) + 1 if exc.near and exc.near in line else 0)
                raise ParseError(Problem(self.origin, number, col, exc.code, exc.message)) from None
        return IpSets(tuple(self._freeze(state) for state in self.sets.values()), self.origin)

    def _freeze(self, state: _SetState) -> IpSet:
        return IpSet(
            state.name,
            state.kind,
            state.family,
            state.dims,
            tuple(state.elements),
            Location(self.origin, state.line),
            tuple(state.members),
            state.timeout,
            state.unmodelled,
        )

    def _line(self, line: str, number: int) -> None:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return
        words = _WORD.findall(stripped)
        if '"' in words:
            raise LineError("ipset-quote", "unterminated quote", near='"')
        command = words[0]
        if command in ("create", "-N", "n"):
            self._create(words, number)
        elif command in ("add", "-A", "a"):
            self._add(words, number)
        else:
            raise LineError(
                "ipset-command",
                f"unsupported command `{command}` (ipset save output has only create and add)",
                near=command,
            )

    def _create(self, words: list[str], number: int) -> None:
        if len(words) < 3:
            raise LineError("ipset-create", "create needs a set name and a type")
        name, kind = words[1], words[2]
        _check_name(name)
        if name in self.sets:
            raise LineError("ipset-duplicate", f"set {name} is created twice", near=name)
        found = _TYPE.match(kind)
        if not found:
            raise LineError("ipset-type", f"unknown set type `{kind}`", near=kind)
        method, dim_text = found.groups()
        dims = tuple(dim_text.split(","))
        bad = [d for d in dims if d not in KNOWN_DIMS]
        if bad or len(dims) > 3 or (method == "list") != (dims == ("set",)):
            raise LineError("ipset-type", f"unknown set type `{kind}`", near=kind)
        state = _SetState(name, kind, dims, number)
        if method == "list" or "ip" not in dims and "net" not in dims:
            state.family = 0  # NFPROTO_UNSPEC: list:set, bitmap:port, hash:mac serve both
        options = _pairs(words[3:], CREATE_ARGS, CREATE_FLAGS, "create")
        for option, arg in options:
            if arg is None:
                continue  # a flag (counters, comment, forceadd…): no value to check
            if option == "family":
                if arg not in ("inet", "inet6"):
                    raise LineError("ipset-family", f"unknown family `{arg}`", near=arg)
                if method == "bitmap" and arg == "inet6":
                    raise LineError("ipset-family", "bitmap sets are IPv4 only", near=arg)
                if state.family:
                    state.family = 4 if arg == "inet" else 6
            elif option == "timeout":
                state.default_timeout = _number(arg, "timeout")
            elif option == "netmask":
                state.netmask = _number(arg, "netmask")
            elif option == "bitmask":
                state.unmodelled = f"bitmask {arg} is not modelled"
            elif option in ("hashsize", "maxelem", "bucketsize", "size", "initval"):
                _number(arg, option)
        width = 32 if state.family != 6 else 128
        if state.netmask is not None and not 1 <= state.netmask <= width:
            raise LineError(
                "ipset-netmask", f"netmask {state.netmask} out of range", near="netmask"
            )
        self.sets[name] = state

    def _add(self, words: list[str], number: int) -> None:
        if len(words) < 3:
            raise LineError("ipset-add", "add needs a set name and an element")
        name, element = words[1], words[2]
        state = self.sets.get(name)
        if state is None:
            raise LineError(
                "ipset-add", f"add to set {name}, which is not created before", near=name
            )
        options = dict(_pairs(words[3:], ADD_ARGS, ADD_FLAGS, "add"))
        nomatch = "nomatch" in options
        if nomatch and "net" not in state.dims:
            raise LineError(
                "ipset-nomatch", f"nomatch needs a hash:net* set, not {state.kind}", near="nomatch"
            )
        if "timeout" in options:
            expires = _number(options["timeout"] or "", "timeout") > 0
        else:
            expires = bool(state.default_timeout)
        if expires and state.default_timeout is None:
            raise LineError(
                "ipset-timeout", f"set {name} was created without timeout support", near="timeout"
            )
        state.timeout = state.timeout or expires
        if state.dims == ("set",):
            _check_name(element)
            state.members.append(element)
            return
        parts = element.split(",")
        if len(parts) != len(state.dims):
            raise LineError(
                "ipset-element",
                f"element `{element}` of {state.kind} needs {len(state.dims)} comma-separated part(s)",
                near=element,
            )
        spans: list[tuple[int, int]] = []
        proto: int | None = None
        for dim, part in zip(state.dims, parts, strict=True):
            if dim == "port":
                port_proto, span = _port(part, state.family, state.kind.startswith("bitmap"))
                proto = port_proto
                spans.append(span)
            elif dim in ("ip", "net"):
                spans.append(_address(part, state, dim))
            elif not part:
                raise LineError("ipset-element", f"empty {dim} in `{element}`", near=element)
            else:
                spans.append((0, 0))
        state.elements.append(IpSetElement(tuple(spans), number, proto, nomatch, expires))


def _check_name(name: str) -> None:
    if not name or len(name) > SET_NAME_MAX or name.startswith("-"):
        raise LineError("ipset-name", f"invalid set name `{name}`", near=name)


def _pairs(
    words: list[str], with_arg: frozenset[str], flags: frozenset[str], command: str
) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word in flags:
            found.append((word, None))
            index += 1
        elif word in with_arg:
            if index + 1 >= len(words):
                raise LineError("ipset-option", f"{command} option {word} needs a value", near=word)
            found.append((word, words[index + 1].strip('"')))
            index += 2
        else:
            raise LineError("ipset-option", f"unknown {command} option `{word}`", near=word)
    return found


def _number(text: str, what: str) -> int:
    number = values.c_number(text)
    if number is None or number > 0xFFFFFFFF:
        raise LineError("ipset-number", f"invalid {what} `{text}`", near=text or what)
    return number


def _one_address(text: str, family: int) -> int:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise LineError("ipset-address", f"invalid address `{text}`", near=text) from None
    if address.version != family:
        raise LineError(
            "ipset-address", f"`{text}` is not an IPv{family} address (set family)", near=text
        )
    return int(address)


def _address(text: str, state: _SetState, dim: str) -> tuple[int, int]:
    family = state.family or 4
    width = 32 if family == 4 else 128
    if "-" in text and dim == "ip":
        low_text, _, high_text = text.partition("-")
        low, high = _one_address(low_text, family), _one_address(high_text, family)
        if low > high:
            raise LineError("ipset-address", f"empty range `{text}`", near=text)
        return low, high
    address_text, slash, length_text = text.partition("/")
    address = _one_address(address_text, family)
    length = width
    if slash:
        parsed = values.c_number(length_text) if numbers.is_decimal(length_text) else None
        if parsed is None or not 0 <= parsed <= width:
            raise LineError("ipset-address", f"invalid prefix length in `{text}`", near=text)
        length = parsed
    if state.netmask is not None and dim == "ip":
        length = min(length, state.netmask)
    host_bits = (1 << (width - length)) - 1
    network = address & ~host_bits & ((1 << width) - 1)
    return network, network | host_bits


def _port(text: str, family: int, bare: bool) -> tuple[int | None, tuple[int, int]]:
    """(protocol, value range) of a port part; bitmap:port has no protocol."""
    proto_text, colon, port_text = text.rpartition(":") if ":" in text else ("", "", text)
    if bare:
        if colon:
            raise LineError("ipset-port", f"bitmap:port takes a bare port, not `{text}`", near=text)
        return None, _port_span(port_text, text)
    proto = 6
    if colon:
        try:
            proto = values.protocol(proto_text)
        except LineError:
            raise LineError("ipset-port", f"unknown protocol in `{text}`", near=text) from None
    if proto in ICMP:
        return proto, (_icmp(port_text, ICMP[proto], text),) * 2
    if proto in IPSET_PORT_PROTOCOLS:
        return proto, _port_span(port_text, text)
    if port_text != "0":
        raise LineError(
            "ipset-port", f"protocol {proto_text} has no ports: write {proto_text}:0", near=text
        )
    return proto, (0, 0)


def _port_span(text: str, element: str) -> tuple[int, int]:
    low_text, dash, high_text = text.partition("-")
    low = values.c_number(low_text) if numbers.is_decimal(low_text) else None
    high = (values.c_number(high_text) if numbers.is_decimal(high_text) else None) if dash else low
    if low is None or high is None or high > 65535 or low > high:
        raise LineError("ipset-port", f"invalid port in `{element}`", near=element)
    return low, high


def _icmp(text: str, family: int, element: str) -> int:
    kind_text, slash, code_text = text.partition("/")
    if slash:
        kind = values.c_number(kind_text) if numbers.is_decimal(kind_text) else None
        code = values.c_number(code_text) if numbers.is_decimal(code_text) else None
        if kind is None or code is None or kind > 255 or code > 255:
            raise LineError("ipset-icmp", f"invalid ICMP type/code in `{element}`", near=element)
        return kind * 256 + code
    value = ICMP_NAMES[family].get(text.lower())
    if value is None:
        raise LineError("ipset-icmp", f"unknown ICMP type name in `{element}`", near=element)
    return value
