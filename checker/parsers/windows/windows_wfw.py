"""`.wfw` files written by `netsh advfirewall export` (and the WF.msc "Export Policy" action).

A .wfw file is a registry hive (regf) whose root key holds the local firewall policy: the
FirewallRules key, the profile keys (DomainProfile, StandardProfile = Private, PublicProfile),
ConSecRules and the IPsec authentication sets. It is read with regipy (a maintained hive reader,
a declared dependency) rather than our own regf code.

regipy's `iter_values()` trims string data to 256 characters unless asked not to: rule strings are
often longer (the corpus has 75 such rules), so values are always read untrimmed.
A hive has no lines: each rule's origin is `<file>:<key path>\\<rule ID>`, e.g.
`firewall.wfw:FirewallRules\\{GUID}`. The export is of the local store.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

from checker.errors import Location, ParseError, Problem
from checker.parsers.options import NO_OPTIONS, ParseOptions, ParserOption

# Imported where used: every run imports this module (the format registry reads its NAME,
# OPTIONS and sniff), only a Windows export needs the model (bench/pre_commit.py).
if TYPE_CHECKING:
    from checker.model.windows import WindowsRuleset
    from checker.parsers.windows.windows_registry import RegistryValue

NAME = "windows-wfw"
OPTIONS: tuple[ParserOption, ...] = ()  # reads no option
PATTERNS = ("*.wfw",)

_REGF = b"regf"


def sniff(head: bytes) -> bool:
    return head.startswith(_REGF)


def parse(data: bytes, origin: str, options: ParseOptions = NO_OPTIONS) -> WindowsRuleset:
    from checker.parsers.windows.windows_registry import ruleset_from_values

    if not data.startswith(_REGF):
        raise ParseError(
            Problem(origin, 0, 0, "windows-wfw", "not a registry hive (no 'regf' signature)")
        )
    try:
        values = _read_hive(data, origin)
    except ParseError:
        raise
    except Exception as error:  # regipy raises construct/struct/index errors on damaged hives
        raise ParseError(
            Problem(
                origin,
                0,
                0,
                "windows-wfw",
                f"damaged registry hive: {type(error).__name__}: {error}",
            )
        ) from None
    return ruleset_from_values(values, origin, NAME)


def _read_hive(data: bytes, origin: str) -> list[RegistryValue]:
    from regipy.registry import RegistryHive

    from checker.parsers.windows.windows_registry import RegistryValue

    # regipy opens a path; the hive is copied to a private temporary file.
    with tempfile.TemporaryDirectory(prefix="fwcheck-wfw-") as folder:
        path = os.path.join(folder, "policy.wfw")
        with open(path, "wb") as handle:
            handle.write(data)
        hive = RegistryHive(path)
        values: list[RegistryValue] = []
        # Bounded walk: a damaged hive may link a key to itself.
        stack = [(hive.root, "")]
        visited = 0
        while stack:
            key, path_text = stack.pop()
            visited += 1
            if visited > 100_000:
                raise ParseError(
                    Problem(
                        origin, 0, 0, "windows-wfw", "registry hive has too many keys (a loop?)"
                    )
                )
            values.append(RegistryValue(path_text, "", None, Location(f"{origin}:{path_text}")))
            for value in key.iter_values(trim_values=False) or ():
                values.append(
                    RegistryValue(
                        path_text,
                        value.name,
                        value.value,
                        Location(
                            f"{origin}:{path_text}\\{value.name}"
                            if path_text
                            else f"{origin}:{value.name}"
                        ),
                    )
                )
            children = list(key.iter_subkeys())
            for child in reversed(children):
                stack.append((child, f"{path_text}\\{child.name}" if path_text else child.name))
    return values
