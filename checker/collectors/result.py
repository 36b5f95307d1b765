"""What collecting one host yields: its raw outputs, or the one-line reason it could not be read.

Collectors never raise for a host's faults (refused, timed out, wrong key, sudo wants a password,
garbled output): they return a `CollectResult` whose `error` says why, so one bad host never
stops a scan (STYLE.md §6). `error` messages never hold secrets: they are built from fixed text,
the host's name/address and the server's own one-line answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from checker.errors import Problem

# Exit code a section gets when its command does not exist on the host (POSIX sh convention:
# "If a command is not found, the exit status shall be 127", XCU 2.8.2).
MISSING = 127


@dataclass(frozen=True, slots=True)
class Output:
    """One command's raw output on one host.

    `name` says what it is ("nft-json", "iptables-nft-save", "ipset-save", "windows-json", ...);
    `command` is the exact command line run there; `exit_code` is 127 when the command is
    absent (then `data` is empty); `stderr` keeps the command's error text for the evidence.
    """

    name: str
    command: str
    exit_code: int
    data: bytes
    started_at: str
    duration_s: float
    stderr: bytes = b""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def missing(self) -> bool:
        return self.exit_code == MISSING


@dataclass(frozen=True, slots=True)
class NotRun:
    """A command the collection script did not run on a host, and why: it could show nothing
    there (no table of its kind, no D-Bus for firewall-cmd) or another section stands for it."""

    name: str
    command: str
    reason: str


@dataclass(frozen=True, slots=True)
class CollectResult:
    host: str
    outputs: tuple[Output, ...]
    error: Problem | None
    transport: str = ""
    address: str = ""
    started_at: str = ""
    duration_s: float = 0.0
    # Things an auditor should know that are not errors (e.g. a host key accepted as new).
    notes: tuple[str, ...] = ()
    # What the collection script did not run, each with its reason (evidence manifest, report).
    not_run: tuple[NotRun, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    def output(self, name: str) -> Output | None:
        for output in self.outputs:
            if output.name == name:
                return output
        return None


def host_problem(host: str, code: str, message: str) -> Problem:
    """A collection fault as a Problem located at the host (no line: it is not a file)."""
    return Problem(host, 0, 0, code, message)
