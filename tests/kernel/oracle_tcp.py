"""Plain TCP listeners and connects inside a test's namespaces, for the oracles that need a real
connection (a handshake through a DNAT) rather than the probe agent's many at once. Standard
library scripts run with `ip netns exec`; every wait is bounded."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from oracle_netns import NetnsPair

LISTEN = """
import socket, sys, time
socks = []
for port in map(int, sys.argv[1:]):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16); socks.append(s)
print("ready", flush=True)
time.sleep(60)
"""
# argv: destination, port[, source address, source port]
CONNECT = """
import socket, sys
s = socket.socket(); s.settimeout(1.5)
if len(sys.argv) > 3:
    s.bind((sys.argv[3], int(sys.argv[4])))
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("accept")
except OSError:
    print("drop")
"""


@contextmanager
def listening(*where: tuple[str, tuple[int, ...]]) -> Iterator[None]:
    """Listeners on each (namespace, ports), ready inside the block, killed when it ends."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for namespace, ports in where:
            process = subprocess.Popen(
                ["ip", "netns", "exec", namespace, sys.executable, "-c", LISTEN, *map(str, ports)],
                stdout=subprocess.PIPE,
            )
            processes.append(process)
            assert process.stdout is not None
            assert process.stdout.readline().strip() == b"ready"
        time.sleep(0.1)
        yield
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()


def connect(
    pair: NetnsPair, namespace: str, address: str, port: int, source: tuple[str, int] | None = None
) -> str:
    """ "accept" when a TCP connection from `namespace` to address:port completes, else "drop"."""
    bound = [source[0], str(source[1])] if source else []
    argv = [sys.executable, "-c", CONNECT, address, str(port), *bound]
    return pair.run(namespace, argv).stdout.decode().strip()
