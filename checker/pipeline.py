"""One target's path through fwcheck: sources (bytes) -> parsers -> model -> engine -> findings.

Used by `fwcheck check` (files), `fwcheck scan` (collected outputs) and `fwcheck check` on an
evidence folder, so all three give the same verdicts. A target that cannot be read becomes
`error` findings for that target only; it never stops the run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from checker import parsers
from checker.engine import settings
from checker.engine.budget import Budget, BudgetSetting, limit_for
from checker.engine.reasons import verdict
from checker.engine.registry import ENGINES, Engine
from checker.engine.verdict import Verdict
from checker.errors import ParseError, Problem, format_problem
from checker.findings import Finding, Reason, Status
from checker.model.listening import ListeningSockets
from checker.model.netfilter import Ruleset
from checker.parsers.netfilter import nft_text
from checker.parsers.options import NO_OPTIONS, ParseOptions, number_of, texts_of
from checker.policies.model import Requirement

if TYPE_CHECKING:
    from checker.engine.netfilter import exposure

Source = tuple[str, bytes]

# The largest export read for one input file of a target (docs/limits.md): parsing holds the
# text and the model together, about 13 times the size of an iptables-save file (20 MB, 188,000
# rules: 255 MB), so an unbounded input could exhaust the machine's memory for one target.
# 64 MiB is four times a kube-proxy node of 10,000 services (bench/kube_proxy.py: 15.5 MB).
MAX_INPUT_BYTES = 64 * 1024 * 1024


def too_large(origin: str, max_bytes: int) -> Problem:
    return Problem(
        origin,
        0,
        0,
        "too-large",
        f"the export is larger than {_size(max_bytes)}, the most fwcheck reads for one input"
        " file (docs/limits.md)",
    )


def _size(count: int) -> str:
    return f"{count // 2**20} MiB" if count % 2**20 == 0 else f"{count:,} bytes"


def read_source(path: str, max_bytes: int | None = None) -> bytes:
    """A target's input file, read no further than `max_bytes` (default MAX_INPUT_BYTES; a
    FIFO or /proc file has no size to check first); ParseError when it is larger, OSError when
    it cannot be read."""
    max_bytes = MAX_INPUT_BYTES if max_bytes is None else max_bytes
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ParseError(too_large(path, max_bytes))
    return data


def input_limit(options: ParseOptions) -> int:
    """The most bytes read for one input file: `--max-input-mib`, else MAX_INPUT_BYTES."""
    given = number_of(options, "max_input_bytes")
    return MAX_INPUT_BYTES if given is None else given


def parse_sources(
    sources: Sequence[Source],
    format_name: str | None = None,
    options: ParseOptions = NO_OPTIONS,
) -> list[object]:
    """Parse every source; raise ParseError with the problems of all unreadable ones. A source
    that is a folder (a configuration tree such as etc/ufw or etc/firewalld) is read by its folder
    parser. `options`: the parser options of the target (checker.parsers.options), given to
    every parser; each reads its own."""
    max_bytes = input_limit(options)
    parsed: list[object] = []
    problems: list[Problem] = []
    fragments = _included_fragments(sources, format_name, options)
    for origin, data in sources:
        if origin in fragments:
            continue
        if len(data) > max_bytes:
            problems.append(too_large(origin, max_bytes))
            continue
        try:
            if not data and Path(origin).is_dir():
                folder = Path(origin)
                result = parsers.folder_parser(folder).parse_folder(folder, options)
                # A tree may compile to several rulesets (firewalld: nft plus direct.xml rules).
                parsed.extend(result if isinstance(result, tuple | list) else [result])
                continue
            if format_name in parsers.FOLDERS:
                raise ParseError(Problem(origin, 0, 0, "format", f"{format_name} reads a folder"))
            parser = parsers.PARSERS[format_name] if format_name else parsers.detect(data, origin)
            parsed.append(parser.parse(data, origin, options))
        except ParseError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ParseError(*problems)
    if not parsed:
        raise ParseError(Problem("(target)", 0, 0, "no-input", "no firewall export was given"))
    return parsed


def _included_fragments(
    sources: Sequence[Source], format_name: str | None, options: ParseOptions
) -> set[str]:
    """Sources another nft text source of the target includes: read through that include only.
    A fragment (`add rule inet filter input …`, or rules for inside a chain block) means nothing
    alone, and read twice its rules would count twice."""
    read: set[str] = set()
    for origin, data in sources:
        if b"include" not in data:
            continue
        if format_name != nft_text.NAME and (format_name or not nft_text.sniff(data[:65536])):
            continue
        read |= nft_text.includes(data, origin, texts_of(options, "nft_include"))
    return {origin for origin, _ in sources if os.path.realpath(origin) in read}


def engine_for(models: Sequence[object]) -> tuple[Engine, str]:
    """The engine whose platform reads all of `models` (checker.engine.registry.ENGINES)."""
    for spec in ENGINES.values():
        if spec.companions and all(isinstance(m, spec.companions) for m in models):
            raise ParseError(Problem("(target)", 0, 0, "no-ruleset", spec.alone))
    for spec in ENGINES.values():
        if all(isinstance(m, spec.models) for m in models):
            return spec.load(), spec.platform
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
        controls=requirement.controls,
        outcome=verdict.outcome,
    )


def exposure_finding(target: str, result: exposure.ExposureResult) -> Finding:
    # Exclusive and exposure checks are imported where used: a pre-commit run of a plain
    # policy does not load them (issue 16, bench/pre_commit.py).
    from checker.engine.netfilter import exposure

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
        outcome=verdict.outcome,
    )


def error_findings(
    target: str, requirements: Sequence[Requirement], problems: Sequence[Problem]
) -> list[Finding]:
    reason = Reason("target-unreadable", (("problems", tuple(map(format_problem, problems))),))
    unreadable = verdict(Status.ERROR, reason)
    return [finding(target, requirement, unreadable) for requirement in requirements]


# (findings, platform, problems): what checking one target gives (evaluate_target).
Evaluation = tuple[list[Finding], str | None, list[Problem]]


def _rule_count(models: Sequence[object], platform: str) -> int:
    """The rules of a target's rulesets (what the default work budget grows with)."""
    if platform == "netfilter":
        return sum(
            len(chain.rules)
            for model in models
            if isinstance(model, Ruleset)
            for table in model.tables
            for chain in table.chains
        )
    # Imported here: a netfilter run never needs the Windows model (pre-commit start-up).
    from checker.model.windows import WindowsRuleset

    return sum(len(model.rules) for model in models if isinstance(model, WindowsRuleset))


