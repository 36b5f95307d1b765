"""`### tuple ###` lines of ufw's user.rules shown as the ufw command (ufw(8) syntax)."""

from __future__ import annotations

import pytest

from checker.parsers.netfilter.ufw_command import command, parse_tuple


@pytest.mark.parametrize(
    ("tuple_text", "expected"),
    [
        (
            "allow tcp 22 0.0.0.0/0 any 10.20.0.0/16 in",
            "ufw allow from 10.20.0.0/16 to any port 22 proto tcp",
        ),
        ("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "ufw allow 22/tcp"),
        ("deny any 53 ::/0 any ::/0 in", "ufw deny 53"),
        ("reject udp 1000:1002 0.0.0.0/0 any 0.0.0.0/0 out", "ufw reject out 1000:1002/udp"),
        ("limit_log tcp 2222 0.0.0.0/0 any 0.0.0.0/0 in", "ufw limit log 2222/tcp"),
        ("allow_log-all any any 0.0.0.0/0 any 0.0.0.0/0 in", "ufw allow log-all to any"),
        ("deny any any 203.0.113.0/24 any 0.0.0.0/0 out", "ufw deny out to 203.0.113.0/24"),
        (
            "allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in_eth0",
            "ufw allow in on eth0 to any port 80 proto tcp",
        ),
        (
            "allow udp any 0.0.0.0/0 1000 2001:db8::/32 out_eth1",
            "ufw allow out on eth1 from 2001:db8::/32 port 1000 proto udp",
        ),
        (
            "route:allow tcp 8080 192.168.10.0/24 any 0.0.0.0/0 in_eth0!out_eth1 comment=6261636b656e64",
            "ufw route allow in on eth0 out on eth1 to 192.168.10.0/24 port 8080 proto tcp comment 'backend'",
        ),
        ("route:deny any any 0.0.0.0/0 any 0.0.0.0/0 in", "ufw route deny to any"),
        ("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in", "ufw allow OpenSSH"),
        ("allow tcp 80,443 0.0.0.0/0 any 0.0.0.0/0 Nginx%20Full - in", "ufw allow 'Nginx Full'"),
        ("allow tcp 22 10.0.0.1 any 0.0.0.0/0 OpenSSH - in", "ufw allow to 10.0.0.1 app OpenSSH"),
    ],
)
def test_tuple_as_command(tuple_text: str, expected: str) -> None:
    parsed = parse_tuple(tuple_text)
    assert parsed is not None
    assert command(parsed) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "allow tcp 22",
        "permit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
        "allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 sideways",
        "allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=zz",
    ],
)
def test_malformed_tuples_are_none(bad: str) -> None:
    assert parse_tuple(bad) is None
