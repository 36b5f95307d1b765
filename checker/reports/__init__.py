"""Reports: one output format per module, all written from one `RunReport`.

Each module exposes `NAME` and `write(report, path, *, options)`, which writes atomically (the
previous report stays whole if anything fails). `REPORTERS` maps the format name to its module.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Protocol

from checker.reports import console, html, json_report, junit, sarif
from checker.reports.data import ReportOptions, RunReport, TargetInfo

__all__ = ["REPORTERS", "Reporter", "ReportOptions", "RunReport", "TargetInfo"]


class Reporter(Protocol):
    NAME: str

    def write(self, report: RunReport, path: Path, *, options: ReportOptions) -> None: ...


REPORTERS: dict[str, ModuleType] = {
    module.NAME: module for module in (console, json_report, junit, sarif, html)
}
