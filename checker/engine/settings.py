"""Settings requirements (policy `setting:`, checker.policies.settings): one configuration value
of a target, decided from its exports with the value's registry name or chain as evidence.

Windows profile settings. Where each value lives: the profile keys of MS-GPFAS 2.2.1
(Software\\Policies\\Microsoft\\WindowsFirewall\\DomainProfile|PrivateProfile|PublicProfile for
Group Policy; ...\\SharedAccess\\Parameters\\FirewallPolicy\\DomainProfile|StandardProfile|
PublicProfile locally) and their Logging subkeys. The DISA STIG's check text reads them the
same way: "If the policy-based registry value exists and is not configured as specified, this
is a finding. If the policy-based registry value does not exist, verify the following registry
value" (the local one) - MS-FASP 2.2.38's merge law, the Group Policy value wins.
- A value Group Policy sets decides.
- Otherwise the local store's value decides; when the local store was read and does not set it,
  the Windows default applies (`_DEFAULTS`, each cited). AllowLocalPolicyMerge and
  AllowLocalIPsecPolicyMerge are Group Policy only (MS-GPFAS 2.2.1, "Allow Local ... Policy
  Merge"): when the GPO store was read and does not set them, their default (on) applies.
- When the store that would decide was not among the exports, or a value has no documented
  default, the verdict is indeterminate: a setting is never passed on missing evidence.

Netfilter hook defaults. `default: deny` at a hook holds for a family when some base filter
chain of that family at that hook has policy drop, or ends with an unconditional drop or reject
rule (its last rule has no match): every packet at a hook traverses each base chain there in
priority order, and a drop in any of them is final, while an accept ends only the chain that
gives it (nftables wiki, "Configuring chains", base chain priority and the traversal of several
base chains on one hook: a drop is instant, an accepted packet goes on to the next base chain).
A family no export describes is indeterminate.

Loopback (`loopback: accept`, `spoofed_loopback: drop`) and open ports (`open_ports:
accepted_by_rule`) are decided by the engine's walk on their own packets:
checker.engine.netfilter.loopback and .open_ports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from checker.engine.netfilter import loopback, open_ports, walk
from checker.engine.verdict import Verdict
from checker.findings import Evidence, Status
from checker.model import netfilter as nf
from checker.model.listening import ListeningSockets
from checker.model.windows import ProfileSettings, WindowsRuleset
from checker.policies.model import Requirement
from checker.policies.settings import SettingSpec


@dataclass(frozen=True, slots=True)
class _Value:
    """How a Windows setting is stored: its registry value name (under the profile key, or
    `Logging\\` for the Logging subkey), the ProfileSettings field holding it when the parser
    decodes it, and whether only Group Policy sets it."""

    registry: str
    field: str | None = None
    gpo_only: bool = False
    logging: bool = False
    # Its Get-NetFirewallProfile property (collector JSON), where that is not `field`.
    cmdlet: str | None = None


_VALUES = {
    "enabled": _Value("EnableFirewall", "enabled"),
    "default_inbound": _Value("DefaultInboundAction", "default_inbound"),
    "default_outbound": _Value("DefaultOutboundAction", "default_outbound"),
    "shields_up": _Value("DoNotAllowExceptions", "shields_up"),
    "local_rule_merge": _Value("AllowLocalPolicyMerge", "allow_local_policy_merge", gpo_only=True),
    "local_ipsec_merge": _Value(
        "AllowLocalIPsecPolicyMerge", gpo_only=True, cmdlet="AllowLocalIPsecRules"
    ),
    "notifications": _Value("DisableNotifications", cmdlet="NotifyOnListen"),
    "unicast_responses": _Value(
        "DisableUnicastResponsesToMulticastBroadcast", cmdlet="AllowUnicastResponseToMulticast"
    ),
    "log_size_at_least_kb": _Value("LogFileSize", logging=True, cmdlet="LogMaxSizeKilobytes"),
    "log_path": _Value("LogFilePath", logging=True, cmdlet="LogFileName"),
    "log_dropped": _Value("LogDroppedPackets", logging=True, cmdlet="LogBlocked"),
    "log_allowed": _Value("LogSuccessfulConnections", logging=True, cmdlet="LogAllowed"),
}
# Registry values that say the opposite of the setting's name (1 = off); the cmdlet properties
# (NotifyOnListen, AllowUnicastResponseToMulticast) say it the right way round.
_INVERTED = frozenset({"DisableNotifications", "DisableUnicastResponsesToMulticastBroadcast"})
# Windows defaults when no store sets a value. MS-FASP 2.2.38 / INetFwPolicy2 (firewall on,
# inbound Block, outbound Allow, shields down, local merges allowed); logging: Microsoft Learn
# "Configure Windows Firewall logging" (size limit 4,096 KB, dropped and successful connections
# not logged, %SystemRoot%\System32\LogFiles\Firewall\pfirewall.log). Notifications and unicast
# responses have no default stated for every Windows edition: absent, they are indeterminate.
_DEFAULTS: dict[str, bool | int | str] = {
    "enabled": True,
    "default_inbound": "block",
    "default_outbound": "allow",
    "shields_up": False,
    "local_rule_merge": True,
    "local_ipsec_merge": True,
    "log_size_at_least_kb": 4096,
    "log_path": "%systemroot%\\system32\\logfiles\\firewall\\pfirewall.log",
    "log_dropped": False,
    "log_allowed": False,
}


def check(
    models: Sequence[object], requirement: Requirement, context: walk.Context | None = None
) -> Verdict:
    """The verdict of a settings requirement. The loopback and open-ports settings walk the
    rules: pass the target's `walk.new_context(models)` (its compiled rules and budget) when
    checking several; None builds one, unbounded."""
    spec = requirement.setting
    assert spec is not None
    if spec.kind == "windows":
        rulesets = [m for m in models if isinstance(m, WindowsRuleset)]
        if not rulesets:
            return _not_applicable(spec, "a Windows profile setting, but the target is not Windows")
        return _windows(spec, rulesets)
    rulesets_nf = [m for m in models if isinstance(m, nf.Ruleset)]
    if not rulesets_nf:
        return _not_applicable(spec, "a netfilter hook, but the target has no netfilter ruleset")
    if spec.name in ("loopback", "spoofed_loopback", "open_ports"):
        # Asked of the engine's walk on their own packets (checker.engine.netfilter.loopback,
        # .open_ports); open ports come from the listening sockets among the models.
        context = context or walk.new_context(models)  # type: ignore[arg-type]
        covered = loopback.families_covered(context)
        if spec.name == "open_ports":
            listening = [m for m in models if isinstance(m, ListeningSockets)]
            return open_ports.check(context, spec, listening, covered)
        return loopback.check(context, spec, covered)
    return _netfilter(spec, rulesets_nf)


def _not_applicable(spec: SettingSpec, what: str) -> Verdict:
    return Verdict(
        Status.INDETERMINATE,
        f"{spec.describe()}: the rule asks about {what}, so the setting cannot be read",
    )


# --- Windows -------------------------------------------------------------------------------


def _stated(settings: ProfileSettings, value: _Value) -> tuple[object, Evidence, bool] | None:
    """The value this store's export sets (decoded by the parser when it has a field for it),
    where it is written, and whether it reads inverted (Disable…); None when it sets none.
    Get-NetFirewallProfile's "NotConfigured" sets nothing."""
    if value.field is not None:
        raw = getattr(settings, value.field)
        if raw is None:
            return None
        where = settings.origin_of(value.field)
        name = value.registry
    else:
        found = [
            (name, text)
            for name, text in settings.other
            for wanted in (value.registry, value.cmdlet)
            if wanted is not None and name.casefold() == wanted.casefold()
        ]
        if not found or found[0][1].strip().casefold() == "notconfigured":
            return None
        name, raw = found[0]
        where = settings.origin_of(name)
    prefix = "Logging\\" if value.logging and name == value.registry else ""
    text = f"{settings.profile} profile, {settings.store} store: {prefix}{name} = {raw}"
    return raw, Evidence(where.file, where.line, text), name in _INVERTED


