"""The WinRM collector's JSON (schemas/windows-collect.schema.json, format version 1).

The collector (issue 6) runs Get-NetFirewallRule / Get-NetFirewall*Filter / Get-NetFirewallProfile
against the ActiveStore and Get-NetConnectionProfile, and writes one object per host. Names and
enum strings are the PowerShell NetSecurity module's; they map onto the model as:
- Action Allow + OverrideBlockRules -> bypass (MSFT_NetNetworkLayerSecurityFilter
  OverrideBlockRules: authenticated bypass); Direction Inbound/Outbound -> in/out.
- Profile "Any" -> all three; PolicyStoreSourceType GroupPolicy -> store "gpo", else "local".
- Authentication Required/NoEncap, Encryption Required/Dynamic -> `security`; RemoteMachine,
  RemoteUser, LocalUser, Owner, LocalOnlyMapping, Platform -> runtime `conditions`.
- Profiles come from the ActiveStore: they are the values in force, so they are recorded as the
  winning (gpo) store. AllowInboundRules False = shields up; AllowLocalFirewallRules False =
  local rules ignored; NotConfigured = the Windows default.
- active_profiles: the connected networks' categories (DomainAuthenticated -> domain).
Each rule's origin is the line of its `"Name"` in the file.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import TYPE_CHECKING, Any

from checker import numbers, resources
from checker.errors import Location, ParseError, Problem
from checker.parsers.options import NO_OPTIONS, ParseOptions, ParserOption

# Imported where used: every run imports this module (the format registry reads its NAME,
# OPTIONS and sniff), only a Windows export needs the model and jsonschema (bench/pre_commit.py).
if TYPE_CHECKING:
    import jsonschema

    from checker.model.listening import ListeningSocket
    from checker.model.windows import ProfileSettings, WindowsRule, WindowsRuleset

NAME = "windows-json"
OPTIONS: tuple[ParserOption, ...] = ()  # reads no option
PATTERNS = ("*.windows.json", "*-windows-collect.json")
SCHEMA = "windows-collect.schema.json"

_SECURITY_AUTH = {"Required": "authenticate", "NoEncap": "authenticate-no-encapsulation"}
_SECURITY_ENC = {"Required": "encrypt", "Dynamic": "negotiate-encryption"}
_EDGE = {"Block": None, "Allow": "allow", "DeferToUser": "defer-user", "DeferToApp": "defer-app"}
_IFTYPE = {"wired": "lan", "lan": "lan", "wireless": "wireless", "remoteaccess": "remoteaccess"}
_PLATFORM = re.compile(r"(\d+)\.(\d+)\+", re.ASCII)  # ASCII: "١٠.0+" is no version


def sniff(head: bytes) -> bool:
    return b'"fwcheck-windows-collect"' in head[:4096]


def _listening(item: dict, text: str, origin: str, index: int) -> ListeningSocket:
    """One `listening` entry (Get-NetTCPConnection / Get-NetUDPEndpoint properties)."""
    from checker.model.listening import ListeningSocket

    where = Location(f"{origin}:listening[{index}]")
    try:
        address = ipaddress.ip_address(item["LocalAddress"].split("%", 1)[0])
    except ValueError:
        raise ParseError(
            Problem.at(where, "windows-json", f"bad LocalAddress {item['LocalAddress']!r}")
        ) from None
    return ListeningSocket(
        protocol=6 if item["Protocol"] == "TCP" else 17,
        families=frozenset({address.version}),
        address=None if address.is_unspecified else int(address),
        port=item["LocalPort"],
        program=item.get("ProcessPath") or None,
        origin=where,
        pid=item.get("OwningProcess"),
        service=item.get("Service") or None,
    )


def parse(data: bytes, origin: str, options: ParseOptions = NO_OPTIONS) -> WindowsRuleset:
    from checker.model.windows import WindowsRuleset

    try:
        text = data.decode("utf-8-sig")
        document = numbers.json_loads(text)
    except numbers.NumberTooLong as error:
        line = _line_of_long_number(text)
        raise ParseError(Problem(origin, line, 0, "windows-json", f"not JSON: {error}")) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        line = getattr(error, "lineno", 1)
        col = getattr(error, "colno", 0)
        raise ParseError(Problem(origin, line, col, "windows-json", f"not JSON: {error}")) from None
    except RecursionError:
        raise ParseError(Problem(origin, 1, 0, "windows-json", "JSON nests too deeply")) from None
    import jsonschema

    schema = json.loads(resources.schema_path(SCHEMA).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        raise ParseError(
            *(
                Problem(origin, 0, 0, "windows-json", f"{_pointer(error)}: {error.message}")
                for error in errors[:20]
            )
        )
    rules: list[WindowsRule] = []
    position = 0
    for index, item in enumerate(document["rules"]):
        match = re.compile(r'"Name"\s*:\s*' + re.escape(json.dumps(item["Name"]))).search(
            text, position
        )
        line = text.count("\n", 0, match.start()) + 1 if match else 0
        if match:
            position = match.end()
        location = Location(origin, line) if line else Location(f"{origin}:rules[{index}]")
        try:
            rules.append(_rule(item, location))
        except ValueError as error:
            raise ParseError(
                Problem.at(location, "windows-json", f"rule {item['Name']!r}: {error}")
            ) from None
    profiles = {}
    for item in document["profiles"]:
        settings = _profile(item, origin)
        profiles[settings.profile] = settings
    active = document.get("active_profiles")
    listening = tuple(
        _listening(item, text, origin, i) for i, item in enumerate(document.get("listening", ()))
    )
    return WindowsRuleset(
        rules=tuple(rules),
        profiles=profiles,
        active_profiles=frozenset(name.lower() for name in active) if active is not None else None,
        listening=listening,
        origin=origin,
        warnings=(),
        format=NAME,
    )


def _line_of_long_number(text: str) -> int:
    found = re.search(rf"[1-9][0-9]{{{numbers.MAX_DIGITS},}}", text)
    return text.count("\n", 0, found.start()) + 1 if found else 1


def _pointer(error: jsonschema.ValidationError) -> str:
    return "/" + "/".join(str(part) for part in error.absolute_path)


def _items(value: Any) -> list[str]:
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value)
    return [v.strip() for v in values if v.strip() and v.strip().lower() != "any"]


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return {"True": True, "False": False}.get(value)


def _rule(item: dict[str, Any], origin: Location) -> WindowsRule:
    from checker.model.windows import ALL_PROFILES, WindowsRule, parse_protocol

    if item["Action"] == "NotConfigured":
        raise ValueError("Action NotConfigured is not an effective rule action")
    action = (
        "block"
        if item["Action"] == "Block"
        else "bypass"
        if item.get("OverrideBlockRules")
        else "allow"
    )
    profiles = frozenset(
        p.strip().lower() for p in ",".join(_items(item["Profile"])).split(",") if p.strip()
    )
    if not profiles <= ALL_PROFILES:
        raise ValueError(f"unknown profile in {item['Profile']!r}")
    ports_local = tuple(_port(p) for p in _items(item.get("LocalPort")))
    ports_remote = tuple(_port(p) for p in _items(item.get("RemotePort")))
    security = []
    if item.get("Authentication") in _SECURITY_AUTH:
        security.append(_SECURITY_AUTH[item["Authentication"]])
    if item.get("Encryption") in _SECURITY_ENC:
        security.append(_SECURITY_ENC[item["Encryption"]])
    conditions: list[tuple[str, str]] = []
    for key, condition in (
        ("RemoteMachine", "RMauth"),
        ("RemoteUser", "RUAuth"),
        ("Owner", "LUOwn"),
    ):
        if item.get(key):
            conditions.append((condition, item[key]))
    if item.get("LocalUser") and item["LocalUser"] != "Any":
        conditions.append(("LUAuth", item["LocalUser"]))
    if item.get("LocalOnlyMapping"):
        conditions.append(("LOM", "TRUE"))
    for platform in _items(item.get("Platform")):
        found = _PLATFORM.fullmatch(platform)
        if found:
            conditions += [
                ("Platform", f"2:{found.group(1)}:{found.group(2)}"),
                ("Platform2", "GTEQ"),
            ]
        else:
            conditions.append(("Platform", platform))
    program = item.get("Program")
    service = item.get("Service")
    return WindowsRule(
        id=item["Name"],
        name=item.get("DisplayName") or item["Name"],
        action=action,
        direction="in" if item["Direction"] == "Inbound" else "out",
        enabled=bool(_bool(item["Enabled"])),
        profiles=profiles or ALL_PROFILES,
        protocol=parse_protocol(item.get("Protocol") or "Any"),
        local_ports=_every_or(ports_local),
        remote_ports=_every_or(ports_remote),
        local_addresses=_addresses(item.get("LocalAddress")),
        remote_addresses=_addresses(item.get("RemoteAddress")),
        icmp_types=_icmp(item.get("IcmpType")),
        program=None if not program or program == "Any" else program,
        service=None if not service or service == "Any" else service,
        package=item.get("Package") or None,
        interface_types=tuple(
            _IFTYPE.get(t.strip().lower(), t.strip().lower())
            for t in ",".join(_items(item.get("InterfaceType"))).split(",")
            if t.strip()
        ),
        interfaces=tuple(_items(item.get("InterfaceAlias"))),
        security=tuple(security),
        edge_traversal=_EDGE.get(item.get("EdgeTraversalPolicy") or "Block"),
        conditions=tuple(conditions),
        store="gpo" if item.get("PolicyStoreSourceType") == "GroupPolicy" else "local",
        origin=origin,
        text=json.dumps(item, sort_keys=True, ensure_ascii=False),
        description=item.get("Description") or "",
        group=item.get("DisplayGroup") or "",
    )


def _every_or(ports: tuple[str | None, ...]) -> tuple[str, ...]:
    """The rule's ports; () (every port) when one of them is Any (None)."""
    listed = tuple(p for p in ports if p is not None)
    return () if len(listed) != len(ports) else listed


