"""The engines, by platform: which model types each reads, so a target's engine is picked from
the models its parsers returned (checker.pipeline), and what every engine offers (`Engine`).

Adding a platform is its package under engine/ plus one line in `ENGINES`. Each engine is
loaded on use (the Windows engine is not imported for a Linux fleet); the loaders' return type
is the protocol, so mypy checks each engine module against it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from checker.model.host import HostAddresses
from checker.model.netfilter import IpSets, NftDevices, Ruleset
from checker.model.windows import WindowsRuleset

if TYPE_CHECKING:
    from checker.engine.verdict import Verdict
    from checker.policies.model import Requirement


class Engine(Protocol):
    """What every engine offers: decide one requirement on one target's models (each engine
    reads its platform's model types, `EngineSpec.models`). Netfilter also offers
    `new_context(models)` to compile a target once for all of its requirements."""

    def check(self, models: Sequence[Any], requirement: Requirement, /) -> Verdict: ...


@dataclass(frozen=True, slots=True)
class EngineSpec:
    platform: str
    # The model types this platform's parsers return: a target whose models are all of these
    # is checked by this engine.
    models: tuple[type, ...]
    # Of those, the ones that describe no firewall alone (they travel with a ruleset), and what
    # to tell a user who gave only them.
    companions: tuple[type, ...]
    alone: str
    load: Callable[[], Engine]


def _netfilter() -> Engine:
    from checker.engine.netfilter import engine

    return engine


def _windows() -> Engine:
    from checker.engine.windows import engine

    return engine


# An `ipset save` output (IpSets) or an `nft list ruleset` text (NftDevices) describes no firewall
# by itself: it travels with the target's netfilter Rulesets and gives the contents of the sets
# their `-m set` matches use, or the devices their netdev chains are bound to.
ENGINES: Mapping[str, EngineSpec] = {
    spec.platform: spec
    for spec in (
        EngineSpec(
            "netfilter",
            (Ruleset, IpSets, NftDevices, HostAddresses),
            (IpSets, NftDevices, HostAddresses),
            "only ipset save, nft list ruleset text or ip -j addr output was given: add the"
            " target's iptables-save or nft -j output (those alone describe no firewall)",
            _netfilter,
        ),
        EngineSpec("windows", (WindowsRuleset,), (), "", _windows),
    )
}
