"""One target's path through fwcheck: sources (bytes) -> parsers -> model -> engine -> findings.

Used by `fwcheck check` (files), `fwcheck scan` (collected outputs) and `fwcheck check` on an
evidence folder, so all three give the same verdicts. A target that cannot be read becomes
`error` findings for that target only; it never stops the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from checker import parsers
from checker.engine import exclusive, exposure
from checker.engine.verdict import Verdict
from checker.errors import ParseError, Problem, format_problem
from checker.findings import Finding, Status
from checker.model.listening import ListeningSockets
from checker.model.netfilter import IpSets, NftDevices, Ruleset
from checker.policies.model import Requirement

Source = tuple[str, bytes]


def parse_sources(sources: Sequence[Source], format_name: str | None = None) -> list[object]:
    """Parse every source; raise ParseError with the problems of all unreadable ones."""
    parsed: list[object] = []
    problems: list[Problem] = []
    for origin, data in sources:
        try:
            parser = parsers.PARSERS[format_name] if format_name else parsers.detect(data, origin)
            parsed.append(parser.parse(data, origin))
        except ParseError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ParseError(*problems)
    if not parsed:
        raise ParseError(Problem("(target)", 0, 0, "no-input", "no firewall export was given"))
    return parsed


def _engine_for(models: Sequence[object]) -> tuple[ModuleType, str]:
    # An `ipset save` output (IpSets) or an `nft list ruleset` text (NftDevices) describes no
    # firewall by itself: it travels with the target's netfilter Rulesets and gives the contents
    # of the sets their `-m set` matches use, or the devices their netdev chains are bound to.
    if all(isinstance(m, IpSets | NftDevices) for m in models):
        raise ParseError(
            Problem(
                "(target)",
                0,
                0,
                "no-ruleset",
                "only ipset save or nft list ruleset text was given: add the target's"
                " iptables-save or nft -j output (those alone describe no firewall)",
            )
        )
    if all(isinstance(m, Ruleset | IpSets | NftDevices) for m in models):
        from checker.engine import netfilter

        return netfilter, "netfilter"
    from checker.model import windows as windows_model

    if all(isinstance(m, windows_model.WindowsRuleset) for m in models):
        from checker.engine import windows

        return windows, "windows"
    kinds = sorted({type(m).__name__ for m in models})
    raise ParseError(
        Problem(
            "(target)",
            0,
            0,
            "mixed",
            f"one target mixes Linux and Windows exports ({', '.join(kinds)})",
        )
    )


def finding(target: str, requirement: Requirement, verdict: Verdict) -> Finding:
    return Finding(
        target=target,
        policy=requirement.policy_id,
        rule=requirement.rule_id,
        status=verdict.status,
        severity=requirement.severity,
        message=verdict.message,
        title=requirement.title,
        counterexample=verdict.counterexample,
        evidence=verdict.evidence,
        policy_file=requirement.origin.file,
        policy_line=requirement.origin.line,
        details=verdict.details,
    )


def exposure_finding(target: str, result: exposure.ExposureResult) -> Finding:
    verdict = result.verdict
    names = ("port", "protocol", "program", "reachable from", "declared by")
    return Finding(
        target=target,
        policy=exposure.POLICY,
        rule=result.rule,
        status=verdict.status,
        severity=result.severity,
        message=verdict.message,
        title=result.title,
        counterexample=verdict.counterexample,
        evidence=verdict.evidence,
        policy_file=result.origin.file,
        policy_line=result.origin.line,
        details=tuple(zip(names, result.row, strict=True)) if result.row else verdict.details,
    )


def error_findings(
    target: str, requirements: Sequence[Requirement], problems: Sequence[Problem]
) -> list[Finding]:
    message = "; ".join(format_problem(p) for p in problems)
    return [
        finding(target, requirement, Verdict(Status.ERROR, f"target could not be read: {message}"))
        for requirement in requirements
    ]


def evaluate_target(
    name: str,
    sources: Sequence[Source],
    requirements: Sequence[Requirement],
    *,
    format_name: str | None = None,
) -> tuple[list[Finding], str | None, list[Problem]]:
    """(findings, platform, problems): problems non-empty means the target could not be read."""
    try:
        parsed = parse_sources(sources, format_name)
        # Listening sockets (`ss -tulpn`) travel with the firewall export: exposure results.
        listening = [m for m in parsed if isinstance(m, ListeningSockets)]
        models = [m for m in parsed if not isinstance(m, ListeningSockets)]
        if not models:
            raise ParseError(
                Problem(
                    "(target)",
                    0,
                    0,
                    "no-ruleset",
                    "only listening sockets (ss -tulpn or /proc/net) were given: add the"
                    " target's firewall export (they alone describe no firewall)",
                )
            )
        engine, platform = _engine_for(models)
    except ParseError as exc:
        # No per-rule findings: the report writers turn the target's error into one `error`
        # result (fwcheck/read-target) naming file:line, instead of one per policy rule.
        return [], None, list(exc.problems)
    if platform == "netfilter":
        # One context per target: rules are compiled once for all of its requirements.
        context = engine.new_context(models)
        context.prepare(requirements)
        verdicts = [
            exclusive.check(models, r, requirements, context=context)  # type: ignore[arg-type]
            if r.exclusive
            else engine.check(models, r, context=context)
            for r in requirements
        ]
    else:
        from checker.engine import windows_exclusive

        verdicts = [
            windows_exclusive.check(models, r, requirements)  # type: ignore[arg-type]
            if r.exclusive
            else engine.check(models, r)
            for r in requirements
        ]
    findings = [finding(name, r, v) for r, v in zip(requirements, verdicts, strict=True)]
    if listening and platform == "netfilter":
        findings += [
            exposure_finding(name, e) for e in exposure.check(context, listening, requirements)
        ]
    if platform == "windows" and any(m.listening for m in models):  # type: ignore[attr-defined]
        from checker.engine import windows_exposure

        findings += [
            exposure_finding(name, e)
            for e in windows_exposure.check(models, requirements)  # type: ignore[arg-type]
        ]
    return findings, platform, []


def check_target(
    name: str,
    sources: Sequence[Source],
    requirements: Sequence[Requirement],
    *,
    format_name: str | None = None,
) -> list[Finding]:
    return evaluate_target(name, sources, requirements, format_name=format_name)[0]
