"""examples/ci: the GitHub Actions workflow and the GitLab CI job are wired correctly (the report
the check writes is the file the upload step or the artifact reads), and the GitLab job's fwcheck
command line, run as written in a firewall-config repo, produces those reports with the right
exit code (the GitHub workflow's action step is run for real in test_gates_action.py). Every
example installs fwcheck without a package index: the action, or pip from the git repository.

Neither CI service is reachable from a test: the files are checked as data and the commands are
run locally through the real CLI.
"""

from __future__ import annotations

import json
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from gates_support import REPO

from checker.cli import main
from checker.errors import ExitCode

CI = REPO / "examples" / "ci"


def load(name: str) -> dict:
    return yaml.safe_load((CI / name).read_text(encoding="utf-8"))


def github_steps() -> list[dict]:
    return load("github-actions.yml")["jobs"]["fwcheck"]["steps"]


def fwcheck_command(lines: list[str]) -> list[str]:
    commands = [shlex.split(line) for line in lines if line.strip().startswith("fwcheck ")]
    assert len(commands) == 1, lines
    return commands[0]


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def github_action_step() -> dict:
    (step,) = [s for s in github_steps() if "/fwcheck@" in str(s.get("uses", ""))]
    return step


def gitlab_check() -> list[str]:
    return fwcheck_command(load("gitlab-ci.yml")["fwcheck"]["script"])


def test_github_workflow_uploads_the_sarif_it_writes() -> None:
    workflow = load("github-actions.yml")
    # PyYAML reads the bare key `on` as a boolean (YAML 1.1); GitHub reads it as "on".
    triggers = workflow.get("on", workflow.get(True))
    assert {"push", "pull_request", "schedule"} <= set(triggers)
    job = workflow["jobs"]["fwcheck"]
    assert job["permissions"]["security-events"] == "write"
    upload = next(
        s
        for s in job["steps"]
        if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@")
    )
    action = github_action_step()
    assert action["uses"] == "<owner>/fwcheck@<ref>"
    assert upload["with"]["sarif_file"] == action["with"]["sarif"]
    assert upload["with"]["category"] == "fwcheck"
    # The upload runs after a failing check too, but not after a cancel.
    assert "!cancelled()" in upload["if"]
    steps = job["steps"]
    assert steps.index(upload) > steps.index(action)


def test_gitlab_job_reports_the_junit_it_writes() -> None:
    job = load("gitlab-ci.yml")["fwcheck"]
    artifacts = job["artifacts"]
    assert artifacts["reports"]["junit"] == option(gitlab_check(), "--junit")
    assert artifacts["when"] == "always"
    assert set(artifacts["paths"]) >= {
        option(gitlab_check(), "--junit"),
        option(gitlab_check(), "--html"),
    }


EXAMPLES = sorted(path.name for path in CI.iterdir())


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_install_without_a_package_index(name: str) -> None:
    """No package index has fwcheck: every example takes it from its git repository, through
    the action (GitHub) or `pip install "fwcheck @ git+<URL>@<ref>"` with one variable."""
    text = (CI / name).read_text(encoding="utf-8")
    assert "fwcheck==" not in text, f"{name}: installs fwcheck from a package index"
    if name.startswith("github"):
        assert "uses: <owner>/fwcheck@<ref>" in text
        assert "pip install" not in text
    else:
        assert 'pip install "fwcheck @ ${FWCHECK_SOURCE}"' in text or (
            'pip install --quiet "fwcheck @ ${FWCHECK_SOURCE}"' in text
        )
        assert text.count('"git+https://github.com/<owner>/fwcheck@<ref>"') >= 1
        # pip needs git for git+ URLs: the -slim images have none.
        assert "python:3.12-slim" not in text
    # Documented with comments, not bare configuration.
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 8


def test_placeholders_are_explained_once_in_each_example() -> None:
    for name in EXAMPLES:
        text = (CI / name).read_text(encoding="utf-8")
        explained = [
            line for line in text.splitlines() if line.lstrip().startswith("#") and "<ref>" in line
        ]
        assert explained, f"{name}: <owner>/<ref> are not explained"


POLICY = """id: edge
title: Edge exposure
roles: [edge]
rules:
  - id: no-telnet
    title: No inbound Telnet
    expect: deny
    direction: inbound
    protocol: tcp
    port: 23
    family: ipv4
    severity: critical
  - id: no-snmp
    title: No inbound SNMP
    expect: deny
    direction: inbound
    protocol: udp
    port: 161
    family: ipv4
    severity: medium
"""


def ruleset(*accepts: str) -> str:
    rules = "".join(f"-A INPUT {rule} -j ACCEPT\n" for rule in accepts)
    return f"*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n{rules}COMMIT\n"


@pytest.fixture
def config_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "edge.yaml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "hosts").mkdir()
    (tmp_path / "fwcheck.yaml").write_text(
        "version: 1\npolicies: [policies]\ntargets:\n"
        "  - name: edge-1\n    files: [hosts/edge-1.iptables-save]\n    roles: [edge]\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def results(sarif_path: Path) -> list[dict]:
    sarif = json.loads(sarif_path.read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0"
    return [result for run in sarif["runs"] for result in run["results"]]


def test_gitlab_command_gates_on_high(config_repo: Path) -> None:
    argv = gitlab_check()
    assert argv[:2] == ["fwcheck", "check"]
    host = config_repo / "hosts" / "edge-1.iptables-save"

    # Only a medium finding: reported, but below --fail-on high.
    host.write_text(ruleset("-p udp -m udp --dport 161"), encoding="utf-8")
    assert main(argv[1:]) == ExitCode.OK
    junit = ET.parse(config_repo / option(argv, "--junit")).getroot()
    failures = [case for case in junit.iter("testcase") if case.find("failure") is not None]
    assert len(failures) == 1
    assert str(failures[0].get("name")).startswith("no-snmp")
    assert failures[0].find("failure").get("type") == "medium"
    if "--sarif" in argv:
        found = results(config_repo / option(argv, "--sarif"))
        assert [r["ruleId"] for r in found] == ["edge/no-snmp"]
        location = found[0]["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == "hosts/edge-1.iptables-save"
        assert location["region"]["startLine"] == 5

    # A critical one fails the job, and the reports are still written for the upload step.
    host.write_text(
        ruleset("-p tcp -m tcp --dport 23", "-p udp -m udp --dport 161"), encoding="utf-8"
    )
    for report in ("--junit", "--sarif", "--html"):
        if report in argv:
            (config_repo / option(argv, report)).unlink()
    assert main(argv[1:]) == ExitCode.VIOLATIONS
    for report in ("--junit", "--sarif", "--html"):
        if report in argv:
            assert (config_repo / option(argv, report)).is_file(), report
    if "--sarif" in argv:
        assert sorted(r["ruleId"] for r in results(config_repo / option(argv, "--sarif"))) == [
            "edge/no-snmp",
            "edge/no-telnet",
        ]
