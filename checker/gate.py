"""The gate: a run's exit code from its findings and `--fail-on` (check, scan and merge agree)."""

from __future__ import annotations

from collections.abc import Sequence

from checker.errors import ExitCode
from checker.findings import Finding, Severity, Status
from checker.reports.data import TargetInfo


def exit_code(
    findings: Sequence[Finding], fail_on: str, targets: Sequence[TargetInfo] = ()
) -> ExitCode:
    """A bug in any target first (4), then any error result (3), then the --fail-on gate."""
    if any(t.internal for t in targets):
        return ExitCode.INTERNAL
    if any(f.status is Status.ERROR for f in findings):
        return ExitCode.TARGET_ERROR
    threshold = Severity(fail_on).rank
    if any(
        f.status in (Status.FAIL, Status.INDETERMINATE) and f.severity.rank >= threshold
        for f in findings
    ):
        return ExitCode.VIOLATIONS
    return ExitCode.OK
