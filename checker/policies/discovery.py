"""Which files a list of paths names: files as given, folders searched recursively for YAML."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from checker.errors import Problem

YAML_SUFFIXES = frozenset({".yaml", ".yml"})


def _hidden(path: Path, root: Path) -> bool:
    # .git, .venv and editor backups are never policies.
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def yaml_files(paths: Sequence[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Files to read (each once, folders in sorted order) and a problem per unusable path."""
    files: list[Path] = []
    problems: list[Problem] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(
                candidate
                for candidate in path.rglob("*")
                if candidate.suffix.lower() in YAML_SUFFIXES
                and candidate.is_file()
                and not _hidden(candidate, path)
            )
            if not found:
                problems.append(
                    Problem(str(path), 0, 0, "no-files", "no *.yaml or *.yml files in this folder")
                )
        elif path.is_file():
            found = [path]
        else:
            problems.append(Problem(str(path), 0, 0, "not-found", "no such file or folder"))
            continue
        for candidate in found:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                files.append(candidate)
    return files, problems
