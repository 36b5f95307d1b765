"""The `### tuple ###` lines of ufw's user.rules, shown as the `ufw` command that made them.

ufw writes one tuple comment above the iptables lines of each rule (ufw 0.36,
`user.rules`/`user6.rules`):

    ### tuple ### ACTION PROTO DPORT DST SPORT SRC [DAPP SAPP] IFACES [comment=HEX]

ACTION is allow/deny/reject/limit, `route:` in front for a routed (FORWARD) rule, `_log` or
`_log-all` behind for a logged one; IFACES is `in`/`out`, `in_IF`/`out_IF`, or `in_IF!out_IF` for a
routed rule with both interfaces; application names have spaces as `%20`; the comment is the
UTF-8 text in hexadecimal. The rendering follows the syntax of ufw(8): the short form
(`ufw allow 22/tcp`) when only a destination port is given, else the full form
(`ufw allow in on eth0 from 10.0.0.0/8 to any port 22 proto tcp`).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

_ANY_ADDRESSES = ("0.0.0.0/0", "::/0")
_ACTIONS = ("allow", "deny", "reject", "limit")


@dataclass(frozen=True, slots=True)
class Tuple:
    action: str
    routed: bool
    log: str  # "", "log" or "log-all"
    proto: str
    dport: str
    dst: str
    sport: str
    src: str
    dapp: str
    sapp: str
    direction: str  # "in" or "out"
    iface_in: str
    iface_out: str
    comment: str


def parse_tuple(text: str) -> Tuple | None:
    """The tuple of a `### tuple ###` line (without the marker), or None if it is malformed."""
    words = text.split()
    comment = ""
    if words and words[-1].startswith("comment="):
        try:
            comment = binascii.unhexlify(words.pop()[8:]).decode("utf-8", "backslashreplace")
        except (binascii.Error, ValueError):
            return None
    if len(words) not in (7, 9):
        return None
    action, proto, dport, dst, sport, src = words[:6]
    dapp, sapp = (words[6], words[7]) if len(words) == 9 else ("-", "-")
    routed = action.startswith("route:")
    action = action.removeprefix("route:")
    action, _, log = action.partition("_")
    if action not in _ACTIONS or log not in ("", "log", "log-all"):
        return None
    direction, iface_in, iface_out = _interfaces(words[-1])
    if direction not in ("in", "out"):
        return None
    return Tuple(
        action, routed, log, proto, dport, dst, sport, src,
        _app(dapp), _app(sapp), direction, iface_in, iface_out, comment,
    )  # fmt: skip


def _app(word: str) -> str:
    return "" if word == "-" else word.replace("%20", " ")


def _interfaces(word: str) -> tuple[str, str, str]:
    if "!" in word:
        first, _, second = word.partition("!")
        return "in", first.removeprefix("in_"), second.removeprefix("out_")
    direction, _, iface = word.partition("_")
    if direction == "out":
        return direction, "", iface
    return direction, iface, ""


def command(rule: Tuple) -> str:
    """The `ufw` command line a user would have typed for this rule."""
    words = ["ufw"] + (["route"] if rule.routed else []) + [rule.action]
    anywhere = rule.dst in _ANY_ADDRESSES and rule.src in _ANY_ADDRESSES
    if (
        anywhere
        and rule.sport == "any"
        and not rule.sapp
        and not (rule.iface_in or rule.iface_out)
        and rule.dport != "any"
    ):
        words += ["out"] if rule.direction == "out" else []
        words += [rule.log] if rule.log else []
        if rule.dapp:
            words.append(_quoted(rule.dapp))
        else:
            words.append(rule.dport + ("" if rule.proto == "any" else f"/{rule.proto}"))
    else:
        if rule.iface_in:
            words += ["in", "on", rule.iface_in]
        if rule.iface_out:
            words += ["out", "on", rule.iface_out]
        elif rule.direction == "out" and not rule.iface_in:
            words.append("out")
        words += [rule.log] if rule.log else []
        ends = (("from", rule.src, rule.sport, rule.sapp), ("to", rule.dst, rule.dport, rule.dapp))
        for word, address, port, app in ends:
            address = "any" if address in _ANY_ADDRESSES else address
            if address != "any" or port != "any" or app:
                words += [word, address]
                if app:
                    words += ["app", _quoted(app)]
                elif port != "any":
                    words += ["port", port]
        if "from" not in words and "to" not in words and not (rule.iface_in or rule.iface_out):
            words += ["to", "any"]
        if rule.proto != "any" and not (rule.dapp or rule.sapp):
            words += ["proto", rule.proto]
    if rule.comment:
        words += ["comment", f"'{rule.comment}'"]
    return " ".join(words)


def _quoted(text: str) -> str:
    return f"'{text}'" if " " in text or not text else text
