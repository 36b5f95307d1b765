#!/usr/bin/env python3
"""Benchmark: loading a large Ansible inventory (INI and YAML) grows linearly with its hosts.

Generates an inventory of N hosts in one group (plus every tenth host in a second group and
both under a parent group, like a real fleet), times `load_inventory` on it, then on 2N hosts,
and prints the growth of the time (target <= 2.3x: linear; before issue 11's fix, the group
membership lists made it quadratic, about 4x, and 40,000 hosts took minutes).
Times are the best of --repeat runs, measured in this one run.

Usage: python bench/inventory.py [--hosts 20000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from checker.inventory import load_inventory  # noqa: E402


def _address(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def write(folder: Path, hosts: int) -> tuple[Path, Path]:
    ini = folder / f"hosts-{hosts}.ini"
    lines = ["[web]"] + [f"web{i} ansible_host={_address(i)}" for i in range(hosts)]
    lines += ["[db]"] + [f"web{i}" for i in range(0, hosts, 10)]
    lines += ["[prod:children]", "web", "db"]
    ini.write_text("\n".join(lines) + "\n")
    yml = folder / f"hosts-{hosts}.yaml"
    body = ["all:", "  children:", "    web:", "      hosts:"]
    for i in range(hosts):
        body += [f"        web{i}:", f"          ansible_host: {_address(i)}"]
    yml.write_text("\n".join(body) + "\n")
    return ini, yml


def best(path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        load_inventory(path)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = write(Path(tmp), args.hosts)
        large = write(Path(tmp), 2 * args.hosts)
        for kind, one, two in zip(("ini", "yaml"), small, large, strict=True):
            t1, t2 = best(one, args.repeat), best(two, args.repeat)
            print(
                f"{kind}: {args.hosts} hosts {t1:.2f} s, {2 * args.hosts} hosts {t2:.2f} s,"
                f" growth {t2 / t1:.2f}x (target <= 2.3x)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
