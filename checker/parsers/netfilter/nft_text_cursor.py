"""A cursor over nft text tokens, and the error it raises at a token's file:line:col."""

from __future__ import annotations

from collections.abc import Iterator

from checker.errors import Location
from checker.parsers.netfilter.nft_text_lex import Token


class TextError(Exception):
    def __init__(self, location: Location, code: str, message: str) -> None:
        super().__init__(message)
        self.location = location
        self.code = code
        self.message = message


class Cursor:
    def __init__(self, items: list[Token], start: int = 0, stop: int | None = None) -> None:
        self.items = items
        self.i = start
        self.stop = len(items) if stop is None else stop

    def at_end(self) -> bool:
        return self.i >= self.stop

    def peek(self, ahead: int = 0) -> Token | None:
        at = self.i + ahead
        return self.items[at] if at < self.stop else None

    def text(self, ahead: int = 0) -> str:
        token = self.peek(ahead)
        return token.text if token is not None and token.kind in ("word", "sym") else ""

    def is_sym(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token is not None and token.kind == "sym" and token.text == text

    def is_word(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text in texts

    def where(self) -> Location:
        token = self.peek()
        if token is not None:
            return token.location
        last = self.items[self.stop - 1] if self.stop else None
        return last.location if last is not None else Location("?", 0)

    def fail(self, message: str, code: str = "syntax") -> TextError:
        token = self.peek()
        found = (
            "the end of the statement"
            if token is None or token.kind == "end"
            else (f"{token.text!r}")
        )
        return TextError(self.where(), code, f"{message} (found {found})")

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.fail("unexpected end of the statement")
        self.i += 1
        return token

    def name(self, what: str) -> str:
        """A word or quoted string naming something (table, chain, set, device)."""
        token = self.peek()
        if token is None or token.kind not in ("word", "string"):
            raise self.fail(f"expected {what}")
        self.i += 1
        return token.text

    def word(self, what: str) -> str:
        token = self.peek()
        if token is None or token.kind != "word":
            raise self.fail(f"expected {what}")
        self.i += 1
        return token.text

    def expect(self, text: str) -> Token:
        token = self.peek()
        if token is None or token.text != text or token.kind == "string":
            raise self.fail(f"expected {text!r}")
        self.i += 1
        return token

    def skip_ends(self) -> None:
        while not self.at_end() and self.items[self.i].kind == "end":
            self.i += 1

    def statement_end(self) -> int:
        """Index of the end of the statement starting here: an end token or an unmatched `}` at
        brace depth 0 (newlines inside braces belong to the statement)."""
        depth, j = 0, self.i
        while j < self.stop:
            token = self.items[j]
            if token.kind == "sym" and token.text == "{":
                depth += 1
            elif token.kind == "sym" and token.text == "}":
                if depth == 0:
                    return j
                depth -= 1
            elif token.kind == "end" and depth == 0:
                return j
            j += 1
        return j

    def block_end(self) -> int:
        """Index of the `}` closing the block whose `{` is the current token."""
        depth, j = 0, self.i
        while j < self.stop:
            token = self.items[j]
            if token.kind == "sym" and token.text == "{":
                depth += 1
            elif token.kind == "sym" and token.text == "}":
                depth -= 1
                if depth == 0:
                    return j
            j += 1
        raise TextError(self.where(), "syntax", "block opened here is not closed")

    def block(self, what: str = "`{`") -> Cursor:
        """The inside of the `{ … }` block starting here (braces excluded); this cursor moves
        past its `}`."""
        if not self.is_sym("{"):
            raise self.fail(f"expected {what}")
        end = self.block_end()
        inside = Cursor(self.items, self.i + 1, end)
        self.i = end + 1
        return inside

    def statements(self) -> Iterator[Cursor]:
        """One cursor per statement from here to the stop (empty lines skipped); each must be
        read to its end by the caller before the next is given."""
        while True:
            self.skip_ends()
            if self.at_end():
                return
            if self.is_sym("}"):
                raise self.fail("closing brace without an open block")
            stop = self.statement_end()
            item = Cursor(self.items, self.i, stop)
            yield item
            if not item.at_end():
                raise item.fail("unexpected text")
            self.i = stop
