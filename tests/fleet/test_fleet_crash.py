"""A crash or kill mid-scan never corrupts the history or the previous reports.

Real processes, really SIGKILLed: `python -m checker scan` against the real sshd lab killed while
hosts are being collected and recorded, and a history writer killed in the middle of committing
large runs. After each kill the database passes SQLite's own `PRAGMA integrity_check`, holds
exactly the runs committed before (each one whole), and the previous reports are byte-identical.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import sshlab
from fleet_support import write_inventory, write_policy

from checker.cli import main

REPO = Path(__file__).resolve().parents[2]


def db_state(path: Path) -> tuple[str, list[tuple], list[tuple]]:
    db = sqlite3.connect(path)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        runs = db.execute("SELECT * FROM runs ORDER BY id").fetchall()
        results = db.execute(
            "SELECT * FROM results ORDER BY run_id, target, policy, rule"
        ).fetchall()
    finally:
        db.close()
    return integrity, runs, results


def test_killing_a_scan_mid_run_leaves_history_and_reports_whole(
    fleet_lab: sshlab.SshLab, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path)
    names = [f"n{i:03d}" for i in range(40)]
    inventory = write_inventory(tmp_path, fleet_lab, names)
    history = tmp_path / "reports" / "history.sqlite"
    reports = {s: tmp_path / "reports" / f"fleet.{s}" for s in ("json", "html", "sarif")}
    common = [
        "scan", "--inventory", str(inventory), "--policies", str(policy),
        "--no-user-known-hosts", "--history", str(history),
        "--json", str(reports["json"]), "--html", str(reports["html"]),
        "--sarif", str(reports["sarif"]),
    ]  # fmt: skip
    assert main([*common, "--host", "n000", "--host", "n001", "-q"]) == 1
    assert main([*common, "--history-scope", "nightly", "-q", "--concurrency", "8"]) == 1
    before = db_state(history)
    assert before[0] == "ok" and len(before[1]) == 2
    saved = {name: path.read_bytes() for name, path in reports.items()}

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "checker",
            *common,
            "--history-scope",
            "nightly",
            "--concurrency",
            "1",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    try:
        # Plain progress lines (stderr is a pipe): kill once a quarter of the hosts are recorded.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stderr.readline()  # type: ignore[union-attr]
            seen += line
            if line.startswith("fwcheck: 1") and "/40 hosts done" in line:
                break
            assert line, f"scan ended before it could be killed: {seen}"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert "/40 hosts done" in seen

    after = db_state(history)
    assert after == before  # integrity ok, the same runs and results, nothing half-recorded
    for name, path in reports.items():
        assert path.read_bytes() == saved[name], f"the previous {name} report changed"
    leftovers = [p.name for p in (tmp_path / "reports").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    # The next scan compares with the last complete run of the scope.
    assert main([*common, "--history-scope", "nightly", "-q", "--concurrency", "8"]) == 1
    final = db_state(history)
    assert final[0] == "ok" and [r[1] for r in final[1]] == [before[1][0][1], "nightly", "nightly"]


WRITER = r"""
import sys
from checker.findings import Finding, Severity, Status
from checker.fleet.history import History
from checker.reports.data import tally

history = History.open(sys.argv[1])
for n in range(1000):
    findings = [
        Finding(f"host{h}", "pol", f"r{r}", Status.FAIL, Severity.HIGH, "x" * 40)
        for h in range(400) for r in range(50)
    ]
    recorder = history.start_run("s", started_at="2024-01-01T00:00:00Z", tool_version="t",
                                 source="scan", shard=None)
    for h in range(400):
        recorder.add(f"host{h}", None, None, findings[h * 50:(h + 1) * 50])
    baseline = recorder.baseline()
    print("begin-commit", n, flush=True)
    recorder.commit(tally(findings), baseline.counts(findings), finished_at="x", duration_s=1)
    print("end-commit", n, flush=True)
"""


def test_killing_the_history_writer_mid_commit_keeps_every_run_whole(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    rng = random.Random(7)
    mid_commit_kills = 0
    committed = 0
    for _attempt in range(12):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        lines = []
        try:
            while True:
                line = process.stdout.readline()  # type: ignore[union-attr]
                assert line, "writer ended early"
                lines.append(line.split()[0])
                if line.startswith("begin-commit"):
                    time.sleep(rng.uniform(0.0, 0.15))
                    os.kill(process.pid, signal.SIGKILL)
                    break
        finally:
            process.wait(timeout=30)
        rest = process.stdout.read().split()  # type: ignore[union-attr]
        process.stdout.close()  # type: ignore[union-attr]
        integrity, runs, results = db_state(path)
        assert integrity == "ok"
        # Every recorded run is whole: 20,000 failed results each, none half-written.
        per_run: dict[int, int] = {}
        for row in results:
            per_run[row[0]] = per_run.get(row[0], 0) + 1
        assert all(per_run.get(run[0]) == run[9] == 20_000 for run in runs), (runs, per_run)
        assert set(per_run) == {run[0] for run in runs}
        finished = "end-commit" in rest
        # The kill may land after the commit but before "end-commit" is printed: then the run is
        # recorded (whole) without the writer saying so. Either way no run is half there.
        assert len(runs) in (committed, committed + 1)
        if finished:
            assert len(runs) == committed + 1
        landed = len(runs) - committed
        committed = len(runs)
        mid_commit_kills += int(not landed)
        if mid_commit_kills >= 3:
            break
    assert mid_commit_kills >= 1
