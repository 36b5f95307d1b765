"""The target config `fwcheck.yaml`: which files of a firewall-config repo form which target.

With no FILE arguments every target is checked; with FILE arguments (pre-commit passes the staged
files) only the targets those files belong to, each with all of its files (a target is judged on
everything that describes it), plus every target whose listed file is missing; a given YAML file
that no target lists (fwcheck.yaml, a policy, a waiver file) selects every target. A given file
that belongs to no target is reported, never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from checker.errors import PolicyError, Problem, UsageError
from checker.parsers import FOLDERS, tree_of
from checker.yamlfile import YamlDoc, read_yaml, schema_problems

SCHEMA = "target-config.schema.json"
# Given files with these suffixes that no target lists select every target (see select_targets).
CONFIG_SUFFIXES = frozenset({".yaml", ".yml"})


@dataclass(frozen=True, slots=True)
class TargetSpec:
    name: str
    files: tuple[str, ...]
    roles: tuple[str, ...]
    params: tuple[tuple[str, object], ...] = ()
    format_name: str | None = None
    # file -> SHA-256 its evidence manifest records (an evidence run folder): checked on read.
    digests: tuple[tuple[str, str], ...] = ()
    # Options of folder parsers (ufw_defaults: the default/ufw file of a ufw tree).
    folder_options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TargetEntry:
    name: str
    patterns: tuple[str, ...]
    roles: tuple[str, ...]
    params: tuple[tuple[str, object], ...]
    format_name: str | None
    folder_options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TargetConfig:
    file: str
    root: Path
    policies: tuple[str, ...]
    targets: tuple[TargetEntry, ...]


def config_problems(doc: YamlDoc) -> list[Problem]:
    problems = list(schema_problems(doc, SCHEMA))
    if problems or not isinstance(doc.data, dict):
        return problems
    seen: dict[str, int] = {}
    for index, target in enumerate(doc.data.get("targets", [])):
        name = target["name"]
        location = doc.location(("targets", index, "name"))
        if name in seen:
            problems.append(
                Problem.at(
                    location,
                    "duplicate-target",
                    f"target {name!r} is already defined at line {seen[name]}",
                )
            )
        seen.setdefault(name, location.line)
    return problems


CONFIG_NAME = "fwcheck.yaml"


def find_target_config(start: Path | None = None) -> Path | None:
    """The nearest fwcheck.yaml in the current folder or a parent, up to the repository root
    (the first folder holding .git), as ruff and pre-commit look up their configs."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate / CONFIG_NAME
        if (candidate / ".git").exists():
            return None
    return None


def load_target_config(path: str) -> TargetConfig:
    if Path(path).is_dir():
        raise UsageError(
            Problem(
                path,
                0,
                0,
                "no-config",
                "is a folder, not a target config: give the fwcheck.yaml file inside it",
            )
        )
    if not Path(path).is_file():
        raise UsageError(
            Problem(
                path,
                0,
                0,
                "no-config",
                "target config not found"
                + ("" if Path(path).name == CONFIG_NAME else f" (the usual name is {CONFIG_NAME})")
                + ": give FILEs with --role, or write a fwcheck.yaml",
            )
        )
    doc = read_yaml(path)
    problems = config_problems(doc)
    if problems:
        raise PolicyError(*problems)
    root = Path(path).resolve().parent
    targets = tuple(
        TargetEntry(
            name=t["name"],
            patterns=tuple(t["files"]),
            roles=tuple(t["roles"]),
            params=tuple((t.get("params") or {}).items()),
            format_name=t.get("format"),
            folder_options=(
                (("ufw_defaults", str(Path(path).resolve().parent / t["ufw_defaults"])),)
                if "ufw_defaults" in t
                else ()
            ),
        )
        for t in doc.data["targets"]
    )
    return TargetConfig(path, root, tuple(doc.data.get("policies", [])), targets)


