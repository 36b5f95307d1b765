"""The real `ufw` command run in the host side of a namespace pair, with a private mount of its
state, so that the tests can compare fwcheck's reading of the tree ufw wrote with what ufw loaded.

`ip netns exec HOST unshare --mount --propagation private` gives ufw its own network namespace
(its iptables calls change only that namespace's tables) and its own mount namespace in which a
lab folder is bind-mounted over /etc/ufw, /etc/default/ufw and /lib/ufw, and tmpfs over /run
(ufw's lock file) and /var/lib/ufw: the host's ufw files and firewall are never written. The lab
starts from the package's own files (/usr/share/ufw, /lib/ufw, /etc/default/ufw as installed),
read at test time; nothing of ufw's is copied into the repository.

After the run the lab folder holds the tree ufw wrote (lab/etc/ufw, lab/etc/default/ufw), the
kernel's own view of what enabling that tree loaded (lab/out/iptables-save.v4,
ip6tables-save.v6) and the commands ufw refused (lab/out/refused.json).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from oracle_netns import NetnsPair

PACKAGE_FILES = Path("/usr/share/ufw")
FRAGMENTS = (
    "before.rules",
    "after.rules",
    "before6.rules",
    "after6.rules",
    "user.rules",
    "user6.rules",
    "ufw.conf",
    "before.init",
    "after.init",
)
RUN_TIMEOUT_S = 300
COMMAND_TIMEOUT_S = 60

# Mounts first, then the driver; "$1" is the lab folder, the rest the driver's argv.
_MOUNTS = r"""
set -e
lab="$1"; shift
mount -t tmpfs fwck-ufw-run /run
mount --bind "$lab/etc/ufw" /etc/ufw
mount --bind "$lab/etc/default/ufw" /etc/default/ufw
mount --bind "$lab/lib/ufw" /lib/ufw
if [ -d /var/lib/ufw ]; then mount -t tmpfs fwck-ufw-var /var/lib/ufw; fi
exec "$@"
"""


def missing() -> str:
    """Why real ufw cannot run here ("" when it can)."""
    for tool in ("ufw", "unshare", "iptables-save", "ip6tables-save"):
        if shutil.which(tool) is None:
            return f"the ufw lab needs {tool} (apt: ufw util-linux iptables)"
    for path in (PACKAGE_FILES / "user.rules", Path("/lib/ufw/ufw-init"), Path("/etc/default/ufw")):
        if not path.exists():
            return f"the ufw lab needs {path} (apt: ufw)"
    return ""


def prepare(lab: Path, ipv6: bool) -> None:
    """A lab folder holding ufw's package defaults, disabled, IPV6 as asked."""
    (lab / "etc" / "ufw" / "applications.d").mkdir(parents=True)
    (lab / "etc" / "default").mkdir(parents=True)
    (lab / "lib").mkdir()
    (lab / "out").mkdir()
    for name in FRAGMENTS:
        source = PACKAGE_FILES / name
        if source.exists():
            shutil.copy2(source, lab / "etc" / "ufw" / name)
    # ufw's kernel settings: they would change only the lab namespace's, but they are not what
    # is compared, so the lab loads none.
    (lab / "etc" / "ufw" / "sysctl.conf").write_text("")
    shutil.copytree("/lib/ufw", lab / "lib" / "ufw")
    defaults = Path("/etc/default/ufw").read_text().split("\n")
    wanted = {
        "IPV6": "yes" if ipv6 else "no",
        "IPT_SYSCTL": "/etc/ufw/sysctl.conf",
        "MANAGE_BUILTINS": "no",
    }
    lines = [line for line in defaults if line.split("=", 1)[0] not in wanted]
    lines += [f"{key}={value}" for key, value in wanted.items()]
    (lab / "etc" / "default" / "ufw").write_text("\n".join(lines) + "\n")


def run(pair: NetnsPair, lab: Path, commands: Sequence[Sequence[str]]) -> dict[str, bytes]:
    """Make the configuration with the ufw commands (argv lists) in a scratch namespace, then
    enable the tree ufw wrote in the pair's fresh host namespace; return the kernel's saves.

    Two steps because ufw rewrites user6.rules/user.rules while it starts (the logging and rate
    limiting sections): what one `ufw enable` loaded can differ from what the files it leaves
    load. The second enable, on a kernel without ufw chains, loads exactly this tree."""
    scratch = f"fwck-ufw-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", scratch], check=True, timeout=COMMAND_TIMEOUT_S)
    try:
        _run_in(scratch, lab, commands)
    finally:
        subprocess.run(["ip", "netns", "del", scratch], timeout=COMMAND_TIMEOUT_S, check=False)
    _run_in(pair.host, lab, [["ufw", "--force", "enable"]])
    return {
        name: (lab / "out" / name).read_bytes()
        for name in ("iptables-save.v4", "ip6tables-save.v6")
    }


def _run_in(namespace: str, lab: Path, commands: Sequence[Sequence[str]]) -> None:
    (lab / "commands.json").write_text(json.dumps([list(c) for c in commands]))
    argv = [
        "ip", "netns", "exec", namespace,
        "unshare", "--mount", "--propagation", "private",
        "sh", "-c", _MOUNTS, "sh", str(lab),
        sys.executable, str(Path(__file__).resolve()), "--inner", str(lab),
    ]  # fmt: skip
    # ufw writes its temporary files (mkstemp) under TMPDIR: the lab's, not the host's /tmp.
    (lab / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(lab / "tmp")}
    result = subprocess.run(argv, capture_output=True, timeout=RUN_TIMEOUT_S, check=False, env=env)
    if result.returncode != 0:
        raise RuntimeError(
            f"ufw lab failed ({result.returncode}): {result.stderr.decode(errors='replace')[-2000:]}"
        )


def _inner(lab: Path) -> None:
    """Inside the private mounts: run each command, then save what the kernel holds."""
    refused = []
    for command in json.loads((lab / "commands.json").read_text()):
        done = subprocess.run(command, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False)
        if done.returncode != 0:
            # A random rule ufw refuses (as it would refuse the user) is left out and recorded;
            # enabling must work.
            if "enable" in command:
                sys.exit(
                    f"{' '.join(command)}: {done.returncode}: {done.stderr.decode(errors='replace')}"
                )
            refused.append(
                [
                    command,
                    done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace"),
                ]
            )
    record = lab / "out" / "refused.json"
    earlier = json.loads(record.read_text()) if record.exists() else []
    record.write_text(json.dumps(earlier + refused))
    for tool, name in (
        ("iptables-save", "iptables-save.v4"),
        ("ip6tables-save", "ip6tables-save.v6"),
    ):
        saved = subprocess.run([tool], capture_output=True, timeout=COMMAND_TIMEOUT_S, check=True)
        (lab / "out" / name).write_bytes(saved.stdout)


if __name__ == "__main__" and sys.argv[1:2] == ["--inner"]:
    _inner(Path(sys.argv[2]))
