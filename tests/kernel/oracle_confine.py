"""Run a real firewall generator inside the host namespace with private state (a script run as
`ip netns exec NS unshare --mount --propagation private python3 oracle_confine.py`).

The generators (ufw, firewalld, shorewall, fail2ban …) write to /etc, /var/lib and /run: this
script first binds the test's own directories over those paths (and tmpfs over others) in its
private mount namespace, so the host's files are never written, then runs the steps and starts
the daemons it is given, each an argv list (no shell), each bounded by a timeout. Standard library
only: it runs outside pytest.

Protocol on stdin/stdout, one JSON document per line:
  in:  {"binds": [[source, target], ...], "tmpfs": [target, ...],
        "steps": [{"argv": [...], "timeout": s, "ok": [exit codes]}, ...],
        "daemons": [{"argv": [...], "ready": [argv polled until it exits 0], "timeout": s}, ...],
        "after": [{"argv": ...}, ...]}       steps run once the daemons are up
  out: {"ready": true, "log": [...]} or {"error": "...", "log": [...]}
  in:  "stop"                                the daemons get SIGTERM (then SIGKILL)
  out: {"stopped": true}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

DAEMON_STOP_S = 10


def _mount(argv: list[str]) -> None:
    subprocess.run(["mount", *argv], check=True, capture_output=True, timeout=10)


def _step(step: dict, log: list[str]) -> None:
    result = subprocess.run(
        step["argv"],
        capture_output=True,
        timeout=step.get("timeout", 60),
        env={**os.environ, **step.get("env", {})},
        cwd=step.get("cwd"),
        check=False,
    )
    out = (result.stdout + result.stderr).decode(errors="replace").strip()
    log.append(f"$ {' '.join(step['argv'])} -> {result.returncode}\n{out[-2000:]}")
    if result.returncode not in step.get("ok", [0]):
        raise RuntimeError(f"{' '.join(step['argv'])} exited {result.returncode}: {out[-2000:]}")


def _start(daemon: dict, log: list[str], running: list[subprocess.Popen]) -> None:
    process = subprocess.Popen(
        daemon["argv"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **daemon.get("env", {})},
    )
    running.append(process)
    deadline = time.monotonic() + daemon.get("timeout", 60)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(daemon['argv'])} exited {process.returncode} at start")
        check = subprocess.run(daemon["ready"], capture_output=True, timeout=10, check=False)
        if check.returncode == 0:
            log.append(f"started {' '.join(daemon['argv'])}")
            return
        time.sleep(0.2)
    raise RuntimeError(f"{' '.join(daemon['argv'])} not ready in {daemon.get('timeout', 60)} s")


def _stop(running: list[subprocess.Popen]) -> None:
    for process in reversed(running):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=DAEMON_STOP_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=DAEMON_STOP_S)


def main() -> int:
    spec = json.loads(sys.stdin.readline())
    log: list[str] = []
    running: list[subprocess.Popen] = []
    try:
        # Private first: nothing mounted below may propagate back to the host's namespace.
        _mount(["--make-rprivate", "/"])
        for target in spec.get("tmpfs", []):
            _mount(["-t", "tmpfs", "tmpfs", target])
        for source, target in spec.get("binds", []):
            _mount(["--bind", source, target])
        for step in spec.get("steps", []):
            _step(step, log)
        for daemon in spec.get("daemons", []):
            _start(daemon, log, running)
        for step in spec.get("after", []):
            _step(step, log)
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        _stop(running)
        print(json.dumps({"error": str(error), "log": log}), flush=True)
        return 1
    print(json.dumps({"ready": True, "log": log}), flush=True)
    sys.stdin.readline()  # "stop", or EOF when the test went away
    _stop(running)
    print(json.dumps({"stopped": True}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
