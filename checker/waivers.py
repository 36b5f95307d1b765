"""Waivers: accepted exceptions that turn a fail or indeterminate result into `waived`, for a time.

A waiver file (schemas/waivers.schema.json) is::

    waivers:
      - rule: cis-linux/no-telnet      # policy-id/rule-id, shell globs allowed (fnmatch, case-sensitive)
        target: "legacy-*"             # optional target-name glob; absent = every target
        reason: vendor appliance, replacement ordered (CHG-1234)
        owner: netops@example.com
        expires: 2025-06-30            # last day the waiver applies (inclusive), required

Semantics:
- Only fail and indeterminate findings are waived; pass and error findings never are (an error
  means nothing was checked, so there is nothing to accept).
- The first unexpired, well-formed waiver in file order that matches wins; the finding keeps its
  severity, gets status `waived` and `waiver_reason` "<reason> (owner <owner>, expires <date>)".
- A waiver whose `expires` is before `today` does not apply, and is itself reported: one extra
  finding per expired waiver, status fail, severity low, target = the waiver file, policy
  "fwcheck-waivers", rule "expired-waiver", pointing at the waiver's line (the evidence). It
  fails the run with the default `--fail-on`, and not with `--fail-on medium` or above, while the
  finding it used to hide fails at its own severity again.
- A malformed `expires` (not a YYYY-MM-DD date, e.g. "soon", "2025-31-12" quoted, a timestamp)
  fails closed: the waiver never applies, and an extra finding (rule "malformed-waiver", status
  fail, severity low) says why. An unquoted impossible date such as `2025-02-30` is rejected by
  the YAML loader itself, so the whole file is a PolicyError (also closed: nothing is waived).
- Everything else wrong with the file (missing reason/owner/expires, unknown keys, a rule that is
  not policy/rule) is a PolicyError with file:line:col.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from fnmatch import fnmatchcase
from pathlib import Path

from checker.errors import Location, PolicyError, Problem
from checker.findings import Evidence, Finding, Severity, Status
from checker.yamlfile import read_yaml, schema_problems

WAIVER_POLICY = "fwcheck-waivers"
EXPIRED_RULE = "expired-waiver"
MALFORMED_RULE = "malformed-waiver"
_WAIVABLE = (Status.FAIL, Status.INDETERMINATE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class Waiver:
    rule: str
    target: str | None
    reason: str
    owner: str
    # None when the expires value is malformed (see `problem`).
    expires: date | None
    # The value as written, for messages.
    expires_text: str
    origin: Location
    # Why the waiver can never apply (a malformed expires); None when it is well-formed.
    problem: str | None = None

    def matches(self, finding: Finding) -> bool:
        if not fnmatchcase(finding.rule_key, self.rule):
            return False
        return self.target is None or fnmatchcase(finding.target, self.target)

    def active(self, today: date) -> bool:
        return self.problem is None and self.expires is not None and today <= self.expires

    def describe(self) -> str:
        target = f" on targets {self.target}" if self.target is not None else ""
        return f"rule {self.rule}{target} (owner {self.owner}, expires {self.expires_text})"


@dataclass(frozen=True, slots=True)
class WaiverSet:
    file: str
    waivers: tuple[Waiver, ...]


def _expires(value: object) -> tuple[date | None, str, str | None]:
    # datetime is a subclass of date: a timestamp is not the date the schema asks for.
    if isinstance(value, datetime):
        return None, value.isoformat(), "expires must be a date (YYYY-MM-DD), not a timestamp"
    if isinstance(value, date):
        return value, value.isoformat(), None
    text = str(value)
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip()), value.strip(), None
        except ValueError as exc:
            return None, text, f"expires {text!r} is not a valid date ({exc})"
    return None, text, f"expires {text!r} is not a date (expected YYYY-MM-DD)"


def _impossible_date(text: str, file: str) -> Problem:
    """Where an unquoted date PyYAML could not build (e.g. 2025-02-30) sits, for the message."""
    for number, line in enumerate(text.splitlines(), start=1):
        for match in re.finditer(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", line):
            try:
                date(*(int(g) for g in match.groups()))
            except ValueError:
                return Problem(
                    file, number, match.start() + 1, "date", f"{match.group()} is not a valid date"
                )
    return Problem(file, 1, 1, "date", "the file holds an invalid date")


def load_waivers(path: Path | str) -> WaiverSet:
    """Read and validate a waiver file; PolicyError (file:line:col) if it is invalid."""
    file = str(path)
    try:
        doc = read_yaml(path)
    except ValueError:
        # PyYAML resolves 2025-02-30 as a timestamp and then fails building it, outside the
        # loader's own error handling; the whole file is unusable, so fail closed.
        raw = Path(path).read_text(encoding="utf-8-sig", errors="replace")
        raise PolicyError(_impossible_date(raw, file)) from None
    problems = list(schema_problems(doc, "waivers.schema.json"))
    if problems:
        raise PolicyError(*problems)
    waivers = []
    for index, item in enumerate(doc.data["waivers"]):
        expires, expires_text, problem = _expires(item["expires"])
        origin = doc.location(("waivers", index))
        waivers.append(
            Waiver(
                rule=item["rule"],
                target=item.get("target"),
                reason=" ".join(item["reason"].split()),
                owner=" ".join(item["owner"].split()),
                expires=expires,
                expires_text=expires_text,
                origin=Location(origin.file, origin.line),
                problem=problem,
            )
        )
    return WaiverSet(file=file, waivers=tuple(waivers))


def _waiver_finding(waiver: Waiver, waivers: WaiverSet, rule: str, message: str) -> Finding:
    return Finding(
        target=waivers.file,
        policy=WAIVER_POLICY,
        rule=rule,
        status=Status.FAIL,
        severity=Severity.LOW,
        message=message,
        title="expired waiver" if rule == EXPIRED_RULE else "malformed waiver",
        evidence=(
            Evidence(
                waiver.origin.file,
                waiver.origin.line,
                f"rule: {waiver.rule}; target: {waiver.target or '*'}; expires: {waiver.expires_text}",
            ),
        ),
        policy_file=waiver.origin.file,
        policy_line=waiver.origin.line,
    )


def apply_waivers(
    findings: Iterable[Finding], waivers: WaiverSet, today: date
) -> tuple[list[Finding], list[Finding]]:
    """(findings with matching active waivers turned WAIVED, findings about bad waivers)."""
    active = [w for w in waivers.waivers if w.active(today)]
    result = []
    for finding in findings:
        waiver = (
            next((w for w in active if w.matches(finding)), None)
            if finding.status in _WAIVABLE
            else None
        )
        if waiver is None:
            result.append(finding)
            continue
        reason = f"{waiver.reason} (owner {waiver.owner}, expires {waiver.expires_text})"
        result.append(replace(finding, status=Status.WAIVED, waiver_reason=reason))
    reported = []
    for waiver in waivers.waivers:
        if waiver.problem is not None:
            message = f"waiver for {waiver.describe()} does not apply: {waiver.problem}"
            reported.append(_waiver_finding(waiver, waivers, MALFORMED_RULE, message))
        elif waiver.expires is not None and today > waiver.expires:
            message = f"waiver for {waiver.describe()} expired on {waiver.expires_text}: it no longer applies; renew it or fix the finding"
            reported.append(_waiver_finding(waiver, waivers, EXPIRED_RULE, message))
    return result, reported
