"""Bounded concurrency and deadlines of the fleet runner.

The collect callables here are plain functions that sleep or block (they stand for a network
round trip); the SSH test at the end uses the real collector against a real listener that
never speaks SSH.
"""

from __future__ import annotations

import socket
import threading
import time

from checker.collectors import ssh
from checker.collectors.hostkeys import KnownHosts
from checker.collectors.result import CollectResult
from checker.fleet.runner import collect_stream
from checker.inventory.model import HostSpec


def hosts(n: int, timeout_s: float = 60.0) -> list[HostSpec]:
    return [HostSpec(name=f"h{i}", address="192.0.2.1", timeout_s=timeout_s) for i in range(n)]


def ok(host: HostSpec) -> CollectResult:
    return CollectResult(host=host.name, outputs=(), error=None)


def test_at_most_concurrency_hosts_in_flight_and_every_host_once() -> None:
    lock = threading.Lock()
    running = 0
    peak = 0

    def collect(host: HostSpec, deadline_s: float) -> CollectResult:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return ok(host)

    names = [r.host for r in collect_stream(hosts(60), collect, concurrency=5)]
    assert sorted(names) == sorted(f"h{i}" for i in range(60))
    assert 2 <= peak <= 5


def test_each_host_gets_the_shorter_of_its_timeout_and_host_timeout() -> None:
    given: dict[str, float] = {}

    def collect(host: HostSpec, deadline_s: float) -> CollectResult:
        given[host.name] = deadline_s
        return ok(host)

    fleet = hosts(2, timeout_s=30.0)
    list(collect_stream(fleet, collect, concurrency=2, host_timeout_s=7.0))
    assert given == {"h0": 7.0, "h1": 7.0}
    list(collect_stream(fleet, collect, concurrency=2, host_timeout_s=90.0))
    assert given == {"h0": 30.0, "h1": 30.0}


def test_scan_deadline_ends_the_scan_with_timeout_errors() -> None:
    release = threading.Event()

    def collect(host: HostSpec, deadline_s: float) -> CollectResult:
        if host.name == "h0":
            return ok(host)
        release.wait(30)  # a collector overrunning its deadline (a bug or a wedged library)
        return ok(host)

    started = time.monotonic()
    results = list(collect_stream(hosts(6), collect, concurrency=2, scan_timeout_s=0.5))
    elapsed = time.monotonic() - started
    release.set()
    assert elapsed < 0.5 + 5.0 + 2.0  # deadline + grace, not the collectors' 30 s
    by_name = {r.host: r for r in results}
    assert sorted(by_name) == [f"h{i}" for i in range(6)]
    assert by_name["h0"].error is None
    errors = [r.error for n, r in by_name.items() if n != "h0"]
    assert all(e is not None and e.code == "timeout" for e in errors)
    messages = " ".join(e.message for e in errors if e is not None)
    assert "still being collected" in messages and "not reached" in messages


def test_a_collector_crash_is_that_host_s_error_only() -> None:
    def collect(host: HostSpec, deadline_s: float) -> CollectResult:
        if host.name == "h1":
            raise RuntimeError("boom")
        return ok(host)

    results = {r.host: r for r in collect_stream(hosts(3), collect, concurrency=2)}
    assert results["h1"].error is not None and results["h1"].error.code == "internal"
    assert "RuntimeError" in results["h1"].error.message
    assert results["h0"].error is None and results["h2"].error is None


def test_real_ssh_collector_honours_the_host_deadline_from_the_runner() -> None:
    """A real TCP listener on loopback that accepts and never sends an SSH banner."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    fleet = [
        HostSpec(name=f"mute{i}", address="127.0.0.1", port=port, timeout_s=60.0) for i in range(3)
    ]
    known = KnownHosts([], accept_new_file=None)

    def collect(host: HostSpec, deadline_s: float) -> CollectResult:
        return ssh.collect(host, deadline_s=deadline_s, known_hosts=known)

    started = time.monotonic()
    try:
        results = list(collect_stream(fleet, collect, concurrency=3, host_timeout_s=1.0))
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()
    assert time.monotonic() - started < 5.0
    assert {r.error.code for r in results if r.error} == {"no-banner"}
    assert len(results) == 3
