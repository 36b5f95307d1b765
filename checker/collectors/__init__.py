"""Collectors: one transport per module (ssh, winrm, local), each `collect(host, *, deadline_s,
known_hosts) -> CollectResult` (the `Collector` protocol), never raising for a host's faults;
`COLLECTORS` maps each transport to its module.

`collect_hosts()` collects an inventory's hosts in parallel with one `KnownHosts` for the scan.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from checker.collectors.result import CollectResult
from checker.errors import Problem
from checker.inventory.model import HostSpec, Transport
from checker.target_guard import guarded

if TYPE_CHECKING:
    # hostkeys imports paramiko (about as long as python's own start): `fwcheck check`, which
    # reads evidence folders through this package, never needs it.
    from checker.collectors.hostkeys import KnownHosts


class Collector(Protocol):
    """One transport's module (ssh.py, winrm.py, local.py)."""

    def collect(
        self, host: HostSpec, *, deadline_s: float | None = ..., known_hosts: KnownHosts
    ) -> CollectResult: ...


# Each transport's module, imported on use: pywinrm (requests, NTLM) is only loaded when a WinRM
# host is scanned, paramiko only for SSH. The loaders' return type is the protocol, so mypy
# checks each module against it.


def _ssh() -> Collector:
    from checker.collectors import ssh

    return ssh


def _winrm() -> Collector:
    from checker.collectors import winrm

    return winrm


def _local() -> Collector:
    from checker.collectors import local

    return local


# By transport, one line each: the inventory's `transport:` values are Transport's members.
COLLECTORS: Mapping[Transport, Callable[[], Collector]] = {
    Transport.SSH: _ssh,
    Transport.WINRM: _winrm,
    Transport.LOCAL: _local,
}


def transport_module(transport: Transport) -> Collector:
    return COLLECTORS[transport]()


def collect_host(host: HostSpec, known_hosts: KnownHosts) -> CollectResult:
    """One host's outputs; a collector bug is that host's error result (checker.target_guard)."""

    def collect() -> CollectResult:
        module = transport_module(host.transport)
        return module.collect(host, deadline_s=host.timeout_s, known_hosts=known_hosts)

    def crashed(problem: Problem) -> CollectResult:
        return CollectResult(
            host=host.name, outputs=(), error=problem, transport=host.transport.value
        )

    return guarded(host.name, collect, crashed)


def collect_hosts(
    hosts: Sequence[HostSpec],
    known_hosts: KnownHosts,
    *,
    jobs: int = 8,
    on_result: Callable[[CollectResult], None] | None = None,
) -> list[CollectResult]:
    """Collect every host (at most `jobs` at once); results in the hosts' order."""
    results: list[CollectResult] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="collect") as pool:
        for result in pool.map(lambda h: collect_host(h, known_hosts), hosts):
            if on_result is not None:
                on_result(result)
            results.append(result)
    return results


def configure_logging() -> None:
    # paramiko logs every failed banner read with a traceback at ERROR; the host's error result
    # already says it in one line.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="fwcheck: %(message)s", level=logging.WARNING, stream=sys.stderr)
