"""Load one /etc/firewalld tree into the real firewalld daemon, privately, and print what it made.

Run as `ip netns exec NS unshare --mount --propagation private python3 firewalld_lab_agent.py`
with a JSON spec on stdin: {"etc": DIR, "work": DIR, "offline": [[arg, ...], ...]}. In its own
mount namespace it binds DIR over /etc/firewalld and tmpfs over /run and /var/log (so the host's
files are never written), runs each `firewall-offline-cmd` step on the tree, starts a private
D-Bus system bus and `firewalld --nofork`, waits for `firewall-cmd --state`, and prints one JSON
line: {"nft": <nft -j list ruleset>, "log": [...]} or {"error": ..., "log": [...]}. Every
subprocess is bounded; the daemons are stopped on the way out. Standard library only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

BUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/>
  </policy>
</busconfig>
"""


def _run(argv: list[str], log: list[str], timeout: float = 60) -> str:
    result = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    out = (result.stdout + result.stderr).decode(errors="replace").strip()
    log.append(f"$ {' '.join(argv)} -> {result.returncode}: {out[-500:]}")
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {out[-1000:]}")
    return result.stdout.decode()


def _wait(process: subprocess.Popen, ready: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited {process.returncode} at start")
        if subprocess.run(ready, capture_output=True, timeout=10, check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{process.args} not ready in {timeout} s")


def main() -> int:
    spec = json.loads(sys.stdin.readline())
    log: list[str] = []
    running: list[subprocess.Popen] = []
    work = Path(spec["work"])
    try:
        _run(["mount", "--make-rprivate", "/"], log, 10)
        for target in ("/run", "/var/log"):
            _run(["mount", "-t", "tmpfs", "tmpfs", target], log, 10)
        _run(["mount", "--bind", spec["etc"], "/etc/firewalld"], log, 10)
        os.makedirs("/run/dbus", exist_ok=True)
        for args in spec.get("offline", []):
            _run(["firewall-offline-cmd", *args], log, 60)
        bus = work / "bus.conf"
        bus.write_text(BUS_CONFIG)
        for argv, ready, timeout in (
            (["dbus-daemon", f"--config-file={bus}", "--nofork", "--nopidfile"],
             ["test", "-S", "/run/dbus/system_bus_socket"], 20),
            (["firewalld", "--nofork", "--nopid", "--log-target", "console"],
             ["firewall-cmd", "--state"], 90),
        ):  # fmt: skip
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            running.append(process)
            _wait(process, ready, timeout)
        nft = json.loads(_run(["nft", "-j", "list", "ruleset"], log, 30))
        for step in spec.get("runtime", []):
            _run(["firewall-cmd", *step], log, 30)
        after = json.loads(_run(["nft", "-j", "list", "ruleset"], log, 30))
        # What a scan's collection script asks firewall-cmd (checker/collectors/script.py).
        listings = {
            name: _run(list(argv), log, 30) for name, argv in spec.get("listings", {}).items()
        }
        print(
            json.dumps({"nft": nft, "runtime": after, "listings": listings, "log": log}), flush=True
        )
        return 0
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as error:
        print(json.dumps({"error": str(error), "log": log}), flush=True)
        return 1
    finally:
        for process in reversed(running):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
