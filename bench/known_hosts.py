#!/usr/bin/env python3
"""Benchmark: checking every host of a fleet against known_hosts grows linearly with the fleet.

A scan loads the known_hosts files once and, per host, asks which key types are known and then
checks the server's key (checker/collectors/hostkeys.py). This times that for N hosts and 2N
hosts, known_hosts plain and hashed (`|1|salt|hmac`, as `ssh-keygen -H` writes it), and the
same with paramiko.HostKeys (what fwcheck used before issue 16: it scanned every entry per lookup
and per loaded line). Prints CPU seconds, the growth for 2N (target <= 2.3x: linear) and the
ratio to paramiko, all measured in this one run. The hashed case is quadratic by nature (a
salted name can only be tested with one HMAC per entry); it is indexed so each host pays one
pass, not one per lookup.

Usage: python bench/known_hosts.py [--hosts 2000]
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paramiko  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402

from checker.collectors.hostkeys import KnownHosts, host_entry_name  # noqa: E402
from checker.inventory.model import HostKeyPolicy  # noqa: E402


def _key() -> paramiko.PKey:
    kind, blob = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .split()
    )
    return paramiko.PKey.from_type_string(kind.decode(), base64.b64decode(blob))


def _address(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def write(path: Path, hosts: int, key: paramiko.PKey, hashed: bool) -> None:
    lines = []
    for i in range(hosts):
        name = host_entry_name(_address(i), 22)
        if hashed:
            name = paramiko.HostKeys.hash_host(name)
        lines.append(f"{name} {key.get_name()} {key.get_base64()}\n")
    path.write_text("".join(lines))


def ours(path: Path, hosts: int, key: paramiko.PKey) -> None:
    known = KnownHosts.for_scan([str(path)], include_user=False)
    for i in range(hosts):
        known.known_types(_address(i), 22)
        assert known.check("h", _address(i), 22, key, HostKeyPolicy.STRICT).code == ""


def theirs(path: Path, hosts: int, key: paramiko.PKey) -> None:
    keys = paramiko.HostKeys()
    keys.load(str(path))
    for i in range(hosts):
        keys.lookup(_address(i))
        entry = keys.lookup(_address(i))
        assert entry is not None and entry[key.get_name()] == key


def cpu(run: Callable[[Path, int, paramiko.PKey], None], *args: object) -> float:
    started = time.process_time()
    run(*args)  # type: ignore[arg-type]
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=2000)
    args = parser.parse_args()
    key = _key()
    with tempfile.TemporaryDirectory(prefix="fwcheck-known-hosts-bench-") as folder:
        for hashed in (False, True):
            row = []
            for hosts in (args.hosts, 2 * args.hosts):
                path = Path(folder) / f"known_hosts-{hosts}-{hashed}"
                write(path, hosts, key, hashed)
                row.append((hosts, cpu(ours, path, hosts, key), cpu(theirs, path, hosts, key)))
            (n1, a1, b1), (n2, a2, b2) = row
            kind = "hashed" if hashed else "plain "
            print(
                f"{kind} known_hosts: {n1} hosts {a1:6.2f} s (paramiko.HostKeys {b1:6.2f} s, ratio"
                f" {a1 / b1:.2f}) | {n2} hosts {a2:6.2f} s (paramiko {b2:6.2f} s, ratio"
                f" {a2 / b2:.2f}) | growth for 2x: {a2 / a1:.2f}x (paramiko {b2 / b1:.2f}x)"
                + ("" if hashed else " (target <= 2.3)"),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
