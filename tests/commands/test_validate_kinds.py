"""`fwcheck validate` sorts files into kinds: target config, waivers, inventory, policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.cli import main
from checker.errors import ExitCode

CASES = {
    "fwcheck.yaml": (
        "targets:\n  - {name: a, files: [x], roles: [r], bogus: 1}\n",
        "2:39",
        "unknown key 'bogus'",
    ),
    "waivers.yaml": (
        "waivers:\n  - rule: a/b\n    reason: x\n    owner: me\n    expires: 2025-02-30\n",
        "5:14",
        "out of range",
    ),
    "inventory.yaml": (
        "hosts:\n  web1: {address: 10.0.0.1, transport: ssh, roles: [baseline], password: hunter2}\n",
        "2:",
        "literal password",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_kind_reports_file_line_col(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, position, message = CASES[name]
    path = tmp_path / name
    path.write_text(text)
    assert main(["validate", str(path)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert f"{path}:{position}" in err and message in err
    assert "hunter2" not in err


def test_valid_files_of_every_kind_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "fwcheck.yaml").write_text(
        "targets:\n  - {name: a, files: [x.rules], roles: [baseline]}\n"
    )
    (tmp_path / "waivers.yaml").write_text(
        "waivers:\n  - {rule: baseline/no-ftp, reason: legacy, owner: ops, expires: 2030-01-31}\n"
    )
    (tmp_path / "inventory.yaml").write_text(
        "hosts:\n  web1: {address: 192.0.2.1, transport: ssh, roles: [baseline]}\n"
    )
    assert main(["validate", str(tmp_path)]) == ExitCode.OK, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "1 target config file" in out and "1 waiver file" in out and "1 inventory file" in out


ANSIBLE_INI = "[web]\nweb1 ansible_host=192.0.2.1\n\n[web:vars]\nansible_user=audit\n"


@pytest.mark.parametrize("name", ["hosts.ini", "hosts"])
def test_validate_accepts_the_ansible_ini_inventory_scan_accepts(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from checker.inventory import load_inventory

    path = tmp_path / name
    path.write_text(ANSIBLE_INI)
    assert load_inventory(path).hosts  # what `scan --inventory` reads
    assert main(["validate", str(path)]) == ExitCode.OK, capsys.readouterr().err
    assert "1 inventory file: valid" in capsys.readouterr().out
    # ...and its problems are the inventory loader's, with file:line:col.
    path.write_text("[web]\nweb1 ansible_host=192.0.2.1 ansible_ssh_pass=hunter2\n")
    assert main(["validate", str(path)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert f"{path}:2:" in err and "hunter2" not in err


def test_config_repo_without_policies_validates_what_it_finds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fwcheck.yaml").write_text(
        "version: 1\npolicies: [site]\n"
        "targets:\n  - {name: a, files: [a.iptables-save], roles: [web, baseline]}\n"
    )
    (tmp_path / "site").mkdir()
    # A local policy may include a shipped one.
    (tmp_path / "site" / "web.yaml").write_text(
        "id: web\nroles: [web]\ninclude: [baseline]\nrules: []\n"
    )
    (tmp_path / "waivers.yaml").write_text(
        "waivers:\n  - {rule: baseline/no-ftp, reason: legacy, owner: ops, expires: 2030-01-31}\n"
    )
    (tmp_path / "hosts.ini").write_text(ANSIBLE_INI)
    # Not fwcheck's: left alone.
    (tmp_path / "compose.yaml").write_text("services: {web: {image: nginx}}\n")
    (tmp_path / "tox.ini").write_text("[tox]\nenvlist = py311\n")
    assert main(["validate"]) == ExitCode.OK, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "no ./policies folder; validated the files found here" in out, out
    for kind in ("1 target config file", "1 waiver file", "1 inventory file", "1 policy file"):
        assert kind in out, out
    (tmp_path / "waivers.yaml").write_text("waivers:\n  - {rule: baseline/no-ftp}\n")
    assert main(["validate"]) == ExitCode.USAGE
    assert "waivers.yaml:2:" in capsys.readouterr().err
