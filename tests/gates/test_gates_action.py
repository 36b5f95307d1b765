"""action.yml, the composite GitHub Action, run for real: its steps' `run:` scripts, with the
inputs substituted as the runner does (defaults, then the workflow's `with:`), each run by
`bash --noprofile --norc -eo pipefail` (the runner's `shell: bash`) with GITHUB_ACTION_PATH
pointing at a temporary checkout of this repository, RUNNER_TEMP, GITHUB_OUTPUT and GITHUB_PATH
files, in a firewall-config repo as the workspace. The install step builds a real virtualenv and
pip-installs fwcheck from that checkout, once per session.

GitHub is not reachable from a test; what the runner does is taken from its documentation:
composite actions (https://docs.github.com/en/actions/sharing-automations/creating-actions/
metadata-syntax-for-github-actions#runs-for-composite-actions), `shell: bash` (workflow syntax,
jobs.<job_id>.steps[*].shell), GITHUB_OUTPUT / GITHUB_PATH (workflow commands).
"""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from gates_support import REPO, clean_env, snapshot_checkout

from checker import __version__

ACTION = REPO / "action.yml"
WORKFLOW = REPO / "examples" / "ci" / "github-actions.yml"
STEP_TIMEOUT_S = 600
_INPUT = re.compile(r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}")
_IF = re.compile(r"^inputs\.([A-Za-z0-9_-]+) == '([^']*)'$")


def action() -> dict:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def inputs_with(given: Mapping[str, str]) -> dict[str, str]:
    declared = action()["inputs"]
    unknown = set(given) - set(declared)
    assert not unknown, f"inputs the action does not declare: {unknown}"
    values = {name: str(spec.get("default", "")) for name, spec in declared.items()}
    values.update(given)
    return values


def substitute(text: str, inputs: Mapping[str, str]) -> str:
    return _INPUT.sub(lambda m: inputs[m.group(1)], text)


def wanted(step: dict, inputs: Mapping[str, str]) -> bool:
    condition = step.get("if")
    if condition is None:
        return True
    # The only expression form action.yml uses; anything else must be taught here first.
    match = _IF.match(str(condition).strip())
    assert match, f"unsupported if: {condition!r}"
    return inputs[match.group(1)] == match.group(2)


@dataclass(frozen=True)
class ActionRun:
    returncode: int
    output: str
    outputs: dict[str, str]
    path: list[str]


def run_action(
    given: Mapping[str, str],
    *,
    workspace: Path,
    action_path: Path,
    runner_temp: Path,
    step_ids: tuple[str | None, ...] | None = None,
) -> ActionRun:
    """Run the action's steps (those whose id is in step_ids, when given) in `workspace`."""
    inputs = inputs_with(given)
    github_output = runner_temp / "github_output"
    github_path = runner_temp / "github_path"
    for file in (github_output, github_path):
        file.write_text("", encoding="utf-8")
    base = clean_env({})
    # The action's own virtualenv, not this test's interpreter or checkout.
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        base.pop(name, None)
    base.update(
        {
            "GITHUB_ACTION_PATH": str(action_path),
            "GITHUB_WORKSPACE": str(workspace),
            "RUNNER_TEMP": str(runner_temp),
            "GITHUB_OUTPUT": str(github_output),
            "GITHUB_PATH": str(github_path),
        }
    )
    output: list[str] = []
    returncode = 0
    for index, step in enumerate(action()["runs"]["steps"]):
        if step_ids is not None and step.get("id") not in step_ids:
            continue
        if not wanted(step, inputs):
            continue
        assert step["shell"] == "bash"
        script = runner_temp / f"step-{index}.sh"
        script.write_text(substitute(step["run"], inputs), encoding="utf-8")
        env = dict(base)
        env.update({k: substitute(str(v), inputs) for k, v in (step.get("env") or {}).items()})
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
        output.append(done.stdout)
        returncode = done.returncode
        if returncode != 0:
            break
    outputs = dict(
        line.split("=", 1)
        for line in github_output.read_text(encoding="utf-8").splitlines()
        if "=" in line
    )
    path = github_path.read_text(encoding="utf-8").splitlines()
    return ActionRun(returncode, "".join(output), outputs, path)


@dataclass(frozen=True)
class Installed:
    action_path: Path
    runner_temp: Path
    install: ActionRun


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The whole action with check: "false" (the install step only), once per session."""
    base = tmp_path_factory.mktemp("action")
    action_path = base / "fwcheck-action"
    snapshot_checkout(action_path, clean_env({}))
    runner_temp = base / "runner-temp"
    runner_temp.mkdir()
    workspace = base / "empty-workspace"
    workspace.mkdir()
    install = run_action(
        {"check": "false"}, workspace=workspace, action_path=action_path, runner_temp=runner_temp
    )
    return Installed(action_path, runner_temp, install)


def test_action_installs_fwcheck_from_its_own_checkout(installed: Installed) -> None:
    run = installed.install
    assert run.returncode == 0, run.output
    venv_bin = installed.runner_temp / "fwcheck-venv" / "bin"
    assert run.path == [str(venv_bin)]  # later steps find `fwcheck` on PATH
    assert f"fwcheck {__version__}" in run.output
    assert "exit-code" not in run.outputs  # check: "false" ran no check
    imported = subprocess.run(
        [str(venv_bin / "python"), "-c", "import checker; print(checker.__file__)"],
        cwd=installed.runner_temp,
        env={k: v for k, v in clean_env({}).items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # Installed into the virtualenv, not this checkout put on the path.
    assert imported.stdout.startswith(str(installed.runner_temp / "fwcheck-venv"))
    # The shipped policies came along (the wheel carries them).
    assert list((installed.runner_temp / "fwcheck-venv").rglob("_data/policies/baseline/*.yaml"))


POLICY = """id: edge
title: Edge exposure
roles: [edge]
rules:
  - {id: no-telnet, title: No inbound Telnet, expect: deny, direction: inbound, protocol: tcp, port: 23, family: ipv4, severity: critical}
  - {id: no-snmp, title: No inbound SNMP, expect: deny, direction: inbound, protocol: udp, port: 161, family: ipv4, severity: medium}
