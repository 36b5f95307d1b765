"""Reports: one output format per module, all written from one `RunReport`.

Each module follows the `Reporter` protocol: `NAME`, `FLAG` (how the command line asks for it,
reports/flag.py; None for the console, always printed), `encode(report, options, baseline)` (the
report's bytes) and `write(report, path, *, options)`, which writes atomically (the previous
report stays whole if anything fails). `REPORTERS` maps the format name to its module and is the
one source of the report flags of `check`, `scan` and `merge`, of `Outputs` and of what
reports/publish.py writes. Modules are registered through `_reporters()`, whose parameter is the
protocol: mypy checks every module against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from checker.reports import console, html, json_report, junit, sarif
from checker.reports.data import ReportOptions, RunReport, TargetInfo
from checker.reports.flag import ReportFlag

if TYPE_CHECKING:
    from checker.reports.drift import Baseline

__all__ = ["REPORTERS", "ReportFlag", "Reporter", "ReportOptions", "RunReport", "TargetInfo"]


class Reporter(Protocol):
    # Read-only members, so that a module's inferred types (a str NAME) satisfy them.
    @property
    def NAME(self) -> str: ...

    @property
    def FLAG(self) -> ReportFlag | None: ...

    def encode(
        self, report: RunReport, options: ReportOptions, baseline: Baseline | None, /
    ) -> bytes: ...

    def write(self, report: RunReport, path: Path, *, options: ReportOptions) -> None: ...


def _reporters(*modules: Reporter) -> Mapping[str, Reporter]:
    return {module.NAME: module for module in modules}


# Order is the order of the flags in --help and of the writes in reports/publish.py.
REPORTERS: Mapping[str, Reporter] = _reporters(console, json_report, junit, sarif, html)


def flagged() -> list[tuple[str, ReportFlag]]:
    """(name, flag) of every reporter a command-line flag asks for, in registry order."""
    return [(name, module.FLAG) for name, module in REPORTERS.items() if module.FLAG is not None]
