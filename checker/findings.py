"""Findings: the outcome of checking one policy rule against one target.

Reports know findings, not parsers or engines. Beside its message, a finding carries its
`Outcome` as data (issue 12): the engine's status, a reason code with its parameters, and the
counterexample flow as fields; its `Evidence` items are the deciding rules (file, line, text
and, where known, the chain and table or the Windows store). The JSON report (version 2) writes
them, so a program reads a result without parsing its message (docs/reports.md lists the
reason codes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INDETERMINATE = "indeterminate"
    ERROR = "error"
    WAIVED = "waived"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is more severe: critical=4 … info=0."""
        return _RANK[self]


_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


@dataclass(frozen=True, slots=True)
class Evidence:
    """A firewall rule (or chain policy, or profile setting) that decided a verdict."""

    file: str
    line: int
    text: str
    # netfilter: the rule's (or policy's) chain and table, e.g. "INPUT" and "ip filter";
    # Windows: the store the rule or setting comes from ("gpo" or "local"). Not compared: the
    # same rule cited with or without them is one piece of evidence.
    chain: str | None = field(default=None, compare=False)
    table: str | None = field(default=None, compare=False)
    store: str | None = field(default=None, compare=False)


# A reason parameter: a number, a text, or a list of texts (e.g. undecidable conditions).
ParamValue = str | int | None | tuple[str, ...]

# The reason code of a verdict not built from structured data: its message is the only
# description (settings checks, exclusive and exposure results, read errors).
MESSAGE_ONLY = "message"


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    params: tuple[tuple[str, ParamValue], ...] = ()

    def param(self, name: str) -> ParamValue:
        return dict(self.params).get(name)


@dataclass(frozen=True, slots=True)
class Flow:
    """One concrete flow (a counterexample), as its initiator sends the first packet."""

    family: int
    protocol: int
    source: str
    destination: str
    source_port: int | None = None
    destination_port: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    # netfilter: the interface the flow comes in on (inbound) or goes out on (outbound) when
    # the ruleset tells interfaces apart; None when the interface does not matter.
    interface: str | None = None
    # Windows: the profile the flow was decided in, and the program, service and package it
    # is from (None when no rule tells them apart).
    profile: str | None = None
    program: str | None = None
    service: str | None = None
    package: str | None = None
    # Windows: the remote address stands for a keyword set (LocalSubnet), not one address.
    remote_set: str | None = None
    # The flow as the message and the `counterexample` field write it.
    text: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the engine found: its status (a waived finding keeps the engine's), why, and the
    counterexample flow."""

    status: Status
    reason: Reason
    flow: Flow | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    target: str
    policy: str
    rule: str
    status: Status
    severity: Severity
    message: str
    title: str = ""
    counterexample: str | None = None
    evidence: tuple[Evidence, ...] = ()
    # Where the policy rule is written (file, line): SARIF points here when no firewall file has one.
    policy_file: str | None = None
    policy_line: int = 0
    # Per-profile verdicts etc.: free-form details a report may show.
    details: tuple[tuple[str, str], ...] = field(default=())
    waiver_reason: str | None = None
    # The policy rule's control ids (FRAMEWORK:ID, docs/controls.md), for reports and --control.
    controls: tuple[str, ...] = ()
    # The structured outcome (None: only the message describes it, as in reports of version 1).
    outcome: Outcome | None = None

    @property
    def rule_key(self) -> str:
        return f"{self.policy}/{self.rule}"
