"""Regenerate the nft -j fixtures of this folder with the real nft, inside throwaway namespaces.

    sudo python tests/parsers/netfilter/data/nft/generate.py

For every `NAME.nft` (loaded with `nft -f`) and `NAME.rules` (loaded with iptables-nft-restore,
whose untranslatable matches show up as `xt` blobs) it writes `NAME.json`: exactly what
`nft -j list ruleset` prints. The tests load the same scripts again and compare, so a fixture
that no longer matches what nft prints fails. Needs root, iproute2, nftables, iptables.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 30


def _run(*argv: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode()


def list_ruleset(script: Path) -> str:
    """Load `script` into a fresh network namespace and return `nft -j list ruleset`."""
    namespace = f"fwc-nft-{random.randrange(1 << 30)}"
    _run("ip", "netns", "add", namespace)
    try:
        # families.nft binds a netdev chain to v0; the kernel has no dummy driver everywhere,
        # veth is always there.
        _run("ip", "-n", namespace, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        if script.suffix == ".rules":
            _run(
                "ip", "netns", "exec", namespace, "iptables-nft-restore", stdin=script.read_bytes()
            )
        else:
            _run("ip", "netns", "exec", namespace, "nft", "-f", str(script))
        return _run("ip", "netns", "exec", namespace, "nft", "-j", "list", "ruleset")
    finally:
        subprocess.run(
            ["ip", "netns", "del", namespace], capture_output=True, timeout=TIMEOUT_S, check=False
        )


def scripts() -> list[Path]:
    return sorted([*HERE.glob("*.nft"), *HERE.glob("*.rules")])


def main() -> int:
    for script in scripts():
        target = script.with_suffix(".json")
        target.write_text(list_ruleset(script))
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
