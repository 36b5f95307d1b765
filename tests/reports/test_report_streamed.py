"""Streamed fleet reports (issue 16): a scan spools each host's results to disk as it finishes
(checker/fleet/spool.py) and writes the JSON report and the console host by host
(checker/fleet/publish.finish_streamed, checker/fleet/json_stream.py). The bytes must be those
the whole-run writers give for the same results, and the memory the reports take must not grow
with the fleet (tracemalloc on the real writers, the materialized path as the contrast)."""

from __future__ import annotations

import dataclasses
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_samples import finding, requirement, sample_report

from checker.findings import Evidence, Finding, Severity, Status
from checker.fleet import json_stream
from checker.fleet.history import History
from checker.fleet.publish import finish, finish_streamed, streamable
from checker.fleet.spool import HostSpool, summary_view
from checker.reports import ReportOptions, RunReport, TargetInfo, json_report
from checker.waivers import EXPIRED_RULE, WAIVER_POLICY


def waiver_problem(target: str = "waivers.yaml") -> Finding:
    return Finding(
        target,
        WAIVER_POLICY,
        EXPIRED_RULE,
        Status.FAIL,
        Severity.MEDIUM,
        "waiver for web1 baseline/no-x11 expired on 2024-01-01",
        title="expired waiver",
        evidence=(Evidence(target, 3, "expires: 2024-01-01"),),
    )


def variants() -> Iterator[tuple[str, RunReport, list[Finding]]]:
    """(name, the whole run, its trailing findings): hosts' findings, an unreadable target
    (the writers invent its error result), a waiver problem of no host, text needing escapes."""
    base = sample_report()
    yield "sample", base, []
    yield (
        "waiver problem",
        dataclasses.replace(base, findings=(*base.findings, waiver_problem())),
        [waiver_problem()],
    )
    odd = finding(
        "db1",
        "baseline",
        "no-smb",
        Status.FAIL,
        message='quote " backslash \\ tab \t bell \x07 é 世 \udcff',
        counterexample="tcp [2001:db8::1]:1 -> :445 ipv6",
    )
    yield "escapes", dataclasses.replace(base, findings=(*base.findings, odd)), []
    only_broken = dataclasses.replace(base, findings=(), targets=base.targets[2:])
    yield "only an unreadable target", only_broken, []
    yield "nothing", dataclasses.replace(base, findings=(), targets=()), []


def summary_of(report: RunReport) -> RunReport:
    return dataclasses.replace(report, findings=tuple(summary_view(f) for f in report.findings))


@pytest.mark.parametrize("fail_on", [Severity.INFO, Severity.HIGH])
def test_streamed_json_is_the_rendered_json(tmp_path: Path, fail_on: Severity) -> None:
    options = ReportOptions(fail_on=fail_on)
    for name, report, _trailing in variants():
        path = tmp_path / f"{name}.json"
        json_stream.write(summary_of(report), iter(report.findings), path, options=options)
        assert path.read_bytes() == json_report.render(report, options).encode(), name


def spooled(report: RunReport, trailing: list[Finding]) -> HostSpool:
    hosts = [t.name for t in report.targets]
    spool = HostSpool({name: index for index, name in enumerate(hosts)})
    # Completion order is not inventory order: the spool reads hosts back in inventory order.
    for info in reversed(report.targets):
        own = [f for f in report.findings if f.target == info.name and f not in trailing]
        spool.add(info, own)
    return spool


def end(
    tmp_path: Path, report: RunReport, trailing: list[Finding], *, streamed: bool, quiet: bool
) -> bytes:
    """Publish `report` as a scan does, with a history recorder (drift line); return the JSON
    report (the console output goes to stdout)."""
    where = tmp_path / ("streamed" if streamed else "whole")
    where.mkdir(exist_ok=True)
    paths = {"json": str(where / "report.json")}
    options = ReportOptions(fail_on=Severity.HIGH)
    with History.open(where / "history.sqlite") as history:
        recorder = history.start_run(
            "lab", started_at=report.started_at, tool_version="0", source="scan", shard=None
        )
        for info in report.targets:
            recorder.add(info.name, info.platform, info.error, [
                f for f in report.findings if f.target == info.name
            ])  # fmt: skip
        if streamed:
            spool = spooled(report, trailing)
            summary = dataclasses.replace(
                report,
                targets=tuple(spool.infos()),
                findings=tuple(spool.summary() + [summary_view(f) for f in trailing]),
            )
            finish_streamed(
                summary,
                spool,
                trailing,
                paths,
                options,
                recorder,
                quiet=quiet,
                started_monotonic=0.0,
                color="never",
            )
            spool.close()
        else:
            finish(
                report, paths, options, recorder, quiet=quiet, started_monotonic=0.0, color="never"
            )
        assert [r.targets for r in history.runs()] == [len(report.targets)]
    return (where / "report.json").read_bytes()


