"""Tokens of the nft text language (nft(8) "LEXICAL CONVENTIONS"), each with its file:line:col.

- `#` starts a comment up to the end of the line (not inside a quoted string);
- a backslash at the end of a line continues the statement on the next line;
- newlines and `;` end a statement (kind "end"); braces, parentheses, `,`, `=`, the comparison
  and bitwise operators are symbols;
- `"…"` is a string (no escapes: nft's scanner takes everything up to the next quote);
- everything else is a word: names, numbers, addresses (`fe80::1/64`, `10.0.0.1-10.0.0.9`),
  `@set` references and `$variables`. Dots, colons, slashes and dashes stay inside words; the
  parser splits ranges, prefixes and `22:accept` where the spelling leaves no doubt.
A quote left open at the end of its line is a LexError at the quote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from checker.errors import Location

_SCAN = re.compile(
    r"""(?P<nl>\n)|[ \t\r\f\v]+|\#[^\n]*|(?P<cont>\\\r?\n)|(?P<semi>;)"""
    r"""|"(?P<str>[^"\n]*)"|(?P<open>")|(?P<sym>==|!=|<=|>=|<<|>>|[{}(),=<>!&|^+])"""
    r"""|(?P<word>[A-Za-z0-9_.:/*@$%~\[\]\\-]+)|(?P<bad>.)"""
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "word", "string", "sym", "end"
    text: str
    location: Location


class LexError(Exception):
    def __init__(self, location: Location, message: str) -> None:
        super().__init__(message)
        self.location = location
        self.message = message


def tokens(text: str, file: str) -> list[Token]:
    out: list[Token] = []
    append = out.append
    line, start = 1, 0
    for found in _SCAN.finditer(text):
        kind = found.lastgroup
        if kind is None:
            continue
        at = found.start()
        if kind == "nl":
            append(Token("end", "\n", Location(file, line, at - start + 1)))
            line, start = line + 1, at + 1
        elif kind == "cont":
            line, start = line + 1, found.end()
        elif kind == "word" or kind == "sym":
            append(Token(kind, found.group(kind), Location(file, line, at - start + 1)))
        elif kind == "str":
            append(Token("string", found.group(kind), Location(file, line, at - start + 1)))
        elif kind == "semi":
            append(Token("end", ";", Location(file, line, at - start + 1)))
        elif kind == "open":
            raise LexError(
                Location(file, line, at - start + 1), "quoted string not closed on its line"
            )
        else:
            char = found.group(kind)
            raise LexError(Location(file, line, at - start + 1), f"unexpected character {char!r}")
    append(Token("end", "\n", Location(file, line, len(text) - start + 1)))
    return out
