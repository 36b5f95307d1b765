"""`fwcheck validate [PATH...]`: check policy files (and, as kinds are added, target configs,
waiver files and inventories) without checking any firewall.

Files are read once, sorted into kinds by `KINDS` (first match wins; policy is the default), and
each kind validates all its files together, because policy problems are set problems too
(duplicate ids across files, includes, cycles). Adding a kind is one `FileKind` entry:

    FileKind("target-config", lambda path, doc: path.name == "fwcheck.yaml", targets_problems)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from checker.errors import PolicyError, Problem, format_problem
from checker.policies.discovery import yaml_files
from checker.policies.loader import load_policy_docs, read_doc
from checker.yamlfile import YamlDoc

DEFAULT_PATHS = ("policies",)


@dataclass(frozen=True, slots=True)
class FileKind:
    name: str
    # Does this parsed file belong to this kind? Sees the path and the parsed document.
    matches: Callable[[Path, YamlDoc], bool]
    # Every problem of all files of this kind, validated together.
    validate: Callable[[Sequence[YamlDoc]], Sequence[Problem]]


def policy_problems(docs: Sequence[YamlDoc]) -> list[Problem]:
    try:
        load_policy_docs(docs)
    except PolicyError as exc:
        return list(exc.problems)
    return []


POLICY = FileKind("policy", lambda path, doc: True, policy_problems)
# Order matters: the first kind whose predicate matches takes the file; policy comes last.
KINDS: tuple[FileKind, ...] = (POLICY,)


def kind_of(path: Path, doc: YamlDoc, kinds: Sequence[FileKind] = KINDS) -> FileKind:
    for kind in kinds:
        if kind.matches(path, doc):
            return kind
    return POLICY


def validate_paths(
    paths: Sequence[str], kinds: Sequence[FileKind] = KINDS
) -> tuple[dict[str, int], list[Problem]]:
    """How many files of each kind were read, and every problem found, in file order."""
    files, problems = yaml_files(paths)
    by_kind: dict[str, list[YamlDoc]] = {}
    known = {kind.name: kind for kind in (*kinds, POLICY)}
    for path in files:
        try:
            doc = read_doc(path)
        except PolicyError as exc:
            problems.extend(exc.problems)
            continue
        by_kind.setdefault(kind_of(path, doc, kinds).name, []).append(doc)
    for name, docs in by_kind.items():
        problems.extend(known[name].validate(docs))
    problems.sort(key=lambda p: (p.file, p.line, p.col))
    counts = {name: len(docs) for name, docs in by_kind.items()}
    return counts, problems


def run(*, paths: Sequence[str]) -> int:
    counts, problems = validate_paths(list(paths) or list(DEFAULT_PATHS))
    for problem in problems:
        print(format_problem(problem), file=sys.stderr)
    if problems:
        return 2
    summary = ", ".join(
        f"{count} {name} file{'s' * (count != 1)}" for name, count in counts.items()
    )
    print(f"fwcheck validate: {summary}: valid")
    return 0
