"""Atomic writes: the previous report stays whole when a write fails or the process dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from checker.errors import UsageError, format_problem
from checker.reports import REPORTERS, atomic

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def test_exception_mid_write_keeps_previous_and_leaves_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    out.write_bytes(b"previous report")
    with pytest.raises(RuntimeError), atomic.atomic_writer(out) as handle:
        handle.write(b"half a rep")
        raise RuntimeError("boom")
    assert out.read_bytes() == b"previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


@pytest.mark.parametrize("name", sorted(REPORTERS))
def test_reporter_hitting_file_size_limit_keeps_previous(name: str, tmp_path: Path) -> None:
    """A real write failure: the writer runs under RLIMIT_FSIZE, so the kernel refuses (EFBIG)
    to grow the temporary file past 300 bytes, as a full disk would."""
    out = tmp_path / f"report.{name}"
    out.write_bytes(b"previous report")
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        sys.path[:0] = [{str(REPO)!r}, {str(HERE)!r}]
        from pathlib import Path
        from report_samples import sample_report
        from checker.reports import REPORTERS
        from checker.reports.data import ReportOptions
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))
        from checker.errors import UsageError, format_problem
        try:
            REPORTERS[{name!r}].write(sample_report(), Path({str(out)!r}), options=ReportOptions(repo_root=Path({str(tmp_path)!r})))
        except UsageError as exc:
            print(format_problem(exc.problems[0]), "errno", exc.__cause__.errno)
            sys.exit(0)
        sys.exit("the write did not fail")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout == f"{out}: [report] cannot write the report: File too large errno 27\n"
    )  # EFBIG
    assert out.read_bytes() == b"previous report"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_killed_process_never_leaves_a_half_written_report(tmp_path: Path) -> None:
    """A real crash: the writer SIGKILLs itself after writing half the new report."""
    out = tmp_path / "report.sarif"
    out.write_bytes(b"previous report")
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from checker.reports import atomic
        with atomic.atomic_writer(__import__("pathlib").Path({str(out)!r})) as handle:
            handle.write(b"x" * 1_000_000)
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], timeout=30, check=False)
    assert result.returncode == -signal.SIGKILL
    assert out.read_bytes() == b"previous report"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != out.name]
    # The temp file of a killed writer may remain (nothing can remove it), but it is hidden and
    # never has the report's name.
    assert all(name.startswith(".report.sarif.") and name.endswith(".tmp") for name in leftovers)


def test_new_file_is_readable_and_existing_mode_kept(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.txt"
    atomic.write_text(fresh, "hello")
    assert fresh.read_text() == "hello"
    assert fresh.stat().st_mode & 0o777 == 0o644
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    os.chmod(kept, 0o600)
    atomic.write_text(kept, "new")
    assert kept.read_text() == "new" and kept.stat().st_mode & 0o777 == 0o600


def test_missing_folder_is_created_and_unwritable_place_is_a_usage_error(tmp_path: Path) -> None:
    nested = tmp_path / "reports/ci/junit.xml"
    atomic.write_text(nested, "x")
    assert nested.read_text() == "x"
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UsageError) as caught:
        atomic.write_text(blocker / "report.json", "x")
    assert format_problem(caught.value.problems[0]).startswith(
        f"{blocker / 'report.json'}: [report] cannot write the report:"
    )
