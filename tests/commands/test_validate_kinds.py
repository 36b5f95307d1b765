"""`fwcheck validate` sorts files into kinds: target config, waivers, inventory, policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.cli import ExitCode, main

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
