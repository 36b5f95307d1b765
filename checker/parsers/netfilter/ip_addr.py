"""`ip -j addr` (iproute2 JSON): this host's addresses, per interface, with their prefixes.

The netfilter engine needs them where a rule's meaning depends on which addresses are the
host's own: `-m addrtype --dst-type LOCAL` on a translated packet, and whether a DNAT'd flow is
delivered here or forwarded (and out of which interface: the connected route of the prefix).

Read: a JSON array of interfaces, each with `ifname` and `addr_info`, an array of `{"family":
"inet"|"inet6", "local": ADDRESS, "prefixlen": N}`. Other keys are not interpreted. Anything
else is a ParseError naming the file and the interface's position.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import TYPE_CHECKING

from checker.errors import ParseError, Problem
from checker.parsers.options import NO_OPTIONS, ParseOptions, ParserOption

# Imported where used: every run imports this module (the format registry reads its NAME,
# OPTIONS and sniff), only an input of this format needs these (bench/pre_commit.py).
if TYPE_CHECKING:
    from checker.model.host import HostAddress, HostAddresses

NAME = "ip-addr"
OPTIONS: tuple[ParserOption, ...] = ()  # reads no option
PATTERNS = ("ip-addr.json", "*.ip-addr.json")

_SNIFF = re.compile(rb'\A\s*\[\s*\{[^\]]*?"ifname"')
_FAMILIES = {"inet": 4, "inet6": 6}


def sniff(head: bytes) -> bool:
    return _SNIFF.match(head) is not None and b'"addr_info"' in head


def parse(data: bytes, origin: str, options: ParseOptions = NO_OPTIONS) -> HostAddresses:
    from checker.model.host import HostAddress, HostAddresses

    def fail(message: str) -> ParseError:
        return ParseError(Problem(origin, 1, 0, "ip-addr", message))

    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise fail(f"not `ip -j addr` JSON: {error}") from None
    if not isinstance(document, list):
        raise fail("not `ip -j addr` output: expected a JSON array of interfaces")
    found: list[HostAddress] = []
    for position, interface in enumerate(document, 1):
        where = f"interface {position}"
        if not isinstance(interface, dict) or not isinstance(interface.get("ifname"), str):
            raise fail(f"{where}: expected an object with an `ifname`")
        name = interface["ifname"]
        infos = interface.get("addr_info", [])
        if not isinstance(infos, list):
            raise fail(f"{where} ({name}): `addr_info` is not an array")
        for info in infos:
            if not isinstance(info, dict):
                raise fail(f"{where} ({name}): an `addr_info` entry is not an object")
            family = _FAMILIES.get(str(info.get("family")))
            if family is None:
                continue  # link-layer and other families carry no IP address
            local, prefix = info.get("local"), info.get("prefixlen")
            width = 32 if family == 4 else 128
            if not isinstance(local, str) or type(prefix) is not int or not 0 <= prefix <= width:
                raise fail(f"{where} ({name}): an address needs `local` and `prefixlen` 0-{width}")
            try:
                address = ipaddress.ip_address(local.split("%")[0])
            except ValueError:
                raise fail(f"{where} ({name}): `{local}` is not an IP address") from None
            if address.version != family:
                raise fail(f"{where} ({name}): `{local}` is not an IPv{family} address")
            found.append(HostAddress(name, family, int(address), prefix))
    return HostAddresses(tuple(found), origin)
