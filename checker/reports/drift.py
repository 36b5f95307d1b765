"""Drift: each result of a run marked against the previous run of the same inventory.

A result is keyed by (target, policy, rule). "Open" means anything but a pass: fail,
indeterminate, error, and waived too (a waiver accepts a finding, it does not make it go away,
so waiving a failure is not a fix). The history keeps only open results per run (and which
targets a run saw), which is all these four states need:

- new: open now, and not open in the previous run (it passed, or was not checked);
  a pass on a target the previous run did not see is new as well;
- unchanged: open in both runs, or a pass in both;
- fixed: open in the previous run, a pass now;
- absent: open in the previous run, not in this one at all (the host or the rule is gone).

SARIF 2.1.0 §3.27.24 `baselineState` has "new", "unchanged", "updated" and "absent"; fwcheck
writes "new" and "unchanged" on the results it reports (fixed ones are passes, which SARIF does
not carry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from checker.findings import Finding, Status

ResultKey = tuple[str, str, str]  # (target, policy id, rule id)


class DriftState(StrEnum):
    NEW = "new"
    UNCHANGED = "unchanged"
    FIXED = "fixed"
    ABSENT = "absent"


def key_of(finding: Finding) -> ResultKey:
    return (finding.target, finding.policy, finding.rule)


def is_open(status: Status | str) -> bool:
    return Status(status) is not Status.PASS


def classify(current: Status, previous: str | None, target_seen_before: bool) -> DriftState:
    """The state of one result; `previous` is the status it had when open last run, else None."""
    if is_open(current):
        return DriftState.UNCHANGED if previous is not None else DriftState.NEW
    if previous is not None:
        return DriftState.FIXED
    return DriftState.UNCHANGED if target_seen_before else DriftState.NEW


@dataclass(frozen=True, slots=True)
class AbsentResult:
    """An open result of the previous run that this run no longer has."""

    target: str
    policy: str
    rule: str
    status: str
    severity: str
    message: str

    @property
    def rule_key(self) -> str:
        return f"{self.policy}/{self.rule}"


@dataclass(frozen=True, slots=True)
class DriftCounts:
    """Counts of open results: new, still open, fixed since, and gone with their host or rule."""

    new: int = 0
    unchanged: int = 0
    fixed: int = 0
    absent: int = 0

    def summary(self) -> str:
        return (
            f"{self.new} new, {self.fixed} fixed, {self.absent} absent, {self.unchanged} unchanged"
        )


@dataclass(frozen=True, slots=True)
class Baseline:
    """What reports need to show drift: each result's state and the results now absent.

    `previous_run` is None when the history holds no earlier run of this inventory: then every
    result is new.
    """

    scope: str
    previous_run: int | None
    previous_started_at: str | None
    states: Mapping[ResultKey, DriftState] = field(default_factory=lambda: MappingProxyType({}))
    absent: tuple[AbsentResult, ...] = ()

    def state(self, finding: Finding) -> DriftState:
        return self.states.get(key_of(finding), DriftState.NEW)

    def counts(self, findings: tuple[Finding, ...] | list[Finding]) -> DriftCounts:
        new = unchanged = fixed = 0
        for finding in findings:
            state = self.state(finding)
            if state is DriftState.FIXED:
                fixed += 1
            elif is_open(finding.status):
                if state is DriftState.NEW:
                    new += 1
                else:
                    unchanged += 1
        return DriftCounts(new, unchanged, fixed, len(self.absent))

    def describe_previous(self) -> str:
        # The scope is named so a user can see which runs compare (fwcheck history --scope).
        if self.previous_run is None:
            return f"no earlier run of scope {self.scope} in the history"
        return f"run {self.previous_run} of {self.previous_started_at} (scope {self.scope})"
