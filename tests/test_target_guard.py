"""The per-target guard (checker.target_guard): a bug met while collecting, reading or checking
one target is that target's error result, with the traceback on stderr; every other target and
host is still checked or collected, and the run exits 4 (ExitCode.INTERNAL).

The bug is injected: the iptables-save parser (or a collector) raises for one target only."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from checker.cli import main
from checker.collectors.result import CollectResult, Output
from checker.errors import ExitCode
from checker.parsers.netfilter import iptables_save

POLICY = """id: web
title: Web
roles: [web]
rules:
  - {id: no-telnet, title: No Telnet, expect: deny, direction: inbound, protocol: tcp, port: 23, family: ipv4}
"""
# web-1 drops telnet (pass), web-3 accepts it (fail): both verdicts must survive web-2's bug.
CLOSED = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
OPEN = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
RULES = {"web-1": CLOSED, "web-2": CLOSED, "web-3": OPEN}
CONFIG = "version: 1\npolicies: [policies]\ntargets:\n" + "".join(
    f"  - {{name: {name}, files: [{name}.iptables-save], roles: [web]}}\n" for name in RULES
)
INVENTORY = "version: 1\ndefaults:\n  roles: [web]\nhosts:\n" + "".join(
    f"  {name}: {{address: 192.0.2.{i + 1}}}\n" for i, name in enumerate(RULES)
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "web.yaml").write_text(POLICY)
    (tmp_path / "fwcheck.yaml").write_text(CONFIG)
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    for name, rules in RULES.items():
        (tmp_path / f"{name}.iptables-save").write_text(rules)
    monkeypatch.chdir(tmp_path)
    real = iptables_save.parse

    def buggy(data: bytes, origin: str, options: object = None):  # type: ignore[no-untyped-def]
        if "web-2" in origin:
            raise RuntimeError("injected parser bug")
        return real(data, origin)

    monkeypatch.setattr(iptables_save, "parse", buggy)
    return tmp_path


def verdicts(report: Path) -> tuple[dict[str, str], dict[str, str | None]]:
    data = json.loads(report.read_text())
    statuses = {r["target"]: r["status"] for r in data["results"] if r["rule"] == "no-telnet"}
    errors = {t["name"]: t["error"] for t in data["targets"]}
    return statuses, errors


def assert_only_web2_broke(repo: Path, code: int, err: str) -> None:
    assert code == ExitCode.INTERNAL, err
    statuses, errors = verdicts(repo / "out.json")
    assert statuses == {"web-1": "pass", "web-3": "fail"}, statuses
    assert errors["web-1"] is None and errors["web-3"] is None, errors
    assert "internal error (RuntimeError)" in (errors["web-2"] or ""), errors
    assert "Traceback" in err and "injected parser bug" in err


def test_check_goes_on_past_a_bug_in_one_target(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "--config", "fwcheck.yaml", "--quiet", "--json", "out.json"])
    assert_only_web2_broke(repo, code, capsys.readouterr().err)


def fake_transport(crash: str | None = None) -> SimpleNamespace:
    """A collector that returns each host's iptables-save file as its output (no network),
    raising for the host named `crash`."""

    def collect(host, *, deadline_s, known_hosts):  # type: ignore[no-untyped-def]
        if host.name == crash:
            raise RuntimeError("injected collector bug")
        output = Output(
            "iptables-save",
            "iptables-save",
            0,
            Path(f"{host.name}.iptables-save").read_bytes(),
            "2026-01-01T00:00:00Z",
            0.0,
        )
        return CollectResult(host.name, (output,), None, "ssh", host.address)

    return SimpleNamespace(collect=collect)


def test_scan_goes_on_past_a_bug_in_one_host(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("checker.commands.scan.transport_module", lambda _: fake_transport())
    code = main(
        [
            "scan", "--inventory", "inventory.yaml", "--policies", "policies", "--no-history",
            "--no-user-known-hosts", "--quiet", "--json", "out.json",
        ]
    )  # fmt: skip
    assert_only_web2_broke(repo, code, capsys.readouterr().err)


def test_collect_goes_on_past_a_bug_in_one_host(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "checker.collectors.transport_module", lambda _: fake_transport(crash="web-2")
    )
    code = main(
        [
            "collect", "--inventory", "inventory.yaml", "--evidence", "evidence",
            "--no-user-known-hosts", "--quiet",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == ExitCode.INTERNAL, err
    assert "Traceback" in err and "injected collector bug" in err
    assert "web-2" in err and "internal error (RuntimeError)" in err
    kept = {p.parent.parent.name for p in (repo / "evidence").glob("*/*/iptables-save*")}
    assert kept == {"web-1", "web-3"}, kept
