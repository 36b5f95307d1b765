"""Exposure on netfilter: which listening sockets can a remote peer reach, and are they declared?

For each listening socket (checker.model.listening) that is not loopback-only, the flows a
remote peer could open to it: inbound, its protocol and port, every source port, every peer,
its address (or every local address for a wildcard), its families, and only its device when it
is bound to one. The exact engine decides them as for `expect: deny` (the first packet gets in:
checker.engine.netfilter.engine):

- surely accepted for some flow: the socket is **exposed**. The result (`exposure/tcp-8080`)
  passes when an `expect: allow` rule of the target's policies describes some of those flows
  (the service is declared; which peers may reach it is the exclusive check's business), and
  fails otherwise, with a flow that gets in, the accepting rule and the socket. Its severity is
  the target's exposure severity (severity_of: the highest `exposure_severity` of the policies
  its roles get, default high).
- possibly accepted only: indeterminate, with the reason.
- refused: not exposed; no result (the socket is listed in the details of nothing).

Every inbound `expect: allow` rule for tcp or udp ports on which no socket of the target listens
(loopback-only ones do not count) gets an info result "allowed but unused" (a pass, severity
info: a candidate to close, never a gate failure).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from checker.engine.netfilter import query
from checker.engine.netfilter.engine import _accepting, _flow_text, _uncertainty
from checker.engine.netfilter.exclusive import _addresses, declared_space
from checker.engine.netfilter.walk import Context, connection_accepted
from checker.engine.space import Space, iset_subtract
from checker.engine.verdict import PROTOCOL_NAMES, Verdict
from checker.errors import Location
from checker.findings import Evidence, Severity, Status
from checker.model.listening import ListeningSocket, ListeningSockets
from checker.policies.model import Direction, Expect, Requirement

POLICY = "exposure"


@dataclass(frozen=True, slots=True)
class ExposureResult:
    """One result: `exposure/<rule>` (rule `tcp-8080`, or `unused-<policy>-<rule>`)."""

    rule: str
    title: str
    severity: Severity
    verdict: Verdict
    origin: Location
    # For the exposed-services table: (port, protocol, program, reachable from, declared by).
    row: tuple[str, str, str, str, str] | None = None


def socket_requirement(socket: ListeningSocket) -> Requirement:
    """The flows a remote peer could open to the socket, as a deny (every source port)."""
    local = None
    if socket.address is not None:
        (family,) = socket.families
        local = ((family, socket.address, socket.address),)
    return Requirement(
        policy_id=POLICY,
        rule_id=rule_id(socket),
        title=f"listening {socket.label()}",
        expect=Expect.DENY,
        direction=Direction.INBOUND,
        protocol=socket.protocol,
        ports=((socket.port, socket.port),),
        remote=None,
        except_remote=(),
        local=local,
        program=socket.program,
        service=socket.service,
        profiles=frozenset({"domain", "private", "public"}),
        icmp_type=None,
        families=socket.families,
        severity=Severity.HIGH,
        origin=socket.origin,
    )


def rule_id(socket: ListeningSocket) -> str:
    return f"{PROTOCOL_NAMES.get(socket.protocol, str(socket.protocol))}-{socket.port}"


def severity_of(requirements: Sequence[Requirement]) -> Severity:
    """The severity of a target's exposure results: the highest `exposure_severity` its
    policies set (a role that asks for critical is not lowered by another's low), else high."""
    chosen = [r.exposure_severity for r in requirements if r.exposure_severity is not None]
    return max(chosen, key=lambda s: s.rank) if chosen else Severity.HIGH


def _declaring(
    requirements: Sequence[Requirement], flows: Space, family: int, context: Context
) -> list[str]:
    keys = []
    for requirement in requirements:
        if requirement.expect is not Expect.ALLOW or requirement.exclusive:
            continue
        if requirement.direction is not Direction.INBOUND or family not in requirement.families:
            continue
        if declared_space([requirement], family, True, context.interfaces).touches(flows):
            keys.append(requirement.key)
    return keys


def _peers(reachable: Space, asked: Space, family: int) -> str:
    """ "anywhere" when every peer the question had gets in, else the peers' networks."""
    sources = reachable.project("saddr")
    if not iset_subtract(asked.project("saddr"), sources):
        return "anywhere"
    return _addresses(family, sources)


def socket_evidence(socket: ListeningSocket) -> Evidence:
    return Evidence(socket.origin.file, socket.origin.line, f"listening: {socket.label()}")


def asked_spaces(
    context: Context, socket: ListeningSocket, covered: frozenset[int]
) -> Iterator[tuple[int, Space | Verdict]]:
    """Per IP family the socket listens on, the new inbound connections a remote peer could open
    to it (an empty one is left out), or an indeterminate verdict where no ruleset of that
    family was supplied."""
    requirement = socket_requirement(socket)
    interfaces = context.interfaces
    for family in sorted(socket.families):
        if family not in covered:
            yield (
                family,
                Verdict(
                    Status.INDETERMINATE,
                    f"{socket.label()} listens on IPv{family}, and no IPv{family} ruleset was supplied",
                ),
            )
            continue
        space = query.requirement_space(requirement, family, interfaces)
        if socket.device:
            space = space.restrict("iif", [(interfaces.index_of(socket.device),) * 2])
        if space:
            yield family, space


def exposed(
    context: Context,
    socket: ListeningSocket,
    requirements: Sequence[Requirement],
    severity: Severity = Severity.HIGH,
) -> ExposureResult | None:
    covered = frozenset().union(*(r.families for r in context.rulesets))
    requirement = socket_requirement(socket)
    interfaces = context.interfaces
    title = f"{socket.label()} is reachable only if declared"
    unsure: list[Verdict] = []
    for family, space in asked_spaces(context, socket, covered):
        if isinstance(space, Verdict):
            unsure.append(space)
            continue
        sure, maybe, parts = connection_accepted(context, family, space, True, False)
        preferred = query.preferred_point(requirement, family)
        choosers = query.choosers(family)
        if sure:
            point = sure.sample(preferred, choosers) or {}
            flow = _flow_text(point, family, interfaces, True)
            accepting = _accepting(parts, point)
            evidence = (*accepting, socket_evidence(socket))
            declaring = _declaring(requirements, sure, family, context)
            where = ", ".join(f"{e.file}:{e.line}" for e in accepting) or "no chain filters INPUT"
            peers = _peers(sure, space, family)
            row = (
                str(socket.port),
                PROTOCOL_NAMES.get(socket.protocol, str(socket.protocol)),
                socket.program or "-",
                f"{peers} (ipv{family})",
                ", ".join(declaring) or "-",
            )
            if declaring:
                verdict = Verdict(
                    Status.PASS,
                    f"{socket.label()} is reachable ({flow} is accepted, {where}) and declared"
                    f" by {', '.join(declaring)}",
                    flow,
                    evidence,
                )
                return ExposureResult(rule_id(socket), title, severity, verdict, socket.origin, row)
            verdict = Verdict(
                Status.FAIL,
                f"{socket.label()} is exposed and no allow rule declares it: {flow} is accepted"
                f" ({where})",
                flow,
                evidence,
            )
            return ExposureResult(rule_id(socket), title, severity, verdict, socket.origin, row)
        if maybe:
            point = maybe.sample(preferred, choosers) or {}
            flow = _flow_text(point, family, interfaces, True)
            reasons = _uncertainty(parts, maybe, family)
            why = (
                "; ".join(f"{e.file}:{e.line}: {r}" for r, e in reasons[:3])
                or "undecidable matches"
            )
            unsure.append(
                Verdict(
                    Status.INDETERMINATE,
                    f"cannot decide whether {socket.label()} is reachable ({flow}): {why}",
                    flow,
                    (*dict.fromkeys(e for _, e in reasons), socket_evidence(socket)),
                )
            )
    if unsure:
        return ExposureResult(rule_id(socket), title, severity, unsure[0], socket.origin)
    return None


def unused(
    sockets: Sequence[ListeningSocket], requirements: Sequence[Requirement]
) -> list[ExposureResult]:
    """Inbound tcp/udp allow rules on whose ports nothing (but loopback) listens."""
    listening = {(s.protocol, s.port) for s in sockets if not s.loopback_only}
    results = []
    for requirement in requirements:
        if requirement.expect is not Expect.ALLOW or requirement.exclusive:
            continue
        if requirement.direction is not Direction.INBOUND or requirement.protocol not in (6, 17):
            continue
        if requirement.ports is None:
            continue
        ports = [p for lo, hi in requirement.ports for p in range(lo, min(hi, lo + 64) + 1)]
        wide = any(hi - lo > 64 for lo, hi in requirement.ports)
        if wide or any((requirement.protocol, p) in listening for p in ports):
            continue
        name = PROTOCOL_NAMES[requirement.protocol]
        shown = ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in requirement.ports)
        results.append(
            ExposureResult(
                f"unused-{requirement.policy_id}-{requirement.rule_id}",
                f"{requirement.key} is allowed and used",
                Severity.INFO,
                Verdict(
                    Status.PASS,
                    f"allowed but unused: {requirement.key} allows {name} {shown} inbound and"
                    " nothing listens there (a candidate to close)",
                ),
                requirement.origin,
            )
        )
    return results


def check(
    context: Context, listening: Sequence[ListeningSockets], requirements: Sequence[Requirement]
) -> list[ExposureResult]:
    """The exposure results of one target (see the module docstring)."""
    sockets = [s for model in listening for s in model.sockets]
    seen: dict[str, ListeningSocket] = {}
    results: list[ExposureResult] = []
    severity = severity_of(requirements)
    for socket in sockets:
        if socket.loopback_only:
            continue
        key = socket.label()
        if key in seen:
            continue
        seen[key] = socket
        result = exposed(context, socket, requirements, severity)
        if result is not None:
            results.append(result)
    # Two sockets on one protocol and port (IPv4 and IPv6, or two addresses) share a rule id:
    # the worst result speaks for the port.
    order = {Status.FAIL: 0, Status.INDETERMINATE: 1, Status.PASS: 2}
    best: dict[str, ExposureResult] = {}
    for result in results:
        kept = best.get(result.rule)
        if kept is None or order[result.verdict.status] < order[kept.verdict.status]:
            best[result.rule] = result
    return list(best.values()) + unused(sockets, requirements)
