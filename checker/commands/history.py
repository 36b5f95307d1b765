"""`fwcheck history`: the recorded runs (newest first), the trend of open results, one run's
changes (`--show RUN`), and pruning (`--prune-keep N`, `--prune-before DATE`)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path

from checker.errors import ExitCode, Problem, UsageError
from checker.fleet.history import History, RunSummary
from checker.reports.data import printable

_COLUMNS = (
    ("run", 5),
    ("started", 20),
    ("hosts", 6),
    ("pass", 7),
    ("fail", 6),
    ("indet", 6),
    ("error", 6),
    ("waived", 6),
    ("new", 5),
    ("fixed", 5),
    ("absent", 6),
    ("secs", 7),
)


def _row(run: RunSummary) -> str:
    values = (
        run.id,
        run.started_at,
        run.targets,
        run.passed,
        run.failed,
        run.indeterminate,
        run.errors,
        run.waived,
        run.new,
        run.fixed,
        run.absent,
        "-" if run.duration_s is None else f"{run.duration_s:.1f}",
    )
    return "  ".join(
        str(v).rjust(w) if i != 1 else str(v).ljust(w)
        for i, ((_, w), v) in enumerate(zip(_COLUMNS, values, strict=True))
    )


def _header() -> str:
    return "  ".join(n.rjust(w) if i != 1 else n.ljust(w) for i, (n, w) in enumerate(_COLUMNS))


def _trend(runs: list[RunSummary]) -> str:
    """Open results (fail + indeterminate + error), oldest to newest, with the last change."""
    values = [r.open_results for r in reversed(runs)]
    line = " -> ".join(map(str, values))
    if len(values) >= 2:
        delta = values[-1] - values[-2]
        line += f" ({'+' if delta > 0 else ''}{delta} since the run before)"
    return line


def _check_date(text: str) -> str:
    try:
        if len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            Problem("--prune-before", 0, 0, "usage", f"expected an ISO 8601 date, got {text!r}")
        ) from None
    return text


def run(
    *,
    history_path: str,
    scope: str | None = None,
    limit: int = 20,
    show: int | None = None,
    as_json: bool = False,
    prune_keep: int | None = None,
    prune_before: str | None = None,
) -> int:
    if not Path(history_path).exists():
        raise UsageError(
            Problem(history_path, 0, 0, "history", "no history database here (scan first)")
        )
    out = sys.stdout
    with History.open(history_path) as history:
        if prune_keep is not None or prune_before is not None:
            before = _check_date(prune_before) if prune_before else None
            gone = history.prune(keep=prune_keep, before=before, scope=scope)
            print(f"pruned {gone} run(s) from {history_path}", file=out)
            return ExitCode.OK
        if show is not None:
            chosen = history.run(show)
            if chosen is None:
                raise UsageError(Problem(history_path, 0, 0, "history", f"no run {show}"))
            changed = history.results(show, drift=("new", "fixed", "absent"))
            if as_json:
                payload = {"run": asdict(chosen), "changes": [asdict(r) for r in changed]}
                out.write(json.dumps(payload, indent=2, ensure_ascii=True) + "\n")
                return ExitCode.OK
            print(
                f"run {chosen.id} of {printable(chosen.scope, one_line=True)} at {chosen.started_at}:",
                file=out,
            )
            for result in changed:
                if result.drift == "new" and result.status == "pass":
                    continue  # a new host's passes: not a change worth a line
                text = printable(
                    f"{result.target}: [{result.severity}] {result.policy}/{result.rule} "
                    f"{result.status}: {result.message}",
                    one_line=True,
                )
                print(f"  {result.drift.upper():6} {text}", file=out)
            return ExitCode.OK
        runs = history.runs(scope, limit=limit)
        if as_json:
            out.write(json.dumps([asdict(r) for r in runs], indent=2, ensure_ascii=True) + "\n")
            return ExitCode.OK
        by_scope: dict[str, list[RunSummary]] = {}
        for entry in runs:
            by_scope.setdefault(entry.scope, []).append(entry)
        if not runs:
            print("no runs recorded", file=out)
        for name, entries in by_scope.items():
            print(f"scope {printable(name, one_line=True)}", file=out)
            print("  " + _header(), file=out)
            for entry in entries:
                print("  " + _row(entry), file=out)
            print(f"  open results: {_trend(entries)}", file=out)
    return ExitCode.OK
