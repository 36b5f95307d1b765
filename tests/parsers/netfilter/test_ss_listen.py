"""`ss -tulpn` output (checker.parsers.netfilter.ss_listen). RECORDED is iproute2 6.1's output in a
network namespace with real sockets (IPv4 and IPv6 wildcards, a dual-stack `*` socket, one
bound to a device, loopback-only ones); tests/collectors/test_exposure_scan.py runs it live."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import parsers
from checker.errors import ParseError
from checker.parsers.netfilter import ss_listen

RECORDED = b"""\
Netid State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess
udp   UNCONN 0      0          192.0.2.5:53        0.0.0.0:*    users:(("python3",pid=19540,fd=8))
udp   UNCONN 0      0         0.0.0.0%d0:68        0.0.0.0:*    users:(("python3",pid=19540,fd=12))
udp   UNCONN 0      0      [2001:db8::5]:5353       [::]:*    users:(("python3",pid=19540,fd=9))
udp   UNCONN 0      0                  *:5354          *:*    users:(("python3",pid=19540,fd=11))
tcp   LISTEN 0      128        127.0.0.1:631       0.0.0.0:*    users:(("python3",pid=19540,fd=6))
tcp   LISTEN 0      128          0.0.0.0:8080      0.0.0.0:*    users:(("python3",pid=19540,fd=3))
tcp   LISTEN 0      128                *:8443            *:*    users:(("python3",pid=19540,fd=4))
tcp   LISTEN 0      128             [::]:9443         [::]:*    users:(("python3",pid=19540,fd=5))
tcp   LISTEN 0      128            [::1]:632          [::]:*    users:(("python3",pid=19540,fd=7))
"""


def test_recorded_output() -> None:
    model = ss_listen.parse(RECORDED, "ss.txt")
    labels = [s.label() for s in model.sockets]
    assert labels == [
        "udp 192.0.2.5:53 (python3)",
        "udp 0.0.0.0%d0:68 (python3)",
        "udp [2001:db8::5]:5353 (python3)",
        "udp *:5354 (python3)",
        "tcp 127.0.0.1:631 (python3)",
        "tcp 0.0.0.0:8080 (python3)",
        "tcp *:8443 (python3)",
        "tcp [::]:9443 (python3)",
        "tcp [::1]:632 (python3)",
    ]
    by_port = {s.port: s for s in model.sockets}
    assert by_port[8443].families == {4, 6} and by_port[8443].address is None
    assert by_port[9443].families == {6}
    assert by_port[68].device == "d0"
    assert by_port[631].loopback_only and by_port[632].loopback_only
    assert not any(by_port[p].loopback_only for p in (53, 68, 5353, 5354, 8080, 8443, 9443))
    assert by_port[53].origin.line == 2 and by_port[53].pid == 19540


def test_without_header_and_process_is_detected() -> None:
    data = b"tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\nudp ESTAB 0 0 10.0.0.1:5000 10.0.0.2:53\n"
    assert parsers.detect(data, "x") is ss_listen
    (socket,) = ss_listen.parse(data, "x").sockets
    assert socket.port == 22 and socket.program is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"tcp LISTEN 0 128 0.0.0.0:99999 0.0.0.0:*", "bad local address:port"),
        (b"tcp LISTEN 0 128 300.1.1.1:22 0.0.0.0:*", "bad local address"),
        (b"tcp LISTEN 0 128 [::1:22 0.0.0.0:*", "bad local address"),
        (b"garbage here", "not an ss -tulpn line"),
    ],
)
def test_bad_lines_name_file_and_line(line: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        ss_listen.parse(b"tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\n" + line + b"\n", "ss.txt")
    (problem,) = caught.value.problems
    assert problem.file == "ss.txt" and problem.line == 2 and message in problem.message


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_input_is_parsed_or_refused(data: bytes) -> None:
    try:
        ss_listen.parse(data, "fuzz")
    except ParseError as exc:
        assert all(p.file == "fuzz" and p.line >= 1 for p in exc.problems)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(RECORDED) - 1), st.binary(min_size=1, max_size=4))
def test_mutated_output_is_parsed_or_refused(at: int, junk: bytes) -> None:
    data = RECORDED[:at] + junk + RECORDED[at + len(junk) :]
    try:
        model = ss_listen.parse(data, "fuzz")
    except ParseError as exc:
        assert all(p.file == "fuzz" for p in exc.problems)
    else:
        assert all(0 <= s.port <= 65535 for s in model.sockets)
