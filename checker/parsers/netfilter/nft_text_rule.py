"""One nft text rule as the libnftables-json(5) statements `nft -j` prints for it.

The text is translated into the same JSON objects nft_json reads, so every expression's meaning
and the implicit protocol dependencies live in one place (nft_rule, nft_match). The shapes are
those `nft -j list ruleset` prints for the same text (nftables 1.0.6, checked in tests/kernel by
loading the text with the real `nft -f` and comparing verdicts):
- `LHS VALUE` with no operator is `==`, except on the flag types ct state, ct status and tcp
  flags, where nft's implicit operator is a flag test: "in" (`ct state established,related`);
  against an anonymous set it is `==` again.
- `tcp flags syn / syn,ack` is `tcp flags & (syn|ack) == syn`.
- `a-b` between two numbers or two addresses is a range, `addr/len` a prefix, `a . b` a
  concatenation, `{ … }` an anonymous set, `k : v` a map element.

Statements we can place but not evaluate (limit, quota, meter, ct count) become the JSON
statements nft_rule turns into Unknown. A selector or statement whose extent we cannot tell
(exthdr other than `exthdr NAME exists|missing`, tcp option, socket, osf, rt, ipsec, numgen,
hashes, …) ends the translation: the rest of the rule is a `fwcheck-unread` statement, which
makes the rule's target UNKNOWN with the reason, never a guess. Anything else we do not recognise is a syntax error at its file:line:col.
"""

from __future__ import annotations

import ipaddress
import re

from checker.parsers.netfilter.nft_text_cursor import Cursor, TextError

