"""Parsers: one input format per module, each exposing NAME, sniff() and parse().

`PARSERS` is the registry; `detect()` picks a parser from the content; `--format` offers
`sorted(PARSERS)`.
"""

from __future__ import annotations

import fnmatch
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
    nft_text,
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
        nft_text,
        nft_list,
        ipset_save,
    )
}


def _named_like(origin: str, parser: ModuleType) -> bool:
    name = origin.replace("\\", "/").rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in parser.PATTERNS)


def format_names() -> list[str]:
    return sorted(PARSERS)


def detect(data: bytes, origin: str) -> ModuleType:
    head = data[:65536]
    for parser in PARSERS.values():
        if parser.sniff(head):
            # `fwcheck scan` stores `nft list ruleset` beside the nft JSON as nft-list.txt,
            # where it only names netdev devices (the JSON holds the rules): read as a full
            # nft-text ruleset it would put every chain in twice.
            if parser is nft_text and nft_list.sniff(head) and _named_like(origin, nft_list):
                return nft_list
            return parser
    if origin.endswith(".j2"):
        raise ParseError(
            Problem(
                origin,
                1,
                0,
                "format",
                "a Jinja template, not a firewall export: check the file it renders to",
            )  # fmt: skip
        )
    raise ParseError(
        Problem(
            origin,
            1,
            0,
            "format",
            "unknown format: not iptables-save, nft -j, nft text (nftables.conf), ipset save, or a"
            " Windows firewall export",
        )
    )
