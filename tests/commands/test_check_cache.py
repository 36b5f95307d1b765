"""`fwcheck check --cache FILE` (issue 16): the verdict cache of `scan` serves `check` too. A
target's results are reused only when its source bytes, the resolved policies (params
included), the budget and fwcheck's version are all unchanged; any change misses. End to end
through the command line, real SQLite database, real parser and engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main

RULES = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT
COMMIT
"""

POLICY = """\
id: web
title: Web host
roles: [web]
params:
  web_port: 8080
rules:
  - {id: ssh, title: SSH open, expect: allow, direction: inbound, protocol: tcp, port: 22, family: ipv4}
  - {id: web, title: Web open, expect: allow, direction: inbound, protocol: tcp, port: "${web_port}", family: ipv4}
  - {id: no-telnet, title: No telnet, expect: deny, direction: inbound, protocol: tcp, port: 23, family: ipv4}
"""


class Checker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.rules = root / "web1.rules.v4"
        self.rules.write_text(RULES)
        self.policies = root / "policies"
        self.policies.mkdir()
        (self.policies / "web.yaml").write_text(POLICY)
        self.cache = root / "cache.sqlite"
        self.runs = 0

    def check(self, *extra: str) -> tuple[bool, dict[str, str]]:
        """(were the results reused, rule -> status) of one `fwcheck check` run."""
        self.runs += 1
        report = self.root / f"report-{self.runs}.json"
        argv = [
            "check",
            "--no-builtin-policies",
            "--policies",
            str(self.policies),
            "--role",
            "web",
            "--cache",
            str(self.cache),
            "--json",
            str(report),
            "--quiet",
            *extra,
            str(self.rules),
        ]
        main(argv)
        data = json.loads(report.read_text())
        notes = " ".join(data.get("notes", []))
        statuses = {r["rule"]: r["status"] for r in data["results"]}
        return "verdict cache: 1 of 1 targets" in notes, statuses


@pytest.fixture
def checker(tmp_path: Path) -> Checker:
    return Checker(tmp_path)


def test_an_unchanged_target_is_reused_with_identical_results(checker: Checker) -> None:
    hit, first = checker.check()
    assert not hit
    assert first == {"ssh": "pass", "web": "pass", "no-telnet": "pass"}
    hit, second = checker.check()
    assert hit and second == first
    # Without --cache (or with --no-cache) nothing is reused.
    hit, _ = checker.check("--no-cache")
    assert not hit


def test_any_change_misses(checker: Checker, monkeypatch: pytest.MonkeyPatch) -> None:
    checker.check()
    assert checker.check()[0]

    # One source byte (a comment line: same verdicts, other bytes).
    checker.rules.write_text(RULES.replace("COMMIT", "# reviewed\nCOMMIT"))
    assert not checker.check()[0]
    assert checker.check()[0]

    # A policy edit, even one that changes no verdict (a title).
    (checker.policies / "web.yaml").write_text(POLICY.replace("Web host", "Web server"))
    assert not checker.check()[0]
    assert checker.check()[0]

    # A param value: the web rule now asks about 8081, closed.
    hit, statuses = checker.check("--param", "web_port=8081")
    assert not hit and statuses["web"] == "fail"
    assert checker.check("--param", "web_port=8081")[0]

    # The budget.
    assert not checker.check("--budget", "5000")[0]

    # fwcheck's version.
    monkeypatch.setattr("checker.commands.check.__version__", "0.0.0-other")
    assert not checker.check()[0]
    assert checker.check()[0]


def test_a_configuration_tree_is_never_cached(tmp_path: Path) -> None:
    """A ufw tree is read by its folder parser, not as bytes the key could hash: no reuse."""
    example = Path(__file__).resolve().parents[2] / "examples" / "ufw" / "etc" / "ufw"
    cache = tmp_path / "cache.sqlite"
    for n in range(2):
        report = tmp_path / f"report-{n}.json"
        argv = ["check", "--role", "baseline", "--cache", str(cache), "--json", str(report)]
        main([*argv, "--quiet", str(example)])
        assert "verdict cache" not in " ".join(json.loads(report.read_text()).get("notes", []))
