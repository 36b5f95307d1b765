"""The history database's schema, as numbered migrations (SQLite `PRAGMA user_version`).

Migration N moves a database at version N-1 to version N; each runs in its own transaction
together with the `user_version` bump, so a crash mid-migration leaves the previous version
whole (SQLite commits are atomic: https://www.sqlite.org/atomiccommit.html). Never edit a
shipped migration: add the next one.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: runs, the targets each run saw, and each run's open (non-pass) and fixed results.
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        tool_version TEXT NOT NULL,
        source TEXT NOT NULL,
        shard TEXT,
        targets INTEGER NOT NULL,
        passed INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        indeterminate INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        waived INTEGER NOT NULL,
        new INTEGER NOT NULL,
        fixed INTEGER NOT NULL,
        absent INTEGER NOT NULL,
        unchanged INTEGER NOT NULL
    );
    CREATE INDEX runs_by_scope ON runs (scope, id);
    CREATE TABLE run_targets (
        run_id INTEGER NOT NULL REFERENCES runs (id),
        target TEXT NOT NULL,
        platform TEXT,
        error TEXT,
        PRIMARY KEY (run_id, target)
    );
    CREATE TABLE results (
        run_id INTEGER NOT NULL REFERENCES runs (id),
        target TEXT NOT NULL,
        policy TEXT NOT NULL,
        rule TEXT NOT NULL,
        status TEXT NOT NULL,
        severity TEXT NOT NULL,
        drift TEXT NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (run_id, target, policy, rule)
    );
    """,
    # 2: how long each run took (the trend a nightly job watches), and drift lookups by state.
    """
    ALTER TABLE runs ADD COLUMN duration_s REAL;
    CREATE INDEX results_by_drift ON results (run_id, drift);
    """,
    # 3: the verdict cache (checker.fleet.verdict_cache): a target's findings by the hash of
    # everything they depend on, and the last day a scan used them (old entries are dropped).
    """
    CREATE TABLE verdict_cache (
        key TEXT PRIMARY KEY,
        entry TEXT NOT NULL,
        used_on TEXT NOT NULL
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
