"""`fwcheck collect`: collect every inventory host and keep the evidence; check nothing.

`fwcheck check` on the evidence later gives the scan's verdicts offline: each run folder's
manifest.json lists its `check_sources`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from checker.collectors import collect_hosts
from checker.collectors.evidence import new_run_id, write_evidence
from checker.collectors.hostkeys import KnownHosts
from checker.collectors.result import CollectResult
from checker.errors import CollectError, Problem, UsageError, format_problem
from checker.inventory import Inventory, load_inventory, load_role_map
from checker.inventory.model import HostSpec


def configure_logging() -> None:
    # paramiko logs every failed banner read with a traceback at ERROR; the host's error result
    # already says it in one line.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="fwcheck: %(message)s", level=logging.WARNING, stream=sys.stderr)


def select_hosts(inventory: Inventory, names: Sequence[str]) -> list[HostSpec]:
    if not names:
        return list(inventory.hosts)
    chosen = [h for h in inventory.hosts if h.name in set(names)]
    unknown = sorted(set(names) - {h.name for h in chosen})
    if unknown:
        raise UsageError(
            Problem(
                inventory.file,
                0,
                0,
                "usage",
                f"no such host in the inventory: {', '.join(unknown)}",
            )
        )
    return chosen


def open_inventory(inventory: str, role_map: str | None) -> Inventory:
    mapping = load_role_map(role_map) if role_map else None
    return load_inventory(inventory, role_map=mapping)


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
    from checker.cli import ExitCode

    if not evidence_dir:
        raise UsageError(Problem("fwcheck collect", 0, 0, "usage", "--evidence DIR is required"))
    configure_logging()
    parsed = open_inventory(inventory, role_map)
    selected = select_hosts(parsed, hosts)
    known_hosts = KnownHosts.for_scan(parsed.known_hosts_files, include_user=user_known_hosts)
    run_id = new_run_id()
    failed = 0

    def keep(result: CollectResult) -> None:
        nonlocal failed
        try:
            where: Path | None = write_evidence(evidence_dir, result, run_id)
        except CollectError as exc:
            print(format_problem(exc.problems[0]), file=sys.stderr)
            failed += 1
            return
        if result.error is not None:
            failed += 1
            print(summary_line(result, where), file=sys.stderr)
        elif not quiet:
            print(summary_line(result, where))

    collect_hosts(selected, known_hosts, jobs=jobs, on_result=keep)
    if not quiet:
        print(
            f"run {run_id}: {len(selected) - failed} of {len(selected)} hosts collected into {evidence_dir}"
        )
    return ExitCode.TARGET_ERROR if failed else ExitCode.OK