def _decode(name: str, raw: object, inverted: bool) -> bool | int | str | None:
    """A stated value in the form the policy writes it; None when it is not one."""
    if isinstance(raw, bool):
        value: bool | int | str = raw
    elif isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        lowered = text.lower()
        if lowered in ("true", "false"):
            value = lowered == "true"
        elif text.isascii() and text.isdigit():
            value = int(text)
        else:
            value = text
    if name in ("default_inbound", "default_outbound"):
        return value if value in ("allow", "block") else None
    if name == "log_path":
        return value if isinstance(value, str) else None
    if name == "log_size_at_least_kb":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    number = int(value) if isinstance(value, bool | int) else None
    if number is None:
        return None
    return (number == 0) if inverted else (number != 0)


def _holds(spec: SettingSpec, actual: bool | int | str) -> bool:
    if spec.name == "log_size_at_least_kb":
        return isinstance(actual, int) and actual >= int(spec.value)
    if spec.name == "log_path":
        return str(actual).casefold() == str(spec.value).casefold()
    return actual == spec.value


def _windows(spec: SettingSpec, rulesets: Sequence[WindowsRuleset]) -> Verdict:
    value = _VALUES[spec.name]
    by_store: dict[str, list[ProfileSettings]] = {"gpo": [], "local": []}
    for ruleset in rulesets:
        settings = ruleset.profiles.get(spec.scope)
        if settings is not None:
            by_store.setdefault(settings.store, []).append(settings)
    stores = ("gpo",) if value.gpo_only else ("gpo", "local")
    for store in stores:
        for settings in by_store.get(store, []):
            stated = _stated(settings, value)
            if stated is None:
                continue
            raw, evidence, inverted = stated
            actual = _decode(spec.name, raw, inverted)
            if actual is None:
                return Verdict(
                    Status.INDETERMINATE,
                    f"{spec.describe()}: {value.registry} holds {raw!r}, which is not a value"
                    " Windows documents for it",
                    evidence=(evidence,),
                )
            return _windows_verdict(spec, actual, evidence)
    # Nobody sets it: the default applies only if the store that would set it was read.
    deciding = "gpo" if value.gpo_only else "local"
    if not by_store.get(deciding) or spec.name not in _DEFAULTS:
        missing = (
            f"no export of the {'Group Policy' if deciding == 'gpo' else 'local'} store for the"
            f" {spec.scope} profile was given"
            if not by_store.get(deciding)
            else "Windows documents no default for it"
        )
        return Verdict(
            Status.INDETERMINATE,
            f"{spec.describe()}: no export sets {value.registry}, and {missing}",
        )
    default = _DEFAULTS[spec.name]
    origin = rulesets[0].origin
    text = (
        f"{spec.scope} profile: {value.registry} not set by the exports given: Windows default"
        f" {str(default).lower() if isinstance(default, bool) else default}"
    )
    return _windows_verdict(spec, default, Evidence(origin, 0, text))


