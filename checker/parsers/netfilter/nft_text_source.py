"""An nft script as one token stream: `include` files spliced in, `define` variables substituted.

nft(8) "INCLUDE FILES": `include "file"` reads another file at that point; shell wildcards
(`*`, `?`, `[]`) are allowed, and a wildcard matching nothing is not an error; a plain name that
does not exist is. A relative name is looked up beside the including file first (so a config
repository is read as it sits on disk), then in each include directory (`--nft-include DIR`,
nft's `-I`) in order; `./name` is relative to the including file only. Glob matches are read in
sorted order, as nft does. An include cycle, or nesting deeper than nft's own limit (16), is an
error at the include line. An included file's `.j2` (Jinja) name is refused: it is a template,
not nft.

nft(8) "SYMBOLIC VARIABLES": `define name = value` (value up to the end of the statement, braces
balanced, so `{ 22, 80 }` may span lines), `redefine` replaces, `undefine` removes; `$name` is
replaced by the value's tokens. A variable is visible in the block it is defined in and the blocks
inside it, from its definition on. An undefined `$name` is an error at its use.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, replace
from pathlib import Path

from checker.errors import Location
from checker.parsers.netfilter.nft_text_lex import LexError, Token, tokens

MAX_DEPTH = 16
MAX_FILE_BYTES = 64 * 1024 * 1024
_GLOB = frozenset("*?[")


class SourceError(Exception):
    def __init__(self, location: Location, code: str, message: str) -> None:
        super().__init__(message)
        self.location = location
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Settings:
    include_dirs: tuple[str, ...] = ()


def decode(data: bytes, origin: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SourceError(
            Location(origin, 1),
            "encoding",
            f"not UTF-8 text ({error.reason} at byte {error.start})",
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def load(data: bytes, origin: str, settings: Settings) -> list[Token]:
    """The whole script's tokens, includes and variables resolved."""
    expander = _Expander(settings)
    expander.file(data, origin, (), None)
    return expander.out


def included_files(data: bytes, origin: str, settings: Settings) -> frozenset[str]:
    """The real paths of every file the script includes, at any depth (empty if it cannot be
    read: the parse then reports why)."""
    expander = _Expander(settings)
    try:
        expander.file(data, origin, (), None)
    except SourceError:
        pass
    return frozenset(expander.read)


def _starts_statement(previous: Token | None) -> bool:
    return previous is None or previous.kind == "end" or previous.text in ("{", "}")


