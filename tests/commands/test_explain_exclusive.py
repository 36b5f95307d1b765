"""`fwcheck explain POLICY/exclusive-inbound`: the blocks, with the declarations of the
target's other policies taken into account (not a walk of "deny everything")."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.cli import main

V4 = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 22 -j ACCEPT
-A INPUT -p tcp --dport 8080 -j ACCEPT
COMMIT
"""
POLICY = """\
id: web
title: Web
roles: [web]
exclusive: [inbound]
rules:
  - {id: ssh, title: SSH, expect: allow, direction: inbound, protocol: tcp, port: 22, family: ipv4}
"""


def test_explain_exclusive_lists_the_blocks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "h.iptables-save").write_text(V4)
    (tmp_path / "h.ip6tables-save").write_text(V4)
    (tmp_path / "p.yaml").write_text(POLICY)
    main(
        [
            "explain",
            "--no-builtin-policies",
            "--policies",
            str(tmp_path / "p.yaml"),
            "--role",
            "web",
            str(tmp_path / "h.iptables-save"),
            str(tmp_path / "h.ip6tables-save"),
            "web/exclusive-inbound",
        ]
    )
    out = capsys.readouterr().out
    assert "web/exclusive-inbound (only declared inbound flows are accepted): FAIL" in out
    assert "block 1: tcp any -> 8080 from anywhere ipv4: accepted by INPUT rule" in out
    # ssh over IPv4 is declared; over IPv6 it is not (the rule says family: ipv4).
    assert "tcp any -> 22 from anywhere ipv6" in out
    assert "tcp any -> 22 from anywhere ipv4" not in out


def test_sarif_gives_each_block_its_own_location(tmp_path: Path) -> None:
    import json

    (tmp_path / "h.iptables-save").write_text(V4)
    (tmp_path / "h.ip6tables-save").write_text(V4)
    (tmp_path / "p.yaml").write_text(POLICY)
    sarif = tmp_path / "r.sarif"
    main(
        [
            "check",
            "--no-builtin-policies",
            "--policies",
            str(tmp_path / "p.yaml"),
            "--role",
            "web",
            "-q",
            "--sarif",
            str(sarif),
            str(tmp_path / "h.iptables-save"),
            str(tmp_path / "h.ip6tables-save"),
        ]
    )
    (result,) = [
        r
        for r in json.loads(sarif.read_text())["runs"][0]["results"]
        if r["ruleId"] == "web/exclusive-inbound"
    ]
    places = [result["locations"][0]] + [
        r for r in result.get("relatedLocations", []) if "block " in r["message"]["text"]
    ]
    # Blocks: tcp 8080 (IPv4), tcp 22 and tcp 8080 (IPv6), each at its accepting rule.
    lines = sorted(
        (
            p["physicalLocation"]["artifactLocation"]["uri"].rsplit("/", 1)[-1],
            p["physicalLocation"]["region"]["startLine"],
        )
        for p in places
    )
    assert lines == [("h.ip6tables-save", 5), ("h.ip6tables-save", 6), ("h.iptables-save", 6)]
