"""Issue 11 defect 9: numeric command-line options read ASCII digits only.

int("١") is 1 and float("١") is 1.0: `--jobs ١` or `--host-timeout ١` were taken silently;
5,000 digits gave int()'s own message. Each is now argparse's usage error (exit 2).
"""

from __future__ import annotations

import pytest

from checker.cli import main
from checker.errors import ExitCode


@pytest.mark.parametrize(
    "argv",
    [
        ["scan", "--inventory", "x.yaml", "--jobs", "١"],
        ["scan", "--inventory", "x.yaml", "--jobs", "9" * 5000],
        ["scan", "--inventory", "x.yaml", "--host-timeout", "١"],
        ["check", "--max-input-mib", "²", "x.rules"],
    ],
    ids=["jobs-unicode", "jobs-long", "timeout-unicode", "max-input-unicode"],
)
def test_unicode_and_overlong_numbers_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "expected" in err and "Traceback" not in err and "int_max_str" not in err
