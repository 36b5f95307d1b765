"""Settings requirements (policy format v1.1 `setting:`): what a flow rule cannot say.

A rule with `setting:` asks about one configuration value instead of a set of flows: a Windows
profile setting (`{windows_profile: public, enabled: true}`) or the default of a netfilter hook
(`{netfilter_hook: input, default: deny}`). The schema has checked the shape (exactly one setting
per Windows rule); this module turns it into a `SettingSpec` for checker.engine.settings.
Meanings are documented in docs/controls.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The Windows profile settings a rule may ask about, and how each is compared.
WINDOWS_SETTINGS = (
    "enabled",
    "default_inbound",
    "default_outbound",
    "shields_up",
    "local_rule_merge",
    "local_ipsec_merge",
    "notifications",
    "unicast_responses",
    "log_size_at_least_kb",
    "log_path",
    "log_dropped",
    "log_allowed",
)
HOOKS = ("input", "forward", "output")
# The netfilter settings and the one value each asks for (docs/controls.md): the hook's default,
# loopback traffic on `lo`, loopback-source packets arriving on any other interface, and a rule
# accepting connections to every open port.
NETFILTER_SETTINGS = {
    "default": "deny",
    "loopback": "accept",
    "spoofed_loopback": "drop",
    "open_ports": "accepted_by_rule",
}
_FAMILIES = {"ipv4": (4,), "ipv6": (6,), "any": (4, 6)}


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One setting to check. kind "windows": `scope` is the profile, `name` one of
    WINDOWS_SETTINGS, `value` what it must be (at least, for log_size_at_least_kb). kind
    "netfilter": `scope` is the hook, `name` one of NETFILTER_SETTINGS with its value,
    `families` those asked about."""

    kind: str
    scope: str
    name: str
    value: bool | int | str
    families: tuple[int, ...] = (4, 6)

    def describe(self) -> str:
        if self.kind == "netfilter":
            fams = "/".join(f"IPv{f}" for f in self.families)
            if self.name == "loopback":
                side = "arriving on" if self.scope == "input" else "leaving through"
                return f"netfilter {self.scope} hook ({fams}): packets {side} lo accepted"
            if self.name == "spoofed_loopback":
                return (
                    f"netfilter {self.scope} hook ({fams}): loopback-source packets arriving"
                    " on other interfaces dropped"
                )
            if self.name == "open_ports":
                return f"netfilter {self.scope} hook ({fams}): a rule accepts every open port"
            return f"netfilter {self.scope} hook ({fams}): default {self.value}"
        shown = str(self.value).lower() if isinstance(self.value, bool) else str(self.value)
        if self.name == "log_size_at_least_kb":
            return f"Windows {self.scope} profile: log file size at least {shown} KB"
        return f"Windows {self.scope} profile: {self.name.replace('_', ' ')} = {shown}"


def setting_spec(data: Mapping[str, Any]) -> SettingSpec:
    if "windows_profile" in data:
        name = next(key for key in data if key != "windows_profile")
        return SettingSpec("windows", str(data["windows_profile"]), name, data[name])
    name = next(key for key in NETFILTER_SETTINGS if key in data)
    return SettingSpec(
        "netfilter",
        str(data["netfilter_hook"]),
        name,
        str(data[name]),
        _FAMILIES[data.get("family", "any")],
    )


def to_json(spec: SettingSpec) -> dict[str, object]:
    """The JSON report's form of a setting (read back by checker.reports.json_fields, and by
    checker.fleet.requirement_text from version 1 reports)."""
    return {
        "kind": spec.kind,
        "scope": spec.scope,
        "name": spec.name,
        "value": spec.value,
        "families": list(spec.families),
        "description": spec.describe(),
    }


def from_json(data: Mapping[str, Any]) -> SettingSpec:
    value = data["value"]
    if not isinstance(value, bool | int | str):
        raise ValueError(f"setting value {value!r}")
    return SettingSpec(
        str(data["kind"]),
        str(data["scope"]),
        str(data["name"]),
        value,
        tuple(int(f) for f in data["families"]),
    )
