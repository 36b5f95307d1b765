"""The settings in force for one profile, merged over the stores of one host.

Merge law (MS-FASP 2.2.38 FW_PROFILE_CONFIG, e.g. FW_PROFILE_CONFIG_ENABLE_FW: "let the value of
the GroupPolicyRSoPStore win if it is configured; otherwise, the local store value is used"):
a Group Policy value wins, then the local value, then the Windows default:
- EnableFirewall: on (MS-FASP 2.2.38: when off, "the server MUST NOT block any network traffic").
- DefaultInboundAction: Block; DefaultOutboundAction: Allow (INetFwPolicy2
  get_DefaultInboundAction: "These settings are Block by default"; outbound Allow by default).
- DoNotAllowExceptions ("shields up"): off.
- AllowLocalPolicyMerge: on; only Group Policy can turn it off, and then local-store rules are
  ignored (MS-FASP 2.2.38 FW_PROFILE_CONFIG_ALLOW_LOCAL_POLICY_MERGE; the policy value is
  MS-GPFAS 2.2.3.13 "Allow Local Firewall Rule Policy Merge", under the GPO profile keys only).
Each effective value carries the Evidence that states it (or says it is the Windows default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from checker.findings import Evidence
from checker.model.windows import ProfileSettings, WindowsRuleset

_REGISTRY_NAMES = {
    "enabled": "EnableFirewall",
    "default_inbound": "DefaultInboundAction",
    "default_outbound": "DefaultOutboundAction",
    "shields_up": "DoNotAllowExceptions",
    "allow_local_policy_merge": "AllowLocalPolicyMerge",
}
_DEFAULTS: dict[str, object] = {
    "enabled": True,
    "default_inbound": "block",
    "default_outbound": "allow",
    "shields_up": False,
    "allow_local_policy_merge": True,
}


@dataclass(frozen=True, slots=True)
class Setting:
    value: object
    evidence: Evidence
    is_default: bool


@dataclass(frozen=True, slots=True)
class EffectiveProfile:
    profile: str
    enabled: Setting
    default_inbound: Setting
    default_outbound: Setting
    shields_up: Setting
    allow_local_policy_merge: Setting


def _describe(field: str, value: object) -> str:
    if field == "enabled":
        return "firewall on" if value else "firewall off"
    if field in ("default_inbound", "default_outbound"):
        direction = "inbound" if field == "default_inbound" else "outbound"
        return f"default {direction} action {str(value).capitalize()}"
    if field == "shields_up":
        return (
            "shields up (block all inbound, rules ignored)" if value else "inbound rules honoured"
        )
    return "local rules merged" if value else "local rules ignored (AllowLocalPolicyMerge=0)"


def effective_profile(profile: str, rulesets: Sequence[WindowsRuleset]) -> EffectiveProfile:
    stated: dict[str, list[ProfileSettings]] = {"gpo": [], "local": []}
    for ruleset in rulesets:
        settings = ruleset.profiles.get(profile)
        if settings is not None:
            stated.setdefault(settings.store, []).append(settings)
    fallback_file = rulesets[0].origin if rulesets else ""
    values: dict[str, Setting] = {}
    for field, registry_name in _REGISTRY_NAMES.items():
        chosen: Setting | None = None
        stores = ("gpo",) if field == "allow_local_policy_merge" else ("gpo", "local")
        for store in stores:
            for settings in stated.get(store, []):
                value = getattr(settings, field)
                if value is not None:
                    where = settings.origin_of(field)
                    text = f"{profile} profile: {_describe(field, value)} ({registry_name}, {store} store)"
                    chosen = Setting(
                        value, Evidence(where.file, where.line, text, store=store), False
                    )
                    break
            if chosen is not None:
                break
        if chosen is None:
            value = _DEFAULTS[field]
            text = f"{profile} profile: {_describe(field, value)} (Windows default; no export sets {registry_name})"
            chosen = Setting(value, Evidence(fallback_file, 0, text), True)
        values[field] = chosen
    return EffectiveProfile(profile=profile, **values)
