"""Which targets a `check` or `explain` command line names: evidence run folders, FILEs with
--role (one ad-hoc target), or the targets of the nearest fwcheck.yaml."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from checker.errors import Problem, UsageError
from checker.targets import (
    CONFIG_NAME,
    TargetSpec,
    find_target_config,
    load_target_config,
    select_targets,
)


def _usage(message: str, code: str = "usage") -> UsageError:
    return UsageError(Problem("fwcheck check", 0, 0, code, message))


def _evidence_targets(
    files: Sequence[str],
    roles: Sequence[str],
    params: Mapping[str, str],
    format_name: str | None,
    target_name: str | None,
) -> list[TargetSpec] | None:
    """FILEs that are evidence run folders (`scan --evidence`, `collect`): one target per run,
    read from the sources its manifest.json names, as the scan checked them. None when no FILE
    is an evidence run folder."""
    if not any(Path(f).is_dir() for f in files):
        # Export files only (a pre-commit run): the collectors are not loaded.
        return None
    from checker.collectors.evidence import MANIFEST, read_manifest

    # A folder without a manifest stays an unreadable FILE of its target (exit 3, a message
    # saying it is a folder).
    folders = [f for f in files if (Path(f) / MANIFEST).is_file()]
    if not folders:
        return None
    if len(folders) != len(files):
        raise _usage("give either export files or evidence run folders, not both")
    if not roles:
        raise _usage("give the roles of the evidence's host with --role")
    if target_name and len(folders) > 1:
        raise _usage("--target names one target: give one evidence run folder with it")
    targets = []
    for folder in folders:
        try:
            document = read_manifest(folder)
            names = [str(n) for n in document["check_sources"]]
            host = str(document.get("host") or Path(folder).resolve().parent.name)
            recorded = {str(k): str(v) for k, v in (document.get("files") or {}).items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise _usage(f"{folder}: unreadable {MANIFEST}: {exc}") from None
        targets.append(
            TargetSpec(
                target_name or host,
                tuple(str(Path(folder) / name) for name in names),
                tuple(roles),
                tuple(params.items()),
                format_name,
                tuple(
                    (str(Path(folder) / name), recorded[name]) for name in names if name in recorded
                ),
            )
        )
    return targets


def targets_for(
    files: Sequence[str],
    roles: Sequence[str],
    params: Mapping[str, str],
    format_name: str | None,
    config_path: str | None,
    target_name: str | None,
    notes: list[str] | None = None,
    options: Mapping[str, str] = {},
) -> tuple[list[TargetSpec], list[str], list[Path]]:
    evidence = _evidence_targets(files, roles, params, format_name, target_name)
    if evidence is not None:
        return evidence, [], []
    # FILEs with --role are one ad-hoc target; FILEs without (as pre-commit passes them) are
    # looked up in the nearest fwcheck.yaml (this folder or a parent, up to the repository root).
    found = None if config_path else find_target_config()
    if files and not config_path and (roles or found is None):
        if not roles:
            raise _usage(
                "give the target's roles with --role (or use a fwcheck.yaml target config)"
            )
        # A file of a configuration tree (etc/ufw/user.rules, as pre-commit passes it) stands
        # for its tree: the tree is what the tool loads.
        files = list(dict.fromkeys(_tree_or_file(file) for file in files))
        name = target_name or (
            Path(files[0]).stem
            if len(files) == 1
            else Path(files[0]).parent.name or Path(files[0]).stem
        )
        return (
            [
                TargetSpec(
                    name,
                    tuple(files),
                    tuple(roles),
                    tuple(params.items()),
                    format_name,
                    folder_options=tuple(options.items()),
                )
            ],
            [],
            [],
        )
    path = config_path or (str(found) if found is not None else CONFIG_NAME)
    config = load_target_config(path)
    if notes is not None and found is not None:
        notes.append(f"target config: {_shown(found)}")
    selection = select_targets(
        config,
        files,
        extra_roles=roles,
        params=params,
        format_name=format_name,
        only=target_name,
        folder_options=options,
    )
    policies = [config.root / p for p in config.policies]
    return selection.targets, selection.unmatched, policies


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _tree_or_file(file: str) -> str:
    from checker.parsers import tree_of

    tree = tree_of(Path(file))
    return str(tree) if tree is not None else file
