"""What every report is written from: one `RunReport`, plus the helpers all formats share.

Reports know findings, not parsers or engines. Every format counts the same way (`tally`), sees
the same findings (`effective_findings`: a target that could not be read and has no error finding
of its own gets one, so "N errors" agrees between console, JSON, JUnit, SARIF and HTML), and
makes hostile text (control characters in a rule comment, a terminal escape in a policy title)
harmless with `printable()` before it reaches a terminal or a markup format.
"""

from __future__ import annotations

import hashlib
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
    # The error is a fwcheck bug caught by the per-target guard (checker.target_guard): exit 4.
    internal: bool = False


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
    # --fail-on: the lowest severity whose fail or indeterminate result fails the run. Every
    # format records it and the verdict it gives, and marks the results below it.
    fail_on: Severity = Severity.INFO


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


# --- the gate (--fail-on) ---------------------------------------------------------------------

_GATED = (Status.FAIL, Status.INDETERMINATE)


def below_threshold(finding: Finding, fail_on: Severity) -> bool:
    """A fail or indeterminate result too mild to fail the run under --fail-on."""
    return finding.status in _GATED and finding.severity.rank < fail_on.rank


def gate_verdict(findings: Iterable[Finding], fail_on: Severity) -> str:
    """The run's verdict under --fail-on: "error" (a target could not be read or collected),
    "fail" (a fail or indeterminate at or above the threshold) or "pass"."""
    listed = list(findings)
    if any(f.status is Status.ERROR for f in listed):
        return "error"
    if any(f.status in _GATED and not below_threshold(f, fail_on) for f in listed):
        return "fail"
    return "pass"


def gate_summary(findings: Iterable[Finding], fail_on: Severity) -> str:
    """E.g. "gate --fail-on high: pass (2 results below the threshold)"."""
    listed = list(findings)
    below = sum(1 for f in listed if below_threshold(f, fail_on))
    extra = f" ({below} result{'s' if below != 1 else ''} below the threshold)" if below else ""
    return f"gate --fail-on {fail_on.value}: {gate_verdict(listed, fail_on)}{extra}"


# --- causes shared by many results ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cause:
    """One target-level reason (an unreachable host, a missing IPv6 ruleset) behind several
    results of one target: reports say it once and list the rules it touches."""

    target: str
    status: Status
    message: str
    findings: tuple[Finding, ...]

    @property
    def severity(self) -> Severity:
        return max((f.severity for f in self.findings), key=lambda s: s.rank)

    @property
    def anchor(self) -> str:
        """A stable id for links: the target and a hash of the message."""
        key = f"{self.target}\x00{self.message}".encode("utf-8", "surrogatepass")
        return "cause-" + hashlib.sha256(key).hexdigest()[:12]


def shared_causes(findings: Iterable[Finding]) -> tuple[list[Cause], list[Finding]]:
    """(causes, the other findings): errors and indeterminate results of one target that carry the
    same message and no flow of their own (no counterexample, no evidence) form one Cause when
    there are at least two of them."""
    groups: dict[tuple[str, Status, str], list[Finding]] = {}
    listed = list(findings)
    for finding in listed:
        if (
            finding.status in (Status.ERROR, Status.INDETERMINATE)
            and not finding.counterexample
            and not finding.evidence
        ):
            groups.setdefault((finding.target, finding.status, finding.message), []).append(finding)
    causes = [
        Cause(target, status, message, tuple(members))
        for (target, status, message), members in groups.items()
        if len(members) > 1
    ]
    grouped = {id(f) for cause in causes for f in cause.findings}
    return causes, [f for f in listed if id(f) not in grouped]


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
# The bidirectional controls (embeddings, overrides, isolates, marks: Unicode UAX #9) go too: a
# U+202E in a rule comment would make a terminal or browser show the text reversed
# ("Trojan Source", CVE-2021-42574).
_UNPRINTABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
# The longest piece of text (a message, a rule's text) the console, HTML, JUnit and SARIF show;
# the JSON report keeps it whole. A 1 MB rule name must not become a 3 MB SARIF message.
MAX_SHOWN = 2000


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


def capped(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` cut to `limit` characters, saying how much was left out (the JSON report has it)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters: see the JSON report)"


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
    if req.setting is not None:
        return req.setting.describe()
    if req.exclusive:
        return (
            f"every new {req.direction.value} flow accepted must be declared by an allow rule"
            " or be infrastructure (exclusive policy)"
        )
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
