"""Atomic report writes: a crash never leaves a half-written report.

The report is written to a temporary file in the same folder (so `os.replace` is a rename within
one file system, which POSIX makes atomic: rename(2)), flushed and fsynced, then renamed over the
old report. Until the rename, readers see the previous report whole; after it, the new one whole.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from checker.errors import Problem, UsageError

# mkstemp creates 0600; a report is meant to be read by CI tooling and colleagues.
_DEFAULT_MODE = 0o644


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Yield a binary file; on a clean exit it replaces `path`, on any error it is removed.

    The folder is created when missing (CI jobs write to reports/…). A file-system failure
    (no such folder and no right to create it, a full disk, EFBIG) is a UsageError naming the
    report, not an internal error: the user can fix it, and the previous report is untouched.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        with _replacing(path, folder) as handle:
            yield handle
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(
            Problem(str(path), 0, 0, "report", f"cannot write the report: {reason}")
        ) from exc


@contextlib.contextmanager
def _replacing(path: Path, folder: Path) -> Iterator[BinaryIO]:
    folder.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = _DEFAULT_MODE
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    # The rename itself is durable only once the directory entry is on disk (fsync(2) NOTES).
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def write_all(items: Sequence[tuple[Path, bytes]]) -> None:
    """Publish several reports as one set: every temporary file is written and fsynced first,
    then all are renamed. A failure (or a kill) while writing leaves every previous report in
    place, never new JSON beside old SARIF; only the renames, microseconds apart, remain."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in items:
            path = Path(path)
            folder = path.parent if str(path.parent) else Path(".")
            try:
                staged.append((_stage(path, folder, data), path))
            except OSError as exc:
                raise UsageError(
                    Problem(
                        str(path), 0, 0, "report", f"cannot write the report: {exc.strerror or exc}"
                    )
                ) from exc
        for temp_name, path in staged:
            os.replace(temp_name, path)
    except BaseException:
        for temp_name, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
        raise
    for folder in dict.fromkeys(p.parent if str(p.parent) else Path(".") for _, p in staged):
        _fsync_dir(folder)


def _stage(path: Path, folder: Path, data: bytes) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = _DEFAULT_MODE
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    return temp_name


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_writer(path) as handle:
        handle.write(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))
