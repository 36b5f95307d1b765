"""From registry values to a WindowsRuleset: shared by the .reg, .wfw and Registry.pol parsers.

Each of those formats is a different container for the same registry layout, so each parser
only lists `RegistryValue`s (key path, value name, data, where it is written) and this module
interprets them:
- `…\\FirewallRules` values are rule strings (MS-GPFAS 2.2.2.19; the value name is the rule ID).
- Profile keys: DomainProfile, StandardProfile (= Private, its name in the local store),
  PrivateProfile (its name under Software\\Policies, MS-GPFAS 2.2.1), PublicProfile.
  EnableFirewall (1 on), DefaultInboundAction / DefaultOutboundAction (0 Allow, 1 Block),
  DoNotAllowExceptions (1 = shields up), AllowLocalPolicyMerge (0 = local rules ignored):
  MS-GPFAS 2.2.1.1-2.2.1.x and MS-FASP 2.2.38. Everything else is kept in `other`, with the
  values of the profile's Logging subkey (LogFileSize, LogFilePath, LogDroppedPackets,
  LogSuccessfulConnections: MS-GPFAS 2.2.1), each with where it is written.
- The store is "gpo" for keys under Software\\Policies\\Microsoft\\WindowsFirewall, else "local".
Other keys (ConSecRules, authentication sets, logging) are not firewall filtering rules: they
are counted in one warning so nothing is dropped silently.

A value written twice under one key (same key path and value name, both compared without
case, as the registry compares them) holds the later data: importing a .reg file writes its
values in file order and "if a data item does exist, the value in your .reg file overwrites the
existing value" (Microsoft KB 310516, "How to add, modify, or delete registry subkeys and values
by using a .reg file"); a Registry.pol is applied entry by entry the same way. So the last one
wins; each earlier one gets a `windows-duplicate-value` warning, and a replaced rule is kept in
`WindowsRuleset.shadowed` so the engine can name it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from checker.errors import Location, ParseError, Problem
from checker.model.windows import ProfileSettings, ShadowedRule, WindowsRule, WindowsRuleset
from checker.parsers.windows.windows_rule_string import parse_rule_string

PROFILE_KEYS = {
    "domainprofile": "domain",
    "standardprofile": "private",
    "privateprofile": "private",
    "publicprofile": "public",
}
_ACTION_VALUES = {0: "allow", 1: "block"}
# Values that only describe the policy, not a filter: not worth a warning.
_QUIET_KEYS = ("logging", "consecrules", "authenticationsets", "cryptosets")


@dataclass(frozen=True, slots=True)
class RegistryValue:
    key: str  # key path as written (any prefix), backslash-separated
    name: str
    data: int | str | bytes | tuple[str, ...] | None
    origin: Location


def store_of(key: str) -> str:
    return "gpo" if "\\policies\\microsoft\\windowsfirewall" in "\\" + key.lower() else "local"


def ruleset_from_values(
    values: Iterable[RegistryValue],
    origin: str,
    format_name: str,
    extra_warnings: Iterable[Problem] = (),
) -> WindowsRuleset:
    rules: list[WindowsRule] = []
    warnings: list[Problem] = list(extra_warnings)
    profile_values: dict[tuple[str, str], list[RegistryValue]] = {}
    profile_keys: dict[tuple[str, str], Location] = {}
    ignored: dict[str, int] = {}
    seen_ids: set[tuple[str, str]] = set()
    shadowed: list[ShadowedRule] = []
    values, overwritten = _last_written(list(values), warnings)
    for value in values:
        parts = [part for part in value.key.split("\\") if part]
        last = parts[-1].lower() if parts else ""
        store = store_of(value.key)
        if last == "firewallrules":
            if not value.name:
                continue  # the key line itself
            if not isinstance(value.data, str):
                raise ParseError(
                    Problem.at(
                        value.origin,
                        "windows-rule",
                        f"rule {value.name!r} is not a string value (MS-GPFAS 2.2.2.19: REG_SZ)",
                    )
                )
            rule, rule_warnings = parse_rule_string(value.name, value.data, value.origin, store)
            for earlier in overwritten.get(id(value), ()):
                shadowed.extend(_replaced_rule(earlier, rule, store))
            if (store, rule.id) in seen_ids:
                warnings.append(
                    Problem.at(
                        value.origin,
                        "windows-duplicate",
                        f"rule {rule.id!r} is written twice; both kept",
                    )
                )
            seen_ids.add((store, rule.id))
            rules.append(rule)
            warnings.extend(rule_warnings)
        elif last in PROFILE_KEYS or _is_profile_logging(parts):
            # A profile's Logging subkey (LogFileSize, LogDroppedPackets …) belongs to it too.
            last = last if last in PROFILE_KEYS else parts[-2].lower()
            slot = (PROFILE_KEYS[last], store)
            profile_keys.setdefault(slot, value.origin)
            if value.name:
                profile_values.setdefault(slot, []).append(value)
        elif value.name:
            family = next((quiet for quiet in _QUIET_KEYS if quiet in value.key.lower()), "other")
            ignored[family] = ignored.get(family, 0) + 1
    if ignored.get("other"):
        warnings.append(
            Problem(
                origin,
                0,
                0,
                "windows-ignored",
                f"{ignored['other']} registry value(s) outside FirewallRules and the profile keys "
                "were not read (global settings, connection security, authentication sets)",
            )
        )
    profiles: dict[str, ProfileSettings] = {}
    for (profile, store), key_origin in profile_keys.items():
        settings = profile_settings(
            profile, store, profile_values.get((profile, store), []), key_origin
        )
        if profile in profiles and profiles[profile].store == "gpo":
            continue  # one export holding both stores: the GPO value is what applies
        profiles[profile] = settings
    return WindowsRuleset(
        rules=tuple(rules),
        profiles=profiles,
        active_profiles=None,
        origin=origin,
        warnings=tuple(warnings),
        format=format_name,
        shadowed=tuple(shadowed),
    )


def _is_profile_logging(parts: list[str]) -> bool:
    return len(parts) > 1 and parts[-1].lower() == "logging" and parts[-2].lower() in PROFILE_KEYS


def _slot(value: RegistryValue) -> tuple[str, str]:
    key = "\\".join(part for part in value.key.lower().split("\\") if part)
    return key, value.name.lower()


def _where(location: Location) -> str:
    return f"{location.file}:{location.line}" if location.line else location.file


def _last_written(
    values: list[RegistryValue], warnings: list[Problem]
) -> tuple[list[RegistryValue], dict[int, list[RegistryValue]]]:
    """The values that hold after the file is applied in order (the last of each key path and
    name), and for each kept value (by id()) the earlier ones it overwrote."""
    last: dict[tuple[str, str], RegistryValue] = {}
    for value in values:
        if value.data is not None:  # data None: the key line itself
            last[_slot(value)] = value
    kept: list[RegistryValue] = []
    overwritten: dict[int, list[RegistryValue]] = {}
    for value in values:
        final = last.get(_slot(value)) if value.data is not None else value
        if final is value:
            kept.append(value)
            continue
        assert final is not None
        overwritten.setdefault(id(final), []).append(value)
        warnings.append(
            Problem.at(
                value.origin,
                "windows-duplicate-value",
                f"value {value.name!r} is written again at {_where(final.origin)}; the later one "
                "applies (values are written in file order, the last one wins)",
            )
        )
    return kept, overwritten


def _replaced_rule(earlier: RegistryValue, rule: WindowsRule, store: str) -> list[ShadowedRule]:
    if not isinstance(earlier.data, str):
        return []
    try:
        replaced, _ = parse_rule_string(earlier.name, earlier.data, earlier.origin, store)
    except ParseError:
        return []  # overwritten before it could apply: a garbled earlier copy does not matter
    reason = f"the same rule ID is written again at {_where(rule.origin)}; the later one applies"
    return [ShadowedRule(replaced, rule, reason)]


def profile_settings(
    profile: str, store: str, values: list[RegistryValue], key_origin: Location
) -> ProfileSettings:
    enabled: bool | None = None
    inbound: str | None = None
    outbound: str | None = None
    shields_up: bool | None = None
    merge: bool | None = None
    origins: list[tuple[str, Location]] = []
    other: list[tuple[str, str]] = []
    for value in values:
        name = value.name.lower()
        number = value.data if isinstance(value.data, int) else None
        if name == "enablefirewall" and number is not None:
            enabled = number != 0
            origins.append(("enabled", value.origin))
        elif name == "defaultinboundaction" and number in _ACTION_VALUES:
            inbound = _ACTION_VALUES[number]
            origins.append(("default_inbound", value.origin))
        elif name == "defaultoutboundaction" and number in _ACTION_VALUES:
            outbound = _ACTION_VALUES[number]
            origins.append(("default_outbound", value.origin))
        elif name == "donotallowexceptions" and number is not None:
            shields_up = number != 0
            origins.append(("shields_up", value.origin))
        elif name == "allowlocalpolicymerge" and number is not None:
            merge = number != 0
            origins.append(("allow_local_policy_merge", value.origin))
        else:
            other.append((value.name, str(value.data)))
            # Kept by registry name, for settings requirements' evidence (engine.settings).
            origins.append((value.name, value.origin))
    return ProfileSettings(
        profile=profile,
        store=store,
        enabled=enabled,
        default_inbound=inbound,
        default_outbound=outbound,
        shields_up=shields_up,
        allow_local_policy_merge=merge,
        origin=key_origin,
        setting_origins=tuple(origins),
        other=tuple(other),
    )
