"""Bounded-concurrency collection with a deadline per host and one for the whole scan.

`collect_stream()` yields each host's `CollectResult` as soon as it is collected (completion
order), at most `concurrency` hosts in flight and at most `concurrency` finished results waiting
for the consumer (a bounded queue: when checking falls behind, collection waits, so raw outputs
never pile up in memory however large the fleet).

Deadlines. Each host gets `min(its own timeout_s, --host-timeout, time left in the scan)` and
the collector enforces it (checker.collectors: every step of SSH/WinRM/local has a deadline).
Hosts not started when the scan's deadline passes, and hosts still in flight a short grace after
it, get a `timeout` error result without waiting any longer: workers are daemon threads, so a
wedged connection cannot hold the process open.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

from checker.collectors.result import CollectResult, host_problem
from checker.inventory.model import HostSpec
from checker.target_guard import internal_problem

# Default hosts in flight: collection is network-bound (one SSH round trip per host), so more
# than the cores; paramiko runs one extra thread per connection, and sshd's MaxStartups (10:30:100
# by default, sshd_config(5)) only matters per target, not across a fleet.
DEFAULT_CONCURRENCY = 32
# How long after the scan's deadline a host already in flight may still finish (its collector
# was given the remaining time, so it should be done; this only covers a collector's overrun).
GRACE_S = 5.0

Collect = Callable[[HostSpec, float], CollectResult]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def deadline_result(host: HostSpec, message: str) -> CollectResult:
    return CollectResult(
        host=host.name,
        outputs=(),
        error=host_problem(host.name, "timeout", message),
        transport=host.transport.value,
        address=f"{host.address}:{host.effective_port}",
        started_at=_now(),
    )


def crash_result(host: HostSpec, exc: BaseException) -> CollectResult:
    # A collector bug must not lose the other hosts (STYLE.md §6); the type names the bug.
    return CollectResult(
        host=host.name,
        outputs=(),
        error=internal_problem(host.name, exc),
        transport=host.transport.value,
        started_at=_now(),
    )


class _Shared:
    """State the workers and the consumer share, behind one lock."""

    def __init__(self, hosts: Sequence[HostSpec]) -> None:
        self.lock = threading.Lock()
        self.next_index = 0
        self.hosts = hosts
        self.in_flight: dict[int, HostSpec] = {}
        self.closed = threading.Event()

    def take(self) -> tuple[int, HostSpec] | None:
        with self.lock:
            if self.closed.is_set() or self.next_index >= len(self.hosts):
                return None
            index = self.next_index
            self.next_index += 1
            self.in_flight[index] = self.hosts[index]
            return index, self.hosts[index]


def collect_stream(
    hosts: Sequence[HostSpec],
    collect: Collect,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    scan_timeout_s: float | None = None,
    host_timeout_s: float | None = None,
) -> Iterator[CollectResult]:
    """Yield one result per host, in completion order; never raises for a host's faults."""
    if not hosts:
        return
    end = time.monotonic() + scan_timeout_s if scan_timeout_s is not None else None
    shared = _Shared(hosts)
    done: queue.Queue[tuple[int, CollectResult]] = queue.Queue(maxsize=max(1, concurrency))

    def hand_over(item: tuple[int, CollectResult]) -> bool:
        while not shared.closed.is_set():
            try:
                done.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        while (taken := shared.take()) is not None:
            index, host = taken
            limit_s = (
                host.timeout_s if host_timeout_s is None else min(host.timeout_s, host_timeout_s)
            )
            if end is not None:
                left = end - time.monotonic()
                if left <= 0:
                    result = deadline_result(
                        host,
                        f"the scan's deadline of {scan_timeout_s:g} s passed before this host was reached",
                    )
                    if not hand_over((index, result)):
                        return
                    continue
                limit_s = min(limit_s, left)
            try:
                result = collect(host, limit_s)
            except Exception as exc:  # noqa: BLE001 - see crash_result
                result = crash_result(host, exc)
            if not hand_over((index, result)):
                return

    workers = [
        threading.Thread(target=work, name=f"collect-{n}", daemon=True)
        for n in range(max(1, min(concurrency, len(hosts))))
    ]
    for worker in workers:
        worker.start()
    delivered: set[int] = set()
    try:
        while len(delivered) < len(hosts):
            wait_s = None if end is None else max(0.0, end + GRACE_S - time.monotonic())
            try:
                index, result = done.get(timeout=wait_s)
            except queue.Empty:
                break
            with shared.lock:
                shared.in_flight.pop(index, None)
            if index in delivered:
                continue
            delivered.add(index)
            yield result
        if len(delivered) < len(hosts):
            # The scan's deadline and its grace passed: give up on whatever is left.
            with shared.lock:
                shared.closed.set()
                stuck = dict(shared.in_flight)
            for index, host in enumerate(hosts):
                if index in delivered:
                    continue
                delivered.add(index)
                why = (
                    "still being collected when the scan's deadline passed"
                    if index in stuck
                    else "not reached before the scan's deadline passed"
                )
                yield deadline_result(host, f"{why} ({scan_timeout_s:g} s)")
    finally:
        shared.closed.set()
