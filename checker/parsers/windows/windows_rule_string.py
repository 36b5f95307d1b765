"""The firewall rule string `v2.30|Action=Allow|Active=TRUE|Dir=In|…|` (MS-GPFAS 2.2.2.19).

It is the data of each value under a FirewallRules key, in the local store
(HKLM\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\FirewallRules,
`.reg` and `.wfw` exports) and in Group Policy (SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\
FirewallRules, `Registry.pol`). The value's name is the rule ID (MS-GPFAS 2.2.2.19: wszRuleId is
the registry value name).

Grammar facts used (MS-GPFAS 2.2.2.19 and the value rules it references):
- `RULE = "v" VERSION "|" 1*FIELD`, `FIELD = TYPE-VALUE "|"`; keys and enum values are compared
  case-insensitively (the corpus writes `Active=TRUE`, tools write `active=true`).
- A key may repeat (`Profile=Domain|Profile=Private`, `LPort=80|LPort=443`): the values form a
  list. Values may also be comma lists (`LPort=80,443`), which netsh writes for v2.10 rules.
- Missing `Active` = disabled (FW_RULE_FLAGS_ACTIVE unset, MS-FASP 2.2.37); missing `Profile` =
  all profiles; missing `Protocol` = any; missing address/port/ICMP fields = any.
- `Action` is Allow, Block or ByPass (authenticated bypass, FW_RULE_ACTION_ALLOW_BYPASS);
  `Dir` is In or Out. Both are required: a rule without them is garbled.
- `LPort2_10`, `LPort2_20`, `LPort2_24`… carry ranges and newer port keywords; `RA42`/`RA62`
  carry the 2.20 address keywords (IntrAnet, Ply2Renders …): all merge into the same lists.
- `Security=`/`Security2_9=`/`Security2=`: IPsec requirements (FW_RULE_FLAGS_AUTHENTICATE …).
- `RMauth`, `RUAuth`, `LUAuth`, `LUOwn`, `TTK*`, `NNm`, `Platform`, `LOM`, `PCross`,
  `AuthByPassOut`, `Platform`/`Platform2` are conditions only the live host can evaluate: kept in `conditions`.
- `Name`, `Desc`, `EmbedCtxt`, `SkipVer`, `LSM` carry no match condition.
- Numbers are ASCII digits, as the ABNF's DIGIT is (RFC 5234: %x30-39): "²" or "١" in the
  version, a port, the protocol or an ICMP field make the rule garbled; in Platform= they are no
  version, so the rule keeps it as a runtime condition.
Unknown keys are kept in `unknown` and reported as warnings; the engine treats a rule with
unknown keys as possibly narrower than written (it may match less), never as broader.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from checker.errors import Location, ParseError, Problem
from checker.model.windows import (
    ALL_PROFILES,
    WindowsRule,
    parse_address,
    parse_icmp,
    parse_port,
    parse_protocol,
)

# re.ASCII: \d would otherwise take any script's digits ("v٢.٣٠|").
_VERSION = re.compile(r"v(\d{1,2})\.(\d{1,3})\|", re.IGNORECASE | re.ASCII)

_ACTIONS = {"allow": "allow", "block": "block", "bypass": "bypass"}
_DIRECTIONS = {"in": "in", "out": "out"}
_PROFILES = {"domain": "domain", "private": "private", "public": "public"}
_BOOLEANS = {"true": True, "false": False}
_EDGE = {"true": "allow", "false": None}
_DEFER = {"app": "defer-app", "user": "defer-user"}
_IFTYPES = {
    "lan": "lan",
    "wireless": "wireless",
    "ras": "remoteaccess",
    "remoteaccess": "remoteaccess",
}
_SECURITY = {
    "authenticate": "authenticate",
    "authenticateencrypt": "encrypt",
    "authdynenc": "negotiate-encryption",
    "an-noencap": "authenticate-no-encapsulation",
    "authnoencap": "authenticate-no-encapsulation",
    "authenc": "encrypt",
}

_LOCAL_PORT_KEYS = ("lport", "lport2_10", "lport2_20", "lport2_24", "lport2_29")
_REMOTE_PORT_KEYS = ("rport", "rport2_10", "rport2_20", "rport2_24", "rport2_25")
_ADDRESS_KEYS = {
    "la4": ("local", 4),
    "la6": ("local", 6),
    "ra4": ("remote", 4),
    "ra6": ("remote", 6),
    "la42": ("local", 4),
    "la62": ("local", 6),
    "ra42": ("remote", 4),
    "ra62": ("remote", 6),
}
_CONDITION_KEYS = {
    "rmauth",
    "ruauth",
    "luauth",
    "luown",
    "ttk",
    "ttk2_22",
    "ttk2_27",
    "ttk2_28",
    "nnm",
    "platform",
    "platform2",
    "lom",
    "pcross",
    "authbypassout",
    "if",
}
_METADATA_KEYS = {"name", "desc", "embedctxt", "skipver", "lsm"}
_KNOWN_KEYS = (
    {"action", "active", "dir", "profile", "protocol", "app", "svc", "apppkgid", "iftype"}
    | {"security", "security2_9", "security2", "edge", "defer", "icmp4", "icmp6"}
    | set(_LOCAL_PORT_KEYS)
    | set(_REMOTE_PORT_KEYS)
    | set(_ADDRESS_KEYS)
    | _CONDITION_KEYS
    | _METADATA_KEYS
)


def sniff_rule_string(text: str) -> bool:
    return _VERSION.match(text) is not None


def parse_rule_string(
    rule_id: str, text: str, origin: Location, store: str
) -> tuple[WindowsRule, tuple[Problem, ...]]:
    """One rule string -> (rule, warnings). Raises ParseError when the string is garbled."""

    def fail(message: str) -> ParseError:
        return ParseError(Problem.at(origin, "windows-rule", f"rule {rule_id!r}: {message}"))

    version_match = _VERSION.match(text)
    if version_match is None:
        raise fail("does not start with a rule-string version such as 'v2.30|'")
    version = f"{int(version_match.group(1))}.{version_match.group(2)}"
    body = text[version_match.end() :]
    # The grammar ends every field with "|"; some writers drop the last one.
    fields = body.split("|")
    if fields and fields[-1] == "":
        fields.pop()
    pairs: list[tuple[str, str]] = []
    for field_text in fields:
        key, equals, value = field_text.partition("=")
        if not equals or not key.strip():
            raise fail(f"field {field_text[:60]!r} is not Key=Value")
        pairs.append((key.strip(), value))

    values: dict[str, list[str]] = {}
    unknown: list[tuple[str, str]] = []
    conditions: list[tuple[str, str]] = []
    for key, value in pairs:
        lowered = key.lower()
        if lowered not in _KNOWN_KEYS:
            unknown.append((key, value))
            continue
        values.setdefault(lowered, []).append(value)
        if lowered in _CONDITION_KEYS:
            conditions.append((key, value))

    def one(key: str, table: Mapping[str, object], required: bool = False) -> object:
        found = values.get(key, [])
        if not found:
            if required:
                raise fail(f"has no {key.capitalize()}=")
            return None
        if len({item.lower() for item in found}) > 1:
            raise fail(f"has conflicting {key.capitalize()}= values {found}")
        item = found[0].strip().lower()
        if item not in table:
            raise fail(f"{key.capitalize()}={found[0]!r} is not one of {sorted(table)}")
        return table[item]

    def listed(keys: tuple[str, ...] | list[str]) -> list[str]:
        out: list[str] = []
        for key in keys:
            for value in values.get(key, []):
                out.extend(part for part in value.split(",") if part.strip())
        return out

    action = one("action", _ACTIONS, required=True)
    direction = one("dir", _DIRECTIONS, required=True)
    enabled = bool(one("active", _BOOLEANS))
    profiles = frozenset(_profile(item, fail) for item in listed(["profile"])) or ALL_PROFILES

    protocol_values = values.get("protocol", [])
    if len(protocol_values) > 1:
        raise fail(f"has several Protocol= values {protocol_values}")
    try:
        protocol = parse_protocol(protocol_values[0]) if protocol_values else None
        local_ports = _ports(listed(_LOCAL_PORT_KEYS))
        remote_ports = _ports(listed(_REMOTE_PORT_KEYS))
        local_addresses = _addresses(values, "local")
        remote_addresses = _addresses(values, "remote")
        icmp_types = _icmp(listed(["icmp4", "icmp6"]))
    except ValueError as error:
        raise fail(str(error)) from None

    security = []
    for key in ("security", "security2_9", "security2"):
        for value in values.get(key, []):
            security.append(_SECURITY.get(value.strip().lower(), value.strip()))
    edge = one("edge", _EDGE)
    defer = one("defer", _DEFER)
    interface_types = tuple(
        _IFTYPES.get(item.strip().lower(), item.strip()) for item in listed(["iftype"])
    )
    warnings = tuple(
        Problem.at(
            origin,
            "windows-unknown-key",
            f"rule {rule_id!r}: unknown key {key}={value[:60]!r} kept; the rule is treated as "
            "possibly matching less than written",
        )
        for key, value in unknown
    )
    rule = WindowsRule(
        id=rule_id,
        name=_first(values, "name") or rule_id,
        action=str(action),
        direction=str(direction),
        enabled=enabled,
        profiles=profiles,
        protocol=protocol,
        local_ports=local_ports,
        remote_ports=remote_ports,
        local_addresses=local_addresses,
        remote_addresses=remote_addresses,
        icmp_types=icmp_types,
        program=_first(values, "app"),
        service=_first(values, "svc"),
        package=_first(values, "apppkgid"),
        interface_types=interface_types,
        interfaces=tuple(listed(["if"])),
        security=tuple(security),
        edge_traversal=traversal if isinstance(traversal := defer or edge, str) else None,
        conditions=tuple(conditions),
        unknown=tuple(unknown),
        store=store,
        origin=origin,
        text=text,
        description=_first(values, "desc") or "",
        group=_first(values, "embedctxt") or "",
        version=version,
    )
    return rule, warnings


def _first(values: dict[str, list[str]], key: str) -> str | None:
    found = values.get(key)
    return found[0] if found else None


def _profile(item: str, fail: object) -> str:
    lowered = item.strip().lower()
    if lowered not in _PROFILES:
        raise fail(f"Profile={item!r} is not Domain, Private or Public")  # type: ignore[operator]
    return _PROFILES[lowered]


def _ports(items: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for item in items:
        parsed = parse_port(item)
        if parsed is None:
            return ()
        out.append(parsed if isinstance(parsed, str) else _port_text(parsed))
    return tuple(dict.fromkeys(out))


def _port_text(port_range: tuple[int, int]) -> str:
    low, high = port_range
    return str(low) if low == high else f"{low}-{high}"


def _addresses(values: dict[str, list[str]], side: str) -> tuple[str, ...]:
    out: list[str] = []
    for key, (key_side, family) in _ADDRESS_KEYS.items():
        if key_side != side:
            continue
        for value in values.get(key, []):
            for item in value.split(","):
                if not item.strip():
                    continue
                parsed = parse_address(item, family)
                if parsed is None:
                    # "*" in RA4 = every IPv4 address.
                    out.append("0.0.0.0/0" if family == 4 else "::/0")
                else:
                    out.append(parsed.text())
    return tuple(dict.fromkeys(out))


def _icmp(items: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for item in items:
        parsed = parse_icmp(item)
        if parsed is None:
            return ()
        low, high = parsed
        code = "*" if high - low == 0xFF else str(low & 0xFF)
        out.append(f"{low >> 8}:{code}")
    return tuple(dict.fromkeys(out))