PAYLOADS = frozenset({
    "ether", "vlan", "arp", "ip", "ip6", "icmp", "icmpv6", "igmp", "tcp", "udp", "udplite",
    "sctp", "dccp", "th", "ah", "esp", "comp", "gre", "geneve", "vxlan",
})  # fmt: skip
META_BARE = frozenset({
    "mark", "iif", "iifname", "iiftype", "oif", "oifname", "oiftype", "skuid", "skgid",
    "nftrace", "rtclassid", "ibriport", "obriport", "ibrname", "obrname", "pkttype", "cpu",
    "iifgroup", "oifgroup", "cgroup", "ipsec", "time", "day", "hour",
})  # fmt: skip
# Selectors whose spelling we do not follow: what comes after them is not read.
UNREAD_SELECTORS = frozenset({
    "exthdr", "hbh", "rt", "rt0", "rt2", "srh", "frag", "dst", "mh", "socket", "osf", "numgen",
    "jhash", "symhash", "ipsec", "tunnel", "sctp chunk", "tcp option", "ip option", "dccp option",
    "raw", "@ll", "@nh", "@th",
})  # fmt: skip
# Raw payload bases `@BASE,offset,length` (link, network, transport header).
_RAW_BASES = frozenset({"@ll", "@nh", "@th"})
FLAG_SELECTORS = (("ct", "state"), ("ct", "status"), ("tcp", "flags"))
_OPS = {"==": "==", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "eq": "==",
        "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">="}  # fmt: skip
_BINARY = frozenset({"&", "|", "^", "<<", ">>"})
VERDICTS = frozenset({"accept", "drop", "continue", "return"})
_NAT = frozenset({"dnat", "snat", "masquerade", "redirect"})
_NAT_FLAGS = frozenset({"random", "persistent", "fully-random", "netmap"})
_LOG_OPTIONS = frozenset({"prefix", "level", "group", "snaplen", "queue-threshold", "flags"})
_RULE_WORDS = frozenset({"comment", *VERDICTS, "jump", "goto"})


class Unread(Exception):
    """Text we recognise as nft but do not translate: the rest of the rule is unknown."""


def rule(cur: Cursor, family: str) -> tuple[list[dict[str, object]], str | None]:
    """The statements of the rule under the cursor, and its comment."""
    out: list[dict[str, object]] = []
    comment: str | None = None
    while not cur.at_end():
        start = cur.i
        try:
            if cur.is_word("comment"):
                cur.next()
                comment = cur.name("a comment string")
                continue
            out.append(_statement(cur, family))
        except Unread as unread:
            text = " ".join(t.text for t in cur.items[start : cur.stop])
            out.append({"fwcheck-unread": f"{unread}: not read ({text})"})
            cur.i = cur.stop
    return out, comment


def _statement(cur: Cursor, family: str) -> dict[str, object]:
    word = cur.text()
    token = cur.peek()
    if token is not None and token.kind != "word":
        raise cur.fail("expected a statement")
    if word in VERDICTS:
        cur.next()
        return {word: None}
    if word in ("jump", "goto"):
        cur.next()
        return {word: {"target": cur.name("a chain name")}}
    if word == "reject":
        return _reject(cur)
    if word == "counter":
        cur.next()
        if cur.is_word("name"):
            cur.next()
            return {"counter": cur.name("a counter name")}
        body: dict[str, object] = {}
        while cur.is_word("packets", "bytes"):
            key = cur.next().text
            body[key] = number(cur)
        return {"counter": body or None}
    if word == "log":
        cur.next()
        log: dict[str, object] = {}
        while cur.is_word(*_LOG_OPTIONS):
            key = cur.next().text
            log[key] = list_of_words(cur) if key == "flags" else cur.name(f"a log {key}")
        return {"log": log or None}
    if word == "limit":
        return {"limit": _limit(cur)}
    if word == "quota":
        return {"quota": _quota(cur)}
    if word in _NAT:
        return {word: _nat(cur)}
    if word == "notrack":
        cur.next()
        return {"notrack": None}
    if word == "queue":
        cur.next()
        return {"queue": {"args": _words_until_rule_word(cur)}}
    if word in ("add", "update", "delete") and cur.text(1).startswith("@"):
        return _set_statement(cur)
    if word == "ct" and cur.text(1) == "count":
        cur.next(), cur.next()
        inv = cur.is_word("over")
        if inv:
            cur.next()
        return {"ct count": {"val": number(cur), "inv": inv}}
    if word == "meter":
        raise Unread("meter (per-key state kept by the packet path)")
    if word == "flow" and cur.text(1) in ("add", "offload") and cur.text(2).startswith("@"):
        cur.next()
        op = cur.next().text
        return {"flow": {"op": op, "flowtable": cur.next().text}}
    if word == "last":
        cur.next()
        if cur.is_word("used"):
            cur.next(), cur.next()
        return {"last": None}
    if word in ("dup", "fwd", "tproxy", "synproxy", "flow", "xt", "secmark", "set"):
        raise Unread(f"{word} statement")
    return _match(cur, family)


def _reject(cur: Cursor) -> dict[str, object]:
    cur.next()
    if not cur.is_word("with"):
        return {"reject": None}
    cur.next()
    kind = cur.word("icmp, icmpv6, icmpx or tcp")
    if kind == "tcp":
        cur.expect("reset")
        return {"reject": {"type": "tcp reset"}}
    if kind not in ("icmp", "icmpv6", "icmpx"):
        raise TextError(
            cur.where(), "syntax", f"reject with {kind!r}: expected icmp, icmpv6, icmpx or tcp"
        )
    if cur.is_word("type"):
        cur.next()
    return {"reject": {"type": kind, "expr": _literal(cur.word("an icmp code"))}}


_PORTS = r"(?::(?P<port>[0-9]+(?:-[0-9]+)?))?$"
_NAT_V4 = re.compile(r"^(?P<addr>[0-9.]+(?:-[0-9.]+)?)" + _PORTS)
_NAT_V6 = re.compile(r"^\[(?P<addr>[0-9a-fA-F:.]+)\]" + _PORTS)
_NAT_PORT = re.compile(r"^" + _PORTS)


def _nat(cur: Cursor) -> dict[str, object] | None:
    """`dnat [ip|ip6] to ADDR[:PORT]`, `redirect to :PORT`, `masquerade [to :PORT]`, flags: as
    nft -j's {"addr", "port", "family", "flags"}; `[to] KEY map { k : v } [: KEY map …]` as
    nft -j's {"map": {"key", "data"}} (nft 1.0.6 prints both spellings so); other mapped
    targets (`addr . port`) are kept as text."""
    cur.next()
    body: dict[str, object] = {}
    if cur.is_word("ip", "ip6") and cur.text(1) == "to":
        body["family"] = cur.next().text
    if cur.is_word("to") and _starts_selector(cur.text(1)):
        cur.next()
    if _starts_selector(cur.text()):
        body["addr"] = _nat_map(cur)
        if cur.is_word(":"):
            cur.next()
            body["port"] = _nat_map(cur) if _starts_selector(cur.text()) else atom(cur)
        elif cur.text().startswith(":") and len(cur.text()) > 1:
            body["port"] = _literal(cur.next().text[1:])
    elif cur.is_word("to"):
        cur.next()
        target = _words_until_rule_word(cur, _NAT_FLAGS)
        found = _NAT_PORT.match(target) or _NAT_V4.match(target) or _NAT_V6.match(target)
        if found:
            if found.groupdict().get("addr"):
                body["addr"] = _literal(found.group("addr"))
            if found.group("port"):
                body["port"] = _literal(found.group("port"))
        else:  # an IPv6 address alone, or a map
            body["addr"] = _literal(target) if _is_address(target) else target
    flags = [w for w in _words_until_rule_word(cur).replace(",", " ").split() if w]
    if flags:
        body["flags"] = flags
    return body or None


def _starts_selector(word: str) -> bool:
    return word in PAYLOADS or word in META_BARE or word in ("meta", "ct")


def _nat_map(cur: Cursor) -> dict[str, object]:
    """`KEY map { k : v, … }` or `KEY map @name` as a NAT target."""
    key = _selector_expr(cur)[0]
    if not cur.is_word("map"):
        raise Unread("NAT target expression without a map")
    cur.next()
    return {"map": {"key": key, "data": atom(cur)}}


def _limit(cur: Cursor) -> dict[str, object]:
    cur.next()
    if cur.is_word("name"):
        cur.next()
        return {"name": cur.name("a limit name")}
    cur.expect("rate")
    body: dict[str, object] = {"inv": _over(cur)}
    amount = cur.word("a rate")
    if "/" in amount:
        rate, _, per = amount.partition("/")
    else:  # `10 mbytes/second`
        rate = amount
        body["rate_unit"], _, per = cur.word("a unit").partition("/")
    body["rate"], body["per"] = _literal(rate), per
    if cur.is_word("burst"):
        cur.next()
        body["burst"] = _literal(cur.word("a burst"))
        if cur.is_word("packets", "bytes", "kbytes", "mbytes"):
            body["burst_unit"] = cur.next().text
    return body


def _quota(cur: Cursor) -> dict[str, object] | str:
    cur.next()
    if cur.is_word("name"):
        cur.next()
        return cur.name("a quota name")
    body: dict[str, object] = {"inv": _over(cur)}
    body["val"] = _literal(cur.word("an amount"))
    body["val_unit"] = cur.word("a unit")
    if cur.is_word("used"):
        cur.next()
        body["used"], body["used_unit"] = _literal(cur.word("an amount")), cur.word("a unit")
    return body


def _over(cur: Cursor) -> bool:
    if cur.is_word("over", "until"):
        return cur.next().text == "over"
    return False


def _words_until_rule_word(cur: Cursor, stop: frozenset[str] = frozenset()) -> str:
    """Arguments of a statement we keep as text: up to a verdict, `comment` or the end."""
    parts: list[str] = []
    while not cur.at_end() and cur.text() not in _RULE_WORDS and cur.text() not in stop:
        token = cur.next()
        parts.append(f'"{token.text}"' if token.kind == "string" else token.text)
    return " ".join(parts)


def number(cur: Cursor) -> int:
    text = cur.word("a number")
    if not text.isascii() or not text.isdigit():
        raise TextError(cur.items[cur.i - 1].location, "syntax", f"{text!r} is not a number")
    return int(text)


def list_of_words(cur: Cursor) -> list[str]:
    words = [cur.word("a value")]
    while cur.is_sym(","):
        cur.next()
        words.append(cur.word("a value"))
    return words


def _set_statement(cur: Cursor) -> dict[str, object]:
    op = cur.next().text
    name = cur.next().text
    brace = cur.peek()
    if brace is None or not cur.is_sym("{"):
        raise cur.fail("expected `{` after the set name")
    end = cur.block_end()
    inner = Cursor(cur.items, cur.i + 1, end)
    key, _ = _selector_expr(inner)
    rest = {t.text for t in cur.items[inner.i : end]}
    cur.i = end + 1
    stmt: dict[str, object] = {"set": {"op": op, "elem": key, "set": name}}
    if rest & {"limit", "quota", "count"}:
        raise Unread(f"{op} {name} with a rate or count (a meter)")
    return stmt


def _match(cur: Cursor, family: str) -> dict[str, object]:
    if cur.is_word("exthdr") and cur.text(2) in ("exists", "missing"):
        # The presence test's extent is plain (nft -j: `== true|false`); other exthdr forms
        # stay unread.
        cur.next()
        name = cur.word("an extension header name")
        present = cur.word("exists or missing") == "exists"
        return {"match": {"op": "==", "left": {"exthdr": {"name": name}}, "right": present}}
    left, flag = _selector_expr(cur)
    if cur.is_word("set"):
        cur.next()
        return {"mangle": {"key": left, "value": _value_or_selector(cur)}}
    if cur.is_word("vmap"):
        cur.next()
        return {"vmap": {"key": left, "data": atom(cur, verdicts=True)}}
    if cur.is_word("map"):
        raise Unread("map lookup")
    op = ""
    if cur.text() in _OPS:  # text() is "" for strings: `"eq"` stays a value
        op = _OPS[cur.next().text]
    if cur.at_end() or cur.text() in _RULE_WORDS:
        raise cur.fail("expected a value to compare with")
    right = _rhs(cur)
    if flag and cur.is_word("/"):
        cur.next()
        left, op = {"&": [left, _rhs(cur)]}, op or "=="
    elif flag and isinstance(right, str) and "/" in right:
        value, mask = right.split("/", 1)
        left, op, right = {"&": [left, mask.split(",")]}, op or "==", value
    if not op:
        is_set = isinstance(right, dict) and "set" in right
        op = "in" if flag and not is_set else "=="
    return {"match": {"op": op, "left": left, "right": right}}


def _value_or_selector(cur: Cursor) -> object:
    word = cur.text()
    if word in PAYLOADS or word in META_BARE or word in ("meta", "ct", "fib"):
        value = _selector_expr(cur)[0]
        if cur.is_word("map"):
            cur.next()
            return {"map": {"key": value, "data": atom(cur)}}
        return value
    return _rhs(cur)


def _selector_expr(cur: Cursor) -> tuple[object, bool]:
    parts = [_selector(cur)]
    while cur.is_word("."):
        cur.next()
        parts.append(_selector(cur))
    expr: object = parts[0][0] if len(parts) == 1 else {"concat": [p[0] for p in parts]}
    flag = len(parts) == 1 and parts[0][1]
    while cur.text() in _BINARY:
        op = cur.next().text
        expr, flag = {op: [expr, atom(cur)]}, False
    return expr, flag


def _selector(cur: Cursor) -> tuple[object, bool]:
    token = cur.peek()
    if token is None or token.kind != "word":
        raise cur.fail("expected a statement or a match")
    word = token.text
    if word in _RAW_BASES and cur.is_sym(",", 1):
        return _raw_payload(cur), False
    if word in UNREAD_SELECTORS or word.startswith("@"):
        raise Unread(f"{word} expression")
    if word in PAYLOADS:
        cur.next()
        field = cur.word(f"a {word} header field")
        if f"{word} {field}" in UNREAD_SELECTORS:
            raise Unread(f"{word} {field} expression")
        return {"payload": {"protocol": word, "field": field}}, (word, field) in FLAG_SELECTORS
    if word == "meta":
        cur.next()
        return {"meta": {"key": cur.word("a meta key")}}, False
    if word in META_BARE:
        cur.next()
        return {"meta": {"key": word}}, False
    if word == "ct":
        cur.next()
        key = cur.word("a ct key")
        if key in ("original", "reply"):
            body: dict[str, object] = {"dir": key}
            key = cur.word("a ct key")
            if key in ("ip", "ip6"):
                body["family"] = key
                key = cur.word("a ct key")
            body["key"] = key
            return {"ct": body}, False
        return {"ct": {"key": key}}, ("ct", key) in FLAG_SELECTORS
    if word == "fib":
        cur.next()
        flags = [cur.word("a fib flag")]
        while cur.is_word("."):
            cur.next()
            flags.append(cur.word("a fib flag"))
        return {"fib": {"result": cur.word("a fib result"), "flags": flags}}, False
    raise TextError(token.location, "syntax", f"unknown statement or selector {word!r}")


def _raw_payload(cur: Cursor) -> dict[str, object]:
    """`@th,OFFSET,LENGTH`: the load nft lists when it cannot name the fields (nft_raw)."""
    base = cur.next().text[1:]
    bounds = []
    for what in ("offset", "length"):
        if not cur.is_sym(","):
            raise cur.fail(f"expected `,` and the raw payload's bit {what}")
        cur.next()
        bounds.append(number(cur))
    return {"payload": {"base": base, "offset": bounds[0], "len": bounds[1]}}


def _rhs(cur: Cursor) -> object:
    first = _element(cur)
    if cur.is_sym("|"):
        # `established | new`: one value with both bits, as nft -j prints it.
        bits = [first]
        while cur.is_sym("|"):
            cur.next()
            bits.append(_element(cur))
        return {"|": bits}
    if not cur.is_sym(","):
        return first
    items = [first]
    while cur.is_sym(","):
        cur.next()
        items.append(_element(cur))
    return items


def _element(cur: Cursor, verdicts: bool = False) -> object:
    parts = [atom(cur, verdicts)]
    while cur.is_word("."):
        cur.next()
        parts.append(atom(cur, verdicts))
    return parts[0] if len(parts) == 1 else {"concat": parts}


def atom(cur: Cursor, verdicts: bool = False) -> object:
    token = cur.next()
    if token.kind == "string":
        return token.text
    if token.kind == "sym" and token.text == "{":
        cur.i -= 1
        return {"set": elements(cur.block())}
    if token.kind == "sym" and token.text == "(":
        items: list[object] = []
        while not cur.is_sym(")"):
            items.append(atom(cur))
            if cur.is_sym("|"):
                cur.next()
            elif not cur.is_sym(")"):
                raise cur.fail("expected `|` or `)`")
        cur.next()
        return items
    if token.kind != "word":
        cur.i -= 1
        raise cur.fail("expected a value")
    if verdicts and token.text in ("jump", "goto"):
        return {token.text: {"target": cur.name("a chain name")}}
    if verdicts and token.text in VERDICTS:
        return {token.text: None}
    return _literal(token.text)


def elements(cur: Cursor) -> list[object]:
    """The elements of `{ … }` (the braces excluded): values, `k : v` pairs, nested sets
    flattened (as nft does with `$variables` holding sets), newlines ignored."""
    out: list[object] = []
    cur.skip_ends()
    while not cur.at_end():
        value = _element(cur, verdicts=False)
        options: dict[str, object] = {}
        while cur.is_word("timeout", "expires", "comment", "counter"):
            key = cur.next().text
            if key != "counter":
                options[key] = cur.name(f"an element {key}")
        if cur.is_word(":") or (isinstance(value, str) and value.endswith(":")):
            if cur.is_word(":"):
                cur.next()
            value = value[:-1] if isinstance(value, str) and value.endswith(":") else value
            out.append([_literal_value(value), _element(cur, verdicts=True)])
        elif isinstance(value, dict) and isinstance(value.get("set"), list) and not options:
            out.extend(value["set"])
        elif options:
            out.append({"elem": {"val": value, **options}})
        else:
            out.append(value)
        cur.skip_ends()
        if cur.is_sym(","):
            cur.next()
            cur.skip_ends()
        elif not cur.at_end():
            raise cur.fail("expected `,` between elements")
    return out


def _literal_value(value: object) -> object:
    return _literal(value) if isinstance(value, str) else value


def _literal(text: str) -> object:
    """A word as nft -j prints the value: numbers as integers, `a-b` ranges of numbers or
    addresses, `addr/len` prefixes; names, addresses and interface patterns as strings."""
    if text.isascii() and text.isdigit():
        return int(text)
    if (
        text.startswith("0x")
        and len(text) > 2
        and all(c in "0123456789abcdefABCDEF" for c in text[2:])
    ):
        return int(text, 16)
    if "/" in text:
        addr, _, length = text.rpartition("/")
        if length.isascii() and length.isdigit() and _is_address(addr):
            return {"prefix": {"addr": addr, "len": int(length)}}
    if "-" in text:
        low, _, high = text.partition("-")
        if (low.isascii() and low.isdigit() and high.isascii() and high.isdigit()) or (
            _is_address(low) and _is_address(high)
        ):
            return {"range": [_literal(low), _literal(high)]}
    return text


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
