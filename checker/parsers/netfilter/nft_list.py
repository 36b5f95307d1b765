"""`nft list ruleset` text, read for one fact only: the devices netdev (and inet) ingress and
egress base chains are bound to.

Why: nft 1.0.6 (Debian 12) leaves the device out of `nft -j list ruleset`, so from the JSON alone
a chain such as `type filter hook ingress device "eth1" …` seems bound to no device, and what it
drops cannot be placed. The text listing names it (nft(8), CHAINS: `type filter hook ingress
device "eth0" priority 0;`, or `devices = { "eth0", "eth1" }` for several). The rules themselves
are read from the JSON (nft_json); this parser gives an NftDevices model that travels with it.

Read: `table FAMILY NAME {`, `chain NAME {`, the chain's `type … hook HOOK device "DEV" …;` line
and its `devices = { … }` line, and closing braces (quoted text skipped when counting them).
Everything else is not interpreted. A `chain` outside a table, a closing brace too many or a
table left open at the end of the file is a ParseError at its line.
"""

from __future__ import annotations

import re

from checker.errors import ParseError, Problem
from checker.model.netfilter import NftDevices
from checker.parsers.options import NO_OPTIONS, ParseOptions, ParserOption

NAME = "nft-list"
OPTIONS: tuple[ParserOption, ...] = ()  # reads no option
PATTERNS = ("nft-list.txt", "*.nft-list.txt")

_NAME = r'("[^"]*"|[^\s{"]+)'
_FAMILIES = r"(ip|ip6|inet|arp|bridge|netdev)"
_TABLE = re.compile(rf"^\s*table\s+{_FAMILIES}\s+{_NAME}\s*\{{")
_CHAIN = re.compile(rf"^\s*chain\s+{_NAME}\s*\{{")
_HOOK = re.compile(r"\btype\s+\w+\s+hook\s+(ingress|egress)\b(?:\s+device\s+" + _NAME + ")?")
_DEVICES = re.compile(r"\bdevices\s*=\s*\{([^}]*)\}")
_QUOTED = re.compile(r'"[^"]*"')
_SNIFF = re.compile(rf"\A(?:\s*#[^\n]*\n)*\s*table\s+{_FAMILIES}\s+\S+\s*\{{")


def sniff(head: bytes) -> bool:
    return _SNIFF.match(head.decode("utf-8", errors="replace")) is not None


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name


def parse(data: bytes, origin: str, options: ParseOptions = NO_OPTIONS) -> NftDevices:
    def fail(line: int, message: str) -> ParseError:
        return ParseError(Problem(origin, line, 0, "nft-list", message))

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise fail(1, f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    bindings: list[tuple[str, str, str, tuple[str, ...]]] = []
    # (what the brace opened, its line): "table", "chain" or "block" (sets, maps, anything else)
    open_blocks: list[tuple[str, int]] = []
    table: tuple[str, str] | None = None
    chain = ""
    hook = ""
    devices: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        bare = _QUOTED.sub('""', line).split("#", 1)[0]
        table_match = _TABLE.match(line)
        chain_match = _CHAIN.match(line)
        if table_match:
            if open_blocks:
                raise fail(number, "table inside another block (a closing brace is missing)")
            table = (table_match.group(1), _unquote(table_match.group(2)))
        elif chain_match:
            if [kind for kind, _ in open_blocks] != ["table"]:
                raise fail(number, "chain outside a table")
            chain, hook, devices = _unquote(chain_match.group(1)), "", []
        elif open_blocks and open_blocks[-1][0] == "chain":
            hook_match = _HOOK.search(line)
            if hook_match:
                hook = hook_match.group(1)
                if hook_match.group(2):
                    devices.append(_unquote(hook_match.group(2)))
            devices_match = _DEVICES.search(line)
            if devices_match:
                devices += [
                    _unquote(item.strip())
                    for item in devices_match.group(1).split(",")
                    if item.strip()
                ]
        for char in bare:
            if char == "{":
                kind = "block"
                if not open_blocks and table_match:
                    kind = "table"
                elif len(open_blocks) == 1 and chain_match:
                    kind = "chain"
                open_blocks.append((kind, number))
            elif char == "}":
                if not open_blocks:
                    raise fail(number, "closing brace without an open block")
                kind, _ = open_blocks.pop()
                if kind == "chain" and table is not None and hook and devices:
                    bindings.append((table[0], table[1], chain, tuple(dict.fromkeys(devices))))
    if open_blocks:
        kind, opened = open_blocks[-1]
        raise fail(opened, f"{kind} opened here is not closed by the end of the file")
    return NftDevices(tuple(bindings), origin)
