"""Parsers: one input format per module, each exposing NAME, PATTERNS, OPTIONS, sniff() and
parse() (the `Parser` protocol), or for a configuration tree read as a folder NAME,
HOOK_PATTERNS, OPTIONS, claims(), tree_of() and parse_folder() (`FolderParser`).

`PARSERS` and `FOLDERS` are the registries, the one source of the formats: `detect()` picks a
parser from the content, `--format` offers `format_names()`, the command line offers every
parser's OPTIONS (`options_for()`), and the pre-commit hook and docs/formats.md are generated
from them. Each module is registered through `_parsers()`/`_folders()`, whose parameters are the
protocols: mypy checks every module against its protocol (a missing or mistyped function is a
type error at the registry line).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from checker.errors import ParseError, Problem
from checker.parsers.options import ParseOptions, ParserOption

# Protocol members are read-only properties so that a module's `PATTERNS = ("*.reg",)` (a
# tuple[str]) satisfies tuple[str, ...]: a settable member would have to match exactly.


class Parser(Protocol):
    @property
    def NAME(self) -> str: ...

    # File-name patterns this format is usually stored under (for the pre-commit hook's files:).
    @property
    def PATTERNS(self) -> tuple[str, ...]: ...

    # What the format reads from the command line / target config (checker.parsers.options).
    @property
    def OPTIONS(self) -> tuple[ParserOption, ...]: ...

    def sniff(self, head: bytes, /) -> bool: ...

    def parse(self, data: bytes, origin: str, options: ParseOptions, /) -> object: ...


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


def _parsers(*modules: Parser) -> Mapping[str, Parser]:
    return {module.NAME: module for module in modules}


# Order is the order detect() tries: binary magic first, then JSON kinds, then text.
PARSERS: Mapping[str, Parser] = _parsers(
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


def _named_like(origin: str, parser: Parser) -> bool:
    name = origin.replace("\\", "/").rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in parser.PATTERNS)


class FolderParser(Protocol):
    """A configuration tree given as a folder (a target "file" that is a directory)."""

    @property
    def NAME(self) -> str: ...

    # Globs on the end of the paths whose change re-checks the tree (pre-commit hook `files:`).
    @property
    def HOOK_PATTERNS(self) -> tuple[str, ...]: ...

    @property
    def OPTIONS(self) -> tuple[ParserOption, ...]: ...

    def claims(self, folder: Path, /) -> bool: ...

    def tree_of(self, file: Path, /) -> Path | None: ...

    def parse_folder(self, folder: Path, options: ParseOptions, /) -> object: ...


def _folders(*modules: FolderParser) -> Mapping[str, FolderParser]:
    return {module.NAME: module for module in modules}


# Folder formats, one line each; the first that claims a folder reads it.
FOLDERS: Mapping[str, FolderParser] = _folders(ufw_tree, firewalld_tree)

# Options about reading any input, not one format's: the pipeline applies them to every file.
READ_OPTIONS: tuple[ParserOption, ...] = (
    ParserOption(
        "max_input_bytes",
        "--max-input-mib",
        "MIB",
        "largest firewall export read for one input file (default 64; docs/limits.md)",
        kind="mib",
        commands=("check", "scan"),
    ),
)


def all_options() -> list[ParserOption]:
    """Every parser option: reading limits, then each format's, in registry order; an option
    two formats share (one key) is listed once."""
    declared = [
        *READ_OPTIONS,
        *(option for parser in PARSERS.values() for option in parser.OPTIONS),
        *(option for folder in FOLDERS.values() for option in folder.OPTIONS),
    ]
    chosen: dict[str, ParserOption] = {}
    for option in declared:
        chosen.setdefault(option.key, option)
    return list(chosen.values())


def options_for(command: str) -> list[ParserOption]:
    """The parser options the subcommand `command` offers (ParserOption.commands)."""
    return [option for option in all_options() if command in option.commands]


def folder_parser(folder: Path) -> FolderParser:
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


def detect(data: bytes, origin: str) -> Parser:
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
