"""Build an /etc/firewalld tree with `firewall-offline-cmd` and load it into the real daemon.

The daemon runs in a fresh network namespace (its nftables ruleset is that namespace's, never the
host's) and a private mount namespace (firewalld_lab_agent.py binds the test's tree over
/etc/firewalld and tmpfs over /run and /var/log), talking to its own D-Bus system bus. `load()`
returns the tree as firewalld left it and the daemon's `nft -j list ruleset`.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

AGENT = Path(__file__).with_name("firewalld_lab_agent.py")
TIMEOUT_S = 240
NEEDED = (
    "firewalld",
    "firewall-offline-cmd",
    "firewall-cmd",
    "dbus-daemon",
    "nft",
    "ip",
    "unshare",
)


def missing() -> str:
    absent = [tool for tool in NEEDED if shutil.which(tool) is None]
    if absent:
        return f"not installed: {', '.join(absent)}"
    if not Path("/usr/lib/firewalld/zones").is_dir():
        return "no /usr/lib/firewalld/zones"
    return ""


@dataclass(frozen=True, slots=True)
class Loaded:
    etc: Path
    nft: dict
    runtime: dict
    # Outputs of the `listings` commands asked for (name -> stdout), after the runtime steps.
    listings: dict[str, str]


def fresh_tree(work: Path, conf: dict[str, str]) -> Path:
    """An empty etc/firewalld (as the package ships it) with firewalld.conf settings."""
    etc = work / "etc" / "firewalld"
    for sub in ("zones", "services", "policies", "ipsets", "icmptypes", "helpers"):
        (etc / sub).mkdir(parents=True, exist_ok=True)
    settings = {"DefaultZone": "public", "FirewallBackend": "nftables", "IPv6_rpfilter": "no",
                "CleanupOnExit": "yes", "LogDenied": "off", "FlushAllOnReload": "yes", **conf}  # fmt: skip
    (etc / "firewalld.conf").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return etc


def load(
    work: Path,
    offline: Sequence[Sequence[str]],
    conf: dict[str, str] | None = None,
    runtime: Sequence[Sequence[str]] = (),
    namespace: str | None = None,
    listings: dict[str, Sequence[str]] | None = None,
) -> Loaded:
    """With `namespace` (a test's own, e.g. the kernel oracle's host side) the daemon runs there
    with CleanupOnExit=no, so its ruleset stays loaded for probes after it stops."""
    etc = fresh_tree(work, {**(conf or {}), **({"CleanupOnExit": "no"} if namespace else {})})
    own = namespace is None
    namespace = namespace or f"fwlab-{secrets.token_hex(4)}"
    if own:
        subprocess.run(["ip", "netns", "add", namespace], check=True, timeout=30)
    try:
        subprocess.run(["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"],
                       check=True, timeout=30)  # fmt: skip
        spec = {"etc": str(etc), "work": str(work),
                "offline": [list(a) for a in offline], "runtime": [list(a) for a in runtime],
                "listings": {k: list(v) for k, v in (listings or {}).items()}}  # fmt: skip
        result = subprocess.run(
            ["ip", "netns", "exec", namespace, "unshare", "--mount", "--propagation", "private",
             "python3", str(AGENT)],
            input=json.dumps(spec).encode() + b"\n", capture_output=True, timeout=TIMEOUT_S,
            check=False,
        )  # fmt: skip
    finally:
        if own:
            subprocess.run(["ip", "netns", "delete", namespace], timeout=30, check=False)
    lines = result.stdout.decode(errors="replace").strip().splitlines()
    if not lines:
        raise RuntimeError(f"agent said nothing: {result.stderr.decode(errors='replace')[-2000:]}")
    answer = json.loads(lines[-1])
    if "error" in answer:
        raise RuntimeError(f"{answer['error']}\n" + "\n".join(answer["log"]))
    return Loaded(etc, answer["nft"], answer["runtime"], answer["listings"])
