"""Drift history is keyed by the inventory's resolved path, or a name given with --scope: the
same inventory typed as ./inventory.yaml and then by its absolute path is one fleet, and its
second run shows nothing new. `fwcheck history` and the scan's drift line name the scope.
Real sshd lab (tests/collectors/sshlab.py), real SQLite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sshlab
from fleet_support import write_inventory, write_policy

from checker.cli import main

HOSTS = ["web1", "web2"]


def scan(inventory: str, policy: Path, history: Path, *extra: str) -> int:
    return main(
        [
            "scan", "--inventory", inventory, "--policies", str(policy),
            "--no-user-known-hosts", "--history", str(history), *extra,
        ]
    )  # fmt: skip


def test_relative_and_absolute_paths_are_one_scope(
    fleet_lab: sshlab.SshLab,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = write_policy(tmp_path)
    inventory = write_inventory(tmp_path, fleet_lab, HOSTS)
    history = tmp_path / "history.sqlite"
    monkeypatch.chdir(tmp_path)
    resolved = os.path.realpath(inventory)

    first = scan("./inventory.yaml", policy, history)
    out = capsys.readouterr().out
    assert f"no earlier run of scope {resolved}" in out, out
    second = scan(str(inventory), policy, history)
    out = capsys.readouterr().out
    assert first == second == 1  # the lab fails no-8081 on every host
    assert "since run 1 of " in out and f"(scope {resolved})" in out, out
    assert "0 new, 0 fixed, 0 absent," in out, out

    # A named scope is its own fleet...
    assert scan("inventory.yaml", policy, history, "--scope", "nightly") == 1
    assert "no earlier run of scope nightly" in capsys.readouterr().out
    # ...and `fwcheck history` says which scope each run belongs to.
    assert main(["history", "--history", str(history)]) == 0
    listing = capsys.readouterr().out
    assert f"scope {resolved}\n" in listing and "scope nightly\n" in listing, listing
    assert main(["history", "--history", str(history), "--scope", "nightly"]) == 0
    only = capsys.readouterr().out
    assert "scope nightly\n" in only and resolved not in only
