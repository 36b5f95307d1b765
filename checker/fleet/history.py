"""The scan history: every run of every inventory in one SQLite file (`reports/history.sqlite`).

Crash safety. A run's rows are first written to a private temporary database attached to the
connection (`ATTACH ''`: "a private, temporary on-disk database … automatically deleted as
soon as the database connection is closed", https://www.sqlite.org/inmemorydb.html), so a scan
streams its results to disk without holding them in memory and without touching the history
until it ends. The run then goes into the history in one short transaction; SQLite's atomic
commit (https://www.sqlite.org/atomiccommit.html, here with WAL and synchronous=FULL) means a
process killed at any moment leaves the history exactly as before that run, or with the run
whole. Readers (`fwcheck history`, another scan's baseline) are never blocked by WAL writers.

What is kept per run: its counts, the targets it saw, and its open results (anything but a
pass), fixed results, and absent ones (see checker.reports.drift): passes are implied, which keeps
a nightly 10,000-host history small.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from checker.errors import FwcheckError, Problem, UsageError
from checker.findings import Finding
from checker.fleet.migrations import MIGRATIONS, SCHEMA_VERSION
from checker.fleet.verdict_cache import VerdictCache
from checker.reports.data import Tally
from checker.reports.drift import (
    AbsentResult,
    Baseline,
    DriftCounts,
    DriftState,
    ResultKey,
    classify,
    is_open,
    key_of,
)

DEFAULT_PATH = Path("reports") / "history.sqlite"
BUSY_TIMEOUT_S = 30.0


def storable(text: str) -> str:
    """`text` as SQLite can store it: a lone surrogate (from a file name that is not UTF-8, or a
    `\\udXXX` escape in a JSON export) is written as that escape; UTF-8 cannot hold it."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _TextSafeConnection(sqlite3.Connection):
    """Every statement's text arguments pass through `storable`."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return super().execute(sql, _storable_args(parameters))

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> sqlite3.Cursor:
        return super().executemany(sql, (_storable_args(row) for row in seq_of_parameters))


def _storable_args(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        return {name: _storable_value(value) for name, value in parameters.items()}
    return tuple(_storable_value(value) for value in parameters)


def _storable_value(value: object) -> object:
    return storable(value) if isinstance(value, str) else value


class HistoryError(FwcheckError):
    """The history database cannot be used (not a database, too new, locked, unwritable)."""


@dataclass(frozen=True, slots=True)
class RunSummary:
    id: int
    scope: str
    started_at: str
    finished_at: str
    tool_version: str
    source: str
    shard: str | None
    targets: int
    passed: int
    failed: int
    indeterminate: int
    errors: int
    waived: int
    new: int
    fixed: int
    absent: int
    unchanged: int
    duration_s: float | None

    @property
    def open_results(self) -> int:
        return self.failed + self.indeterminate + self.errors


_RUN_COLUMNS = ", ".join(f.name for f in fields(RunSummary))


@dataclass(frozen=True, slots=True)
class StoredResult:
    target: str
    policy: str
    rule: str
    status: str
    severity: str
    drift: str
    message: str


def _problem(path: Path, message: str) -> Problem:
    return Problem(str(path), 0, 0, "history", message)


class History:
    """One open history database. Not shared between threads: the scan's main thread owns it."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    @classmethod
    def open(cls, path: str | Path) -> History:
        where = Path(path)
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we say BEGIN/COMMIT ourselves, nothing implicit.
            connection = sqlite3.connect(
                where, timeout=BUSY_TIMEOUT_S, isolation_level=None, factory=_TextSafeConnection
            )
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(_problem(where, f"cannot open the history database: {exc}")) from None
        history = cls(where, connection)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            history._migrate()
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise UsageError(_problem(where, f"not a usable history database: {exc}")) from None
        return history

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise UsageError(
                _problem(
                    self.path,
                    f"written by a newer fwcheck (schema {version}; this one knows up to "
                    f"{SCHEMA_VERSION}): upgrade fwcheck or use another --history file",
                )
            )
        for number in range(version + 1, SCHEMA_VERSION + 1):
            statements = [s for s in MIGRATIONS[number - 1].split(";") if s.strip()]
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number:d}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # --- reading -------------------------------------------------------------------------

    def runs(self, scope: str | None = None, limit: int | None = None) -> list[RunSummary]:
        """Runs, newest first."""
        query = f"SELECT {_RUN_COLUMNS} FROM runs"
        args: list[object] = []
        if scope is not None:
            query += " WHERE scope = ?"
            args.append(scope)
        query += " ORDER BY id DESC"
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        return [RunSummary(*row) for row in self._db.execute(query, args)]

    def latest_run(self, scope: str) -> RunSummary | None:
        found = self.runs(scope, limit=1)
        return found[0] if found else None

    def run(self, run_id: int) -> RunSummary | None:
        row = self._db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        return RunSummary(*row) if row else None

    def results(self, run_id: int, drift: Sequence[str] | None = None) -> list[StoredResult]:
        query = "SELECT target, policy, rule, status, severity, drift, message FROM results WHERE run_id = ?"
        args: list[object] = [run_id]
        if drift:
            query += f" AND drift IN ({', '.join('?' for _ in drift)})"
            args.extend(drift)
        query += " ORDER BY target, policy, rule"
        return [StoredResult(*row) for row in self._db.execute(query, args)]

    def verdict_cache(self, today: str) -> VerdictCache:
        """The verdict cache kept in this database (`today`: ISO date, for expiry)."""
        return VerdictCache(self._db, today)

    # --- writing -------------------------------------------------------------------------

    def start_run(
        self, scope: str, *, started_at: str, tool_version: str, source: str, shard: str | None
    ) -> RunRecorder:
        return RunRecorder(self, scope, started_at, tool_version, source, shard)

    def prune(
        self, *, keep: int | None = None, before: str | None = None, scope: str | None = None
    ) -> int:
        """Delete runs beyond the newest `keep` per scope and/or started before `before`
        (ISO 8601); return how many runs went. One transaction."""
        doomed: set[int] = set()
        scopes = (
            [scope]
            if scope is not None
            else [r[0] for r in self._db.execute("SELECT DISTINCT scope FROM runs")]
        )
        for name in scopes:
            ids = [
                r[0]
                for r in self._db.execute(
                    "SELECT id FROM runs WHERE scope = ? ORDER BY id DESC", (name,)
                )
            ]
            if keep is not None:
                doomed.update(ids[keep:])
            if before is not None:
                doomed.update(
                    r[0]
                    for r in self._db.execute(
                        "SELECT id FROM runs WHERE scope = ? AND started_at < ?", (name, before)
                    )
                )
        if not doomed:
            return 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for table, column in (("results", "run_id"), ("run_targets", "run_id"), ("runs", "id")):
                self._db.executemany(
                    f"DELETE FROM {table} WHERE {column} = ?", [(i,) for i in sorted(doomed)]
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return len(doomed)

    def _execute(self, sql: str, args: Sequence[object] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, args)


class RunRecorder:
    """Records one run: results stream into a private staging database, drift is decided per
    target against the previous run of the same scope, and `commit()` moves the run into the
    history in one transaction. Until then the history is untouched."""

    def __init__(
        self,
        history: History,
        scope: str,
        started_at: str,
        tool_version: str,
        source: str,
        shard: str | None,
    ) -> None:
        self._history = history
        self.scope = scope
        self.started_at = started_at
        self.tool_version = tool_version
        self.source = source
        self.shard = shard
        self.previous = history.latest_run(scope)
        self._states: dict[ResultKey, DriftState] = {}
        self._absent: tuple[AbsentResult, ...] | None = None
        self._targets = 0
        history._execute("ATTACH DATABASE '' AS staging")
        history._execute(
            "CREATE TABLE staging.results (target TEXT, policy TEXT, rule TEXT, status TEXT,"
            " severity TEXT, drift TEXT, message TEXT, PRIMARY KEY (target, policy, rule))"
        )
        history._execute(
            "CREATE TABLE staging.targets (target TEXT PRIMARY KEY, platform TEXT, error TEXT)"
        )

    def _previous_open(self, target: str) -> tuple[dict[tuple[str, str], str], bool]:
        if self.previous is None:
            return {}, False
        rows = self._history._execute(
            "SELECT policy, rule, status FROM results"
            " WHERE run_id = ? AND target = ? AND drift != 'absent' AND status != 'pass'",
            (self.previous.id, target),
        )
        previous = {(policy, rule): status for policy, rule, status in rows}
        seen = (
            self._history._execute(
                "SELECT 1 FROM run_targets WHERE run_id = ? AND target = ?",
                (self.previous.id, target),
            ).fetchone()
            is not None
        )
        return previous, seen

    def add(
        self, target: str, platform: str | None, error: str | None, findings: Sequence[Finding]
    ) -> None:
        """Record one target's findings (all of them; passes are only counted)."""
        previous, seen = self._previous_open(target)
        rows = []
        for finding in findings:
            stored_as = (storable(finding.policy), storable(finding.rule))
            state = classify(finding.status, previous.get(stored_as), seen)
            self._states[key_of(finding)] = state
            if is_open(finding.status) or state is DriftState.FIXED:
                rows.append(
                    (
                        finding.target,
                        finding.policy,
                        finding.rule,
                        finding.status.value,
                        finding.severity.value,
                        state.value,
                        finding.message,
                    )
                )
        self._history._execute(
            "INSERT OR REPLACE INTO staging.targets VALUES (?, ?, ?)", (target, platform, error)
        )
        self._history._db.executemany(
            "INSERT OR REPLACE INTO staging.results VALUES (?, ?, ?, ?, ?, ?, ?)", rows
        )
        self._targets += 1

    def baseline(self) -> Baseline:
        """The drift of everything added so far, and the previous run's open results now gone."""
        if self._absent is None:
            if self.previous is None:
                self._absent = ()
            else:
                rows = self._history._execute(
                    "SELECT p.target, p.policy, p.rule, p.status, p.severity, p.message"
                    " FROM results AS p WHERE p.run_id = ? AND p.drift != 'absent'"
                    " AND p.status != 'pass' AND NOT EXISTS (SELECT 1 FROM staging.results AS c"
                    " WHERE c.target = p.target AND c.policy = p.policy AND c.rule = p.rule)"
                    " ORDER BY p.target, p.policy, p.rule",
                    (self.previous.id,),
                )
                # Staging holds every open and every fixed result of this run, so a previous
                # open result missing from it is in this run no more.
                self._absent = tuple(AbsentResult(*row) for row in rows)
        return Baseline(
            scope=self.scope,
            previous_run=self.previous.id if self.previous else None,
            previous_started_at=self.previous.started_at if self.previous else None,
            states=MappingProxyType(self._states),
            absent=self._absent,
        )

    def commit(
        self, counts: Tally, drift: DriftCounts, *, finished_at: str, duration_s: float
    ) -> int:
        """Move the run into the history in one transaction; return its id."""
        baseline = self.baseline()
        db = self._history._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise HistoryError(
                _problem(self._history.path, f"cannot record the run: {exc}")
            ) from None
        try:
            cursor = db.execute(
                "INSERT INTO runs (scope, started_at, finished_at, tool_version, source, shard,"
                " targets, passed, failed, indeterminate, errors, waived, new, fixed, absent,"
                " unchanged, duration_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.scope,
                    self.started_at,
                    finished_at,
                    self.tool_version,
                    self.source,
                    self.shard,
                    self._targets,
                    counts.passed,
                    counts.failed,
                    counts.indeterminate,
                    counts.errors,
                    counts.waived,
                    drift.new,
                    drift.fixed,
                    drift.absent,
                    drift.unchanged,
                    round(duration_s, 3),
                ),
            )
            run_id = int(cursor.lastrowid or 0)
            db.execute(
                "INSERT INTO main.run_targets SELECT ?, target, platform, error FROM staging.targets",
                (run_id,),
            )
            db.execute(
                "INSERT INTO main.results SELECT ?, target, policy, rule, status, severity, drift,"
                " message FROM staging.results",
                (run_id,),
            )
            db.executemany(
                "INSERT INTO main.results VALUES (?, ?, ?, ?, ?, ?, 'absent', ?)",
                [
                    (run_id, a.target, a.policy, a.rule, a.status, a.severity, a.message)
                    for a in baseline.absent
                ],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.discard()
        return run_id

    def discard(self) -> None:
        """Drop the staging database (the history is untouched if nothing was committed)."""
        try:
            self._history._execute("DETACH DATABASE staging")
        except sqlite3.OperationalError:
            pass
