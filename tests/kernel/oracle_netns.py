"""Two network namespaces ("host" under test, "peer") joined by a veth pair, and commands run
inside them. Names carry a random suffix so parallel or leftover runs never collide; `netns_pair`
deletes both namespaces (and with them the veth pair) on the way out, failure or not.

Addresses are static, neighbours are permanent entries (no ARP/NDP: a ruleset that drops ICMPv6
must not break IPv6 reachability), IPv6 addresses are `nodad` so they are usable at once
(ip-address(8)).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from oracle_topology import (
    HOST_IFACE,
    HOST_MAC,
    PEER_IFACE,
    PEER_MAC,
    host_addresses,
    peer_addresses,
)

COMMAND_TIMEOUT_S = 30


@dataclass(frozen=True, slots=True)
class NetnsPair:
    host: str
    peer: str

    def run(
        self, namespace: str, argv: Sequence[str], stdin: bytes = b"", check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            ["ip", "netns", "exec", namespace, *argv],
            input=stdin,
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} in {namespace} exited {result.returncode}: "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        return result


def ip(*argv: str) -> None:
    """`ip ARGV…`, bounded; its error text raised as a RuntimeError."""
    result = subprocess.run(["ip", *argv], capture_output=True, timeout=COMMAND_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(argv)}: {result.stderr.decode(errors='replace').strip()}")


def veth(namespace: str, iface: str, other_namespace: str, other_iface: str) -> None:
    """A veth pair made directly inside the two namespaces, so fixed names cannot clash in the
    root namespace."""
    ip("link", "add", iface, "netns", namespace, "type", "veth", "peer", "name", other_iface,
       "netns", other_namespace)  # fmt: skip


def _configure(pair: NetnsPair) -> None:
    veth(pair.host, HOST_IFACE, pair.peer, PEER_IFACE)
    sides = (
        (pair.host, HOST_IFACE, HOST_MAC, host_addresses, peer_addresses, PEER_MAC),
        (pair.peer, PEER_IFACE, PEER_MAC, peer_addresses, host_addresses, HOST_MAC),
    )
    for namespace, iface, mac, mine, theirs, their_mac in sides:
        ip("-n", namespace, "link", "set", "lo", "up")
        ip("-n", namespace, "link", "set", iface, "address", mac)
        for address in mine(4):
            ip("-n", namespace, "addr", "add", f"{address}/24", "dev", iface)
        for address in mine(6):
            ip("-n", namespace, "addr", "add", f"{address}/64", "dev", iface, "nodad")
        ip("-n", namespace, "link", "set", iface, "up")
        for family in (4, 6):
            for address in theirs(family):
                ip(
                    "-n",
                    namespace,
                    "neigh",
                    "replace",
                    address,
                    "lladdr",
                    their_mac,
                    "dev",
                    iface,
                    "nud",
                    "permanent",
                )


def missing_requirements() -> str:
    """Why the oracle cannot run here ("" when it can)."""
    import os

    if os.geteuid() != 0:
        return "kernel oracle needs root (network namespaces, iptables, nft)"
    for tool in ("ip", "iptables-restore", "ip6tables-restore", "iptables-save", "nft"):
        if shutil.which(tool) is None:
            return f"kernel oracle needs {tool} (apt: iproute2 iptables nftables)"
    probe = f"fwck-check-{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    if made.returncode != 0:
        return f"`ip netns add` fails here: {made.stderr.decode(errors='replace').strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ""


@contextmanager
def netns_pair() -> Iterator[NetnsPair]:
    suffix = secrets.token_hex(4)
    pair = NetnsPair(f"fwck-h-{suffix}", f"fwck-p-{suffix}")
    created: list[str] = []
    try:
        for name in (pair.host, pair.peer):
            ip("netns", "add", name)
            created.append(name)
        _configure(pair)
        yield pair
    finally:
        for name in created:
            subprocess.run(
                ["ip", "netns", "del", name], capture_output=True, timeout=COMMAND_TIMEOUT_S
            )
