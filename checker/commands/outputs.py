"""What `check`, `scan` and `merge` write and how they gate the run: one value for the report
and gate options the three share (cli._add_report_options)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from checker import resources
from checker.reports import ReportOptions


@dataclass(frozen=True, slots=True)
class Outputs:
    json_path: str | None = None
    junit_path: str | None = None
    sarif_path: str | None = None
    html_path: str | None = None
    # The lowest severity whose fail/indeterminate makes the exit code 1.
    fail_on: str = "info"
    # How JUnit shows indeterminate results: "fail" (as failures) or "skip".
    indeterminate_as: str = "fail"
    waivers_path: str | None = None
    quiet: bool = False

    def report_options(self) -> ReportOptions:
        """How the reports are written: SARIF uris relative to the current folder, shipped
        policies under POLICYROOT."""
        return ReportOptions(
            indeterminate_as=self.indeterminate_as,  # type: ignore[arg-type]  (argparse choices)
            repo_root=Path.cwd(),
            policy_root=resources.shipped_policies_dir(),
        )

    def report_paths(self) -> dict[str, str | None]:
        """Report format name -> the file to write it to (None: not asked for)."""
        return {
            "json": self.json_path,
            "junit": self.junit_path,
            "sarif": self.sarif_path,
            "html": self.html_path,
        }


# The default of the commands' `outputs` parameter: no report files, any violation fails.
NO_OUTPUTS = Outputs()
