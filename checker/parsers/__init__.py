"""Parsers: one input format per module, each exposing NAME, sniff() and parse().

`PARSERS` is the registry; `detect()` picks a parser from the content; `--format` offers
`sorted(PARSERS)`.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from types import ModuleType
from typing import Protocol

from checker.errors import ParseError, Problem


class Parser(Protocol):
    NAME: str
    # File-name patterns this format is usually stored under (for the pre-commit hook's files:).
    PATTERNS: tuple[str, ...]

    def sniff(self, head: bytes) -> bool: ...

    def parse(self, data: bytes, origin: str) -> object: ...


from checker.parsers.netfilter import (  # noqa: E402
    firewalld_tree,
    ip_addr,
    ipset_save,
    iptables_save,
    nft_json,
    nft_list,
    nft_text,
    proc_net,
    ss_listen,
    ufw_tree,
)
from checker.parsers.windows import (  # noqa: E402
    netsh_text,
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
        nft_text,
        nft_list,
        ipset_save,
        ss_listen,
        proc_net,
    )
}


def _named_like(origin: str, parser: ModuleType) -> bool:
    name = origin.replace("\\", "/").rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in parser.PATTERNS)


class FolderParser(Protocol):
    """A configuration tree given as a folder (a target "file" that is a directory)."""

    NAME: str
    # Globs on the end of the paths whose change re-checks the tree (pre-commit hook `files:`).
    HOOK_PATTERNS: tuple[str, ...]

    def claims(self, folder: Path) -> bool: ...

    def tree_of(self, file: Path) -> Path | None: ...

    def parse_folder(self, folder: Path, options: dict[str, str]) -> object: ...


# Folder formats, one line each; the first that claims a folder reads it.
FOLDERS: dict[str, ModuleType] = {module.NAME: module for module in (ufw_tree, firewalld_tree)}


def folder_parser(folder: Path) -> ModuleType:
    for parser in FOLDERS.values():
        if parser.claims(folder):
            return parser
    raise ParseError(
        Problem(
            str(folder), 0, 0, "format",
            f"folder holds no configuration tree fwcheck reads ({', '.join(FOLDERS)}:"
            " e.g. etc/ufw with user.rules and ufw.conf, or etc/firewalld)",
        )
    )  # fmt: skip


def tree_of(file: Path) -> Path | None:
    """The configuration tree (folder) a file of it belongs to, if any."""
    for parser in FOLDERS.values():
        tree = parser.tree_of(file)
        if tree is not None:
            return tree
    return None


def format_names() -> list[str]:
    return sorted([*PARSERS, *FOLDERS])


def claims_folder(path: str) -> bool:
    """Does some folder parser read the tree `path` holds?"""
    folder = Path(path)
    return folder.is_dir() and any(parser.claims(folder) for parser in FOLDERS.values())


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
    if iptables_save.empty_dump(data, origin):
        return iptables_save
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
            "unknown format: not iptables-save, nft -j, nft text (nftables.conf), ipset save,"
            " ip -j addr, or a Windows firewall export",
        )
    )
