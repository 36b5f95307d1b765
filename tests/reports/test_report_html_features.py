"""HTML report features, driven in real headless Chromium: one foldable section per target,
status and severity filters (CSS only: the report runs no script), matrix counts that link to
their results, a host error shown once, and the --fail-on gate. A screenshot is kept as an
artifact in $FWCHECK_TEST_ARTIFACTS (default: reports/test-artifacts/).

The report forbids scripts (CSP default-src 'none'), so the test drives it from a harness page
of its own: the harness loads the report in an iframe (same origin under
--allow-file-access-from-files), ticks the report's checkboxes, folds its sections and reads
which result cards the browser actually lays out."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from report_samples import finding, requirement

from checker.findings import Severity, Status
from checker.reports import html
from checker.reports.data import ReportOptions, RunReport, TargetInfo

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
DEAD = "host unreachable: ssh: connect to host db9 port 22: No route to host"

_HARNESS = """<!DOCTYPE html><html><body><pre id="out">pending</pre>
<iframe id="f" src="report.html" width="1200" height="900"></iframe>
<script>
const frame = document.getElementById("f");
frame.onload = () => {
  const d = frame.contentDocument;
  const shown = () => [...d.querySelectorAll(".finding")]
    .filter(e => e.checkVisibility())
    .map(e => e.dataset.rule || ("cause:" + e.dataset.target));
  const toggle = id => d.getElementById(id).click();
  const r = {all: shown()};
  toggle("show-fail"); r.noFail = shown(); toggle("show-fail");
  toggle("show-medium"); r.noMedium = shown(); toggle("show-medium");
  toggle("show-error"); r.noError = shown(); toggle("show-error");
  const web = d.querySelector('details.target[data-target="web1"]');
  web.open = false; r.webFolded = shown(); web.open = true;
  r.links = [...d.querySelectorAll("#matrix td.cell a")].map(a => {
    const target = d.querySelector(a.getAttribute("href"));
    return [a.closest("tr").dataset.target, a.closest("td").dataset.policy,
            target ? [...target.querySelectorAll(".finding, .refers")].length : -1];
  });
  r.gate = [d.getElementById("gate").dataset.failOn, d.getElementById("gate").dataset.verdict,
            d.getElementById("gate").textContent];
  r.causeRules = [...d.querySelectorAll(".cause li")].length;
  document.getElementById("out").textContent = JSON.stringify(r);
};
</script></body></html>
"""


def _report() -> RunReport:
    reqs = (
        requirement("baseline", "no-telnet"),
        requirement("baseline", "no-smb", severity=Severity.MEDIUM),
        requirement("ssh", "admin-only"),
    )
    findings = (
        finding("web1", "baseline", "no-telnet", Status.FAIL, counterexample="tcp a -> b:23"),
        finding("web1", "baseline", "no-smb", Status.FAIL, severity=Severity.MEDIUM),
        finding("web1", "ssh", "admin-only", Status.PASS),
        # A host that could not be collected: every rule carries the same error.
        finding("db9", "baseline", "no-telnet", Status.ERROR, message=DEAD),
        finding("db9", "baseline", "no-smb", Status.ERROR, message=DEAD, severity=Severity.MEDIUM),
        finding("db9", "ssh", "admin-only", Status.ERROR, message=DEAD),
    )
    targets = (
        TargetInfo("web1", ("exports/web1.rules",), ("baseline",), "netfilter"),
        TargetInfo("db9", (), ("baseline",), None, DEAD),
    )
    return RunReport("0.1.0", "2024-05-01T00:00:00Z", targets, findings, reqs)


def _artifacts() -> Path:
    folder = Path(os.environ.get("FWCHECK_TEST_ARTIFACTS", REPO / "reports" / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _chromium(tmp_path: Path, page: Path, *extra: str) -> str:
    if not CHROMIUM.exists():
        pytest.fail("chromium is not installed: apt-get install -y chromium")
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--allow-file-access-from-files",
        f"--user-data-dir={tmp_path / 'profile'}",
        *extra,
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return result.stdout


def test_html_host_error_once_filters_fold_links_and_gate(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    options = ReportOptions(repo_root=tmp_path, fail_on=Severity.HIGH)
    html.write(_report(), page, options=options)
    markup = page.read_text()
    assert "<script" not in markup  # the filters are CSS, the page stays script-free
    assert markup.count(DEAD.split(":")[0]) >= 1
    harness = tmp_path / "harness.html"
    harness.write_text(_HARNESS)
    dom = _chromium(tmp_path, harness, "--virtual-time-budget=10000", "--dump-dom")
    match = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    assert match is not None and match.group(1) != "pending", dom[:2000]
    state = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))

    # The unreachable host is one card covering its three rules, not three identical cards.
    assert state["all"] == ["baseline/no-telnet", "baseline/no-smb", "cause:db9"]
    assert state["causeRules"] == 3
    # Filters: by status and by severity, each hiding exactly what it names.
    assert state["noFail"] == ["cause:db9"]
    assert state["noMedium"] == ["baseline/no-telnet", "cause:db9"]
    assert state["noError"] == ["baseline/no-telnet", "baseline/no-smb"]
    # Folding a target's section hides its results only.
    assert state["webFolded"] == ["cause:db9"]
    # Every linked count reaches a group holding results (the host error's groups point at it).
    assert sorted((t, p) for t, p, _ in state["links"]) == [
        ("db9", "baseline"),
        ("db9", "ssh"),
        ("web1", "baseline"),
    ]
    assert all(found > 0 for _, _, found in state["links"])
    # The threshold and its verdict are on the page; the medium fail is marked below it.
    fail_on, verdict, text = state["gate"]
    assert (fail_on, verdict) == ("high", "error")
    assert "--fail-on high" in text and "1 result below the threshold" in text
    assert "below --fail-on high: does not fail the run" in markup

    shot = tmp_path / "shot.png"
    _chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,1000")
    assert shot.stat().st_size > 10_000
    shutil.copyfile(shot, _artifacts() / "html-report-features.png")
