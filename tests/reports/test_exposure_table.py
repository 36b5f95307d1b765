"""The HTML report's "exposed services" table (checker.reports.exposure_table)."""

from __future__ import annotations

import re
from pathlib import Path

from checker.cli import main

RULES = b"""*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 8080 -j ACCEPT
-A INPUT -p tcp -s 10.0.0.0/8 --dport 22 -j ACCEPT
COMMIT
"""
SS = b"""\
tcp LISTEN 0 128 0.0.0.0:8080 0.0.0.0:* users:(("<script>x</script>",pid=7,fd=3))
tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=8,fd=4))
tcp LISTEN 0 128 127.0.0.1:631 0.0.0.0:* users:(("cupsd",pid=9,fd=4))
"""
POLICY = """\
id: web
title: Web
roles: [web]
rules:
  - {id: ssh, title: SSH, expect: allow, direction: inbound, protocol: tcp, port: 22, remote: 10.0.0.0/8, family: ipv4}
"""


def test_exposed_services_table(tmp_path: Path) -> None:
    (tmp_path / "h.iptables-save").write_bytes(RULES)
    (tmp_path / "ss.txt").write_bytes(SS)
    (tmp_path / "p.yaml").write_text(POLICY)
    page = tmp_path / "r.html"
    main(
        [
            "check",
            "--no-builtin-policies",
            "--policies",
            str(tmp_path / "p.yaml"),
            "--role",
            "web",
            "-q",
            "--html",
            str(page),
            str(tmp_path / "h.iptables-save"),
            str(tmp_path / "ss.txt"),
        ]
    )
    text = page.read_text()
    table = text[
        text.index('<table class="exposed">') : text.index(
            "</table>", text.index('<table class="exposed">')
        )
    ]
    rows = re.findall(r"<tr class=\"(\w+)\"[^>]*>(.*?)</tr>", table)
    cells = [(status, re.findall(r"<td>(.*?)</td>", row)[1:]) for status, row in rows]
    assert cells == [
        ("pass", ["22", "tcp", "sshd", "10.0.0.0/8 (ipv4)", "web/ssh"]),
        ("fail", ["8080", "tcp", "&lt;script&gt;x&lt;/script&gt;", "anywhere (ipv4)", "-"]),
    ]
    assert "<script>" not in text
