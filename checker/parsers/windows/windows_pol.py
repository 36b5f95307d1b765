"""Group Policy `Registry.pol` files (PReg format, MS-GPREG 2.2.1), e.g. a GPO backup's
`DomainSysvol/GPO/Machine/registry.pol`.

Layout: the signature `PReg` and version 1 (little-endian DWORD), then entries
`[key;value;type;size;data]` where the brackets and semicolons are UTF-16LE characters, key and
value are NUL-terminated UTF-16LE strings, type and size are little-endian DWORDs and data is
`size` raw bytes (REG_SZ/REG_EXPAND_SZ: UTF-16LE with a NUL; REG_DWORD: 4 bytes LE).
Value names starting with `**` are deletion directives (`**del.X`, `**delvals.`): they remove
values from the machine's policy and state no setting, so they are skipped with a warning.

Firewall settings live under SOFTWARE\\Policies\\Microsoft\\WindowsFirewall (MS-GPFAS 2.2.1):
rules in `FirewallRules`, profile settings in DomainProfile/PrivateProfile/PublicProfile; the
store is "gpo". A .pol has no lines: each value's origin is `<file>:<key>\\<value>`.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from checker.errors import Location, ParseError, Problem
from checker.parsers.options import NO_OPTIONS, ParseOptions, ParserOption

# Imported where used: every run imports this module (the format registry reads its NAME,
# OPTIONS and sniff), only a Windows export needs the model (bench/pre_commit.py).
if TYPE_CHECKING:
    from checker.model.windows import WindowsRuleset
    from checker.parsers.windows.windows_registry import RegistryValue

NAME = "windows-pol"
OPTIONS: tuple[ParserOption, ...] = ()  # reads no option
PATTERNS = ("*.pol", "Registry.pol", "registry.pol")

_SIGNATURE = b"PReg\x01\x00\x00\x00"
_OPEN, _SEMI, _CLOSE = "[".encode("utf-16-le"), ";".encode("utf-16-le"), "]".encode("utf-16-le")
_REG_SZ, _REG_EXPAND_SZ, _REG_BINARY, _REG_DWORD, _REG_DWORD_BE, _REG_MULTI_SZ, _REG_QWORD = (
    1,
    2,
    3,
    4,
    5,
    7,
    11,
)
# Firewall values are small; a size beyond this is garbage, not policy.
_MAX_DATA = 1 << 24


def sniff(head: bytes) -> bool:
    return head.startswith(_SIGNATURE)


def parse(data: bytes, origin: str, options: ParseOptions = NO_OPTIONS) -> WindowsRuleset:
    from checker.parsers.windows.windows_registry import RegistryValue, ruleset_from_values

    if not data.startswith(_SIGNATURE):
        raise ParseError(
            Problem(
                origin, 0, 0, "windows-pol", "not a Registry.pol file (no 'PReg' version 1 header)"
            )
        )
    values: list[RegistryValue] = []
    warnings: list[Problem] = []
    offset = len(_SIGNATURE)
    while offset < len(data):
        entry_offset = offset

        def fail(message: str, at: int = entry_offset) -> ParseError:
            return ParseError(Problem(origin, 0, 0, "windows-pol", f"byte {at}: {message}"))

        if data[offset : offset + 2] != _OPEN:
            raise fail("expected '[' opening an entry")
        offset += 2
        key, offset = _string(data, offset, fail)
        offset = _expect(data, offset, _SEMI, fail)
        name, offset = _string(data, offset, fail)
        offset = _expect(data, offset, _SEMI, fail)
        if offset + 4 > len(data):
            raise fail("truncated entry (type)")
        (value_type,) = struct.unpack_from("<I", data, offset)
        offset = _expect(data, offset + 4, _SEMI, fail)
        if offset + 4 > len(data):
            raise fail("truncated entry (size)")
        (size,) = struct.unpack_from("<I", data, offset)
        offset = _expect(data, offset + 4, _SEMI, fail)
        if size > _MAX_DATA or offset + size > len(data):
            raise fail(f"data size {size} runs past the end of the file")
        raw = data[offset : offset + size]
        offset = _expect(data, offset + size, _CLOSE, fail)
        location = Location(f"{origin}:{key}\\{name}")
        if name.startswith("**"):
            warnings.append(
                Problem.at(location, "windows-pol-directive", f"policy directive {name!r} skipped")
            )
            continue
        values.append(RegistryValue(key, "", None, Location(f"{origin}:{key}")))
        values.append(RegistryValue(key, name, _decode(value_type, raw), location))
    return ruleset_from_values(values, origin, NAME, warnings)


def _string(data: bytes, offset: int, fail: object) -> tuple[str, int]:
    """A NUL-terminated UTF-16LE string starting at `offset`, and the offset after the NUL."""
    end = offset
    while True:
        if end + 2 > len(data):
            raise fail("unterminated string")  # type: ignore[operator]
        if data[end : end + 2] == b"\x00\x00":
            break
        end += 2
    try:
        text = data[offset:end].decode("utf-16-le")
    except UnicodeDecodeError:
        raise fail("string is not UTF-16LE") from None  # type: ignore[operator]
    return text, end + 2


def _expect(data: bytes, offset: int, token: bytes, fail: object) -> int:
    if data[offset : offset + 2] != token:
        raise fail(f"expected {token.decode('utf-16-le')!r}", offset)  # type: ignore[operator]
    return offset + 2


def _decode(value_type: int, raw: bytes) -> int | str | bytes | tuple[str, ...]:
    if value_type in (_REG_SZ, _REG_EXPAND_SZ):
        return (
            raw[: len(raw) - len(raw) % 2].decode("utf-16-le", errors="replace").split("\x00", 1)[0]
        )
    if value_type == _REG_DWORD and len(raw) == 4:
        return int.from_bytes(raw, "little")
    if value_type == _REG_DWORD_BE and len(raw) == 4:
        return int.from_bytes(raw, "big")
    if value_type == _REG_QWORD and len(raw) == 8:
        return int.from_bytes(raw, "little")
    if value_type == _REG_MULTI_SZ:
        text = raw[: len(raw) - len(raw) % 2].decode("utf-16-le", errors="replace")
        return tuple(part for part in text.split("\x00") if part)
    return raw