def _expand(config: TargetConfig, entry: TargetEntry) -> list[Path]:
    found: dict[Path, None] = {}
    for pattern in entry.patterns:
        matches = [m for m in _glob(config.root, pattern) if m.is_file() or _tree_folder(m)]
        # A pattern that matches nothing stays in the list, so reading it fails loudly: a
        # target silently checked on half its files could pass on evidence it does not have.
        for match in matches or [config.root / pattern]:
            found[match.resolve()] = None
    return list(found)


def _glob(root: Path, pattern: str) -> list[Path]:
    given = Path(pattern)
    if given.is_absolute():
        # Path.glob takes relative patterns only: an absolute one is globbed from its anchor.
        return sorted(Path(given.anchor).glob(str(given.relative_to(given.anchor))))
    return sorted(root.glob(pattern))


def _tree_folder(path: Path) -> bool:
    return path.is_dir() and any(p.claims(path) for p in FOLDERS.values())


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass(frozen=True, slots=True)
class Selection:
    targets: list[TargetSpec]
    unmatched: list[str]


def select_targets(
    config: TargetConfig,
    files: Sequence[str],
    *,
    extra_roles: Sequence[str] = (),
    params: Mapping[str, str] = {},
    format_name: str | None = None,
    only: str | None = None,
    folder_options: Mapping[str, str] = {},
) -> Selection:
    """`only` (--target NAME) keeps that one target; a name the config lacks is a usage error."""
    known = [entry.name for entry in config.targets]
    if only is not None and only not in known:
        raise UsageError(
            Problem(
                config.file,
                0,
                0,
                "unknown-target",
                f"no target named {only!r} (targets: {', '.join(known) or 'none'})",
            )
        )
    wanted = {Path(f).resolve(): f for f in files}
    expanded = [(entry, _expand(config, entry)) for entry in config.targets]
    listed = {member for _, members in expanded for member in members}
    trees: dict[Path, list[Path]] = {}
    for path in wanted:
        tree = tree_of(path)
        if tree is not None:
            trees.setdefault(tree.resolve(), []).append(path)
    # A YAML file that is no target's export is the config side (fwcheck.yaml, a policy, a
    # waiver file): it changes what every target is checked against.
    config_side = {
        path for path in wanted if path.suffix.lower() in CONFIG_SUFFIXES and path not in listed
    }
    chosen: list[TargetSpec] = []
    matched: set[Path] = set(config_side)
    hit_trees: set[Path] = set()
    for entry, members in expanded:
        if only is not None and entry.name != only:
            continue
        # A member folder (a ufw or firewalld tree) is hit by a change to any file of that tree.
        hit = [m for m in members if m in wanted or m in trees]
        # A target's file may be a folder: a file under it selects it (even one no folder
        # parser's tree_of recognises, such as a new zone file).
        inside = [w for w in wanted for m in members if m.is_dir() and w.is_relative_to(m)]
        hit += [
            m
            for m in members
            if m.is_dir() and m not in hit and any(w.is_relative_to(m) for w in inside)
        ]
        matched.update(inside)
        # A target whose listed file is gone is always checked: reading it fails, naming the
        # file (a commit that deletes an export must not pass unchecked).
        gone = any(not m.exists() for m in members)
        if files and not hit and not config_side and not gone:
            continue
        matched.update(hit)
        hit_trees.update(m for m in hit if m in trees)
        merged = {k: str(v) if not isinstance(v, list) else v for k, v in entry.params}
        merged.update(params)
        chosen.append(
            TargetSpec(
                name=entry.name,
                files=tuple(_display(m) for m in members),
                roles=tuple(dict.fromkeys(entry.roles + tuple(extra_roles))),
                params=tuple(merged.items()),
                format_name=format_name or entry.format_name,
                folder_options=tuple({**dict(entry.folder_options), **folder_options}.items()),
            )
        )
    matched.update(path for tree in hit_trees for path in trees[tree])
    unmatched = [original for path, original in wanted.items() if path not in matched]
    return Selection(chosen, unmatched)
