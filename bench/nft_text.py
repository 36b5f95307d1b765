#!/usr/bin/env python3
"""Benchmark: reading a large nftables.conf with fwcheck (nft_text) against `nft -c -f`.

The file (`--rules`, default 50,000) is an inet filter table whose input chain holds rules of the
kinds config repositories keep: ports and port sets, source prefixes, interface names with
wildcards, ct state, named-set lookups, counters, logs and comments, with a few `define`s.
Measured, one after the other, best of `--repeat` runs:
  - nft: `nft -c -f FILE` (parse and check against the kernel, commit nothing) in a fresh
    network namespace this script creates and deletes (`ip netns`), so the host is untouched;
  - fwcheck: `nft_text.parse` of the same bytes into the model (in this process).
Prints both wall times and the ratio fwcheck / nft (target <= 2).
Not a test: run it by hand, as root, on an otherwise idle machine.

Usage: python bench/nft_text.py [--rules 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def script(rules: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    lines = [
        "#!/usr/sbin/nft -f",
        "flush ruleset",
        "define mgmt = { 10.10.0.0/16, 192.168.100.0/24 }",
        "define web = { 80, 443 }",
        "table inet filter {",
        "\tset blocked { type ipv4_addr; flags interval; elements = { 203.0.113.0/24, 198.51.100.7 } }",
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy drop;",
        "\t\tct state established,related accept",
    ]
    for index in range(rules):
        kind = index % 6
        port = rng.randint(1, 65535)
        net = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24"
        if kind == 0:
            rule = f"tcp dport {port} accept"
        elif kind == 1:
            rule = (
                f'ip saddr {net} tcp dport {{ 22, {port} }} counter accept comment "host {index}"'
            )
        elif kind == 2:
            rule = (
                f'iifname "eth{rng.randint(0, 9)}*" udp dport {port}-{min(port + 10, 65535)} drop'
            )
        elif kind == 3:
            rule = "ip saddr $mgmt tcp dport $web ct state new accept"
        elif kind == 4:
            rule = f'ip saddr @blocked log prefix "blocked {index} " drop'
        else:
            rule = f"meta l4proto udp ip daddr != {net} udp sport {port} reject"
        lines.append("\t\t" + rule)
    lines += ["\t}", "}"]
    return "\n".join(lines) + "\n"


def time_nft(path: Path) -> float:
    namespace = f"fwck-bench-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", namespace], check=True, timeout=30)
    try:
        started = time.perf_counter()
        subprocess.run(["ip", "netns", "exec", namespace, "nft", "-c", "-f", str(path)],
                       check=True, timeout=3600)  # fmt: skip
        return time.perf_counter() - started
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False, timeout=30)


def time_fwcheck(path: Path) -> tuple[float, int]:
    from checker.parsers.netfilter import nft_text

    data = path.read_bytes()
    started = time.perf_counter()
    ruleset = nft_text.parse(data, str(path))
    elapsed = time.perf_counter() - started
    return elapsed, sum(len(c.rules) for t in ruleset.tables for c in t.chains)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "nftables.conf"
        path.write_text(script(args.rules))
        nft = min(time_nft(path) for _ in range(args.repeat))
        runs = [time_fwcheck(path) for _ in range(args.repeat)]
        ours, count = min(r[0] for r in runs), runs[0][1]
    print(f"nftables.conf with {args.rules} rules ({count} model rules), best of {args.repeat}")
    print(f"  nft -c -f:        {nft:8.2f} s")
    print(f"  fwcheck nft_text: {ours:8.2f} s")
    print(f"  ratio fwcheck / nft: {ours / nft:.2f} (target <= 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
