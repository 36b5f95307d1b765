"""The evidence folder: per host and run, every raw output and a manifest, written atomically.

Layout: `DIR/<host>/<run_id>/` holding each output under `sources.file_name(name)`, its stderr
as `<name>.stderr` when there was any, the nft JSON without iptables-nft's tables as
`nft-json.native.json` when that applies (derived, see checker.collectors.sources), and
`manifest.json`: fwcheck version, run id, host, transport, address, times, the error if any,
per output its command, exit code, start time, duration, size and SHA-256, and the commands
the collection script did not run with the reason (`not_run`). `check_sources`
lists the files `fwcheck check` reads to give the scan's verdicts offline.

Atomic: the run folder is written under a hidden temporary name, every file fsync'd, then
renamed into place in one step (rename(2) is atomic within a file system), so a crash mid-scan
leaves earlier hosts' evidence whole and never a half-written run folder under its real name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from checker import __version__
from checker.collectors.result import CollectResult
from checker.collectors.sources import file_name, sources_for
from checker.errors import CollectError, Problem

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def new_run_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def safe_name(name: str) -> str:
    """A host or run name as one safe path component (no separators, no leading dot)."""
    cleaned = _UNSAFE.sub("_", name).lstrip(".") or "_"
    return cleaned[:200]


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(
    result: CollectResult, run_id: str, files: dict[str, bytes], check_sources: list[str]
) -> dict[str, Any]:
    outputs = []
    for output in result.outputs:
        entry: dict[str, Any] = {
            "name": output.name,
            "file": file_name(output.name),
            "command": output.command,
            "exit_code": output.exit_code,
            "started_at": output.started_at,
            "duration_s": output.duration_s,
            "bytes": len(output.data),
            "sha256": _sha256(output.data),
        }
        if output.stderr:
            entry["stderr_file"] = f"{output.name}.stderr"
            entry["stderr_sha256"] = _sha256(output.stderr)
        outputs.append(entry)
    return {
        "manifest_version": MANIFEST_VERSION,
        "fwcheck_version": __version__,
        "run_id": run_id,
        "host": result.host,
        "transport": result.transport,
        "address": result.address,
        "started_at": result.started_at,
        "duration_s": result.duration_s,
        "error": None
        if result.error is None
        else {"code": result.error.code, "message": result.error.message},
        "notes": list(result.notes),
        "outputs": outputs,
        # The script's sections not run on this host, and why (what was not collected).
        "not_run": [
            {"name": n.name, "command": n.command, "reason": n.reason} for n in result.not_run
        ],
        "check_sources": check_sources,
        "files": {name: _sha256(data) for name, data in sorted(files.items())},
    }


def write_evidence(directory: str | Path, result: CollectResult, run_id: str) -> Path:
    """Write one host's evidence for one run; return its folder. Raises CollectError on I/O."""
    host_dir = Path(directory) / safe_name(result.host)
    final = host_dir / safe_name(run_id)
    temporary = host_dir / f".{safe_name(run_id)}.partial-{secrets.token_hex(4)}"
    files: dict[str, bytes] = {}
    for output in result.outputs:
        files[file_name(output.name)] = output.data
        if output.stderr:
            files[f"{output.name}.stderr"] = output.stderr
    check_sources: list[str] = []
    for origin, data in sources_for(result, final):
        name = Path(origin).name
        files.setdefault(name, data)
        check_sources.append(name)
    document = manifest(result, run_id, files, check_sources)
    try:
        host_dir.mkdir(parents=True, exist_ok=True)
        if final.exists():
            raise CollectError(
                Problem(str(final), 0, 0, "evidence", "this run's evidence folder already exists")
            )
        temporary.mkdir()
        for name, data in files.items():
            _write(temporary / name, data)
        _write(
            temporary / MANIFEST, json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"
        )
        _fsync_dir(temporary)
        os.rename(temporary, final)
        _fsync_dir(host_dir)
    except OSError as exc:
        shutil.rmtree(temporary, ignore_errors=True)
        raise CollectError(
            Problem(str(final), 0, 0, "evidence", f"cannot write evidence: {exc.strerror or exc}")
        ) from None
    return final


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / MANIFEST).read_text(encoding="utf-8"))


def evidence_sources(run_dir: str | Path) -> list[tuple[str, bytes]]:
    """The sources of a written run, as `fwcheck check` on the evidence folder should read them."""
    run_dir = Path(run_dir)
    document = read_manifest(run_dir)
    return [
        (str(run_dir / name), (run_dir / name).read_bytes()) for name in document["check_sources"]
    ]
