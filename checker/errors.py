"""Problems, locations and the errors that carry them.

Every problem a user sees (a policy that breaks the schema, a garbled export, an unreachable host)
is one frozen `Problem` rendered by one formatter, `format_problem()`, in the yamllint shape
``file:line:col: [code] message``. Each error class knows the exit code it ends a run with
(`ExitCode`, the one list of codes, documented in README and `fwcheck --help`).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final


class ExitCode(IntEnum):
    OK = 0
    VIOLATIONS = 1
    USAGE = 2
    TARGET_ERROR = 3
    INTERNAL = 4


# Ctrl-C: the shell's convention for a process ended by a signal (128 + its number), so a
# wrapper script sees the interrupt; not one of the documented outcomes above.
INTERRUPTED_EXIT: Final[int] = 128 + signal.SIGINT


@dataclass(frozen=True, slots=True)
class Location:
    """Where something came from: a file (or host, or registry key path) and a 1-based line."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        if self.col <= 0:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    col: int
    code: str
    message: str

    @classmethod
    def at(cls, location: Location, code: str, message: str) -> Problem:
        return cls(location.file, location.line, location.col, code, message)


def format_problem(problem: Problem) -> str:
    where = str(Location(problem.file, problem.line, problem.col))
    # One line per problem, whatever the message held: a newline would let a hostile file
    # forge extra lines in the output.
    message = " ".join(problem.message.split())
    return f"{where}: [{problem.code}] {message}"


class FwcheckError(Exception):
    """Base of the errors fwcheck expects; anything else is a bug (exit code 4)."""

    exit_code: ClassVar[ExitCode] = ExitCode.TARGET_ERROR

    def __init__(self, *problems: Problem) -> None:
        self.problems: tuple[Problem, ...] = problems
        super().__init__("; ".join(format_problem(p) for p in problems))


class PolicyError(FwcheckError):
    """A policy, target config, waiver or inventory file is invalid (exit code 2)."""

    exit_code = ExitCode.USAGE


class ParseError(FwcheckError):
    """A firewall export could not be parsed (exit code 3 for that target)."""

    exit_code = ExitCode.TARGET_ERROR


class CollectError(FwcheckError):
    """A host could not be collected (exit code 3 for that host)."""

    exit_code = ExitCode.TARGET_ERROR


class UsageError(FwcheckError):
    """The command line asks for something impossible (exit code 2)."""

    exit_code = ExitCode.USAGE