def _port(text: str) -> str | None:
    from checker.model.windows import parse_port

    parsed = parse_port(text)
    if parsed is None or isinstance(parsed, str):
        return parsed
    low, high = parsed
    return str(low) if low == high else f"{low}-{high}"


def _addresses(value: Any) -> tuple[str, ...]:
    from checker.model.windows import parse_address

    out = []
    for item in _items(value):
        parsed = parse_address(item)
        if parsed is None:
            return ()
        out.append(parsed.text())
    return tuple(dict.fromkeys(out))


def _icmp(value: Any) -> tuple[str, ...]:
    from checker.model.windows import parse_icmp

    out = []
    for item in _items(value):
        parsed = parse_icmp(item)
        if parsed is None:
            return ()
        low, high = parsed
        out.append(f"{low >> 8}:{'*' if high - low == 0xFF else low & 0xFF}")
    return tuple(out)


# Get-NetFirewallProfile properties kept as written for settings requirements (engine.settings).
_KEPT = frozenset(
    {
        "NotifyOnListen",
        "AllowLocalIPsecRules",
        "AllowUnicastResponseToMulticast",
        "LogFileName",
        "LogMaxSizeKilobytes",
        "LogAllowed",
        "LogBlocked",
    }
)


def _profile(item: dict[str, Any], origin: str) -> ProfileSettings:
    from checker.model.windows import ProfileSettings

    def action(value: str) -> str | None:
        return {"Allow": "allow", "Block": "block"}.get(value)

    allow_inbound = _bool(item.get("AllowInboundRules"))
    allow_local = _bool(item.get("AllowLocalFirewallRules"))
    location = Location(f"{origin}:profiles/{item['Name']}")
    fields = {
        "enabled": _bool(item["Enabled"]),
        "default_inbound": action(item["DefaultInboundAction"]),
        "default_outbound": action(item["DefaultOutboundAction"]),
        "shields_up": None if allow_inbound is None else not allow_inbound,
        "allow_local_policy_merge": allow_local,
    }
    return ProfileSettings(
        profile=item["Name"].lower(),
        store="gpo",
        origin=location,
        setting_origins=tuple(
            (name, location) for name, value in fields.items() if value is not None
        )
        + tuple((key, location) for key in item if key in _KEPT),
        other=tuple((key, str(value)) for key, value in item.items() if key in _KEPT),
        **fields,  # type: ignore[arg-type]
    )