class _Expander:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.out: list[Token] = []
        self.scopes: list[dict[str, list[Token]]] = [{}]
        self.read: set[str] = set()

    def file(self, data: bytes, origin: str, stack: tuple[str, ...], at: Location | None) -> None:
        text = decode(data, origin)
        try:
            items = tokens(text, origin)
        except LexError as error:
            raise SourceError(error.location, "syntax", error.message) from None
        i = 0
        previous: Token | None = None
        while i < len(items):
            token = items[i]
            if token.kind == "word" and _starts_statement(previous):
                if token.text == "include":
                    i = self._include(items, i, origin, stack)
                    previous = self.out[-1] if self.out else None
                    continue
                if token.text in ("define", "redefine"):
                    i = self._define(items, i)
                    continue
                if token.text == "undefine":
                    i = self._undefine(items, i)
                    continue
            if token.text == "{" and token.kind == "sym":
                self.scopes.append({})
            elif token.text == "}" and token.kind == "sym" and len(self.scopes) > 1:
                self.scopes.pop()
            if token.kind == "word" and token.text.startswith("$"):
                self.out.extend(self._value_of(token))
            else:
                self.out.append(token)
            previous = token
            i += 1

    def _value_of(self, token: Token) -> list[Token]:
        name = token.text[1:]
        for scope in reversed(self.scopes):
            if name in scope:
                return [replace(t, location=token.location) for t in scope[name]]
        raise SourceError(token.location, "undefined", f"variable ${name} is not defined")

    def _statement(self, items: list[Token], i: int) -> tuple[list[Token], int]:
        """Tokens from i up to the end of the statement (braces balanced), and the next index."""
        depth, j = 0, i
        while j < len(items):
            token = items[j]
            if token.kind == "sym" and token.text == "{":
                depth += 1
            elif token.kind == "sym" and token.text == "}":
                if depth == 0:
                    break
                depth -= 1
            elif token.kind == "end" and depth == 0:
                break
            j += 1
        return items[i:j], j

    def _define(self, items: list[Token], i: int) -> int:
        keyword = items[i]
        body, j = self._statement(items, i + 1)
        if len(body) < 3 or body[0].kind != "word" or body[1].text != "=":
            raise SourceError(keyword.location, "syntax", f"expected `{keyword.text} NAME = VALUE`")
        name = body[0].text
        scope = self.scopes[-1]
        if keyword.text == "define" and name in scope:
            raise SourceError(body[0].location, "syntax", f"variable ${name} is already defined")
        value: list[Token] = []
        for token in body[2:]:
            if token.kind == "word" and token.text.startswith("$"):
                value.extend(self._value_of(token))
            else:
                value.append(token)
        scope[name] = value
        return j

    def _undefine(self, items: list[Token], i: int) -> int:
        body, j = self._statement(items, i + 1)
        if len(body) != 1 or body[0].kind != "word":
            raise SourceError(items[i].location, "syntax", "expected `undefine NAME`")
        for scope in reversed(self.scopes):
            if body[0].text in scope:
                del scope[body[0].text]
                return j
        raise SourceError(body[0].location, "undefined", f"variable ${body[0].text} is not defined")

    def _include(self, items: list[Token], i: int, origin: str, stack: tuple[str, ...]) -> int:
        keyword = items[i]
        body, j = self._statement(items, i + 1)
        if len(body) != 1 or body[0].kind != "string":
            raise SourceError(keyword.location, "syntax", 'expected `include "FILE"`')
        name = body[0].text
        for path in self._resolve(name, origin, keyword.location):
            real = os.path.realpath(path)
            if real in stack or real == os.path.realpath(origin):
                raise SourceError(
                    keyword.location, "include", f"include cycle: {name} includes itself"
                )
            if len(stack) >= MAX_DEPTH:
                raise SourceError(
                    keyword.location, "include", f"includes nested deeper than {MAX_DEPTH}"
                )
            if path.endswith(".j2"):
                raise SourceError(
                    keyword.location, "include",
                    f"{name} is a Jinja template, not nft: check the rendered file",
                )  # fmt: skip
            try:
                with open(path, "rb") as handle:
                    data = handle.read(MAX_FILE_BYTES + 1)
            except OSError as error:
                raise SourceError(
                    keyword.location, "include", f"cannot read {path}: {error.strerror}"
                ) from None
            if len(data) > MAX_FILE_BYTES:
                raise SourceError(keyword.location, "include", f"{path} is larger than 64 MiB")
            self.read.add(real)
            self.file(data, path, (*stack, os.path.realpath(origin)), keyword.location)
            self.out.append(Token("end", "\n", keyword.location))
        return j

    def _resolve(self, name: str, origin: str, at: Location) -> list[str]:
        here = Path(origin).parent if origin not in ("-", "") else Path(".")
        if os.path.isabs(name):
            candidates = [name]
        elif name.startswith("./"):
            candidates = [str(here / name)]
        else:
            candidates = [str(here / name)] + [
                str(Path(d) / name) for d in self.settings.include_dirs
            ]
        if any(c in _GLOB for c in name):
            for candidate in candidates:
                found = sorted(p for p in glob.glob(candidate) if os.path.isfile(p))
                if found:
                    return found
            return []
        for candidate in candidates:
            if os.path.isfile(candidate):
                return [candidate]
        where = ", ".join(candidates)
        raise SourceError(at, "include", f"include file {name!r} not found (looked in {where})")