"""


def ruleset(*accepts: str) -> str:
    rules = "".join(f"-A INPUT {rule} -j ACCEPT\n" for rule in accepts)
    return f"*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n{rules}COMMIT\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    repo = tmp_path / "firewalls"
    (repo / "policies").mkdir(parents=True)
    (repo / "policies" / "edge.yaml").write_text(POLICY, encoding="utf-8")
    (repo / "hosts").mkdir()
    (repo / "fwcheck.yaml").write_text(
        "version: 1\ntargets:\n"
        "  - name: edge-1\n    files: [hosts/edge-1.iptables-save]\n    roles: [edge]\n",
        encoding="utf-8",
    )
    return repo


def example_inputs() -> dict[str, str]:
    """The `with:` of the fwcheck step of examples/ci/github-actions.yml."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    (step,) = [
        s for s in workflow["jobs"]["fwcheck"]["steps"] if "/fwcheck@" in str(s.get("uses", ""))
    ]
    return {name: str(value) for name, value in step["with"].items()}


def check(installed: Installed, workspace: Path, given: Mapping[str, str]) -> ActionRun:
    return run_action(
        given,
        workspace=workspace,
        action_path=installed.action_path,
        runner_temp=installed.runner_temp,
        step_ids=("check",),
    )


def test_the_example_workflow_gates_on_high_and_leaves_the_sarif(
    installed: Installed, workspace: Path
) -> None:
    assert installed.install.returncode == 0, installed.install.output
    given = example_inputs()
    host = workspace / "hosts" / "edge-1.iptables-save"
    # Only a medium finding: reported, but below fail-on: high.
    host.write_text(ruleset("-p udp -m udp --dport 161"), encoding="utf-8")
    run = check(installed, workspace, given)
    assert run.returncode == 0, run.output
    assert run.outputs["exit-code"] == "0"
    sarif = json.loads((workspace / given["sarif"]).read_text(encoding="utf-8"))
    found = [r for each in sarif["runs"] for r in each["results"]]
    assert [r["ruleId"] for r in found] == ["edge/no-snmp"]
    location = found[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "hosts/edge-1.iptables-save"
    junit = ET.parse(workspace / given["junit"]).getroot()
    assert [c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None]

    # A critical one fails the step with fwcheck's exit code; the SARIF is there for the upload.
    host.write_text(ruleset("-p tcp -m tcp --dport 23"), encoding="utf-8")
    (workspace / given["sarif"]).unlink()
    run = check(installed, workspace, given)
    assert run.returncode == 1 and run.outputs["exit-code"] == "1", run.output
    sarif = json.loads((workspace / given["sarif"]).read_text(encoding="utf-8"))
    assert [r["ruleId"] for each in sarif["runs"] for r in each["results"]] == ["edge/no-telnet"]


def test_policies_and_roles_inputs(installed: Installed, workspace: Path) -> None:
    (workspace / "policies").rename(workspace / "site policies")
    (workspace / "hosts" / "edge-1.iptables-save").write_text(ruleset(), encoding="utf-8")
    given = {"policies": "site\\ policies", "roles": "baseline", "sarif": "", "junit": "j.xml"}
    # Blanks separate paths: "site\ policies" is two words, neither of them a folder.
    run = check(installed, workspace, given)
    assert run.returncode == 2 and "not-found" in run.output, run.output
    (workspace / "site policies").rename(workspace / "site")
    run = check(installed, workspace, {**given, "policies": "site"})
    # The shipped baseline asks about IPv6 too, and this target has no IPv6 export: exit 1.
    assert run.returncode == 1 and run.outputs["exit-code"] == "1", run.output
    # The missing IPv6 ruleset is one cause shared by every baseline rule: said once, naming them.
    assert re.search(r"INDETERMINATE \[up to critical\] \d+ rules: no IPv6 ruleset", run.output)
    assert "baseline/no-telnet" in run.output
    names = {s.get("name") for s in ET.parse(workspace / "j.xml").getroot().iter("testsuite")}
    # The role input adds the shipped baseline to the target, beside its own edge role.
    assert any("baseline" in str(n) for n in names) and any("edge" in str(n) for n in names)
    assert not (workspace / "fwcheck.sarif").exists()  # sarif: "" writes none


def test_inputs_are_never_shell_code(installed: Installed, workspace: Path) -> None:
    (workspace / "hosts" / "edge-1.iptables-save").write_text(ruleset(), encoding="utf-8")
    run = check(installed, workspace, {"roles": "$(touch pwned) `touch pwned2`;touch pwned3"})
    assert run.returncode == 2, run.output
    assert "unknown-role" in run.output
    assert not list(workspace.glob("pwned*"))
