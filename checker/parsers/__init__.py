"""Parsers: one input format per module, each exposing NAME, sniff() and parse().

`PARSERS` is the registry; `detect()` picks a parser from the content; `--format` offers
`sorted(PARSERS)`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Protocol

from checker.errors import ParseError, Problem


class Parser(Protocol):
    NAME: str
    # File-name patterns this format is usually stored under (for the pre-commit hook's files:).
    PATTERNS: tuple[str, ...]

    def sniff(self, head: bytes) -> bool: ...

    def parse(self, data: bytes, origin: str) -> object: ...


from checker.parsers import (  # noqa: E402
    ipset_save,
    iptables_save,
    netsh_text,
    nft_json,
    nft_list,
    proc_net,
    ss_listen,
    windows_gpreport,
    windows_json,
    windows_pol,
    windows_reg,
    windows_wfw,
)

# Order is the order detect() tries: binary magic first, then JSON kinds, then text.
PARSERS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (
        windows_wfw,
        windows_pol,
        nft_json,
        windows_json,
        windows_reg,
        windows_gpreport,
        netsh_text,
        iptables_save,
        nft_list,
        ipset_save,
        ss_listen,
        proc_net,
    )
}


def format_names() -> list[str]:
    return sorted(PARSERS)


def detect(data: bytes, origin: str) -> ModuleType:
    head = data[:65536]
    for parser in PARSERS.values():
        if parser.sniff(head):
            return parser
    if iptables_save.empty_dump(data, origin):
        return iptables_save
    raise ParseError(
        Problem(
            origin,
            1,
            0,
            "format",
            "unknown format: not iptables-save, nft -j, ipset save, or a Windows firewall export",
        )
    )
