"""The history database: drift states, migrations, pruning, and refusing what it cannot use.

Real SQLite files in tmp_path; findings are built directly (the engine is tested elsewhere).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from checker.errors import UsageError
from checker.findings import Finding, Severity, Status
from checker.fleet.history import History
from checker.fleet.migrations import MIGRATIONS, SCHEMA_VERSION
from checker.reports.data import tally
from checker.reports.drift import DriftState, classify


def f(target: str, rule: str, status: Status) -> Finding:
    return Finding(target, "pol", rule, status, Severity.HIGH, f"{rule} is {status.value}")


def record(history: History, scope: str, findings: list[Finding]) -> tuple[int, object]:
    recorder = history.start_run(
        scope, started_at="2024-05-01T00:00:00Z", tool_version="t", source="scan", shard=None
    )
    for target in dict.fromkeys(x.target for x in findings):
        recorder.add(target, "netfilter", None, [x for x in findings if x.target == target])
    baseline = recorder.baseline()
    run_id = recorder.commit(
        tally(findings),
        baseline.counts(findings),
        finished_at="2024-05-01T00:01:00Z",
        duration_s=1.5,
    )
    return run_id, baseline


def test_classify_covers_every_transition() -> None:
    assert classify(Status.FAIL, None, True) is DriftState.NEW
    assert classify(Status.FAIL, "fail", True) is DriftState.UNCHANGED
    assert classify(Status.WAIVED, "fail", True) is DriftState.UNCHANGED  # accepted, not fixed
    assert classify(Status.ERROR, "indeterminate", True) is DriftState.UNCHANGED
    assert classify(Status.PASS, "fail", True) is DriftState.FIXED
    assert classify(Status.PASS, None, True) is DriftState.UNCHANGED
    assert classify(Status.PASS, None, False) is DriftState.NEW


def test_second_run_is_marked_against_the_first(tmp_path: Path) -> None:
    with History.open(tmp_path / "h.sqlite") as history:
        first_id, first = record(
            history,
            "inv.yaml",
            [
                f("web1", "a", Status.FAIL),
                f("web1", "b", Status.PASS),
                f("web1", "c", Status.FAIL),
                f("db1", "a", Status.ERROR),
            ],
        )
        assert first.previous_run is None
        assert set(first.states.values()) == {DriftState.NEW}
        # Another inventory's run in between must not count as "previous".
        record(history, "other.yaml", [f("web1", "a", Status.PASS)])
        second_id, second = record(
            history,
            "inv.yaml",
            [
                f("web1", "a", Status.FAIL),
                f("web1", "b", Status.FAIL),
                f("web1", "c", Status.PASS),
                f("new1", "a", Status.PASS),
                f("new1", "b", Status.FAIL),
            ],
        )
        assert second.previous_run == first_id
        assert dict(second.states) == {
            ("web1", "pol", "a"): DriftState.UNCHANGED,
            ("web1", "pol", "b"): DriftState.NEW,
            ("web1", "pol", "c"): DriftState.FIXED,
            ("new1", "pol", "a"): DriftState.NEW,
            ("new1", "pol", "b"): DriftState.NEW,
        }
        assert [(a.target, a.rule, a.status) for a in second.absent] == [("db1", "a", "error")]
        summary = history.run(second_id)
        assert summary is not None
        assert (summary.new, summary.fixed, summary.absent, summary.unchanged) == (2, 1, 1, 1)
        assert (summary.passed, summary.failed, summary.targets) == (2, 3, 2)
        # Absent rows are kept for `history --show` but are not "open" in the next comparison.
        third_id, third = record(history, "inv.yaml", [f("web1", "b", Status.FAIL)])
        # db1/a was absent already: only the second run's open results can go absent now.
        assert [(a.target, a.rule) for a in third.absent] == [("new1", "b"), ("web1", "a")]
        shown = {(r.target, r.rule, r.drift) for r in history.results(second_id)}
        assert ("web1", "c", "fixed") in shown and ("db1", "a", "absent") in shown


def test_migrations_upgrade_an_old_database_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    db.execute(
        "INSERT INTO runs VALUES (1, 'inv', '2024-01-01T00:00:00Z', '2024-01-01T00:01:00Z', 'old',"
        " 'scan', NULL, 1, 4, 1, 0, 0, 0, 1, 0, 0, 0)"
    )
    db.execute("INSERT INTO results VALUES (1, 'web1', 'pol', 'a', 'fail', 'high', 'new', 'm')")
    db.commit()
    db.close()
    with History.open(path) as history:
        assert history.schema_version == SCHEMA_VERSION == 3
        (run,) = history.runs()
        assert run.id == 1 and run.duration_s is None
        _, baseline = record(history, "inv", [f("web1", "a", Status.FAIL)])
        assert baseline.previous_run == 1
        assert baseline.states[("web1", "pol", "a")] is DriftState.UNCHANGED


def test_newer_schema_and_garbage_are_refused_clearly(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    db = sqlite3.connect(newer)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(UsageError, match="newer fwcheck"):
        History.open(newer)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(UsageError, match="not a usable history database"):
        History.open(garbage)


def test_prune_keeps_the_newest_runs_per_scope(tmp_path: Path) -> None:
    with History.open(tmp_path / "h.sqlite") as history:
        ids = [record(history, "a", [f("h", "r", Status.FAIL)])[0] for _ in range(5)]
        other = record(history, "b", [f("h", "r", Status.FAIL)])[0]
        assert history.prune(keep=2) == 3
        assert [r.id for r in history.runs("a")] == ids[:-3:-1]
        assert [r.id for r in history.runs("b")] == [other]
        assert history.results(ids[0]) == []
        assert history.prune(before="2100-01-01") == 3
        assert history.runs() == []


def test_an_uncommitted_run_leaves_the_history_untouched(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with History.open(path) as history:
        record(history, "inv", [f("web1", "a", Status.FAIL)])
        recorder = history.start_run(
            "inv", started_at="2024-05-02T00:00:00Z", tool_version="t", source="scan", shard=None
        )
        recorder.add("web1", None, None, [f("web1", "a", Status.PASS)] * 1)
        # A second connection (another process's view) sees only the committed run.
        other = sqlite3.connect(path)
        assert other.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
        assert other.execute("SELECT count(*) FROM results").fetchone()[0] == 1
        other.close()
        recorder.discard()
    with History.open(path) as history:
        assert len(history.runs()) == 1


def test_text_sqlite_cannot_hold_is_stored_as_its_escape(tmp_path: Path) -> None:
    """A lone surrogate (a file name that is not UTF-8 reaches messages decoded with
    surrogateescape; a JSON export may hold a lone `\\ud800`) cannot be UTF-8: it was an
    UnicodeEncodeError out of sqlite3 that ended the run. Stored as its escape; drift still
    matches the next run's same finding."""
    message = "accepted (bad\udcff.iptables-save:14), rule evil\ud800"
    finding = Finding("web1", "pol", "a", Status.FAIL, Severity.HIGH, message)
    with History.open(tmp_path / "h.sqlite") as history:
        first_id, _ = record(history, "inv\udcff.yaml", [finding])
        second_id, second = record(history, "inv\udcff.yaml", [finding])
        assert second.previous_run == first_id
        assert dict(second.states) == {("web1", "pol", "a"): DriftState.UNCHANGED}
        (stored,) = history.results(second_id)
        assert stored.message == "accepted (bad\\udcff.iptables-save:14), rule evil\\ud800"
