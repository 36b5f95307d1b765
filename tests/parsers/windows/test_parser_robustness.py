"""Windows inputs that mutation fuzzing found to be misread (issue 11, defect 9).

No Windows host exists here: every input is written by hand from the documented formats
(regedit's .reg syntax, Microsoft KB 310516 "How to add, modify, or delete registry subkeys
and values by using a .reg file"; the rule string of MS-GPFAS 2.2.2.19; netsh's verbose rule
listing) with the one character that matters changed.

Numbers: Windows writes ASCII digits. Python's `str.isdigit()` also accepts "²" (which `int()`
refuses: a crash) and other scripts' digits such as the Arabic-Indic "١" (which `int()` reads
as 1: a silently wrong port). Both must be a ParseError naming the file and line, or text kept
as written, never a number.

Lines: regedit and netsh end lines with CR LF. `str.splitlines()` also breaks at U+2028,
U+2029, U+0085, \\x0b, \\x0c and \\x1c-\\x1e, which may occur inside a rule name.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from windows_builders import requirement, ruleset

from checker.engine.windows.engine import check
from checker.errors import Location, ParseError
from checker.findings import Status
from checker.parsers.windows import netsh_text, windows_json, windows_reg
from checker.parsers.windows.windows_rule_string import parse_rule_string

DATA = Path(__file__).resolve().parent / "data"
RULES_KEY = (
    "[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\"
    "FirewallPolicy\\FirewallRules]"
)
PROFILE_KEY = (
    "[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\"
    "FirewallPolicy\\PublicProfile]"
)


def reg(*lines: str) -> bytes:
    """A UTF-16LE .reg export, as `reg export` writes it (BOM, CR LF)."""
    text = "\r\n".join(["Windows Registry Editor Version 5.00", "", *lines, ""])
    return b"\xff\xfe" + text.encode("utf-16-le")


def parse_rule(text: str):  # type: ignore[no-untyped-def]
    return parse_rule_string("R", text, Location("rules.reg", 7), "local")


@pytest.mark.parametrize(
    "field",
    ["LPort=\u0661", "RPort=8\u0660", "LPort=1-\u0662", "Protocol=\u0666", "ICMP4=\u0668:*"],
)
def test_non_ascii_digits_in_rule_fields_are_refused(field: str) -> None:
    """`LPort=١` was read as port 1 and `Protocol=٦` as TCP: now a ParseError at the rule's line."""
    with pytest.raises(ParseError) as raised:
        parse_rule(f"v2.30|Action=Allow|Active=TRUE|Dir=In|{field}|Name=n|")
    problem = raised.value.problems[0]
    assert (problem.file, problem.line) == ("rules.reg", 7)


def test_non_ascii_version_is_refused() -> None:
    """The rule-string version `v2.30` is ASCII (MS-GPFAS 2.2.2.19); `v٢.٣٠` is garbled."""
    with pytest.raises(ParseError, match="version"):
        parse_rule("v\u0662.\u0663\u0660|Action=Allow|Active=TRUE|Dir=In|")


def test_superscript_platform_does_not_crash_the_engine() -> None:
    """`Platform=2:²:0` with `Platform2=GTEQ` crashed the engine (int("²")). The condition is
    now not understood as a version, so the rule stays a runtime condition: indeterminate."""
    rs = ruleset(
        "A445=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|"
        "Platform=2:\u00b2:0|Platform2=GTEQ|Name=SMB in|"
    )
    verdict = check(rs, requirement(ports=[(445, 445)]))
    assert verdict.status == Status.INDETERMINATE
    assert "Platform=2:\u00b2:0" in verdict.message


def test_ascii_platform_still_certain() -> None:
    """Control: `Platform=2:6:2` + GTEQ holds on every supported Windows, so the rule decides."""
    rs = ruleset(
        "A445=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|"
        "Platform=2:6:2|Platform2=GTEQ|Name=SMB in|"
    )
    assert check(rs, requirement(ports=[(445, 445)])).status == Status.PASS


def test_collector_platform_with_non_ascii_digits_is_kept_as_written() -> None:
    """The collector's Platform "١٠.0+" is not a version: kept as a runtime condition as written,
    not turned into Platform=2:10:0."""
    document = json.loads((DATA / "onesite-patch-client-noncompliant.windows.json").read_text())
    document["rules"] = [dict(document["rules"][0], Platform="\u0661\u0660.0+")]
    parsed = windows_json.parse(json.dumps(document).encode(), "h.windows.json")
    (rule,) = parsed.rules
    assert rule.conditions == (("Platform", "\u0661\u0660.0+"),)


def test_reg_hex_bytes_with_non_ascii_digits_are_refused() -> None:
    """`hex(4):٠٠,00,00,00` was read as 0 (EnableFirewall off): regedit writes ASCII hex."""
    data = reg(PROFILE_KEY, '"EnableFirewall"=hex(4):\u0660\u0660,00,00,00')
    with pytest.raises(ParseError, match="bad hex bytes") as raised:
        windows_reg.parse(data, "p.reg")
    assert raised.value.problems[0].line == 4


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c"])
def test_reg_rule_name_with_unicode_line_separator(separator: str) -> None:
    """A rule name holding a character str.splitlines() breaks at gave a false "unterminated
    string"; only CR/LF end a .reg line."""
    name = f"Web{separator}server"
    data = reg(
        RULES_KEY,
        f'"R{separator}1"="v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=80|Name={name}|"',
        '"R2"="v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=443|Name=n|"',
    )
    parsed = windows_reg.parse(data, "r.reg")
    assert [(r.id, r.name, r.origin.line) for r in parsed.rules] == [
        (f"R{separator}1", name, 4),
        ("R2", "n", 5),
    ]


def test_netsh_rule_name_with_unicode_line_separator() -> None:
    """The same for netsh text: U+2028 inside a rule name stays in the name."""
    text = (
        "\r\nRule Name:                            Web\u2028server\r\n"
        + "-" * 70
        + "\r\nEnabled:                              Yes\r\n"
        "Direction:                            In\r\n"
        "Profiles:                             Domain,Private,Public\r\n"
        "Protocol:                             TCP\r\n"
        "LocalPort:                            80\r\n"
        "Action:                               Allow\r\n\r\nOk.\r\n"
    )
    parsed = netsh_text.parse(text.encode("utf-8"), "n.netsh.txt")
    (rule,) = parsed.rules
    assert rule.name == "Web\u2028server" and rule.local_ports == ("80",)
