"""`fwcheck scan`: collect every inventory host and check it with the same pipeline as `check`.

A host that cannot be collected gets `error` findings (and its TargetInfo says why); the other
hosts are still checked; the exit code is then 3 unless a worse one applies (errors.ExitCode).

Fleet scans (issue 7): at most `--concurrency` hosts are collected at once, each under its own
deadline and all under `--scan-timeout`; each host is checked as soon as it is collected and its
raw outputs and parsed rulesets are dropped once its findings exist (only findings are kept for
the reports). Progress goes to stderr. Every run is recorded in the history database (drift
against the previous run of the same inventory), unless `history_path` is None. `--shard K/N`
scans a deterministic subset for CI matrices; `fwcheck merge` joins the shards' JSON reports.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from checker import __version__
from checker.collectors import configure_logging, firewalld_drift, transport_module
from checker.collectors.evidence import new_run_id, write_evidence
from checker.collectors.hostkeys import KnownHosts
from checker.collectors.result import CollectResult
from checker.collectors.sources import sources_for
from checker.commands.outputs import NO_OUTPUTS, Outputs
from checker.engine.budget import DEADLINE_DETAIL, BudgetSetting
from checker.errors import CollectError, ExitCode, Problem, format_problem
from checker.findings import Finding
from checker.fleet import scope as scopes
from checker.fleet import verdict_cache
from checker.fleet.history import History, RunRecorder
from checker.fleet.progress import progress_for
from checker.fleet.publish import finish, finish_streamed, streamable
from checker.fleet.runner import DEFAULT_CONCURRENCY, collect_stream
from checker.fleet.shard import parse_shard, select
from checker.fleet.spool import HostSpool, summary_view
from checker.gate import exit_code
from checker.inventory.model import HostSpec
from checker.inventory.selection import open_inventory, select_hosts
from checker.parsers.options import NO_OPTIONS, ParseOptions
from checker.pipeline import Evaluation, error_findings, evaluate_target
from checker.policies.controls import no_control_matches
from checker.policies.controls import select as select_controls
from checker.policies.loader import load_policy_set, policy_search_paths
from checker.policies.model import Requirement
from checker.reports import RunReport, TargetInfo
from checker.reports.data import effective_findings
from checker.target_guard import guarded, is_internal


def check_host(
    host: HostSpec,
    result: CollectResult,
    requirements: Sequence[Requirement],
    evidence_run: Path | None,
    evidence_problem: Problem | None = None,
    budget: BudgetSetting = None,
    cache: verdict_cache.VerdictCache | None = None,
    from_cache: list[str] | None = None,
    deadline: float | None = None,
    deadline_s: float = 0.0,
    parse_options: ParseOptions = NO_OPTIONS,
    requirements_key: str | None = None,
) -> tuple[TargetInfo, list[Finding]]:
    """Check one collected host; with `cache`, reuse the findings of an identical earlier
    check (its name is then appended to `from_cache`). `deadline` (time.monotonic(), standing
    for `deadline_s` seconds) bounds the evaluation: what is undecided by then is
    indeterminate, and such findings are not cached. `requirements_key` is
    verdict_cache.requirements_text(requirements) when the caller has it already."""
    if result.error is not None:
        problems = [result.error]
        findings = error_findings(host.name, requirements, problems)
        info = TargetInfo(
            host.name, (), host.roles, None, format_problem(result.error), is_internal(problems)
        )
        return info, findings
    files: tuple[str, ...] = ()
    reused = None
    cache_key = None

    def evaluate() -> Evaluation:
        nonlocal files, reused, cache_key
        sources = sources_for(result, evidence_run)
        files = tuple(origin for origin, _ in sources)
        if cache is not None and sources:
            cache_key = verdict_cache.key(
                sources, requirements_key or requirements, version=__version__, budget=budget
            )
            stored = cache.get(cache_key)
            reused = verdict_cache.decode(stored, host.name, files) if stored else None
        if reused is not None:
            found, platform = reused
            return found, platform, []
        return evaluate_target(
            host.name,
            sources,
            requirements,
            options=parse_options,
            budget=budget,
            deadline=deadline,
            deadline_s=deadline_s,
        )

    findings, platform, problems = guarded(
        host.name, evaluate, lambda problem: ([], None, [problem])
    )
    if reused is not None:
        if from_cache is not None:
            from_cache.append(host.name)
    else:
        timed_out = any(DEADLINE_DETAIL in dict(f.details) for f in findings)
        if cache is not None and cache_key is not None and not problems and not timed_out:
            cache.put(cache_key, verdict_cache.encode(files, platform, findings))
    errors = [format_problem(p) for p in problems]
    if evidence_problem is not None:
        errors.append(format_problem(evidence_problem))
    info = TargetInfo(
        host.name, files, host.roles, platform, "; ".join(errors) or None, is_internal(problems)
    )
    return info, findings


def run(
    *,
    inventory: str,
    evidence_dir: str | None = None,
    policy_paths: Sequence[str] | None = None,
    params: Mapping[str, str] | None = None,
    role_map: str | None = None,
    hosts: Sequence[str] = (),
    jobs: int | None = None,
    user_known_hosts: bool = True,
    outputs: Outputs = NO_OUTPUTS,
    today: date | None = None,
    shard: str | None = None,
    history_path: str | None = None,
    history_scope: str | None = None,
    scan_timeout_s: float | None = None,
    host_timeout_s: float | None = None,
    builtin_policies: bool = True,
    parse_options: ParseOptions = NO_OPTIONS,
    controls: Sequence[str] = (),
    budget: BudgetSetting = None,
    use_cache: bool = True,
) -> int:
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    started_monotonic = time.monotonic()
    configure_logging()
    parsed = open_inventory(inventory, role_map)
    chosen = parse_shard(shard) if shard else None
    named = select_hosts(parsed, hosts)
    selected = select(named, chosen)
    policy_set = load_policy_set(policy_search_paths(policy_paths, builtin=builtin_policies))
    cache: dict[tuple[object, ...], tuple[Requirement, ...]] = {}

    def requirements_for(host: HostSpec) -> tuple[Requirement, ...]:
        merged: dict[str, str | int] = dict(host.params)
        merged.update(params or {})
        # Thousands of hosts share a handful of role/param combinations: resolve each once.
        key = (host.roles, tuple(sorted((k, str(v)) for k, v in merged.items())))
        if key not in cache:
            cache[key] = select_controls(policy_set.requirements_for(host.roles, merged), controls)
        return cache[key]

    # Policy errors are the user's to fix first (exit 2), before any host is contacted.
    for host in selected:
        requirements_for(host)
    if controls and selected and not any(cache.values()):
        raise no_control_matches(controls)
    waivers = None
    if outputs.waivers_path:
        from checker.waivers import load_waivers

        waivers = load_waivers(outputs.waivers_path)
    known_hosts = KnownHosts.for_scan(parsed.known_hosts_files, include_user=user_known_hosts)
    run_id = new_run_id()
    base_scope = history_scope or scopes.inventory_scope(inventory, hosts)
    notes: list[str] = []
    if chosen is not None:
        notes.append(scopes.shard_note(chosen, base_scope, len(selected), len(named)))
    history = History.open(history_path) if history_path else None
    recorder: RunRecorder | None = None
    if history is not None:
        recorder = history.start_run(
            scopes.shard_scope(base_scope, chosen),
            started_at=started,
            tool_version=__version__,
            source="scan",
            shard=str(chosen) if chosen else None,
        )
    verdicts = None
    if history is not None and use_cache:
        verdicts = history.verdict_cache((today or date.today()).isoformat())
    spool: HostSpool | None = None
    try:
        spool, seen, collect_failed = _scan_hosts(
            selected,
            requirements_for,
            known_hosts,
            recorder,
            notes,
            evidence_dir=evidence_dir,
            run_id=run_id,
            waivers=waivers,
            today=today or date.today(),
            concurrency=jobs or DEFAULT_CONCURRENCY,
            scan_timeout_s=scan_timeout_s,
            host_timeout_s=host_timeout_s,
            quiet=outputs.quiet,
            parse_options=parse_options,
            budget=budget,
            cache=verdicts,
        )
        if verdicts is not None:
            verdicts.flush()
        trailing: list[Finding] = []
        if waivers is not None:
            from checker.waivers import apply_waivers

            trailing = apply_waivers([], waivers, today or date.today())[1]
            if recorder is not None:
                for target in dict.fromkeys(f.target for f in trailing):
                    recorder.add(target, None, None, [f for f in trailing if f.target == target])
        head = (__version__, started, tuple(spool.infos()))
        options = outputs.report_options()
        paths = outputs.report_paths()
        if streamable(paths):
            # Reports are written from the spool host by host (memory flat in the fleet's size).
            report = RunReport(
                *head,
                tuple(spool.summary() + [summary_view(f) for f in trailing]),
                tuple(seen.values()),
                tuple(notes),
            )
            finish_streamed(
                report,
                spool,
                trailing,
                paths,
                options,
                recorder,
                quiet=outputs.quiet,
                started_monotonic=started_monotonic,
                color=outputs.color,
            )
        else:
            report = RunReport(
                *head,
                (*spool.findings(), *trailing),
                tuple(seen.values()),
                tuple(notes),
            )
            finish(
                report,
                paths,
                options,
                recorder,
                quiet=outputs.quiet,
                started_monotonic=started_monotonic,
                color=outputs.color,
            )
    finally:
        if spool is not None:
            spool.close()
        if history is not None:
            history.close()
    code = exit_code(effective_findings(report), outputs.fail_on, report.targets)
    if collect_failed and code is not ExitCode.INTERNAL:
        return ExitCode.TARGET_ERROR
    return code


# Hosts checked between two full garbage collections (see _scan_hosts): one collection costs
# about as much as checking a host or two, and frees the SSH connections of this many.
COLLECT_GARBAGE_EVERY = 64


def _scan_hosts(
    selected: Sequence[HostSpec],
    requirements_for: object,
    known_hosts: KnownHosts,
    recorder: RunRecorder | None,
    notes: list[str],
    *,
    evidence_dir: str | None,
    run_id: str,
    waivers: object,
    today: date,
    concurrency: int,
    scan_timeout_s: float | None,
    host_timeout_s: float | None,
    quiet: bool,
    parse_options: ParseOptions = NO_OPTIONS,
    budget: BudgetSetting = None,
    cache: verdict_cache.VerdictCache | None = None,
) -> tuple[HostSpool, dict[str, Requirement], bool]:
    """Collect and check every host as results arrive, each host's results spooled to disk as
    soon as they exist; return the spool, the requirements seen, and whether any host failed to
    be collected."""
    by_name = {host.name: host for host in selected}
    order = {host.name: index for index, host in enumerate(selected)}
    spool = HostSpool(order)
    seen: dict[str, Requirement] = {}
    host_notes: dict[str, tuple[str, ...]] = {}
    # (section, reason) -> hosts where the collection script did not run it.
    not_run: dict[tuple[str, str], int] = {}
    # requirements_for() hands out one tuple per role/param set: the cache key's text of each is
    # computed once, not once per host. The tuple is held with its text, so its id() is never
    # reused by another tuple while the entry lives.
    requirement_texts: dict[int, tuple[object, str]] = {}
    collect_failed = False
    checked = 0
    from_cache: list[str] = []
    scan_end = time.monotonic() + scan_timeout_s if scan_timeout_s is not None else None
    progress = progress_for(len(selected), quiet=quiet)

    def collect(host: HostSpec, deadline_s: float) -> CollectResult:
        module = transport_module(host.transport)
        return module.collect(host, deadline_s=deadline_s, known_hosts=known_hosts)

    try:
        for result in collect_stream(
            selected,
            collect,
            concurrency=concurrency,
            scan_timeout_s=scan_timeout_s,
            host_timeout_s=host_timeout_s,
        ):
            host = by_name[result.host]
            requirements = requirements_for(host)  # type: ignore[operator]
            for requirement in requirements:
                seen.setdefault(requirement.key, requirement)
            requirements_key = None
            if cache is not None:
                held = requirement_texts.get(id(requirements))
                if held is None or held[0] is not requirements:
                    held = (requirements, verdict_cache.requirements_text(requirements))
                    requirement_texts[id(requirements)] = held
                requirements_key = held[1]
            run_dir: Path | None = None
            evidence_problem: Problem | None = None
            if evidence_dir:
                try:
                    run_dir = write_evidence(evidence_dir, result, run_id)
                except CollectError as exc:
                    evidence_problem = exc.problems[0]
            # The host's deadline covers its evaluation too: what collection left of it.
            limit = (
                host.timeout_s if host_timeout_s is None else min(host.timeout_s, host_timeout_s)
            )
            deadline = time.monotonic() + max(0.0, limit - result.duration_s)
            if scan_end is not None and scan_end < deadline:
                deadline, limit = scan_end, scan_timeout_s or limit
            info, host_findings = check_host(
                host,
                result,
                requirements,
                run_dir,
                evidence_problem,
                parse_options=parse_options,
                budget=budget,
                cache=cache,
                from_cache=from_cache,
                deadline=deadline,
                deadline_s=limit,
                requirements_key=requirements_key,
            )
            if waivers is not None:
                from checker.waivers import apply_waivers

                host_findings = apply_waivers(host_findings, waivers, today)[0]  # type: ignore[arg-type]
            # A firewalld host's runtime configuration (checked) vs its permanent one.
            drift = firewalld_drift.notes(result.outputs)
            for skipped in result.not_run:
                counted = (skipped.command, skipped.reason)
                not_run[counted] = not_run.get(counted, 0) + 1
            if result.notes or drift:
                host_notes[host.name] = (*result.notes, *drift)
            collect_failed = collect_failed or info.error is not None
            if recorder is not None:
                # What every report will show for this host, the invented read error included.
                shown = effective_findings(RunReport("", "", (info,), tuple(host_findings), ()))
                recorder.add(info.name, info.platform, info.error, shown)
            spool.add(info, host_findings)
            progress.advance(failed=info.error is not None)
            # `result` (raw outputs), the parsed models and the findings die here.
            del result, host_findings
            checked += 1
            if checked % COLLECT_GARBAGE_EVERY == 0:
                # paramiko's Transport, Packetizer and auth handler refer to each other: each
                # SSH host's connection (kex bytes, threads' events, channel buffers) is cyclic
                # garbage that only a full collection frees, and this process collects rarely
                # (cli.collect_rarely). Without this, peak RSS grew with the fleet (issue 16).
                gc.collect()
    except BaseException:
        spool.close()
        raise
    finally:
        progress.close()
    for name in spool.names():
        notes.extend(f"{name}: {note}" for note in host_notes.get(name, ()))
    if not_run:
        notes.append(
            "not collected (the collection script skips what can show nothing; each host's"
            " evidence manifest lists its own): "
            + "; ".join(f"{c} on {n} host(s): {r}" for (c, r), n in sorted(not_run.items()))
        )
    if from_cache:
        reused = sorted(from_cache, key=order.__getitem__)
        notes.append(
            f"verdict cache: {len(reused)} of {len(spool)} targets unchanged since an earlier"
            f" scan, their results reused (--no-cache to re-check): {', '.join(reused)}"
        )
    return spool, seen, collect_failed