def _windows_verdict(spec: SettingSpec, actual: bool | int | str, evidence: Evidence) -> Verdict:
    shown = str(actual).lower() if isinstance(actual, bool) else str(actual)
    if _holds(spec, actual):
        return Verdict(Status.PASS, f"{spec.describe()}: holds ({shown})", evidence=(evidence,))
    return Verdict(
        Status.FAIL, f"{spec.describe()}: does not hold (it is {shown})", evidence=(evidence,)
    )


# --- netfilter -----------------------------------------------------------------------------

_TABLE_FAMILIES = {"ip": (4,), "ip6": (6,), "inet": (4, 6)}
_DENY = (nf.Verdict.DROP, nf.Verdict.REJECT)


def _chain_evidence(table: nf.Table, chain: nf.Chain) -> Evidence:
    origin = chain.policy_origin or table.origin
    policy = chain.policy.value if chain.policy is not None else "accept"
    return Evidence(
        origin.file, origin.line, f"{table.family} {table.name} {chain.name}: policy {policy}"
    )


def _denies_by_default(table: nf.Table, chain: nf.Chain) -> Evidence | None:
    if chain.policy in _DENY:
        return _chain_evidence(table, chain)
    if chain.rules:
        last = chain.rules[-1]
        if not last.matches and last.target.verdict in _DENY:
            return Evidence(last.origin.file, last.origin.line, last.text)
    return None


def _netfilter(spec: SettingSpec, rulesets: Sequence[nf.Ruleset]) -> Verdict:
    hook = nf.Hook(spec.scope)
    passed: list[Evidence] = []
    failed: list[str] = []
    evidence: list[Evidence] = []
    unknown: list[int] = []
    for family in spec.families:
        described = [r for r in rulesets if family in r.families]
        if not described:
            unknown.append(family)
            continue
        chains = [
            (table, chain)
            for ruleset in described
            for table in ruleset.tables
            if family in _TABLE_FAMILIES.get(table.family, ())
            for chain in table.chains
            if chain.hook == hook and chain.kind == "filter"
        ]
        deciding = [e for table, chain in chains if (e := _denies_by_default(table, chain))]
        if deciding:
            passed.append(deciding[0])
            continue
        failed.append(f"IPv{family}")
        evidence.extend(_chain_evidence(table, chain) for table, chain in chains)
        if not chains:
            evidence.append(
                Evidence(described[0].origin, 0, f"no IPv{family} base chain at the {hook} hook")
            )
    if failed:
        return Verdict(
            Status.FAIL,
            f"{spec.describe()}: does not hold for {', '.join(failed)}: no base chain at the"
            f" {hook} hook has policy drop or ends with an unconditional drop, so a packet no"
            " rule accepts is accepted",
            evidence=tuple(evidence[:5]),
        )
    if unknown:
        names = ", ".join(f"IPv{f}" for f in unknown)
        return Verdict(
            Status.INDETERMINATE,
            f"{spec.describe()}: no export describes {names}",
            evidence=tuple(passed),
        )
    return Verdict(Status.PASS, f"{spec.describe()}: holds", evidence=tuple(passed))
