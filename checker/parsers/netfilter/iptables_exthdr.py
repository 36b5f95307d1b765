"""ip6tables extension-header matches (`-m rt`, `-m frag`, `-m hbh`, `-m dst`, `-m ipv6header`)
decided on ordinary packets (checker/model/ordinary.py: no extension headers, not fragments).

Kernel semantics (net/ipv6/netfilter/ip6t_rt.c, ip6t_frag.c, ip6t_hbh.c, ip6t_ipv6header.c;
options and header names from ip6tables-extensions(8) and libxt_ipv6header):
- rt, frag, hbh and dst look for their header with `ipv6_find_hdr()` and return false when it
  is missing, whatever their options and their `!`s (those only invert the field tests). So
  they match no ordinary packet, and stay unknown for a flow whose protocol number is itself
  an extension header (such a packet is no ordinary one).
- ipv6header collects the headers of the packet as a set of flags: an ordinary packet has
  exactly one, `prot` (a transport header), or `esp` when its protocol is ESP (50), or `none`
  for No Next Header (59). Without `--soft` the listed set must equal the packet's (with `!`:
  differ); with `--soft` the packet must have every listed header (with `!`: none of them).

They exist for IPv6 only: in an iptables (IPv4) file they are unknown, iptables refuses them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from checker.model.netfilter import AnyOf, Match, Ranges, Unknown
from checker.model.ordinary import IPV6_EXTENSION_HEADERS, ipv6_header_field
from checker.parsers.netfilter.iptables_lexer import LineError

if TYPE_CHECKING:
    from checker.parsers.netfilter.iptables_matches import ModuleUse, RuleContext

# The header each module looks for (IPv6 Next Header values).
HEADERS = {"rt": 43, "frag": 44, "hbh": 0, "dst": 60}
OPTIONS: dict[str, dict[str, int]] = {
    "rt": {"--rt-type": 1, "--rt-segsleft": 1, "--rt-len": 1, "--rt-0-res": 0,
           "--rt-0-addrs": 1, "--rt-0-not-strict": 0},
    "frag": {"--fragid": 1, "--fraglen": 1, "--fragres": 0, "--fragfirst": 0,
             "--fragmore": 0, "--fraglast": 0},
    "hbh": {"--hbh-len": 1, "--hbh-opts": 1},
    "dst": {"--dst-len": 1, "--dst-opts": 1},
    "ipv6header": {"--header": 1, "--soft": 0},
}  # fmt: skip
# libxt_ipv6header's header names and numbers, and the /etc/protocols names it also resolves
# (which ip6tables-save prints: ipv6-opts, ipv6-route, …), as the flag each sets.
_FLAGS = {
    "hopopt": "hop", "ipv6-opts": "dst", "ipv6-route": "route", "ipv6-frag": "frag",
    "ah": "auth", "ipv6-nonxt": "none",
    "hop": "hop", "hop-by-hop": "hop", "0": "hop", "dst": "dst", "60": "dst",
    "route": "route", "43": "route", "frag": "frag", "44": "frag", "auth": "auth", "51": "auth",
    "esp": "esp", "50": "esp", "none": "none", "59": "none", "prot": "prot",
    "protocol": "prot", "255": "prot",
}  # fmt: skip
ESP, NO_NEXT_HEADER = 50, 59


def _ipv4_only(use: ModuleUse, ctx: RuleContext) -> list[Match] | None:
    if ctx.family == 6:
        return None
    return [Unknown(f"{use.render()}: exists only for IPv6; iptables would refuse it")]


def header(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    """-m rt / frag / hbh / dst: needs its header, which ordinary packets lack."""
    refused = _ipv4_only(use, ctx)
    if refused is not None:
        return refused
    return list(ipv6_header_field(HEADERS[use.name], use.render()))


def ipv6header(use: ModuleUse, ctx: RuleContext) -> list[Match]:
    refused = _ipv4_only(use, ctx)
    if refused is not None:
        return refused
    soft = any(option.name == "--soft" for option in use.options)
    (given,) = [option for option in use.options if option.name == "--header"]
    listed: set[str] = set()
    for name in given.args[0].split(","):
        flag = _FLAGS.get(name.lower())
        if flag is None:
            raise LineError("ipv6header", f"unknown header `{name}` in --header", near=name)
        listed.add(flag)

    def matches(packet: str) -> bool:
        """Whether a packet whose only header flag is `packet` matches."""
        if soft:
            return packet not in listed if given.negated else listed <= {packet}
        return (listed == {packet}) != given.negated

    ordinary = matches("prot")
    numbers = {ESP: matches("esp"), NO_NEXT_HEADER: matches("none")}
    special = IPV6_EXTENSION_HEADERS | set(numbers)
    chosen = [n for n, held in numbers.items() if held]
    spans = [(n, n) for n in chosen]
    if ordinary:
        spans.extend(_outside(special))
    unknown = (
        Ranges("proto", tuple((n, n) for n in sorted(IPV6_EXTENSION_HEADERS))),
        Unknown(
            f"{use.render()}: the flow's protocol is an IPv6 extension header, so it is no"
            " ordinary packet and the headers that follow are unknown"
        ),
    )
    return [AnyOf(((Ranges("proto", _merged(spans)),), unknown))]


def _outside(numbers: set[int] | frozenset[int]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for number in sorted(numbers):
        if number > start:
            spans.append((start, number - 1))
        start = number + 1
    if start <= 255:
        spans.append((start, 255))
    return spans


def _merged(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return tuple(out)
