"""Fixtures for the report tests; the sample data lives in report_samples.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_samples import WEB_RULES, sample_report

from checker.reports.data import ReportOptions, RunReport


@pytest.fixture
def report() -> RunReport:
    return sample_report()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository folder (cwd) holding the export and policy files the sample names."""
    (tmp_path / "exports").mkdir()
    (tmp_path / "policies").mkdir()
    (tmp_path / WEB_RULES).write_text("*filter\n" * 20)
    (tmp_path / "exports/broken.rules").write_text("garbage\n")
    (tmp_path / "policies/baseline.yaml").write_text("x: 1\n" * 60)
    (tmp_path / "policies/ssh.yaml").write_text("x: 1\n" * 10)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def options(repo: Path) -> ReportOptions:
    return ReportOptions(repo_root=repo)
