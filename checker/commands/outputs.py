"""What `check`, `scan` and `merge` write and how they gate the run: one value for the report
and gate options the three share (cli._add_report_options). The reports are those of
checker.reports.REPORTERS: a new reporter needs no field here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from checker import resources
from checker.errors import Problem, UsageError
from checker.findings import Severity
from checker.reports import ReportOptions, flagged


@dataclass(frozen=True, slots=True)
class Outputs:
    # (reporter name, file) of each report asked for, in the order given; "-": standard output.
    reports: tuple[tuple[str, str], ...] = ()
    # The lowest severity whose fail/indeterminate makes the exit code 1.
    fail_on: str = "info"
    # How JUnit shows indeterminate results: "fail" (as failures) or "skip".
    indeterminate_as: Literal["fail", "skip"] = "fail"
    waivers_path: str | None = None
    quiet: bool = False
    # --color: "auto" (a terminal without NO_COLOR), "always" or "never".
    color: str = "auto"

    def report_options(self) -> ReportOptions:
        """How the reports are written: SARIF uris relative to the current folder, shipped
        policies under POLICYROOT."""
        return ReportOptions(
            indeterminate_as=self.indeterminate_as,
            repo_root=Path.cwd(),
            policy_root=resources.shipped_policies_dir(),
            fail_on=Severity(self.fail_on),
        )

    def report_paths(self) -> dict[str, str | None]:
        """Report format name -> the file to write it to (None: not asked for; "-": stdout),
        for every reporter a flag asks for (checker.reports.REPORTERS).

        Only one report may go to standard output: two would be one unparseable stream."""
        to_stdout = [name for name, path in self._paths().items() if path == "-"]
        for name, flag in flagged():
            if name in to_stdout and not flag.stdout:
                raise UsageError(
                    Problem(
                        "fwcheck", 0, 0, "usage", f"{flag.flag} cannot write to standard output (-)"
                    )
                )
        if len(to_stdout) > 1:
            raise UsageError(
                Problem(
                    "fwcheck",
                    0,
                    0,
                    "usage",
                    f"only one report can be written to standard output (-), not {' and '.join(to_stdout)}",
                )
            )
        return self._paths()

    def _paths(self) -> dict[str, str | None]:
        given = dict(self.reports)
        return {name: given.get(name) for name, _ in flagged()}


# The default of the commands' `outputs` parameter: no report files, any violation fails.
NO_OUTPUTS = Outputs()
