"""/proc/net/{tcp,udp}[6] (checker.parsers.netfilter.proc_net), the collector's fallback without ss:
on real sockets in a network namespace the test creates, it must list the same listening
sockets (protocol, address, port) as ss does on the same namespace."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from needs_root import require_root

from checker import parsers
from checker.errors import ParseError
from checker.parsers.netfilter import proc_net, ss_listen

LISTENERS = r"""
import socket, time
out = []
def mk(fam, kind, addr, v6only=None):
    s = socket.socket(fam, kind)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind(addr)
    if kind == socket.SOCK_STREAM:
        s.listen()
    out.append(s)
mk(socket.AF_INET, socket.SOCK_STREAM, ("0.0.0.0", 8080))
mk(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 631))
mk(socket.AF_INET, socket.SOCK_DGRAM, ("198.51.100.5", 53))
mk(socket.AF_INET6, socket.SOCK_STREAM, ("::", 8443), 1)
mk(socket.AF_INET6, socket.SOCK_STREAM, ("::1", 632), 1)
mk(socket.AF_INET6, socket.SOCK_DGRAM, ("2001:db8:5::5", 5353), 1)
print("ready", flush=True)
time.sleep(20)
"""


def _ns(name: str, *argv: str) -> bytes:
    return subprocess.run(
        ["ip", "netns", "exec", name, *argv], capture_output=True, timeout=20, check=False
    ).stdout


def test_same_sockets_as_ss() -> None:
    require_root("a network namespace with real sockets")
    name = f"fwcproc{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    agent = None
    try:
        setup = [
            ("ip", "link", "set", "lo", "up"),
            ("ip", "link", "add", "p0", "type", "veth", "peer", "name", "p1"),
            ("ip", "addr", "add", "198.51.100.5/24", "dev", "p0"),
            ("ip", "-6", "addr", "add", "2001:db8:5::5/64", "dev", "p0", "nodad"),
            ("ip", "link", "set", "p0", "up"),
        ]
        for argv in setup:
            subprocess.run(["ip", "netns", "exec", name, *argv], check=True, timeout=10)
        agent = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", LISTENERS],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert agent.stdout is not None and agent.stdout.readline().strip() == "ready"
        tables = _ns(
            name,
            "grep",
            "-H",
            "",
            "/proc/net/tcp",
            "/proc/net/tcp6",
            "/proc/net/udp",
            "/proc/net/udp6",
        )
        listing = _ns(name, "ss", "-H", "-tuln")
    finally:
        if agent is not None:
            agent.kill()
            agent.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", name], timeout=10)
    assert parsers.detect(tables, "t") is proc_net
    from_proc = {(s.protocol, s.address, s.port) for s in proc_net.parse(tables, "t").sockets}
    from_ss = {(s.protocol, s.address, s.port) for s in ss_listen.parse(listing, "s").sockets}
    assert from_proc == from_ss
    assert len(from_proc) == 6
    loopback = [s for s in proc_net.parse(tables, "t").sockets if s.loopback_only]
    assert sorted(s.port for s in loopback) == [631, 632]


def test_bad_line_names_file_and_line() -> None:
    data = b"/proc/net/tcp:  sl  local_address rem_address\n/proc/net/tcp: garbage\n"
    with pytest.raises(ParseError) as caught:
        proc_net.parse(data, "p.txt")
    (problem,) = caught.value.problems
    assert problem.file == "p.txt" and problem.line == 2


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_input_is_parsed_or_refused(data: bytes) -> None:
    try:
        proc_net.parse(data, "fuzz")
    except ParseError as exc:
        assert all(p.file == "fuzz" and p.line >= 1 for p in exc.problems)
