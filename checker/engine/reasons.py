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


# --- Windows (checker.engine.windows.engine): one profile's outcome ----------------------


def _profile(reason: Reason) -> str:
    return f"{reason.param('profile')} profile:"


def _names(reason: Reason, name: str = "rules") -> str:
    return ", ".join(_texts(reason, name)[:3])


def _merge_note(reason: Reason) -> str:
    """A local allow rule left out by AllowLocalPolicyMerge=0 where it would have counted."""
    rule = reason.param("local_rule_ignored")
    if rule is None:
        return ""
    return (
        f" (local rule {rule} would allow some of it, but Group Policy "
        f"sets AllowLocalPolicyMerge=0 ({reason.param('merge_setting_at')}))"
    )


def _firewall_off(reason: Reason, flow: Flow | None, evidence: Sequence[Evidence]) -> str:
    if flow is None:
        return f"{_profile(reason)} the firewall is off, nothing is blocked"
    return f"{_profile(reason)} the firewall is off, so {flow.text} is allowed"


def _shields_up(reason: Reason, flow: Flow | None, evidence: Sequence[Evidence]) -> str:
    if flow is None:
        return f"{_profile(reason)} shields up blocks all inbound traffic{_merge_note(reason)}"
    return f"{_profile(reason)} {flow.text} is blocked: shields up ignores every inbound allow rule"


def _local_rule_ignored(reason: Reason, flow: Flow | None, evidence: Sequence[Evidence]) -> str:
    verb = "is" if reason.param("surely") == "yes" else "could be"
    return (
        f"{_profile(reason)} {_text(flow)} {verb} allowed only by local rule "
        f"{reason.param('rule')}, which is ignored: Group Policy sets "
        f"AllowLocalPolicyMerge=0 ({reason.param('merge_setting_at')}), so the flow falls to the "
        f"{reason.param('setting')}"
    )


def _windows_undecided(reason: Reason, flow: Flow | None, evidence: Sequence[Evidence]) -> str:
    pairs = list(zip(_texts(reason, "rules"), _texts(reason, "conditions"), strict=True))
    return (
        f"{_profile(reason)} cannot tell offline whether {_text(flow)} is "
        f"{reason.param('would_be')}: it depends on "
        + ", ".join(f"rule {rule} ({why})" for rule, why in pairs[:3])
    )


Renderer = Callable[[Reason, Flow | None, Sequence[Evidence]], str]

# code -> how its message is written. Codes are stable: programs reading the JSON report
# match on them (docs/reports.md, "Reason codes").
RENDERERS: dict[str, Renderer] = {
    "netfilter.not-accepted": _not_accepted,
    "netfilter.accepted": _accepted,
    "netfilter.undecided": _undecided,
    "netfilter.no-ruleset-for-family": _no_family,
    "netfilter.empty-requirement": _empty,
    "netfilter.all-accepted": lambda r, f, e: "every flow in the requirement is accepted",
    "netfilter.all-refused": lambda r, f, e: "every flow in the requirement is refused",
    "windows.empty-requirement": lambda r, f, e: (
        "the requirement describes no flow (its addresses and families do not meet):"
        " fix the policy rule"
    ),
    "windows.firewall-off": _firewall_off,
    "windows.shields-up": _shields_up,
    "windows.allowed-by-rules": lambda r, f, e: f"{_profile(r)} allowed by rule {_names(r)}",
    "windows.no-block-rule-default-allows": lambda r, f, e: (
        f"{_profile(r)} no block rule matches; the {r.param('setting')} applies"
    ),
    "windows.blocked-by-rule": lambda r, f, e: (
        f"{_profile(r)} {_text(f)} is blocked by rule {r.param('rule')}"
    ),
    "windows.local-rule-ignored": _local_rule_ignored,
    "windows.no-allow-rule": lambda r, f, e: (
        f"{_profile(r)} {_text(f)} matches no allow rule and falls to the {r.param('setting')}"
    ),
    "windows.allowed-by-rule": lambda r, f, e: (
        f"{_profile(r)} {_text(f)} is allowed by rule {r.param('rule')}"
    ),
    "windows.local-subnet-allowed": lambda r, f, e: (
        f"{_profile(r)} {_text(f)} is allowed by rule {r.param('rule')}: LocalSubnet is never "
        "empty, and no block rule can match that flow whatever its remote address"
    ),
    "windows.no-block-rule": lambda r, f, e: (
        f"{_profile(r)} {_text(f)} matches no block rule and falls to the {r.param('setting')}"
    ),
    "windows.blocked-by-rules": lambda r, f, e: (
        f"{_profile(r)} blocked by rule {_names(r)}{_merge_note(r)}"
    ),
    "windows.no-allow-rule-default-blocks": lambda r, f, e: (
        f"{_profile(r)} no allow rule matches; the {r.param('setting')} applies{_merge_note(r)}"
    ),
    "windows.blocked-where-allowed": lambda r, f, e: (
        f"{_profile(r)} blocked by rule {_names(r)} where an allow rule matches; elsewhere "
        f"no allow rule matches and the {r.param('setting')} applies{_merge_note(r)}"
    ),
    "windows.undecided": _windows_undecided,
    "target-unreadable": lambda r, f, e: (
        "target could not be read: " + "; ".join(_texts(r, "problems"))
    ),
}


def render(
    reason: Reason,
    flow: Flow | None = None,
    evidence: Sequence[Evidence] = (),
    status: Status | None = None,
) -> str:
    """The message for `reason`. Windows verdicts of several profiles (param `profiles`, the
    first deciding) name the others; rules written but not applied (param `not_applied`) are
    named in a warning."""
    text = RENDERERS[reason.code](reason, flow, evidence)
    profiles = _texts(reason, "profiles")
    if len(profiles) > 1 and status is not None:
        if status is Status.PASS:
            text += f" (profiles: {', '.join(profiles)})"
        else:
            text += f" (also {status.value} in: {', '.join(profiles[1:])})"
    labels = _texts(reason, "not_applied")
    if labels:
        note = (
            f"warning: rule {labels[0]} at {reason.param('not_applied_at')} "
            f"is not applied: {reason.param('not_applied_why')}"
        )
        if len(labels) > 1:
            note += f" (+{len(labels) - 1} more rule(s) not applied)"
        text += f" [{note}]"
    return text


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
        render(reason, flow, evidence, status),
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
