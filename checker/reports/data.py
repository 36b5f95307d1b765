"""What every report is written from: one `RunReport`, plus the helpers all formats share.

Reports know findings, not parsers or engines. Every format counts the same way (`tally`), sees
the same findings (`effective_findings`: a target that could not be read and has no error finding
of its own gets one, so "N errors" agrees between console, JSON, JUnit, SARIF and HTML), and
makes hostile text (control characters in a rule comment, a terminal escape in a policy title)
harmless with `printable()` before it reaches a terminal or a markup format.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from checker.findings import Finding, Severity, Status
from checker.policies.model import Direction, Expect, Requirement

TOOL_NAME = "fwcheck"
# The project's home page: SARIF's tool.driver.informationUri and the JSON report's tool.url.
INFORMATION_URI = "https://github.com/fwcheck/fwcheck"

# Findings fwcheck invents for a target that could not be read (no engine ever ran on it).
READ_POLICY = "fwcheck"
READ_RULE = "read-target"


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """One checked target: the files read (or the host collected) and what went wrong, if anything."""

    name: str
    files: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    platform: str | None = None
    # Why the target could not be read or collected; None when it was.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RunReport:
    tool_version: str
    # ISO 8601 in UTC, e.g. "2024-05-01T12:00:00Z".
    started_at: str
    targets: tuple[TargetInfo, ...]
    findings: tuple[Finding, ...]
    requirements: tuple[Requirement, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportOptions:
    # JUnit: an indeterminate result is a <failure> ("fail") or <skipped> ("skip").
    indeterminate_as: Literal["fail", "skip"] = "fail"
    # SARIF uris are relative to this folder (the repository the firewall configs live in).
    repo_root: Path = field(default_factory=Path.cwd)
    # Policy files outside repo_root (the shipped policies) get uris relative to this folder,
    # under the uriBaseId POLICYROOT.
    policy_root: Path | None = None
    # JUnit's hostname attribute (the Ant schema requires one; "localhost" when unknown).
    hostname: str = "localhost"
    # GitHub code scanning's upload limits (docs.github.com, "SARIF support for code scanning").
    sarif_max_results: int = 25_000
    sarif_max_gzip_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Tally:
    passed: int = 0
    failed: int = 0
    indeterminate: int = 0
    errors: int = 0
    waived: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.indeterminate + self.errors + self.waived

    def summary(self) -> str:
        return (
            f"{self.passed} passed, {self.failed} failed, {self.indeterminate} indeterminate, "
            f"{self.errors} errors, {self.waived} waived"
        )


def tally(findings: Iterable[Finding]) -> Tally:
    counts = dict.fromkeys(Status, 0)
    for finding in findings:
        counts[finding.status] += 1
    return Tally(
        passed=counts[Status.PASS],
        failed=counts[Status.FAIL],
        indeterminate=counts[Status.INDETERMINATE],
        errors=counts[Status.ERROR],
        waived=counts[Status.WAIVED],
    )


def effective_findings(report: RunReport) -> tuple[Finding, ...]:
    """The report's findings plus one error finding per unreadable target that has none."""
    with_error = {f.target for f in report.findings if f.status is Status.ERROR}
    extra = tuple(
        Finding(
            target=t.name,
            policy=READ_POLICY,
            rule=READ_RULE,
            status=Status.ERROR,
            severity=Severity.HIGH,
            message=t.error,
            title="target could not be read",
            evidence=(),
            policy_file=t.files[0] if t.files else None,
            policy_line=1 if t.files else 0,
        )
        for t in report.targets
        if t.error is not None and t.name not in with_error
    )
    return report.findings + extra


def target_order(report: RunReport, findings: Iterable[Finding]) -> list[str]:
    """Target names in report order, then any target only findings name (e.g. a waiver file)."""
    names = [t.name for t in report.targets]
    seen = set(names)
    for finding in findings:
        if finding.target not in seen:
            seen.add(finding.target)
            names.append(finding.target)
    return names


def unique_requirements(report: RunReport) -> tuple[Requirement, ...]:
    """One requirement per policy/rule key, first wins: several targets share the same rules
    (with per-target params the details may differ; the report describes the first)."""
    return tuple(requirement_index(report).values())


def requirement_index(report: RunReport) -> dict[str, Requirement]:
    index: dict[str, Requirement] = {}
    for req in report.requirements:
        index.setdefault(req.key, req)
    return index


def started_at_utc(report: RunReport) -> datetime:
    """`started_at` as an aware UTC datetime (a naive value is taken to be UTC already)."""
    text = report.started_at.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# C0 and C1 controls (except tab/newline), DEL, lone surrogates and the XML non-characters:
# none of them may reach a terminal (escape-sequence injection) or an XML/HTML document.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def printable(text: str, *, one_line: bool = False) -> str:
    """`text` with every control character shown as a visible escape such as ``\\x1b``."""
    cleaned = _UNPRINTABLE.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )
    if one_line:
        cleaned = " ".join(cleaned.replace("\r", " ").split())
    return cleaned


def _format_range(family: int, first: int, last: int) -> str:
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    start, end = cls(first), cls(last)
    nets = list(ipaddress.summarize_address_range(start, end))
    if len(nets) == 1:
        return str(nets[0])
    return f"{start}-{end}"


_PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}


def describe_requirement(req: Requirement) -> str:
    """One sentence saying what the rule demands, e.g. "inbound tcp/22 from any must be denied"."""
    parts = [req.direction.value]
    if req.protocol is None:
        parts.append("traffic of any protocol")
    else:
        parts.append(_PROTOCOLS.get(req.protocol, f"protocol {req.protocol}"))
    if req.ports is not None:
        ports = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in req.ports)
        several = len(req.ports) > 1 or any(a != b for a, b in req.ports)
        parts.append(f"to {'ports' if several else 'port'} {ports or '(none)'}")
    if req.source_ports is not None:
        ports = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in req.source_ports)
        several = len(req.source_ports) > 1 or any(a != b for a, b in req.source_ports)
        parts.append(f"from source {'ports' if several else 'port'} {ports or '(none)'}")
    if req.icmp_type is not None:
        parts.append(f"(ICMP type {req.icmp_type})")
    peer = "from" if req.direction is Direction.INBOUND else "to"
    if req.remote is None:
        parts.append(f"{peer} any address")
    else:
        parts.append(f"{peer} " + ", ".join(_format_range(*r) for r in req.remote))
    if req.except_remote:
        parts.append("except " + ", ".join(_format_range(*r) for r in req.except_remote))
    if req.local is not None:
        parts.append("on local " + ", ".join(_format_range(*r) for r in req.local))
    if req.program:
        parts.append(f"for program {req.program}")
    if req.service:
        parts.append(f"for service {req.service}")
    if req.profiles:
        parts.append("in profile(s) " + ", ".join(sorted(req.profiles)))
    families = " and ".join(f"IPv{f}" for f in sorted(req.families))
    if families:
        parts.append(f"over {families}")
    verb = "must be allowed" if req.expect is Expect.ALLOW else "must be denied"
    return " ".join(parts) + f" {verb}"
