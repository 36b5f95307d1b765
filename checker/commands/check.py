"""`fwcheck check`: check firewall exports against the policies of their targets' roles."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from checker import __version__, parsers
from checker.commands.outputs import NO_OUTPUTS, Outputs
from checker.errors import ParseError, Problem, UsageError, format_problem
from checker.findings import Finding, Severity, Status
from checker.fleet.publish import print_console, write_reports
from checker.pipeline import Source, evaluate_target, read_source
from checker.policies.controls import no_control_matches, select
from checker.policies.loader import load_policy_set, policy_search_paths
from checker.policies.model import Requirement
from checker.reports import RunReport, TargetInfo
from checker.reports.data import effective_findings
from checker.targets import (
    CONFIG_NAME,
    TargetSpec,
    find_target_config,
    load_target_config,
    select_targets,
)
from checker.waivers import apply_waivers, load_waivers


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


def exit_code(findings: Sequence[Finding], fail_on: str) -> int:
    from checker.cli import ExitCode

    if any(f.status is Status.ERROR for f in findings):
        return ExitCode.TARGET_ERROR
    threshold = Severity(fail_on).rank
    if any(
        f.status in (Status.FAIL, Status.INDETERMINATE) and f.severity.rank >= threshold
        for f in findings
    ):
        return ExitCode.VIOLATIONS
    return ExitCode.OK


def check_targets(
    planned: Sequence[tuple[TargetSpec, tuple[Requirement, ...]]],
    max_input_bytes: int | None = None,
    nft_include: tuple[str, ...] = (),
    budget: int | None = None,
) -> tuple[list[TargetInfo], list[Finding], list[Requirement]]:
    """Read and check each target against its resolved requirements (`budget`: the work
    budget of each target, engine/budget.py)."""
    infos: list[TargetInfo] = []
    findings: list[Finding] = []
    seen: dict[str, Requirement] = {}
    for target, requirements in planned:
        for requirement in requirements:
            seen.setdefault(requirement.key, requirement)
        sources, problems = read_sources(target.files, dict(target.digests), max_input_bytes)
        if problems:
            target_findings, platform = [], None
        else:
            target_findings, platform, problems = evaluate_target(
                target.name,
                sources,
                requirements,
                format_name=target.format_name,
                max_input_bytes=max_input_bytes,
                folder_options=dict(target.folder_options),
                include_dirs=nft_include,
                budget=budget,
            )
        error = "; ".join(format_problem(p) for p in problems) or None
        infos.append(TargetInfo(target.name, target.files, target.roles, platform, error))
        findings.extend(target_findings)
    return infos, findings, list(seen.values())


def run(
    *,
    files: Sequence[str],
    policy_paths: Sequence[str] | None,
    roles: Sequence[str],
    params: Mapping[str, str],
    format_name: str | None = None,
    config_path: str | None = None,
    target_name: str | None = None,
    outputs: Outputs = NO_OUTPUTS,
    today: date | None = None,
    builtin_policies: bool = True,
    max_input_bytes: int | None = None,
    firewalld_defaults: str | None = None,
    ufw_defaults: str | None = None,
    nft_include: tuple[str, ...] = (),
    controls: Sequence[str] = (),
    budget: int | None = None,
) -> int:
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    notes: list[str] = []
    # Options of folder parsers, given on the command line (fwcheck.yaml targets have their own).
    folder_options = {
        key: value
        for key, value in (("ufw_defaults", ufw_defaults), ("firewalld_defaults", firewalld_defaults))
        if value
    }
    targets, unmatched, config_policies = _targets(
        files, roles, params, format_name, config_path, target_name, notes, folder_options
    )
    chosen = policy_paths or config_policies
    policy_set = load_policy_set(policy_search_paths(chosen, builtin=builtin_policies))

    # Resolve every target's policies and the waivers before reading anything: those errors are
    # the user's to fix first (exit 2), not per-target findings.
    known_roles = set(policy_set.roles())
    for target in targets:
        unknown = [role for role in target.roles if role not in known_roles]
        if unknown:
            raise UsageError(
                Problem(
                    f"target {target.name}",
                    0,
                    0,
                    "unknown-role",
                    f"no policy has the role {unknown[0]!r} (known roles: {', '.join(sorted(known_roles))})",
                )
            )
    planned = [
        (target, select(policy_set.requirements_for(target.roles, dict(target.params)), controls))
        for target in targets
    ]
    if controls and targets and not any(requirements for _, requirements in planned):
        raise no_control_matches(controls)
    waivers = load_waivers(outputs.waivers_path) if outputs.waivers_path else None
    infos, findings, requirements = check_targets(
        planned, max_input_bytes, nft_include, budget
    )
    for file in unmatched:
        infos.append(
            TargetInfo(
                file,
                (file,),
                (),
                None,
                "this file belongs to no target of the target config (fwcheck.yaml)",
            )
        )
    if waivers is not None:
        findings, extra = apply_waivers(findings, waivers, today or date.today())
        findings = list(findings) + list(extra)
    report = RunReport(
        __version__, started, tuple(infos), tuple(findings), tuple(requirements), tuple(notes)
    )
    options = outputs.report_options()
    paths = outputs.report_paths()
    write_reports(report, paths, options, baseline=None)
    print_console(report, paths, options, quiet=outputs.quiet, color=outputs.color)
    return exit_code(effective_findings(report), outputs.fail_on)


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


def _targets(
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
