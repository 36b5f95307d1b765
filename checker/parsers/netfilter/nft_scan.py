"""Reading `{"nftables": [...]}` while keeping where each array element starts.

`nft -j` prints one line, but people commit `nft -j list ruleset | jq .`. Every rule must point at
its own line, so the outer object is walked by hand and each element of the "nftables" array is
decoded with `json.JSONDecoder.raw_decode`, which reports where the element ended: the text is
never re-serialized, and the C decoder still does all the real work.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass

from checker import numbers
from checker.errors import Location

_SPACE = re.compile(r"[ \t\n\r]*")
_LONG_NUMBER = re.compile(rf"[1-9][0-9]{{{numbers.MAX_DIGITS},}}")


@dataclass(frozen=True, slots=True)
class Element:
    value: object
    location: Location


class ScanError(Exception):
    def __init__(self, location: Location, code: str, message: str) -> None:
        super().__init__(message)
        self.location = location
        self.code = code
        self.message = message


class _Lines:
    def __init__(self, text: str, origin: str) -> None:
        self.origin = origin
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> Location:
        index = bisect.bisect_right(self.starts, offset) - 1
        return Location(self.origin, index + 1, offset - self.starts[index] + 1)


def decode(data: bytes, origin: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        col = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise ScanError(Location(origin, line, col), "encoding", "not UTF-8 text") from None


def elements(text: str, origin: str) -> list[Element]:
    """The elements of the top-level "nftables" array, each with the place it starts."""
    return _Scanner(text, origin).document()


class _Scanner:
    def __init__(self, text: str, origin: str) -> None:
        self.text = text
        self.lines = _Lines(text, origin)
        self.decoder = numbers.json_decoder()

    def fail(self, offset: int, message: str, code: str = "structure") -> ScanError:
        return ScanError(self.lines.at(offset), code, message)

    def skip(self, offset: int) -> int:
        match = _SPACE.match(self.text, offset)
        return match.end() if match else offset

    def peek(self, offset: int) -> str:
        return self.text[offset] if offset < len(self.text) else ""

    def value(self, offset: int) -> tuple[object, int]:
        try:
            return self.decoder.raw_decode(self.text, offset)
        except json.JSONDecodeError as error:
            raise self.fail(error.pos, f"invalid JSON: {error.msg}", "json") from None
        except RecursionError:
            raise self.fail(offset, "invalid JSON: nested too deeply", "json") from None
        except numbers.NumberTooLong as error:
            # The decoder does not say where; the first run of that many digits is the number
            # (or, at worst, a string of digits in the same element).
            found = _LONG_NUMBER.search(self.text, offset)
            raise self.fail(found.start() if found else offset, str(error), "number") from None

    def expect(self, offset: int, char: str, what: str) -> int:
        offset = self.skip(offset)
        if self.peek(offset) != char:
            found = repr(self.text[offset]) if offset < len(self.text) else "end of file"
            raise self.fail(offset, f"invalid JSON: expected {what}, found {found}", "json")
        return offset + 1

    def document(self) -> list[Element]:
        pos = self.expect(0, "{", '"{" (an nft -j document is a JSON object)')
        found: list[Element] | None = None
        pos = self.skip(pos)
        if self.peek(pos) == "}":
            pos += 1
        else:
            while True:
                pos = self.skip(pos)
                if self.peek(pos) != '"':
                    raise self.fail(pos, "invalid JSON: expected an object key", "json")
                key, pos = self.value(pos)
                pos = self.skip(self.expect(pos, ":", '":"'))
                if key == "nftables":
                    if found is not None:
                        raise self.fail(pos, 'the "nftables" key appears twice')
                    found, pos = self.array(pos)
                else:
                    _, pos = self.value(pos)
                pos = self.skip(pos)
                if self.peek(pos) == ",":
                    pos += 1
                    continue
                pos = self.expect(pos, "}", '"," or "}"')
                break
        end = self.skip(pos)
        if end != len(self.text):
            raise self.fail(end, "invalid JSON: extra data after the document", "json")
        if found is None:
            raise self.fail(0, 'no "nftables" array: not `nft -j list ruleset` output')
        return found

    def array(self, pos: int) -> tuple[list[Element], int]:
        if self.peek(pos) != "[":
            raise self.fail(pos, 'the "nftables" value is not an array')
        pos = self.skip(pos + 1)
        found: list[Element] = []
        if self.peek(pos) == "]":
            return found, pos + 1
        while True:
            start = self.skip(pos)
            value, pos = self.value(start)
            found.append(Element(value, self.lines.at(start)))
            pos = self.skip(pos)
            if self.peek(pos) == ",":
                pos += 1
                continue
            return found, self.expect(pos, "]", '"," or "]"')
