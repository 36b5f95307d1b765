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

from dataclasses import dataclass

from checker.errors import Location

_SYMBOLS_2 = ("==", "!=", "<=", ">=", "<<", ">>")
_SYMBOLS_1 = frozenset("{}(),=<>!&|^+")
_WORD = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/-*@$%~[]\\"
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
    line, start, i, n = 1, 0, 0, len(text)

    def here(at: int) -> Location:
        return Location(file, line, at - start + 1)

    while i < n:
        char = text[i]
        if char == "\n":
            out.append(Token("end", "\n", here(i)))
            i += 1
            line, start = line + 1, i
        elif char in " \t\r\f\v":
            i += 1
        elif char == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif char == "\\" and text[i + 1 : i + 2] == "\n":
            i += 2
            line, start = line + 1, i
        elif char == "\\" and text[i + 1 : i + 3] == "\r\n":
            i += 3
            line, start = line + 1, i
        elif char == ";":
            out.append(Token("end", ";", here(i)))
            i += 1
        elif char == '"':
            close = text.find('"', i + 1)
            newline = text.find("\n", i + 1)
            if close < 0 or (0 <= newline < close):
                raise LexError(here(i), "quoted string not closed on its line")
            out.append(Token("string", text[i + 1 : close], here(i)))
            i = close + 1
        elif text.startswith(_SYMBOLS_2, i):
            out.append(Token("sym", text[i : i + 2], here(i)))
            i += 2
        elif char in _SYMBOLS_1:
            out.append(Token("sym", char, here(i)))
            i += 1
        elif char in _WORD:
            j = i
            while j < n and text[j] in _WORD:
                j += 1
            out.append(Token("word", text[i:j], here(i)))
            i = j
        else:
            raise LexError(here(i), f"unexpected character {char!r}")
    out.append(Token("end", "\n", here(i)))
    return out
