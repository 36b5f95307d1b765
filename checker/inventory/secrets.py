"""Refuse literal passwords in inventories: credentials are referenced, never written down.

A key is a secret when one of its words (split on `_`, `-`, `.`) is a password word, unless its
last word is `env` (`password_env` names an environment variable). So `ansible_ssh_pass`,
`ansible_become_password`, `password`, `winrm_passphrase` are refused; `passive_ports` and
`bypass` are not (whole words only).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from checker.errors import Location, Problem

SECRET_WORDS = frozenset({"password", "passwd", "pass", "passphrase", "pwd", "secret"})
_WORDS = re.compile(r"[_.\-]+")

MESSAGE = (
    "literal password refused: {key!r} holds a secret; reference it instead "
    "(ssh.password_env / winrm.password_env name an environment variable, or use SSH keys, "
    "the agent, Kerberos or a certificate)"
)


def is_secret_key(key: str) -> bool:
    words = [w for w in _WORDS.split(key.lower()) if w]
    if not words or words[-1] == "env":
        return False
    return any(word in SECRET_WORDS for word in words)


def secret_problem(key: str, location: Location) -> Problem:
    return Problem.at(location, "literal-password", MESSAGE.format(key=key))


def walk_keys(
    data: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    """Every mapping key in a YAML tree with its JSON path."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key), path + (key,)
            yield from walk_keys(value, path + (key,))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from walk_keys(item, path + (index,))
