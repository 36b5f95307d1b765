"""`transport: local`: collect the machine fwcheck runs on (Linux).

The same constant script as over SSH (checker.collectors.script), started with an argument list
(`/bin/sh -s`, or `sudo -n -- /bin/sh -s` with `sudo: true`) and fed on stdin; no shell string is
built. The deadline is subprocess's timeout, which kills the shell when it passes.
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime

from checker.collectors import script
from checker.collectors.result import CollectResult, NotRun, Output, host_problem
from checker.inventory.model import HostSpec

NAME = "local"


def collect(
    host: HostSpec, *, deadline_s: float | None = None, known_hosts: object = None
) -> CollectResult:
    """Run the collection script here. `known_hosts` is accepted for a uniform signature."""
    del known_hosts
    limit_s = deadline_s if deadline_s is not None else host.timeout_s
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="milliseconds")

    def result(
        outputs: tuple[Output, ...] = (),
        code: str = "",
        message: str = "",
        not_run: tuple[NotRun, ...] = (),
    ) -> CollectResult:
        error = host_problem(host.name, code, message) if code else None
        return CollectResult(
            host=host.name,
            outputs=outputs,
            error=error,
            transport=NAME,
            address="localhost",
            started_at=started_at,
            duration_s=round(time.monotonic() - started, 3),
            not_run=not_run,
        )

    argv = list(script.launcher(host.ssh.sudo))
    try:
        completed = subprocess.run(
            argv,
            input=script.SCRIPT.encode(),
            capture_output=True,
            timeout=limit_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return result(
            code="timeout", message=f"the collection script did not finish within {limit_s:g} s"
        )
    except FileNotFoundError:
        return result(code="command-missing", message=f"{argv[0]} is not installed here")
    except OSError as exc:
        return result(
            code="command-failed", message=f"cannot start {argv[0]}: {exc.strerror or exc}"
        )
    outputs, failure, not_run = script.interpret(
        completed.stdout,
        completed.stderr,
        completed.returncode,
        sudo=host.ssh.sudo,
        started_at=started_at,
    )
    code, message = failure or ("", "")
    return result(outputs, code, message, not_run)
