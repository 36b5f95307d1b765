"""`${name}` and `${name+N}` references in policy values.

Params are scoped to the policy that declares them: a rule may only refer to params its own
policy declares (with a default), and a value given for a target or on the command line
overrides that default in every policy that declares the name. `${name+N}` is integer addition
(issue 2: the 1E Switch "poke" port is the Switch port + 1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from checker import numbers

PARAM_REF = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\+(?P<offset>[0-9]+))?\}$")

ParamValue = int | str


class ParamError(ValueError):
    """A reference cannot be resolved; the message says which param and why."""


@dataclass(frozen=True, slots=True)
class ParamRef:
    name: str
    offset: int


def parse_ref(value: object) -> ParamRef | None:
    """The reference held by a value, or None when it is a literal."""
    if not isinstance(value, str):
        return None
    match = PARAM_REF.match(value.strip())
    if match is None:
        return None
    try:
        return ParamRef(match["name"], numbers.to_int(match["offset"] or "0"))
    except numbers.NumberTooLong as error:
        raise ParamError(f"{value.strip()[:40]}…: the offset is {error}") from None


def looks_like_ref(value: object) -> bool:
    """True for anything that tries to be a reference, so that "${x" is an error, not a name."""
    return isinstance(value, str) and "${" in value


def as_int(value: ParamValue, name: str) -> int:
    """A param value used as a number: CLI values are strings, so "4001" is 4001."""
    if isinstance(value, bool):
        raise ParamError(f"param {name!r} is {value!r}, not an integer")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not numbers.is_decimal(text):
        raise ParamError(f"param {name!r} is {value!r}, not an integer")
    try:
        return numbers.to_int(text)
    except numbers.NumberTooLong as error:
        raise ParamError(f"param {name!r} is {error}, not a port or count") from None


def resolve_int(ref: ParamRef, values: Mapping[str, ParamValue]) -> int:
    if ref.name not in values:
        raise ParamError(f"unknown param {ref.name!r} (declare it under params: with a default)")
    return as_int(values[ref.name], ref.name) + ref.offset


def resolve_text(ref: ParamRef, values: Mapping[str, ParamValue]) -> str:
    if ref.name not in values:
        raise ParamError(f"unknown param {ref.name!r} (declare it under params: with a default)")
    if ref.offset:
        raise ParamError(f"${{{ref.name}+{ref.offset}}}: +N only applies to numbers, not addresses")
    return str(values[ref.name])


def coerce_override(value: ParamValue, default: ParamValue) -> ParamValue:
    """An override takes the type of the documented default when it can ("4001" -> 4001)."""
    # ASCII digits only ("²" is a digit to str.isdigit(), not to int()); a number too long
    # to be a port stays text, which as_int() then reports.
    text = value.strip() if isinstance(value, str) else ""
    if isinstance(default, int) and numbers.is_decimal(text) and len(text) <= numbers.MAX_DIGITS:
        return int(text)
    return value
