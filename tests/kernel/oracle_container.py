"""A "container" namespace behind the oracle's host namespace, the way Docker wires one: a veth
pair from the host (`ctr0`, 192.0.2.1/24) to the container (`eth0`, 192.0.2.2/24, default route
via the host), and IPv4 forwarding on in the host namespace only (a per-namespace sysctl). The
namespace has a random name and is deleted on the way out, failure or not.

Addresses: RFC 5737 TEST-NET-1, inside namespaces the test creates.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from oracle_netns import COMMAND_TIMEOUT_S, NetnsPair, ip, veth

CONTAINER_IFACE = "ctr0"
HOST_SIDE = "192.0.2.1"
CONTAINER = "192.0.2.2"


@contextmanager
def container_behind(pair: NetnsPair) -> Iterator[str]:
    """Yield the container namespace's name."""
    name = f"fwck-c-{secrets.token_hex(4)}"
    ip("netns", "add", name)
    try:
        veth(pair.host, CONTAINER_IFACE, name, "eth0")
        ip("-n", pair.host, "addr", "add", f"{HOST_SIDE}/24", "dev", CONTAINER_IFACE)
        ip("-n", pair.host, "link", "set", CONTAINER_IFACE, "up")
        ip("-n", name, "link", "set", "lo", "up")
        ip("-n", name, "addr", "add", f"{CONTAINER}/24", "dev", "eth0")
        ip("-n", name, "link", "set", "eth0", "up")
        ip("-n", name, "route", "add", "default", "via", HOST_SIDE)
        pair.run(pair.host, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=COMMAND_TIMEOUT_S)
