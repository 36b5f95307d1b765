"""Reading a target's files: bytes bounded by --max-input-mib, checked against an evidence manifest."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from checker import parsers
from checker.errors import ParseError, Problem
from checker.pipeline import Source, read_source


def read_sources(
    files: Sequence[str],
    digests: Mapping[str, str] | None = None,
    max_bytes: int | None = None,
) -> tuple[list[Source], list[Problem]]:
    """The files' bytes, each read no further than `max_bytes`; with `digests` (an evidence
    manifest's), a file whose SHA-256 differs from the recorded one is a problem: the evidence
    changed since it was collected."""
    sources: list[Source] = []
    problems: list[Problem] = []
    for file in files:
        try:
            if Path(file).is_dir() and parsers.claims_folder(file):
                # A configuration tree (etc/ufw, etc/firewalld) is read by its folder parser: no bytes.
                sources.append((file, b""))
                continue
            data = read_source(file, max_bytes)
            expected = (digests or {}).get(file)
            if expected is not None and hashlib.sha256(data).hexdigest() != expected:
                problems.append(
                    Problem(
                        file,
                        0,
                        0,
                        "evidence",
                        "does not match the SHA-256 its manifest.json records: the evidence "
                        "changed after it was collected",
                    )
                )
                continue
            sources.append((file, data))
        except IsADirectoryError:
            problems.append(
                Problem(
                    file,
                    0,
                    0,
                    "unreadable",
                    "is a folder: give the export files in it, a configuration tree (etc/ufw, etc/firewalld), "
                    "or an evidence run folder "
                    "(DIR/<host>/<run>/ with manifest.json, from scan --evidence or collect)",
                )
            )
        except OSError as exc:
            problems.append(
                Problem(file, 0, 0, "unreadable", f"cannot read: {exc.strerror or exc}")
            )
        except ParseError as exc:
            problems.extend(exc.problems)
    return sources, problems
