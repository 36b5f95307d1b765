"""`fwcheck collect`: collect every inventory host and keep the evidence; check nothing.

`fwcheck check` on the evidence later gives the scan's verdicts offline: each run folder's
manifest.json lists its `check_sources`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from checker.collectors import collect_hosts, configure_logging
from checker.collectors.evidence import new_run_id, write_evidence
from checker.collectors.hostkeys import KnownHosts
from checker.collectors.result import CollectResult
from checker.errors import CollectError, ExitCode, Problem, UsageError, format_problem
from checker.inventory.selection import open_inventory, select_hosts
from checker.target_guard import guarded, is_internal


def summary_line(result: CollectResult, where: Path | None) -> str:
    if result.error is not None:
        return format_problem(result.error)
    present = sum(1 for o in result.outputs if not o.missing)
    line = f"{result.host}: collected {present} outputs over {result.transport} in {result.duration_s:.1f} s"
    return f"{line} -> {where}" if where else line


def run(
    *,
    inventory: str,
    evidence_dir: str | None,
    role_map: str | None = None,
    hosts: Sequence[str] = (),
    jobs: int = 8,
    user_known_hosts: bool = True,
    quiet: bool = False,
) -> int:
    if not evidence_dir:
        raise UsageError(Problem("fwcheck collect", 0, 0, "usage", "--evidence DIR is required"))
    configure_logging()
    parsed = open_inventory(inventory, role_map)
    selected = select_hosts(parsed, hosts)
    known_hosts = KnownHosts.for_scan(parsed.known_hosts_files, include_user=user_known_hosts)
    run_id = new_run_id()
    failed = 0
    internal = False

    def keep(result: CollectResult) -> None:
        nonlocal failed, internal
        try:
            where: Path | None = guarded(
                result.host, lambda: write_evidence(evidence_dir, result, run_id), _raise
            )
        except CollectError as exc:
            print(format_problem(exc.problems[0]), file=sys.stderr)
            failed += 1
            internal = internal or is_internal(exc.problems)
            return
        if result.error is not None:
            failed += 1
            internal = internal or is_internal([result.error])
            print(summary_line(result, where), file=sys.stderr)
        elif not quiet:
            print(summary_line(result, where))

    collect_hosts(selected, known_hosts, jobs=jobs, on_result=keep)
    if not quiet:
        print(
            f"run {run_id}: {len(selected) - failed} of {len(selected)} hosts collected into {evidence_dir}"
        )
    if internal:
        return ExitCode.INTERNAL
    return ExitCode.TARGET_ERROR if failed else ExitCode.OK


def _raise(problem: Problem) -> Path | None:
    # A bug while keeping one host's evidence: reported like a write failure, and the run goes on.
    raise CollectError(problem)
