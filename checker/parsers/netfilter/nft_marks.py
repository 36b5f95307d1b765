"""nft packet and connection marks: `meta mark` / `ct mark` matches and `meta mark set` /
`ct mark set` statements, as model MarkMatch and MarkOp (nft(8), META EXPRESSIONS, CONNTRACK
EXPRESSIONS; the kernel's bitwise expression computes `(x & mask) ^ xor`).

A match compares the mark, possibly under `&`, with numbers: `meta mark 0x4000`, `meta mark &
0x4000 == 0x4000`, `ct mark { 1, 2 }`. A write takes a number, the other mark, or either under
`&`, `|`, `^` with numbers; anything else (shifts, other fields) makes the mark unknown.
"""

from __future__ import annotations

from checker.model.netfilter import AnyOf, MarkMatch, MarkOp, Match, Unknown

ALL = 0xFFFFFFFF


def _number(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= ALL:
        return value
    return None


def mark_field(expr: object) -> str | None:
    """ "mark" for `meta mark`, "ctmark" for `ct mark` (original direction only), else None."""
    if not isinstance(expr, dict) or len(expr) != 1:
        return None
    ((kind, body),) = expr.items()
    if not isinstance(body, dict) or body.get("key") != "mark":
        return None
    if kind == "meta":
        return "mark"
    if kind == "ct" and "dir" not in body:
        return "ctmark"
    return None


def match(field: str, mask: int | None, op: str, items: tuple[object, ...]) -> Match:
    numbers = [_number(item) for item in items]
    name = "meta mark" if field == "mark" else "ct mark"
    if op not in ("==", "!=", "in") or not numbers or any(n is None for n in numbers):
        return Unknown(f"{name} compared with {op} or with something other than numbers")
    full = ALL if mask is None else mask
    options = tuple((MarkMatch(field, n & full, full),) for n in numbers if n is not None)
    if len(options) == 1:
        (only,) = options[0]
        return MarkMatch(field, only.value, only.mask, op == "!=")
    return AnyOf(options, negated=op == "!=")


def _linear(expr: object) -> tuple[str | None, int, int] | None:
    """`expr` as (source mark or None, take, xor): value = (source & take) ^ xor."""
    number = _number(expr)
    if number is not None:
        return None, 0, number
    source = mark_field(expr)
    if source is not None:
        return source, ALL, 0
    if isinstance(expr, dict) and len(expr) == 1:
        ((op, body),) = expr.items()
        if op in ("&", "|", "^") and isinstance(body, list) and len(body) == 2:
            inner, constant = _linear(body[0]), _number(body[1])
            if inner is None or constant is None:
                return None
            src, take, xor = inner
            if op == "&":
                return src, take & constant, xor & constant
            if op == "|":
                return src, take & ~constant & ALL, (xor & ~constant & ALL) ^ constant
            return src, take, xor ^ constant
    return None


def write(key: object, value: object) -> MarkOp | None:
    """The MarkOp of a `mangle` statement on a mark (None: not a mark)."""
    dst = mark_field(key)
    if dst is None:
        return None
    linear = _linear(value)
    if linear is None:
        return MarkOp(dst, 0, opaque=True)
    src, take, xor = linear
    return MarkOp(dst, 0, src or dst, take if src else 0, xor)
