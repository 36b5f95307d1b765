"""How the command line asks for one report (`--sarif FILE`): each reporter declares its own
`FLAG`, and `check`, `scan` and `merge` offer every registered reporter's flag (checker.reports
.REPORTERS), so a new reporter needs no edit to cli.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReportFlag:
    flag: str  # e.g. "--sarif"
    help: str  # the --help line, saying whether `-` (standard output) is accepted
    # The file name the docs and examples use for this report (docs/formats.md).
    default_file: str
    # `-` writes the report to standard output (the console summary then goes to stderr).
    stdout: bool = True

    @property
    def dest(self) -> str:
        """The argparse attribute the flag's value lands in ("--sarif" -> "sarif")."""
        return self.flag.lstrip("-").replace("-", "_")
