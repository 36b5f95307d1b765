"""Join the JSON reports of scan shards into one `RunReport`.

Each shard's report is validated against its version's schema (schemas/report.schema.json for
version 2, report-v1.schema.json for version 1) and read back into targets, findings and
requirements. Version 2 reports carry the requirements and outcomes as fields
(checker.reports.json_fields): nothing is parsed from text, and a field that does not read back
is a usage error naming the file. Version 1 reports only describe requirements in sentences,
read back by checker.fleet.requirement_text (exact or not at all). The shards must not overlap: a host in two reports is a usage error, since one
of its verdicts would silently win. Findings about no host (a waiver file's expired waivers,
reported by every shard alike) are kept once. The shard notes say which shards of which
inventory each report holds, so a merge that misses a shard says so (and is not recorded in the
history: the missing shard's hosts would look "absent").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from checker import resources
from checker.errors import Problem, UsageError
from checker.findings import Finding, Severity, Status
from checker.fleet import requirement_text
from checker.fleet.scope import parse_shard_note
from checker.policies.model import Requirement
from checker.reports import RunReport, TargetInfo, json_fields

# Report versions merge reads, and the schema each is validated against.
SCHEMAS = {1: "report-v1.schema.json", 2: "report.schema.json"}
# The most of a schema error's message a usage error repeats (it quotes the offending value).
_MAX_DETAIL = 300


@dataclass(frozen=True, slots=True)
class ShardSet:
    """What the shard notes of the merged reports say."""

    scope: str | None
    count: int | None
    present: tuple[int, ...]
    inconsistent: bool = False

    @property
    def missing(self) -> tuple[int, ...]:
        if self.count is None:
            return ()
        return tuple(k for k in range(1, self.count + 1) if k not in self.present)

    @property
    def complete(self) -> bool:
        return not self.inconsistent and not self.missing


@dataclass(frozen=True, slots=True)
class Merged:
    report: RunReport
    shards: ShardSet


def _usage(file: str, message: str) -> UsageError:
    return UsageError(Problem(file, 0, 0, "merge", message))


def load_report(path: str | Path) -> dict[str, Any]:
    where = str(path)
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise _usage(where, f"cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _usage(where, f"not a JSON report: {exc}") from None
    version = document.get("version") if isinstance(document, dict) else None
    # `type(...) is int`: a dict or list version (unhashable) and True (== 1) are no versions.
    if type(version) is not int or version not in SCHEMAS:
        if isinstance(version, int) and not isinstance(version, bool):
            raise _usage(
                where,
                f"JSON report version {version} is not one this fwcheck reads "
                f"(versions {', '.join(map(str, SCHEMAS))})",
            )
        raise _usage(where, "not an fwcheck JSON report (no report version 1 or 2)")
    schema_file = resources.schema_path(SCHEMAS[version])
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(document)
    )
    if error is not None:
        pointer = "/".join(str(p) for p in error.absolute_path)
        detail = " ".join(error.message.split())
        if len(detail) > _MAX_DETAIL:
            detail = detail[:_MAX_DETAIL] + "…"
        raise _usage(where, f"not an fwcheck JSON report (at /{pointer}: {detail})")
    return document


def _finding(result: dict[str, Any], version: int) -> Finding:
    evidence_items = result["evidence"]
    return Finding(
        target=result["target"],
        policy=result["policy"],
        rule=result["rule"],
        status=Status(result["status"]),
        severity=Severity(result["severity"]),
        message=result["message"],
        title=result.get("title", ""),
        counterexample=result["counterexample"],
        evidence=tuple(json_fields.evidence_from_json(e) for e in evidence_items),
        policy_file=result.get("policy_file"),
        policy_line=result.get("policy_line", 0),
        details=tuple((d["name"], d["value"]) for d in result.get("details", ())),
        waiver_reason=result.get("waiver_reason"),
        controls=tuple(result.get("controls", ())),
        outcome=json_fields.outcome_from_json(result["outcome"]) if version >= 2 else None,
    )


def _read(where: str, what: str, read: Any, *args: Any) -> Any:
    """`read(*args)`, a malformed field becoming a usage error that names the file."""
    try:
        return read(*args)
    except (KeyError, ValueError, TypeError) as exc:
        detail = " ".join(str(exc).split())[:_MAX_DETAIL]
        raise _usage(where, f"{what} does not read back: {type(exc).__name__}: {detail}") from None


def _shard_set(notes: Sequence[str]) -> tuple[ShardSet, list[str]]:
    scopes: set[str] = set()
    counts: set[int] = set()
    present: list[int] = []
    other: list[str] = []
    for note in notes:
        parsed = parse_shard_note(note)
        if parsed is None:
            other.append(note)
            continue
        shard, scope, _selected, _total = parsed
        scopes.add(scope)
        counts.add(shard.count)
        present.append(shard.index)
    if not present:
        return ShardSet(None, None, ()), other
    inconsistent = len(scopes) > 1 or len(counts) > 1 or len(set(present)) != len(present)
    return (
        ShardSet(
            scope=next(iter(scopes)) if len(scopes) == 1 else None,
            count=next(iter(counts)) if len(counts) == 1 else None,
            present=tuple(sorted(set(present))),
            inconsistent=inconsistent,
        ),
        other,
    )


def merge_reports(paths: Sequence[str | Path]) -> Merged:
    targets: list[TargetInfo] = []
    owner: dict[str, str] = {}
    findings: list[Finding] = []
    hostless: set[tuple[str, str, str, str]] = set()
    requirements: dict[str, Requirement] = {}
    unreadable_rules: set[str] = set()
    notes: list[str] = []
    started: list[str] = []
    version = ""
    for path in paths:
        document = load_report(path)
        where = str(path)
        report_version = document["version"]
        version = version or document["tool"]["version"]
        started.append(document["started_at"])
        names = set()
        for target in document["targets"]:
            name = target["name"]
            if name in owner:
                raise _usage(
                    str(path),
                    f"target {name!r} is also in {owner[name]}: the shards overlap "
                    "(were they scanned with the same --shard N and inventory?)",
                )
            owner[name] = str(path)
            names.add(name)
            targets.append(
                TargetInfo(
                    name,
                    tuple(target["files"]),
                    tuple(target["roles"]),
                    target["platform"],
                    target["error"],
                )
            )
        for index, result in enumerate(document["results"]):
            finding = _read(where, f"result {index}", _finding, result, report_version)
            if finding.target not in names:
                key = (finding.target, finding.policy, finding.rule, finding.message)
                if key in hostless:
                    continue
                hostless.add(key)
            findings.append(finding)
        for rule in document["rules"]:
            if rule["id"] in requirements or rule["id"] in unreadable_rules:
                continue
            if report_version >= 2:
                requirement = _read(
                    where, f"rule {rule['id']}", json_fields.requirement_from_rule, rule
                )
            else:
                requirement = requirement_text.requirement_from_rule(rule)
            if requirement is None:
                unreadable_rules.add(rule["id"])
            else:
                requirements[rule["id"]] = requirement
        notes.extend(n for n in document["notes"] if n not in notes)
    shards, other_notes = _shard_set(notes)
    merged_notes = list(other_notes)
    if shards.count is not None:
        merged_notes.append(
            f"merged shards {', '.join(map(str, shards.present))} of {shards.count}"
            + (f" of scope '{shards.scope}'" if shards.scope else "")
        )
    if shards.missing:
        merged_notes.append(
            f"shard(s) {', '.join(map(str, shards.missing))} of {shards.count} missing: "
            "their hosts are not in this report"
        )
    if shards.inconsistent:
        merged_notes.append("the merged reports come from different shardings or inventories")
    for rule_id in sorted(unreadable_rules - set(requirements)):
        merged_notes.append(
            f"rule {rule_id}: its description could not be read back exactly; "
            "reports describe it from its findings"
        )
    report = RunReport(
        version,
        min(started) if started else "",
        tuple(targets),
        tuple(findings),
        tuple(requirements.values()),
        tuple(merged_notes),
    )
    return Merged(report, shards)
