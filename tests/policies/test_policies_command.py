"""`fwcheck policies`: what a role gets, after includes and params."""

from __future__ import annotations

import subprocess
import sys

import pytest
from policy_testing import REPO, SHIPPED

from checker.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["policies", "--policies", str(SHIPPED), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_python_m_checker_lists_the_included_client_policy() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "checker", "policies", "--role", "onesite-patch-server"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "onesite-patch-client: Adaptiva OneSite Patch client ports" in result.stdout
    assert "[in-udp-34329, medium] All broadcast messages from client to client." in result.stdout


def test_params_are_applied_and_shown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--role", "1e-dmz-server", "--param", "switch_port=4100")
    assert (code, err) == (0, "")
    assert "params: switch_port=4100 (default 4000)" in out
    lines = {line.split("[")[1].split(",")[0]: line for line in out.splitlines() if "[" in line}
    assert lines["in-tcp-switch"].split()[:4] == ["allow", "inbound", "tcp", "4100"]
    assert lines["in-tcp-poke"].split()[:4] == ["allow", "inbound", "tcp", "4101"]


def test_address_param_is_shown_as_except(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--role", "baseline", "--param", "mgmt_networks=10.9.0.0/16,2001:db8::/48"
    )
    assert code == 0
    ssh = next(line for line in out.splitlines() if "[no-ssh-outside-mgmt," in line)
    assert "deny   inbound   tcp     22" in ssh and "except 10.9.0.0/16,2001:db8::/48" in ssh


def test_all_policies_without_role(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 0
    count = len(list(SHIPPED.rglob("*.yaml")))
    assert out.rstrip().splitlines()[-1].startswith(f"{count} policies, ")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--role", "no-such-role"), "--role: [unknown-role] no policy has role 'no-such-role'"),
        (
            ("--role", "baseline", "--param", "swich_port=1"),
            "--param: [unknown-param] unknown param 'swich_port'",
        ),
        (
            ("--role", "1e-client", "--param", "switch_port=x"),
            "[param] param 'switch_port' is 'x', not an integer",
        ),
    ],
)
def test_errors_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert expected in err
