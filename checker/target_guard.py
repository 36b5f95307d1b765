"""The per-target guard: a bug met while collecting, reading or checking one target becomes that
target's error result, and the run goes on with the other targets (exit 4 at the end).

Expected faults (a garbled export, an unreachable host) are `FwcheckError`s with their own codes
and never reach the guard; what reaches it is a fwcheck bug, so its traceback is printed.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterable
from typing import TypeVar

from checker.errors import FwcheckError, Problem

# The Problem code of a bug; a target with such a problem ends the run with ExitCode.INTERNAL.
INTERNAL = "internal"

T = TypeVar("T")


def is_internal(problems: Iterable[Problem | None]) -> bool:
    return any(p is not None and p.code == INTERNAL for p in problems)


def internal_problem(target: str, exc: BaseException) -> Problem:
    """The target's one-line error; the traceback goes to stderr. The line names only the
    exception's type: its text may quote input (long, or a secret from a collected output)."""
    print(f"fwcheck: internal error (a bug) while checking {target}:", file=sys.stderr)
    traceback.print_exception(exc, file=sys.stderr)
    return Problem(
        target,
        0,
        0,
        INTERNAL,
        f"internal error ({type(exc).__name__}), a bug in fwcheck: this target was not checked; "
        "the traceback is on stderr, please report it",
    )


def guarded(target: str, work: Callable[[], T], on_bug: Callable[[Problem], T]) -> T:
    """`work()`, or `on_bug(problem)` when it raises anything but an expected error."""
    try:
        return work()
    except FwcheckError:
        raise  # expected, with its own exit code: not a bug
    except Exception as exc:  # the guard itself: see the module docstring
        return on_bug(internal_problem(target, exc))
