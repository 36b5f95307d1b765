"""`.reg` exports of the firewall policy keys (`reg export …\\FirewallPolicy x.reg`, regedit).

Format (regedit's "Windows Registry Editor Version 5.00" text, UTF-16LE with a BOM as regedit and
`reg export` write it; UTF-8 and the older ANSI "REGEDIT4" are read too):
- `[HKEY_…\\Key]` opens a key, `[-HKEY_…]` deletes one (ignored, with a warning).
- Values are applied in file order (Microsoft KB 310516): a value written twice holds the later
  data and `"Name"=-` deletes an earlier value, each with a warning (checker.parsers.
  windows_registry keeps the last of each name).
- `"Name"="string"` (backslash escapes `\\\\` and `\\"`), `"Name"=dword:0000001f`,
  `"Name"=hex(N):xx,xx,…` possibly continued with a trailing backslash, `@=` for the default
  value, `"Name"=-` to delete.
Rules and profile settings are interpreted by checker.parsers.windows.windows_registry; each rule's
origin is the line of its value in this file.
"""

from __future__ import annotations

import codecs
import re
from typing import TYPE_CHECKING

from checker.errors import Location, ParseError, Problem
from checker.parsers.options import NO_OPTIONS, ParseOptions, ParserOption

# Imported where used: every run imports this module (the format registry reads its NAME,
# OPTIONS and sniff), only a Windows export needs the model (bench/pre_commit.py).
if TYPE_CHECKING:
    from checker.model.windows import WindowsRuleset
    from checker.parsers.windows.windows_registry import RegistryValue

NAME = "windows-reg"
OPTIONS: tuple[ParserOption, ...] = ()  # reads no option
PATTERNS = ("*.reg",)

_HEADERS = ("windows registry editor version 5.00", "regedit4")
_HEX_BYTE = re.compile(r"[0-9a-fA-F]{1,2}")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        return data.decode("utf-16")
    if len(data) >= 4 and data[1] == 0 and data[3] == 0 and data[0] != 0:
        return data.decode("utf-16-le")
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # REGEDIT4 files are in the ANSI code page.
        return data.decode("cp1252", errors="replace")


def sniff(head: bytes) -> bool:
    try:
        text = _decode(head[:4096] if len(head) % 2 == 0 else head[:4095])
    except UnicodeDecodeError:
        return False
    return text.lstrip("\ufeff \r\n\t").lower().startswith(_HEADERS)


def parse(data: bytes, origin: str, options: ParseOptions = NO_OPTIONS) -> WindowsRuleset:
    from checker.parsers.windows.windows_registry import RegistryValue, ruleset_from_values

    try:
        text = _decode(data)
    except UnicodeDecodeError as error:
        raise ParseError(
            Problem(origin, 1, 0, "windows-reg", f"not UTF-16 or UTF-8 text: {error}")
        ) from None
    # Only CR/LF end a line: str.splitlines() would also split at U+2028, U+0085, \x0b, \x0c…,
    # which a rule name may hold, and report a false "unterminated string".
    lines = _LINE_BREAK.split(text.lstrip("\ufeff"))
    if not lines or not lines[0].strip().lower().startswith(_HEADERS):
        raise ParseError(
            Problem(
                origin,
                1,
                1,
                "windows-reg",
                "not a .reg export: the first line must be "
                "'Windows Registry Editor Version 5.00' or 'REGEDIT4'",
            )
        )
    values: list[RegistryValue] = []
    warnings: list[Problem] = []
    key: str | None = None
    index = 1
    while index < len(lines):
        line_number = index + 1
        line = lines[index].strip()
        index += 1
        if not line or line.startswith(";"):
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ParseError(
                    Problem(origin, line_number, 1, "windows-reg", "key line does not end with ']'")
                )
            if line.startswith("[-"):
                warnings.append(
                    Problem(origin, line_number, 1, "windows-reg-delete", "key deletion ignored")
                )
                key = None
                continue
            key = line[1:-1]
            values.append(RegistryValue(key, "", None, Location(origin, line_number)))
            continue
        # A value: gather continuation lines first (hex data ends lines with a backslash).
        while line.endswith("\\") and _is_hex_value(line) and index < len(lines):
            line = line[:-1] + lines[index].strip()
            index += 1
        if key is None:
            raise ParseError(
                Problem(origin, line_number, 1, "windows-reg", "value outside any [key]")
            )
        name, read = _value(line, origin, line_number)
        if read is _DELETED:
            # `"Name"=-` deletes the value (KB 310516): an earlier copy in this file is gone.
            slot = (key.lower(), name.lower())
            gone = [v for v in values if v.name and (v.key.lower(), v.name.lower()) == slot]
            for value in gone:
                values.remove(value)
                warnings.append(
                    Problem.at(
                        value.origin,
                        "windows-reg-delete",
                        f"value {name!r} is deleted at line {line_number}: not applied",
                    )
                )
            continue
        values.append(RegistryValue(key, name, read, Location(origin, line_number)))  # type: ignore[arg-type]
    return ruleset_from_values(values, origin, NAME, warnings)


_DELETED = object()


def _is_hex_value(line: str) -> bool:
    _, _, rest = line.partition("=")
    return rest.lower().startswith("hex")


def _value(line: str, origin: str, line_number: int) -> tuple[str, object]:
    def fail(message: str, col: int = 1) -> ParseError:
        return ParseError(Problem(origin, line_number, col, "windows-reg", message))

    if line.startswith("@="):
        name, position = "", 1
    elif line.startswith('"'):
        name, position = _quoted(line, 0, fail)
    else:
        raise fail("a value line must start with '\"name\"=' or '@='")
    if position >= len(line) or line[position] != "=":
        raise fail("expected '=' after the value name", position + 1)
    rest = line[position + 1 :].strip()
    if rest == "-":
        return name, _DELETED
    if rest.startswith('"'):
        string, end = _quoted(rest, 0, fail)
        if rest[end:].strip():
            raise fail("text after the closing quote", position + end + 2)
        return name, string
    lowered = rest.lower()
    if lowered.startswith("dword:"):
        digits = rest[6:].strip()
        if len(digits) > 8 or not digits or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise fail(f"bad dword {digits!r}")
        return name, int(digits, 16)
    if lowered.startswith("hex"):
        kind, colon, payload = rest.partition(":")
        if not colon:
            raise fail("hex value without ':'")
        parts = [part for part in payload.replace(" ", "").split(",") if part]
        # int(part, 16) alone would take "١", "+1" or "0_1": regedit writes two ASCII hex digits.
        if not all(_HEX_BYTE.fullmatch(part) for part in parts):
            raise fail("bad hex bytes")
        raw = bytes(int(part, 16) for part in parts)
        if kind.lower() in ("hex(2)", "hex(1)"):
            return name, raw.decode("utf-16-le", errors="replace").rstrip("\x00")
        if kind.lower() == "hex(7)":
            return name, tuple(
                s for s in raw.decode("utf-16-le", errors="replace").split("\x00") if s
            )
        if kind.lower() == "hex(4)" and len(raw) == 4:
            return name, int.from_bytes(raw, "little")
        return name, raw
    raise fail(f"unknown value data {rest[:30]!r}")


def _quoted(text: str, start: int, fail: object) -> tuple[str, int]:
    """The string starting with the quote at `start`, unescaped, and the index after it."""
    out: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            out.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(out), index + 1
        out.append(char)
        index += 1
    raise fail("unterminated string")  # type: ignore[operator]
