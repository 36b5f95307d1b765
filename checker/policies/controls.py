"""Control ids (policy format v1.1 `controls:`): which benchmark or catalogue item a rule checks.

An entry is `FRAMEWORK:ID`. The frameworks and the form of their ids are fixed here and in
schemas/policy.schema.json ($defs/control, one pattern per framework; a test keeps
the two equal), documented in
docs/controls.md. A rule's controls are its policy's followed by its own (a rule inherits its
policy's), each once.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from checker.errors import Problem, UsageError

# Framework -> (form of the id, what the form is, for messages and docs). `cis-<benchmark>`
# names one CIS Benchmark (cis-ubuntu-22.04, cis-rhel-9); `cis` alone is any of them.
FRAMEWORKS: dict[str, tuple[str, str]] = {
    "cis": (r"[0-9]+(\.[0-9]+)*", "a recommendation number such as 3.5.1.7"),
    "disa-stig": (
        r"[A-Z][A-Z0-9]*-[0-9]{6}|V-[0-9]+|SV-[0-9]+r[0-9]+_rule",
        "a STIG id (WNFWA-000004), a vulnerability id (V-241989) or a rule id (SV-241989r698208_rule)",
    ),
    "nist-800-53": (
        r"[A-Z]{2}-[0-9]{1,2}( ?\([0-9]{1,2}\))*( [a-z])?",
        "a control, enhancement or item such as SC-7, SC-7(5), AC-17 (1) or AU-5 b",
    ),
    "pci-dss": (r"A?[0-9]+(\.[0-9]+)*", "a requirement number such as 1.3.1"),
    "custom": (r"[!-~]([ -~]*[!-~])?", "any printable ASCII text"),
}
_CIS_BENCHMARK = re.compile(r"^cis-[a-z0-9][a-z0-9._-]*$")


class _Controlled(Protocol):
    @property
    def controls(self) -> tuple[str, ...]: ...


R = TypeVar("R", bound=_Controlled)
# A control id longer than this is a mistake, and GitHub truncates long tags.
MAX_LENGTH = 100


@dataclass(frozen=True, slots=True, order=True)
class Control:
    framework: str
    id: str

    def __str__(self) -> str:
        return f"{self.framework}:{self.id}"

    @property
    def family(self) -> str:
        """The framework whose id form applies: cis-ubuntu-22.04 is a cis benchmark."""
        return "cis" if _CIS_BENCHMARK.match(self.framework) else self.framework


def parse(text: str) -> Control:
    """The control an entry names; ValueError saying the expected form when it is not one."""
    framework, sep, ident = text.partition(":")
    if not sep:
        raise ValueError(f"{text!r} is not FRAMEWORK:ID (frameworks: {', '.join(FRAMEWORKS)})")
    control = Control(framework, ident)
    if control.family not in FRAMEWORKS:
        raise ValueError(
            f"{framework!r} is not a framework: use {', '.join(FRAMEWORKS)} or cis-<benchmark>"
        )
    form, what = FRAMEWORKS[control.family]
    if len(text) > MAX_LENGTH or not re.fullmatch(form, ident):
        raise ValueError(f"{text!r}: a {control.family} id is {what}")
    return control


def combined(inherited: Sequence[str], own: Sequence[str]) -> tuple[str, ...]:
    """A rule's controls: its policy's, then its own, each once."""
    return tuple(dict.fromkeys([*inherited, *own]))


def matches(patterns: Sequence[str], controls: Iterable[str]) -> bool:
    """Does any control match any --control pattern? A pattern is a shell-style glob over
    FRAMEWORK:ID, case-insensitive (`disa-stig:*`, `nist-800-53:SC-7*`); a bare framework
    (`disa-stig`) means every control of it."""
    for pattern in patterns:
        wanted = pattern.lower() if ":" in pattern else f"{pattern.lower()}:*"
        if any(fnmatch.fnmatchcase(control.lower(), wanted) for control in controls):
            return True
    return False


def select(requirements: Sequence[R], patterns: Sequence[str]) -> tuple[R, ...]:
    """The requirements with a control matching a --control pattern (all when none is given)."""
    if not patterns:
        return tuple(requirements)
    return tuple(r for r in requirements if matches(patterns, r.controls))


def no_control_matches(patterns: Sequence[str]) -> UsageError:
    """--control matched no rule of the run: checking nothing must not pass."""
    shown = ", ".join(repr(p) for p in patterns)
    return UsageError(
        Problem(
            "--control",
            0,
            0,
            "no-control",
            f"no policy rule of these targets has a control matching {shown}"
            " (fwcheck policies --controls lists them)",
        )
    )
