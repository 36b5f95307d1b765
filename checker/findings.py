"""Findings: the outcome of checking one policy rule against one target.

Reports know findings, not parsers or engines.
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

    @property
    def rule_key(self) -> str:
        return f"{self.policy}/{self.rule}"
