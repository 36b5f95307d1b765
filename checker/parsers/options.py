"""Parser options: each parser declares the options it reads (`OPTIONS`), the command line offers
them (`fwcheck check --nft-include DIR`), and they reach the parsers as one mapping.

A target's options come from the command line and from its target config (`ufw_defaults:` in
fwcheck.yaml); the command line wins. Adding an option to a parser needs no edit to `cli.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

# A value given on the command line: one text, a repeated option's texts, or a number.
OptionValue = str | int | tuple[str, ...]
ParseOptions = Mapping[str, OptionValue]
NO_OPTIONS: ParseOptions = MappingProxyType({})

# How the command line reads an option (cli.py maps each kind to argparse):
#   text: one value; texts: repeatable, in the order given; mib: a whole number of MiB, kept in
#   bytes.
OptionKind = Literal["text", "texts", "mib"]


@dataclass(frozen=True, slots=True)
class ParserOption:
    key: str  # the key in ParseOptions (and in fwcheck.yaml where a target may set it)
    flag: str  # the command-line flag, e.g. "--nft-include"
    metavar: str
    help: str
    kind: OptionKind = "text"
    # The subcommands that offer the flag: files read from a repository (check) take every
    # option; live hosts (scan) only those that are not about a repository's layout.
    commands: tuple[str, ...] = ("check",)


def text_of(options: ParseOptions, key: str) -> str | None:
    value = options.get(key)
    return value if isinstance(value, str) else None


def texts_of(options: ParseOptions, key: str) -> tuple[str, ...]:
    value = options.get(key)
    return value if isinstance(value, tuple) else ()


def number_of(options: ParseOptions, key: str) -> int | None:
    value = options.get(key)
    return value if isinstance(value, int) else None
