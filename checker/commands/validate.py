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

from checker import resources
from checker.errors import ExitCode, PolicyError, Problem, format_problem
from checker.policies.discovery import YAML_SUFFIXES, yaml_files
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
    # Validated beside the shipped policies, as `check` reads them: a local policy may include
    # `baseline`, and may not reuse a shipped id. The shipped files come first, so a clash is
    # reported on the local file.
    given = {Path(doc.file).resolve() for doc in docs}
    shipped, _ = yaml_files([resources.shipped_policies_dir()])
    context = [read_doc(path) for path in shipped if path.resolve() not in given]
    try:
        load_policy_docs([*context, *docs])
    except PolicyError as exc:
        return list(exc.problems)
    return []


def _each(
    check: Callable[[YamlDoc], Sequence[Problem]],
) -> Callable[[Sequence[YamlDoc]], list[Problem]]:
    """A kind whose files are validated one by one."""

    def validate(docs: Sequence[YamlDoc]) -> list[Problem]:
        return [problem for doc in docs for problem in check(doc)]

    return validate


def _loader_problems(load: Callable[[str], object]) -> Callable[[YamlDoc], list[Problem]]:
    def check(doc: YamlDoc) -> list[Problem]:
        try:
            load(doc.file)
        except PolicyError as exc:
            return list(exc.problems)
        return []

    return check


def _target_config_problems(doc: YamlDoc) -> list[Problem]:
    from checker.targets import config_problems

    return config_problems(doc)


def _load_waivers(file: str) -> object:
    from checker.waivers import load_waivers

    return load_waivers(file)


def _load_inventory(file: str) -> object:
    from checker.inventory import load_inventory

    return load_inventory(file)


def _is_inventory(doc: YamlDoc) -> bool:
    from checker.inventory.fwcheck_yaml import looks_like

    return looks_like(doc.data) or (isinstance(doc.data, dict) and "all" in doc.data)


POLICY = FileKind("policy", lambda path, doc: True, policy_problems)
TARGET_CONFIG = FileKind(
    "target config",
    lambda path, doc: path.name in ("fwcheck.yaml", "fwcheck.yml"),
    _each(_target_config_problems),
)
WAIVERS = FileKind(
    "waiver",
    lambda path, doc: isinstance(doc.data, dict) and "waivers" in doc.data,
    _each(_loader_problems(_load_waivers)),
)
INVENTORY = FileKind(
    "inventory", lambda path, doc: _is_inventory(doc), _each(_loader_problems(_load_inventory))
)
# Order matters: the first kind whose predicate matches takes the file; policy comes last.
KINDS: tuple[FileKind, ...] = (TARGET_CONFIG, WAIVERS, INVENTORY, POLICY)


def kind_of(path: Path, doc: YamlDoc, kinds: Sequence[FileKind] = KINDS) -> FileKind:
    for kind in kinds:
        if kind.matches(path, doc):
            return kind
    return POLICY


def _ini_inventory(path: Path) -> YamlDoc | None:
    """A placeholder document for a file `scan --inventory` reads as an Ansible INI inventory
    (the loader's own rule: *.ini, or a file without a YAML/JSON suffix that is not a YAML
    mapping), else None."""
    suffix = path.suffix.lower()
    if suffix in (*YAML_SUFFIXES, ".json"):
        return None
    if suffix != ".ini":
        try:
            if isinstance(read_doc(path).data, dict):
                return None
        except PolicyError:
            pass
    return YamlDoc(str(path), None, {})


def validate_paths(
    paths: Sequence[str], kinds: Sequence[FileKind] = KINDS
) -> tuple[dict[str, int], list[Problem]]:
    """How many files of each kind were read, and every problem found, in file order."""
    files, problems = yaml_files(paths)
    by_kind: dict[str, list[YamlDoc]] = {}
    known = {kind.name: kind for kind in (*kinds, POLICY, INVENTORY)}
    for path in files:
        ini = _ini_inventory(path)
        if ini is not None:
            by_kind.setdefault(INVENTORY.name, []).append(ini)
            continue
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


# INI files found without being named: only these look like inventories (a tox.ini is not one).
_INI_INVENTORY_NAMES = ("hosts", "inventory")


def _found_here() -> list[str]:
    """Without ./policies (a firewall-config repo): the target configs, waiver files and
    inventories (YAML, and INI files named hosts*.ini or inventory*.ini) under the current
    folder, and the policy folders fwcheck.yaml names. Other YAML files (CI configs, compose
    files) are not fwcheck's and are left alone."""
    found: list[str] = []
    candidates = sorted(
        path
        for path in Path(".").rglob("*")
        if (
            path.suffix.lower() in YAML_SUFFIXES
            or (path.suffix.lower() == ".ini" and path.name.startswith(_INI_INVENTORY_NAMES))
        )
        and path.is_file()
        and not any(part.startswith(".") for part in path.parts)
    )
    for path in candidates:
        ini = _ini_inventory(path)
        if ini is not None:
            found.append(str(path))
            continue
        try:
            doc = read_doc(path)
        except PolicyError:
            continue
        kind = kind_of(path, doc)
        if kind is TARGET_CONFIG:
            found.append(str(path))
            policies = doc.data.get("policies") if isinstance(doc.data, dict) else None
            if isinstance(policies, list):
                found.extend(str(path.parent / str(folder)) for folder in policies)
        elif kind is not POLICY:
            found.append(str(path))
    return found


def run(*, paths: Sequence[str]) -> int:
    note = ""
    if not paths and not Path(DEFAULT_PATHS[0]).is_dir():
        paths = _found_here()
        if not paths:
            print(
                "fwcheck validate: no ./policies folder, and no fwcheck.yaml, waiver or inventory "
                "file here: nothing to validate"
            )
            return ExitCode.OK
        note = "no ./policies folder; validated the files found here: "
    counts, problems = validate_paths(list(paths) or list(DEFAULT_PATHS))
    for problem in problems:
        print(format_problem(problem), file=sys.stderr)
    if problems:
        return ExitCode.USAGE
    summary = ", ".join(
        f"{count} {name} file{'s' * (count != 1)}" for name, count in counts.items()
    )
    print(f"fwcheck validate: {note}{summary}: valid")
    return ExitCode.OK
