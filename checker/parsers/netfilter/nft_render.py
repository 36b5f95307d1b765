"""nft-syntax-like text of rules read from `nft -j`, shown as evidence in reports.

Best effort and total: any JSON value renders to some text, never raises. The result reads like
`nft list ruleset` (`tcp dport { 22, 80-90 } accept`), not necessarily byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable

_VERDICTS = ("accept", "drop", "continue", "return")
_NAT = ("dnat", "snat", "masquerade", "redirect")
_MAX_DEPTH = 40


def expr(value: object, depth: int = 0) -> str:
    if depth > _MAX_DEPTH:
        return "…"
    if value is None:
        return ""
    if isinstance(value, bool):
        return "exists" if value else "missing"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value) if not value or any(c.isspace() for c in value) else value
    if isinstance(value, list):
        return ",".join(expr(item, depth + 1) for item in value)
    if not isinstance(value, dict):
        return "?"
    if len(value) != 1:
        return _compact(value)
    ((kind, body),) = value.items()
    return _expr_kind(kind, body, depth + 1)


def _expr_kind(kind: str, body: object, depth: int) -> str:
    get = _getter(body)
    if kind == "payload":
        if isinstance(body, dict) and "base" in body:
            return f"@{get('base')},{get('offset')},{get('len')}"
        return f"{expr(get('protocol'))} {expr(get('field'))}"
    if kind == "meta":
        return f"meta {expr(get('key'))}"
    if kind in ("exthdr", "ip option", "tcp option") and isinstance(body, dict):
        # nft lists a presence test with the prefix (`exthdr rt exists`), a field without it.
        if get("field"):
            prefix = "" if kind == "exthdr" else f"{kind} "
            return f"{prefix}{expr(get('name'))} {expr(get('field'))}"
        return f"{kind} {expr(get('name'))}"
    if kind == "ct":
        direction = f"{get('dir')} " if get("dir") else ""
        return f"ct {direction}{expr(get('key'))}"
    if kind == "fib":
        flags = get("flags")
        flags = [flags] if isinstance(flags, str) else flags if isinstance(flags, list) else []
        return f"fib {' . '.join(expr(f) for f in flags)} {expr(get('result'))}"
    if kind == "set":
        items = body if isinstance(body, list) else [body]
        return "{ " + ", ".join(_elem(item, depth) for item in items) + " }"
    if kind == "prefix":
        return f"{expr(get('addr'), depth)}/{expr(get('len'))}"
    if kind == "range" and isinstance(body, list):
        return "-".join(expr(item, depth) for item in body)
    if kind == "concat" and isinstance(body, list):
        return " . ".join(expr(item, depth) for item in body)
    if kind in ("&", "|", "^", "<<", ">>") and isinstance(body, list) and len(body) == 2:
        rhs = body[1]
        right = f"({'|'.join(expr(r) for r in rhs)})" if isinstance(rhs, list) else expr(rhs, depth)
        return f"{expr(body[0], depth)} {kind} {right}"
    if kind == "elem":
        return expr(get("val"), depth)
    if kind in _VERDICTS:
        return kind
    if kind in ("jump", "goto"):
        return f"{kind} {expr(get('target'))}"
    if kind == "map":
        return f"{expr(get('key'), depth)} map {expr(get('data'), depth)}"
    if isinstance(body, dict) and set(body) == {"key"}:
        return f"{kind} {expr(get('key'))}"
    return f"{kind} {_compact(body)}"


def _getter(body: object) -> Callable[[str], object]:
    if isinstance(body, dict):
        return body.get
    return lambda key: None


def _elem(item: object, depth: int) -> str:
    if isinstance(item, list) and len(item) == 2:
        return f"{expr(item[0], depth)} : {expr(item[1], depth)}"
    return expr(item, depth)


def _compact(value: object) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)[:200]
    except (TypeError, ValueError, RecursionError):
        return "?"


def match(body: object) -> str:
    get = _getter(body)
    op, left = get("op"), get("left")
    lhs, rhs = expr(left), expr(get("right"))
    # nft(8) writes `==` only where leaving it out would mean a flag test.
    if op in ("in", None) or (op == "==" and not _is_bitmask(lhs)):
        return f"{lhs} {rhs}"
    return f"{lhs} {op} {rhs}"


def _is_bitmask(lhs: str) -> bool:
    return "&" in lhs or lhs in ("tcp flags", "ct state", "ct status")


def statement(stmt: object) -> str:
    if not isinstance(stmt, dict) or len(stmt) != 1:
        return _compact(stmt)
    ((kind, body),) = stmt.items()
    get = _getter(body)
    if kind == "match":
        return match(body)
    if kind in _VERDICTS or kind in ("jump", "goto"):
        return _expr_kind(kind, body, 0)
    if kind == "counter":
        return "counter" if not isinstance(body, str) else f"counter name {body}"
    if kind == "log":
        return "log" + (f" prefix {json.dumps(get('prefix'))}" if get("prefix") else "")
    if kind == "limit":
        if isinstance(body, str):
            return f"limit name {body}"
        over = "over " if get("inv") else ""
        return f"limit rate {over}{expr(get('rate'))}/{expr(get('per') or 'second')}"
    if kind == "quota":
        over = "over " if get("inv") else ""
        return f"quota {over}{expr(get('val'))} {expr(get('val_unit') or 'bytes')}"
    if kind == "reject":
        how = " ".join(str(x) for x in (get("type"), get("expr")) if isinstance(x, str | int))
        return f"reject with {how}" if how else "reject"
    if kind in _NAT:
        return _nat(kind, get)
    if kind == "vmap":
        return f"{expr(get('key'))} vmap {expr(get('data'))}"
    if kind == "mangle":
        return f"{expr(get('key'))} set {expr(get('value'))}"
    if kind == "xt":
        return f"xt {expr(get('type'))} {expr(get('name'))}"
    if kind == "set":
        return f"{expr(get('op'))} {expr(get('set'))} {{ {expr(get('elem'))} }}"
    if kind == "queue":
        return "queue" + (f" num {expr(get('num'))}" if get("num") is not None else "")
    if kind == "ct count":
        return f"ct count {'over ' if get('inv') else ''}{expr(get('val'))}"
    if body is None:
        return kind
    return f"{kind} {_compact(body)}"


def _nat(kind: str, get: Callable[[str], object]) -> str:
    addr, port = get("addr"), get("port")
    where = (expr(addr) if addr is not None else "") + (
        f":{expr(port)}" if port is not None else ""
    )
    return f"{kind} to {where}" if where else kind


def rule(parts: list[str], handle: object) -> str:
    text = " ".join(part for part in parts if part)
    if isinstance(handle, int) and not isinstance(handle, bool):
        text += f" # handle {handle}"
    return text
