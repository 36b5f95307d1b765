"""Reason codes and the one place their messages are written.

An engine decides a requirement into data: a status, a `Reason` (a code and its parameters),
the counterexample `Flow` and the deciding rules (`Evidence`). `verdict()` renders the message
from exactly that data, so the message a reader sees and the fields the JSON report (version
2) writes cannot disagree. docs/reports.md lists the codes ("Reason codes").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from checker.engine.budget import BudgetExceeded
from checker.engine.verdict import Verdict
from checker.findings import Evidence, Flow, Reason, Status


def _where(evidence: Sequence[Evidence]) -> str:
    return f"{evidence[0].file}:{evidence[0].line}" if evidence else ""


def _texts(reason: Reason, name: str) -> tuple[str, ...]:
    value = reason.param(name)
    return value if isinstance(value, tuple) else ()


def _not_accepted(reason: Reason, flow: Flow | None, evidence: Sequence[Evidence]) -> str:
    where = _where(evidence) or "no accepting rule"
    return f"{_text(flow)} is not accepted: {reason.param('packet')} is dropped ({where})"


def _accepted(reason: Reason, flow: Flow | None, evidence: Sequence[Evidence]) -> str:
    where = (
        ", ".join(f"{e.file}:{e.line}" for e in evidence)
        or "no chain filters this hook, and netfilter accepts by default"
    )
    return f"{_text(flow)} is accepted ({where})"


def _undecided(reason: Reason, flow: Flow | None, evidence: Sequence[Evidence]) -> str:
    conditions = _texts(reason, "conditions")
    places = _texts(reason, "condition_at")
    why = (
        "; ".join(f"{at}: {text}" for at, text in list(zip(places, conditions, strict=True))[:3])
        or "undecidable matches"
    )
    return f"cannot decide whether {_text(flow)} is accepted: {why}"


def _no_family(reason: Reason, flow: Flow | None, evidence: Sequence[Evidence]) -> str:
    family = reason.param("family")
    tool = "ip6tables-save" if family == 6 else "iptables-save"
    return (
        f"no IPv{family} ruleset was supplied for this target, so IPv{family} flows cannot be"
        f" judged (give the {tool} output or nft -j too)"
    )


def _empty(reason: Reason, flow: Flow | None, evidence: Sequence[Evidence]) -> str:
    names = " and ".join(f"IPv{family}" for family in _texts(reason, "families"))
    return (
        f"the requirement describes no {names} flow (its protocol, ports, addresses and"
        " families leave nothing to check; remote loopback and addresses no host sends from"
        " are out of scope): fix the policy rule"
    )


def _text(flow: Flow | None) -> str:
    return flow.text if flow is not None else "the flow"


Renderer = Callable[[Reason, Flow | None, Sequence[Evidence]], str]

# code -> how its message is written. Codes are stable: programs reading the JSON report
# match on them (docs/reports.md).
RENDERERS: dict[str, Renderer] = {
    "netfilter.not-accepted": _not_accepted,
    "netfilter.accepted": _accepted,
    "netfilter.undecided": _undecided,
    "netfilter.no-ruleset-for-family": _no_family,
    "netfilter.empty-requirement": _empty,
    "netfilter.all-accepted": lambda r, f, e: "every flow in the requirement is accepted",
    "netfilter.all-refused": lambda r, f, e: "every flow in the requirement is refused",
}


def render(reason: Reason, flow: Flow | None = None, evidence: Sequence[Evidence] = ()) -> str:
    return RENDERERS[reason.code](reason, flow, evidence)


def verdict(
    status: Status,
    reason: Reason,
    flow: Flow | None = None,
    evidence: Sequence[Evidence] = (),
    details: tuple[tuple[str, str], ...] = (),
) -> Verdict:
    """The verdict for `reason`, its message rendered from the same data."""
    return Verdict(
        status,
        render(reason, flow, evidence),
        flow.text if flow is not None else None,
        tuple(evidence),
        details,
        reason,
        flow,
    )


def budget_verdict(exc: BudgetExceeded) -> Verdict:
    """Indeterminate: the target's work budget or deadline ran out (engine/budget.py writes
    the message; the parameters are the budget or the deadline)."""
    return Verdict(
        Status.INDETERMINATE,
        exc.message,
        None,
        (),
        exc.details,
        Reason("budget.exceeded", tuple((name, value) for name, value in exc.details)),
    )