def evaluate_target(
    name: str,
    sources: Sequence[Source],
    requirements: Sequence[Requirement],
    *,
    format_name: str | None = None,
    options: ParseOptions = NO_OPTIONS,
    budget: BudgetSetting = None,
    deadline: float | None = None,
    deadline_s: float = 0.0,
) -> Evaluation:
    """(findings, platform, problems): problems non-empty means the target could not be read.
    `options`: the target's parser options (parse_sources).
    `budget` bounds the engine's work on this target (engine/budget.py: a number of units,
    "auto" for one that grows with the target's rules, None: unbounded).
    `deadline` (a time.monotonic() value, standing for `deadline_s` seconds) stops it too."""
    try:
        parsed = parse_sources(sources, format_name, options)
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
        _, platform = engine_for(models)
    except ParseError as exc:
        # No per-rule findings: the report writers turn the target's error into one `error`
        # result (fwcheck/read-target) naming file:line, instead of one per policy rule.
        return [], None, list(exc.problems)
    findings = evaluate_models(
        name,
        models,
        listening,
        platform,
        requirements,
        budget=budget,
        deadline=deadline,
        deadline_s=deadline_s,
    )
    return findings, platform, []


def evaluate_models(
    name: str,
    models: Sequence[object],
    listening: Sequence[ListeningSockets],
    platform: str,
    requirements: Sequence[Requirement],
    *,
    budget: BudgetSetting = None,
    deadline: float | None = None,
    deadline_s: float = 0.0,
) -> list[Finding]:
    """The findings of one parsed target (evaluate_target after parsing; bench/kube_proxy.py
    times it apart from the parse)."""
    # Settings requirements (policy `setting:`) ask about one value or one fixed set of packets.
    flows = [r for r in requirements if r.setting is None]
    limit = limit_for(budget, _rule_count(models, platform))
    decided: dict[int, Verdict] = {}
    context = None
    if platform == "netfilter":
        from checker.engine.netfilter import engine

        # One context per target: rules are compiled once for all of its requirements.
        # ENGINES chose netfilter: every model is one of its types (EngineSpec.models).
        context = engine.new_context(models)  # type: ignore[arg-type]
        if limit is not None or deadline is not None:
            context.budget = Budget(limit, deadline=deadline, deadline_s=deadline_s)
        context.prepare(flows)
        if any(r.exclusive for r in flows):
            from checker.engine.netfilter import exclusive
        decided.update(
            (
                id(r),
                exclusive.check(models, r, flows, context=context)  # type: ignore[arg-type]
                if r.exclusive
                else engine.check(models, r, context=context),  # type: ignore[arg-type]
            )
            for r in flows
        )
    else:
        from checker.engine.windows import engine as windows_engine
        from checker.engine.windows import exclusive as windows_exclusive

        shared = Budget(limit, deadline=deadline, deadline_s=deadline_s)
        decided.update(
            (
                id(r),
                windows_exclusive.check(models, r, flows)  # type: ignore[arg-type]
                if r.exclusive
                else windows_engine.check(models, r, budget=shared),  # type: ignore[arg-type]
            )
            for r in flows
        )
    # After the flows, on the same context and what is left of the budget: the loopback and
    # open-ports settings walk the rules too (and `open_ports` reads the listening sockets).
    decided.update(
        (id(r), settings.check([*models, *listening], r, context=context))
        for r in requirements
        if r.setting is not None
    )
    findings = [finding(name, r, decided[id(r)]) for r in requirements]
    if listening and context is not None:
        from checker.engine.netfilter import exposure

        findings += [exposure_finding(name, e) for e in exposure.check(context, listening, flows)]
    if platform == "windows" and any(m.listening for m in models):  # type: ignore[attr-defined]
        from checker.engine.windows import exposure as windows_exposure

        findings += [
            exposure_finding(name, e)
            for e in windows_exposure.check(models, flows)  # type: ignore[arg-type]
        ]
    return findings


def check_target(
    name: str,
    sources: Sequence[Source],
    requirements: Sequence[Requirement],
    *,
    format_name: str | None = None,
    budget: BudgetSetting = None,
) -> list[Finding]:
    return evaluate_target(name, sources, requirements, format_name=format_name, budget=budget)[0]
