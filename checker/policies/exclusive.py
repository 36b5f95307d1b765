"""A policy's `exclusive:` (format v1.1) as requirements: one per direction.

`exclusive: [inbound]` asks that every new inbound flow the target accepts is declared by an
`expect: allow` rule of some policy the target gets, or is infrastructure (the exemptions of
checker.engine.netfilter.exclusive). It becomes the requirement `<policy>/exclusive-inbound`, whose space
is every new flow of the direction: any family, protocol, port, source port, peer and local
address (loopback out of scope, as for every rule). The engines recognise it by `exclusive`.
"""

from __future__ import annotations

from checker.findings import Severity
from checker.policies.model import Direction, Expect, Policy, Requirement

# "both" is written for the two directions.
DIRECTIONS = {
    "inbound": (Direction.INBOUND,),
    "outbound": (Direction.OUTBOUND,),
    "both": (Direction.INBOUND, Direction.OUTBOUND),
}


def directions(values: object) -> tuple[Direction, ...]:
    """The directions of a (schema-checked) `exclusive:` list, each once, inbound first."""
    wanted = {d for value in values or () for d in DIRECTIONS[str(value)]}  # type: ignore[attr-defined]
    return tuple(d for d in (Direction.INBOUND, Direction.OUTBOUND) if d in wanted)


def rule_id(direction: Direction) -> str:
    return f"exclusive-{direction.value}"


def exclusive_requirements(policy: Policy) -> tuple[Requirement, ...]:
    return tuple(
        Requirement(
            policy_id=policy.id,
            rule_id=rule_id(direction),
            title=f"only declared {direction.value} flows are accepted",
            # The space of a deny of everything: every source port, every protocol.
            expect=Expect.DENY,
            direction=direction,
            protocol=None,
            ports=None,
            remote=None,
            except_remote=(),
            local=None,
            program=None,
            service=None,
            profiles=frozenset({"domain", "private", "public"}),
            icmp_type=None,
            families=frozenset({4, 6}),
            severity=Severity.HIGH,
            origin=policy.origin,
            policy_title=policy.title,
            source=policy.source,
            exclusive=True,
        )
        for direction in policy.exclusive
    )
