"""Reading numbers out of untrusted text: ASCII digits only, and a bounded number of them.

Two traps of Python's own conversions make a garbled input crash instead of failing cleanly:
- `str.isdigit()` accepts "²" and "١" (Unicode digits); `int()` refuses the first and reads the
  second as 1. Firewall tools read ASCII digits only (strtoul(3), Go's strconv, .NET's
  invariant culture), so every parser checks with `is_decimal`/`is_hex`, never `isdigit()`.
- `int()` and `str()` refuse numbers of more than 4,300 decimal digits
  (`sys.get_int_max_str_digits()`). That limit is process-wide state, left alone here: numbers
  are checked against `MAX_DIGITS` before they are converted.

No value fwcheck reads needs more than 39 digits (an IPv6 address as an integer); `MAX_DIGITS`
leaves room for leading zeros and still keeps every error message short.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DIGITS = 100

_DECIMAL = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")


class NumberTooLong(ValueError):
    """A number with more than MAX_DIGITS significant digits."""

    def __init__(self, text: str) -> None:
        super().__init__(f"a number with {len(text)} digits (at most {MAX_DIGITS} are read)")
        self.digits = len(text)


def is_decimal(text: str) -> bool:
    """True for one or more ASCII digits 0-9 (and nothing else)."""
    return bool(text) and all(c in _DECIMAL for c in text)


def is_hex(text: str) -> bool:
    """True for one or more ASCII hexadecimal digits."""
    return bool(text) and all(c in _HEX for c in text)


def to_int(text: str, base: int = 10) -> int:
    """`text` (digits of `base`, checked by the caller) as an int; NumberTooLong beyond
    MAX_DIGITS significant digits. Leading zeros do not count."""
    significant = text.lstrip("0")
    if len(significant) > MAX_DIGITS:
        raise NumberTooLong(significant)
    return int(significant or "0", base)


def decimal(text: str) -> int | None:
    """ASCII decimal `text` as an int; None when it is not one (NumberTooLong when too long)."""
    return to_int(text) if is_decimal(text) else None


def _json_int(text: str) -> int:
    return to_int(text[1:]) * -1 if text.startswith("-") else to_int(text)


def json_decoder() -> json.JSONDecoder:
    """A JSON decoder whose integers raise NumberTooLong (a ValueError, not a
    JSONDecodeError) instead of the interpreter's own digit-limit ValueError."""
    return json.JSONDecoder(parse_int=_json_int)


def json_loads(text: str) -> Any:
    """`json.loads` with `json_decoder()`'s bounded integers."""
    return json_decoder().decode(text)
