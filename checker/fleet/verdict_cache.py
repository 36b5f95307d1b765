"""The verdict cache: a host whose firewall did not change since the last scan costs a hash.

A target's findings are a pure function of its sources (their bytes, and the names they are
cited by), the resolved requirements (policy params are resolved into them), the work budget
and fwcheck's version. `key()` hashes exactly those; an entry stores the findings as JSON in
the history database (table `verdict_cache`, migration 3) and is reused when a later scan asks
the same question. Any change to a source byte, a requirement field (a policy edit or another
param value), the budget or the version gives another key: a miss, never a stale answer.

The cited names are part of the key only by their last path component: with `--evidence` each
run writes its sources under a new run folder, and a hit rewrites the old run's paths in the
findings (evidence, messages, counterexamples) to the new ones, so reports cite files that
exist. Results cut short by a time deadline are not stored (they depend on the clock).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import PurePath
from typing import Any

from checker.findings import Evidence, Finding, Flow, Outcome, ParamValue, Reason, Severity, Status
from checker.policies.model import Requirement

Source = tuple[str, bytes]
# Entries not used by any scan for this many days are dropped when a scan stores new ones.
KEEP_DAYS = 30


def _plain(value: Any) -> Any:
    """A JSON value that does not depend on hash order (frozensets of strings are unordered)."""
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, frozenset | set):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _cited(origin: str) -> str:
    return PurePath(origin).name or origin


def key(
    sources: Sequence[Source],
    requirements: Sequence[Requirement],
    *,
    version: str,
    budget: int | None,
    format_name: str | None = None,
) -> str:
    digest = hashlib.sha256()

    def part(text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)

    part(f"fwcheck {version}")
    part(f"budget {budget}")
    part(f"format {format_name}")
    for origin, data in sources:
        part(_cited(origin))
        part(hashlib.sha256(data).digest())
    part(json.dumps([_plain(r) for r in requirements], sort_keys=True))
    return digest.hexdigest()


def encode(origins: Sequence[str], platform: str | None, findings: Sequence[Finding]) -> str:
    rows = [_plain(f) for f in findings]
    return json.dumps({"origins": list(origins), "platform": platform, "findings": rows})


def decode(
    text: str, target: str, origins: Sequence[str]
) -> tuple[list[Finding], str | None] | None:
    """The stored findings for `target`, their citations moved from the stored sources' names
    to `origins` (the same files, by position); None if the entry cannot be used."""
    try:
        entry = json.loads(text)
        old = entry["origins"]
        if len(old) != len(origins):
            return None
        moves = [(a, b) for a, b in zip(old, origins, strict=True) if a != b]
        moves.sort(key=lambda pair: -len(pair[0]))

        def move(value: str | None) -> str | None:
            if value is None:
                return None
            for a, b in moves:
                value = value.replace(a, b)
            return value

        findings = []
        for row in entry["findings"]:
            findings.append(
                Finding(
                    target=target,
                    policy=row["policy"],
                    rule=row["rule"],
                    status=Status(row["status"]),
                    severity=Severity(row["severity"]),
                    message=move(row["message"]) or "",
                    title=row["title"],
                    counterexample=move(row["counterexample"]),
                    evidence=tuple(
                        Evidence(
                            move(e["file"]) or "",
                            e["line"],
                            e["text"],
                            e.get("chain"),
                            e.get("table"),
                            e.get("store"),
                        )
                        for e in row["evidence"]
                    ),
                    policy_file=row["policy_file"],
                    policy_line=row["policy_line"],
                    details=tuple((k, move(v) or "") for k, v in row["details"]),
                    waiver_reason=row["waiver_reason"],
                    outcome=_outcome(row.get("outcome"), move),
                )
            )
        return findings, entry["platform"]
    except (ValueError, KeyError, TypeError):
        return None


def _outcome(value: Any, move: Callable[[str | None], str | None]) -> Outcome | None:
    """An outcome as `_plain` stored it; cited paths in its parameters moved like the rest."""
    if value is None:
        return None

    def param(item: Any) -> ParamValue:
        if isinstance(item, list):
            return tuple(move(str(v)) or "" for v in item)
        return move(item) if isinstance(item, str) else item

    reason = value["reason"]
    flow = value["flow"]
    return Outcome(
        Status(value["status"]),
        Reason(reason["code"], tuple((name, param(v)) for name, v in reason["params"])),
        None if flow is None else Flow(**flow),
    )


class VerdictCache:
    """Lookups and stores on the history database's `verdict_cache` table. Stores are kept
    until `flush()`, which writes them in one transaction at the end of the scan (one fsync,
    not one per host)."""

    def __init__(self, connection: sqlite3.Connection, today: str) -> None:
        self._db = connection
        self._today = today
        self._pending: dict[str, str] = {}
        self._used: set[str] = set()

    def get(self, cache_key: str) -> str | None:
        row = self._db.execute(
            "SELECT entry FROM verdict_cache WHERE key = ?", (cache_key,)
        ).fetchone()
        if row is None:
            return self._pending.get(cache_key)
        self._used.add(cache_key)
        return str(row[0])

    def put(self, cache_key: str, entry: str) -> None:
        self._pending[cache_key] = entry

    def flush(self) -> None:
        if not self._pending and not self._used:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO verdict_cache (key, entry, used_on) VALUES (?, ?, ?)",
                [(k, v, self._today) for k, v in self._pending.items()],
            )
            self._db.executemany(
                "UPDATE verdict_cache SET used_on = ? WHERE key = ?",
                [(self._today, k) for k in sorted(self._used)],
            )
            self._db.execute(
                "DELETE FROM verdict_cache WHERE used_on < date(?, ?)",
                (self._today, f"-{KEEP_DAYS} days"),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._pending.clear()
        self._used.clear()