@pytest.mark.parametrize("quiet", [False, True])
def test_streamed_end_writes_what_the_whole_run_end_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], quiet: bool
) -> None:
    for name, report, trailing in variants():
        if name == "escapes":
            # Its lone surrogate cannot go into the history database (sqlite3 encodes UTF-8)
            # on either path; the JSON bytes of it are compared above.
            continue
        folder = tmp_path / name.replace(" ", "-") / str(quiet)
        folder.mkdir(parents=True)
        whole = end(folder, report, trailing, streamed=False, quiet=quiet)
        whole_out = capsys.readouterr().out
        streamed = end(folder, report, trailing, streamed=True, quiet=quiet)
        streamed_out = capsys.readouterr().out
        assert streamed == whole, name
        assert streamed_out == whole_out, name
        assert "since no earlier run" in whole_out or quiet


def test_only_json_files_are_streamed() -> None:
    assert streamable({"json": "r.json", "sarif": None})
    assert streamable({})
    assert not streamable({"json": "-"})
    assert not streamable({"json": "r.json", "html": "r.html"})


# --- memory ---------------------------------------------------------------------------------

RULES = 20


def host_findings(host: str) -> list[Finding]:
    """A host's results as a baseline scan gives them: text, counterexamples, evidence."""
    rows = []
    for n in range(RULES):
        rows.append(
            finding(
                host,
                "baseline",
                f"rule-{n}",
                Status.FAIL if n % 5 == 0 else Status.PASS,
                message=f"{host}: tcp port {n} is reachable from 0.0.0.0/0 " + "x" * 200,
                counterexample=f"tcp 203.0.113.{n}:40000 -> :{1000 + n} ipv4",
                evidence=tuple(
                    Evidence(f"{host}/iptables-save.txt", line, f"-A INPUT -p tcp --dport {line}")
                    for line in range(8)
                ),
            )
        )
    return rows


def peak_bytes(tmp_path: Path, hosts: int, *, streamed: bool) -> int:
    names = [f"host-{n:05d}" for n in range(hosts)]
    reqs = tuple(requirement("baseline", f"rule-{n}") for n in range(RULES))
    paths = {"json": str(tmp_path / f"{hosts}-{streamed}.json")}
    options = ReportOptions()
    tracemalloc.start()
    try:
        spool = HostSpool({name: n for n, name in enumerate(names)})
        for name in names:
            spool.add(
                TargetInfo(name, (f"{name}/iptables-save.txt",), ("web",), "netfilter"),
                host_findings(name),
            )
        infos = tuple(spool.infos())
        if streamed:
            summary = RunReport("0", "2024-05-01T00:00:00Z", infos, tuple(spool.summary()), reqs)
            finish_streamed(
                summary,
                spool,
                [],
                paths,
                options,
                None,
                quiet=True,
                started_monotonic=0.0,
                color="never",
            )
        else:
            report = RunReport("0", "2024-05-01T00:00:00Z", infos, tuple(spool.findings()), reqs)
            finish(report, paths, options, None, quiet=True, started_monotonic=0.0, color="never")
        spool.close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_report_memory_does_not_grow_with_the_fleet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """4x the hosts: the streamed end's peak grows by the summary views only (a few hundred
    bytes a result), the whole-run end's by every result's text, evidence and rendered report."""
    small, large = 100, 400
    streamed = peak_bytes(tmp_path, large, streamed=True) - peak_bytes(
        tmp_path, small, streamed=True
    )
    whole = peak_bytes(tmp_path, large, streamed=False) - peak_bytes(
        tmp_path, small, streamed=False
    )
    capsys.readouterr()
    per_result_streamed = streamed / ((large - small) * RULES)
    per_result_whole = whole / ((large - small) * RULES)
    print(
        f"growth per result: streamed {per_result_streamed:.0f} B, whole run {per_result_whole:.0f} B"
    )
    assert per_result_whole > 2000, per_result_whole  # the contrast: the test can fail
    assert per_result_streamed < per_result_whole / 8, (per_result_streamed, per_result_whole)
