"""`{netfilter_hook: input, open_ports: accepted_by_rule}` (docs/controls.md): a firewall rule
exists for every open port - the CIS Linux recommendation "Ensure ... firewall rules exist for all
open ports", whose remediation is "for each port ... which does not have a firewall rule,
establish a proper rule for accepting inbound connections".

The open ports are the target's listening sockets (`ss -tulpn` or /proc/net, as for exposure:
checker.engine.netfilter.exposure) that are not loopback-only. For each one, the new inbound
connections a remote peer could open to it (exposure.socket_requirement: its protocol, port,
address, families and device; every peer and source port) are walked as for exposure, and:
- some of them are surely accepted by a rule (an accepting rule of a base chain, not the chain's
  policy): the port has its rule;
- some are accepted, but only by chain policies: fail, no rule exists (the default accepts it);
- none is possibly accepted: fail, no rule accepts connections to it (the default drops them);
- otherwise (only undecidable matches accept some): indeterminate.
The setting holds when every open port has its rule; with no listening-socket export it is
indeterminate (never a pass on missing evidence), and with one that shows no open port it holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from checker.engine.budget import BudgetExceeded
from checker.engine.netfilter import query
from checker.engine.netfilter.engine import _accepting, _flow_text
from checker.engine.netfilter.exposure import asked_spaces, socket_evidence, socket_requirement
from checker.engine.netfilter.walk import ACCEPTING, Context, HookResult, connection_accepted
from checker.engine.space import Space
from checker.engine.verdict import Verdict
from checker.findings import Evidence, Status
from checker.model.listening import ListeningSocket, ListeningSockets
from checker.model.netfilter import Hook
from checker.policies.settings import SettingSpec


def _rule_accepted(hook: HookResult, asked: Space) -> Space:
    """The asked packets some rule (not a policy) of an input filter chain surely accepts."""
    found = Space.empty(asked.dims)
    for chain_result in hook.chains:
        if chain_result.chain.hook is not Hook.INPUT:
            continue
        for piece in chain_result.pieces:
            if piece.policy or piece.verdict not in ACCEPTING:
                continue
            image = piece.sure
            if chain_result.preimage is not None:
                image = chain_result.preimage(image)
            found = found.union(image.intersect(asked))
    return found


def _one(context: Context, socket: ListeningSocket, covered: frozenset[int]) -> Verdict:
    requirement = socket_requirement(socket)
    interfaces = context.interfaces
    unsure: list[Verdict] = []
    refused: list[Verdict] = []
    for family, space in asked_spaces(context, socket, covered):
        if isinstance(space, Verdict):
            unsure.append(space)
            continue
        try:
            sure, maybe, parts = connection_accepted(context, family, space, True, False)
        except BudgetExceeded as exc:
            unsure.append(Verdict(Status.INDETERMINATE, exc.message, None, (), exc.details))
            continue
        preferred = query.preferred_point(requirement, family)
        choosers = query.choosers(family)
        by_rule = _rule_accepted(parts[0][3], space).intersect(sure)
        if by_rule:
            point = by_rule.sample(preferred, choosers) or {}
            flow = _flow_text(point, family, interfaces, True)
            evidence = (*_accepting(parts, point), socket_evidence(socket))
            where = ", ".join(f"{e.file}:{e.line}" for e in evidence[:-1])
            return Verdict(
                Status.PASS, f"{socket.label()}: a rule accepts {flow} ({where})", flow, evidence
            )
        if sure:
            point = sure.sample(preferred, choosers) or {}
            flow = _flow_text(point, family, interfaces, True)
            evidence = (*_accepting(parts, point), socket_evidence(socket))
            where = ", ".join(f"{e.file}:{e.line}" for e in evidence[:-1]) or "no chain"
            return Verdict(
                Status.FAIL,
                f"{socket.label()} has no firewall rule: {flow} is accepted only by the default"
                f" policy ({where})",
                flow,
                evidence,
            )
        if maybe:
            unsure.append(
                Verdict(
                    Status.INDETERMINATE,
                    f"cannot decide whether a rule accepts connections to {socket.label()}:"
                    " undecidable matches stand in the way",
                    None,
                    (socket_evidence(socket),),
                )
            )
            continue
        refused.append(
            Verdict(
                Status.FAIL,
                f"{socket.label()} has no firewall rule: no rule accepts a connection to it"
                f" (IPv{family}), the firewall drops every one",
                None,
                (socket_evidence(socket),),
            )
        )
    if unsure:
        return unsure[0]
    if refused:
        return refused[0]
    return Verdict(Status.PASS, f"{socket.label()}: nothing to check", None, ())


def open_sockets(
    listening: Sequence[ListeningSockets], families: Sequence[int]
) -> list[ListeningSocket]:
    """The open ports: listening sockets of the families asked about, not loopback-only."""
    sockets: dict[str, ListeningSocket] = {}
    for model in listening:
        for socket in model.sockets:
            if not socket.loopback_only and (socket.families & frozenset(families)):
                sockets.setdefault(socket.label(), socket)
    return list(sockets.values())


def per_socket(
    context: Context, sockets: Sequence[ListeningSocket], covered: frozenset[int]
) -> list[tuple[ListeningSocket, Verdict]]:
    """Each open port's own verdict (the kernel oracle probes each)."""
    return [(socket, _one(context, socket, covered)) for socket in sockets]


def check(
    context: Context,
    spec: SettingSpec,
    listening: Sequence[ListeningSockets],
    covered: frozenset[int],
) -> Verdict:
    if not listening:
        return Verdict(
            Status.INDETERMINATE,
            f"{spec.describe()}: which ports are open is not known: give the target's"
            " `ss -tulpn` output (or /proc/net) with its firewall export",
        )
    sockets = open_sockets(listening, spec.families)
    if not sockets:
        return Verdict(
            Status.PASS,
            f"{spec.describe()}: holds: no socket listens beyond loopback",
            evidence=(Evidence(listening[0].origin, 0, "no socket listens beyond loopback"),),
        )
    verdicts = [verdict for _, verdict in per_socket(context, sockets, covered)]
    order = {Status.FAIL: 0, Status.INDETERMINATE: 1, Status.PASS: 2}
    worst = min(verdicts, key=lambda v: order.get(v.status, 1))
    if worst.status is Status.PASS:
        evidence = tuple(e for v in verdicts for e in v.evidence if "listening:" not in e.text)
        return Verdict(
            Status.PASS,
            f"{spec.describe()}: holds for {len(verdicts)} open port(s)",
            evidence=tuple(dict.fromkeys(evidence))[:5],
        )
    failing = sum(1 for v in verdicts if v.status is worst.status)
    more = f" (and {failing - 1} more)" if failing > 1 else ""
    return Verdict(
        worst.status,
        f"{spec.describe()}: {worst.message}{more}",
        worst.counterexample,
        worst.evidence,
    )
