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
    firewalld_tree,
    ip_addr,
    ipset_save,
    iptables_save,
    netsh_text,
    nft_json,
    nft_list,
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
        ip_addr,
        windows_json,
        windows_reg,
        windows_gpreport,
        netsh_text,
        iptables_save,
        nft_list,
        ipset_save,
    )
}


# Formats read from a folder (a configuration tree such as etc/firewalld) rather than one file:
# each module has NAME, PATTERNS, sniff_folder(path) and parse_folder(path, ...).
FOLDER_PARSERS: dict[str, ModuleType] = {module.NAME: module for module in (firewalld_tree,)}


def format_names() -> list[str]:
    return sorted([*PARSERS, *FOLDER_PARSERS])


def folder_parser(path: str) -> ModuleType | None:
    """The folder parser whose tree `path` holds, if any."""
    for parser in FOLDER_PARSERS.values():
        if parser.sniff_folder(path):
            return parser
    return None


def detect_folder(path: str) -> ModuleType:
    parser = folder_parser(path)
    if parser is not None:
        return parser
    raise ParseError(Problem(path, 0, 0, "format", "unknown folder: not an etc/firewalld tree"))


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
            "unknown format: not iptables-save, nft -j, ipset save, ip -j addr, or a Windows"
            " firewall export",
        )
    )
