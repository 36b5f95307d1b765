"""The first packet of forwarded flows, walked by the engine through prerouting, forward and
postrouting: the engine's own questions are about the host's traffic (and follow a DNAT into
FORWARD), so the firewalld tests ask this one directly. No route is asked: the packet enters on
`iif` and leaves on `oif`. Used by the firewalld unit tests and the firewalld oracle.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from checker.engine.netfilter import query, walk
from checker.engine.netfilter.match import NEW_IN
from checker.engine.netfilter.preimage import Preimage
from checker.engine.space import Space
from checker.model.netfilter import Hook, Ruleset

ICMP = {4: 1, 6: 58}
HOOKS = (Hook.INGRESS, Hook.PREROUTING, Hook.FORWARD, Hook.POSTROUTING, Hook.EGRESS)
# (family, proto, source, destination, destination port, input interface, output interface)
Flow = tuple[int, int, str, str, int, str, str]


def forward_verdicts(
    rulesets: Sequence[Ruleset], flows: Sequence[Flow], interfaces: Sequence[str]
) -> list[str]:
    """ "accept", "drop" or "indeterminate" for each flow's first packet."""
    context = walk.new_context(rulesets, list(interfaces))
    symbols = context.interfaces
    phase = walk._forwarded(NEW_IN)
    verdicts = []
    for family, proto, src, dst, port, iif, oif in flows:
        icmp = (8 if family == 4 else 128) << 8 if proto == ICMP[family] else 0
        values = {"family": family, "proto": proto, "saddr": int(ipaddress.ip_address(src)),
                  "daddr": int(ipaddress.ip_address(dst)), "sport": 40000, "dport": port, "icmp": icmp,
                  "iif": symbols.index_of(iif), "oif": symbols.index_of(oif), "mark": 0, "ctmark": 0}  # fmt: skip
        dims = query.dims_for(family, symbols)
        point = Space.where(dims, {name: [(value, value)] for name, value in values.items()})
        result = walk.HookResult(accept_sure=point, accept_maybe=point)
        outcome = walk._Outcome()
        steps = context.base_chains(family, HOOKS)
        walk._walk(context, family, phase, steps, point, Preimage(point), result, outcome)
        if not Space.union_all(dims, outcome.good).intersect(point):
            verdicts.append("drop")
        elif Space.union_all(dims, outcome.bad).contains(values):
            verdicts.append("indeterminate")
        else:
            verdicts.append("accept")
    return verdicts
