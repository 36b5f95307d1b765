"""`netsh advfirewall firewall show rule name=all verbose` text output (English Windows only).

Each rule is a block of `Label:   value` lines opened by `Rule Name:` and a dashed line; the
output ends with `Ok.` (netsh advfirewall firewall /? and the "Netsh AdvFirewall Firewall
Commands" reference on Microsoft Learn). Labels read: Rule Name, Description, Enabled (Yes/No),
Direction (In/Out), Profiles (comma list), Grouping, LocalIP, RemoteIP, Protocol (with a
`Type Code` table under ICMP protocols), LocalPort, RemotePort, Edge traversal (No, Yes, Defer
to application, Defer to user), Program, Service, InterfaceTypes, Security (NotRequired,
Authenticate, AuthEnc, AuthDynEnc, AuthNoEncap), Rule source (Local Setting, Group Policy),
Action (Allow, Block, Bypass), and for authorized rules RemoteComputerGroup, RemoteUserGroup,
LocalUserOwner, LocalUserAuthorizedList.

This format is lossy, and the ruleset says so in a warning: there are no rule IDs (the display
name stands in and may repeat), no profile settings (defaults apply unless another export of
the host states them), no app-container packages, and labels are localized: only English
output is read. Unknown labels are kept in `unknown` and make the rule uncertain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from checker.errors import Location, ParseError, Problem
from checker.parsers.options import NO_OPTIONS, ParseOptions, ParserOption

# Imported where used: every run imports this module (the format registry reads its NAME,
# OPTIONS and sniff), only a Windows export needs the model (bench/pre_commit.py).
if TYPE_CHECKING:
    from checker.model.windows import WindowsRule, WindowsRuleset

NAME = "netsh-text"
OPTIONS: tuple[ParserOption, ...] = ()  # reads no option
PATTERNS = ("*.netsh.txt", "netsh-*.txt")

_DASHES = "-" * 20
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_YES_NO = {"yes": True, "no": False}
_DIRECTIONS = {"in": "in", "out": "out"}
_ACTIONS = {"allow": "allow", "block": "block", "bypass": "bypass"}
_EDGE = {
    "no": None,
    "yes": "allow",
    "defer to application": "defer-app",
    "defer to user": "defer-user",
}
_SECURITY = {
    "notrequired": None,
    "authenticate": "authenticate",
    "authenc": "encrypt",
    "authdynenc": "negotiate-encryption",
    "authnoencap": "authenticate-no-encapsulation",
}
_IFTYPES = {
    "lan": "lan",
    "wireless": "wireless",
    "ras": "remoteaccess",
    "remoteaccess": "remoteaccess",
}
_CONDITIONS = {
    "remotecomputergroup": "RMauth",
    "remoteusergroup": "RUAuth",
    "localuserowner": "LUOwn",
    "localuserauthorizedlist": "LUAuth",
}
_KNOWN = {
    "rule name",
    "description",
    "enabled",
    "direction",
    "profiles",
    "grouping",
    "localip",
    "remoteip",
    "protocol",
    "localport",
    "remoteport",
    "edge traversal",
    "program",
    "service",
    "interfacetypes",
    "security",
    "rule source",
    "action",
    *_CONDITIONS,
}


def sniff(head: bytes) -> bool:
    text = head[:8192].decode("utf-8", errors="replace")
    return "Rule Name:" in text and _DASHES in text


def parse(data: bytes, origin: str, options: ParseOptions = NO_OPTIONS) -> WindowsRuleset:
    from checker.model.windows import WindowsRuleset

    text = data.decode("utf-8-sig", errors="replace")
    if "\x00" in text:
        raise ParseError(Problem(origin, 1, 0, "netsh-text", "binary data, not netsh text output"))
    # Only CR/LF end a line: str.splitlines() would also split a rule name or description at
    # U+2028, U+0085, \x0b or \x0c.
    lines = _LINE_BREAK.split(text)
    blocks: list[list[tuple[int, str]]] = []
    for number, line in enumerate(lines, start=1):
        if line.startswith("Rule Name:"):
            blocks.append([])
        if blocks:
            blocks[-1].append((number, line))
    if not blocks and not any("No rules match" in line for line in lines):
        raise ParseError(
            Problem(
                origin, 1, 0, "netsh-text", "no 'Rule Name:' block: not netsh advfirewall output"
            )
        )
    rules: list[WindowsRule] = []
    warnings = [
        Problem(
            origin,
            0,
            0,
            "netsh-lossy",
            "netsh text output is lossy: no rule IDs (display names stand in), no profile settings "
            "(Windows defaults apply unless another export states them), no packages; English only",
        )
    ]
    for block in blocks:
        rule, rule_warnings = _rule(block, origin)
        rules.append(rule)
        warnings.extend(rule_warnings)
    return WindowsRuleset(tuple(rules), {}, None, origin, tuple(warnings), NAME, has_rule_ids=False)


def _fields(block: list[tuple[int, str]], origin: str) -> tuple[dict[str, str], list[str], int]:
    fields: dict[str, str] = {}
    icmp: list[str] = []
    in_icmp_table = False
    for number, line in block[1:]:
        if not line.strip() or line.startswith(_DASHES) or line.strip() == "Ok.":
            continue
        if line[:1].isspace():
            parts = line.split()
            if parts == ["Type", "Code"]:
                in_icmp_table = True
                continue
            if in_icmp_table and len(parts) == 2:
                icmp.append(f"{parts[0]}:{'*' if parts[1].lower() == 'any' else parts[1]}")
                continue
            raise ParseError(
                Problem(
                    origin,
                    number,
                    1,
                    "netsh-text",
                    f"unexpected indented line {line.strip()[:40]!r}",
                )
            )
        label, colon, value = line.partition(":")
        if not colon:
            raise ParseError(
                Problem(
                    origin, number, 1, "netsh-text", f"expected 'Label: value', got {line[:40]!r}"
                )
            )
        fields[label.strip().lower()] = value.strip()
        in_icmp_table = False
    name = block[0][1].partition(":")[2].strip()
    fields["rule name"] = name
    return fields, icmp, block[0][0]


def _rule(block: list[tuple[int, str]], origin: str) -> tuple[WindowsRule, list[Problem]]:
    from checker.model.windows import (
        ALL_PROFILES,
        WindowsRule,
        parse_address,
        parse_icmp,
        parse_port,
        parse_protocol,
    )

    fields, icmp_items, line = _fields(block, origin)
    location = Location(origin, line)
    name = fields["rule name"]

    def pick(label: str, table: Mapping[str, object], default: object = ...) -> object:
        value = fields.get(label)
        if value is None:
            if default is ...:
                raise ParseError(
                    Problem.at(location, "netsh-text", f"rule {name!r} has no {label!r} line")
                )
            return default
        if value.lower() not in table:
            raise ParseError(
                Problem.at(
                    location, "netsh-text", f"rule {name!r}: {label} {value!r} not understood"
                )
            )
        return table[value.lower()]

    try:
        protocol = parse_protocol(fields.get("protocol", "Any"))
        local_ports = _list(fields.get("localport"), parse_port)
        remote_ports = _list(fields.get("remoteport"), parse_port)
        local_addresses = _list(fields.get("localip"), parse_address)
        remote_addresses = _list(fields.get("remoteip"), parse_address)
        icmp = _list(",".join(icmp_items), parse_icmp)
    except ValueError as error:
        raise ParseError(Problem.at(location, "netsh-text", f"rule {name!r}: {error}")) from None
    profiles_text = fields.get("profiles", "Any")
    profiles = frozenset(
        p.strip().lower()
        for p in profiles_text.split(",")
        if p.strip() and p.strip().lower() != "any"
    )
    if not profiles <= ALL_PROFILES:
        raise ParseError(
            Problem.at(
                location, "netsh-text", f"rule {name!r}: profiles {profiles_text!r} not understood"
            )
        )
    security = pick("security", _SECURITY, None)
    interface_types = tuple(
        _IFTYPES.get(t.strip().lower(), t.strip().lower())
        for t in fields.get("interfacetypes", "Any").split(",")
        if t.strip() and t.strip().lower() != "any"
    )
    conditions = tuple(
        (condition, fields[label]) for label, condition in _CONDITIONS.items() if fields.get(label)
    )
    unknown = tuple((label, value) for label, value in fields.items() if label not in _KNOWN)
    warnings = [
        Problem.at(location, "netsh-unknown-label", f"rule {name!r}: unknown line {label!r} kept")
        for label, _ in unknown
    ]
    program = fields.get("program")
    service = fields.get("service")
    rule = WindowsRule(
        id=name,
        name=name,
        action=str(pick("action", _ACTIONS)),
        direction=str(pick("direction", _DIRECTIONS)),
        enabled=bool(pick("enabled", _YES_NO)),
        profiles=profiles or ALL_PROFILES,
        protocol=protocol,
        local_ports=local_ports,
        remote_ports=remote_ports,
        local_addresses=local_addresses,
        remote_addresses=remote_addresses,
        icmp_types=icmp,
        program=None if not program or program.lower() == "any" else program,
        service=None if not service or service.lower() == "any" else service,
        interface_types=interface_types,
        security=(str(security),) if security else (),
        edge_traversal=pick("edge traversal", _EDGE, None),  # type: ignore[arg-type]
        conditions=conditions,
        unknown=unknown,
        store="gpo" if fields.get("rule source", "").lower() == "group policy" else "local",
        origin=location,
        # One line, as evidence text is: "Label: value | Label: value | …".
        text=" | ".join(
            " ".join(text.split())
            for _, text in block
            if text.strip() and not text.startswith(_DASHES)
        ),
        description=fields.get("description", ""),
        group=fields.get("grouping", ""),
    )
    return rule, warnings


def _list(value: str | None, parse_one: object) -> tuple[str, ...]:
    from checker.model.windows import parse_icmp

    if value is None:
        return ()
    out: list[str] = []
    for item in value.split(","):
        if not item.strip():
            continue
        parsed = parse_one(item)  # type: ignore[operator]
        if parsed is None:
            return ()
        if isinstance(parsed, str):
            out.append(parsed)
        elif isinstance(parsed, tuple):
            low, high = parsed
            if parse_one is parse_icmp:
                out.append(f"{low >> 8}:{'*' if high - low == 0xFF else low & 0xFF}")
            else:
                out.append(str(low) if low == high else f"{low}-{high}")
        else:
            out.append(parsed.text())
    return tuple(dict.fromkeys(out))
