"""Settings requirements (checker.engine.settings) on real parser output.

Windows: the value each STIG check reads is the registry value under the profile key or its
Logging subkey (MS-GPFAS 2.2.1 profile keys; DISA Windows Defender Firewall STIG V2R2 check text:
the policy value under Software\\Policies\\Microsoft\\WindowsFirewall wins, else the local value
under ...\\SharedAccess\\Parameters\\FirewallPolicy - MS-FASP 2.2.38's merge law). Defaults when no
store sets a value: MS-FASP 2.2.38 / INetFwPolicy2 and Microsoft Learn "Configure Windows Firewall
logging" (4,096 KB, nothing logged).

netfilter: default deny at a hook = a base filter chain there with policy drop, or ending with an
unconditional drop/reject (nftables wiki "Configuring chains": a drop in any base chain of a
hook is final).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checker import parsers
from checker.engine import settings
from checker.errors import Location
from checker.findings import Severity, Status
from checker.policies.model import PROFILES, Direction, Expect, Requirement
from checker.policies.settings import SettingSpec

HEADER = "Windows Registry Editor Version 5.00\n\n"
GPO = r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\WindowsFirewall"
LOCAL = (
    r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy"
)


def _requirement(spec: SettingSpec) -> Requirement:
    return Requirement(
        policy_id="p",
        rule_id="r",
        title="t",
        expect=Expect.DENY,
        direction=Direction.INBOUND,
        protocol=None,
        ports=None,
        remote=None,
        except_remote=(),
        local=None,
        program=None,
        service=None,
        profiles=PROFILES,
        icmp_type=None,
        families=frozenset(spec.families),
        severity=Severity.MEDIUM,
        origin=Location("p.yaml", 1),
        setting=spec,
    )


def _parse(tmp_path: Path, name: str, text: str) -> object:
    path = tmp_path / name
    path.write_text(text)
    data = path.read_bytes()
    return parsers.detect(data, str(path)).parse(data, str(path))


def _win(name: str, value: bool | int | str, profile: str = "public") -> Requirement:
    return _requirement(SettingSpec("windows", profile, name, value))


@pytest.fixture
def local_reg(tmp_path: Path) -> object:
    return _parse(
        tmp_path,
        "local.reg",
        HEADER + f"[{LOCAL}\\PublicProfile]\n"
        '"EnableFirewall"=dword:00000000\n'
        '"DefaultInboundAction"=dword:00000001\n'
        '"DisableNotifications"=dword:00000001\n\n'
        f"[{LOCAL}\\PublicProfile\\Logging]\n"
        '"LogFileSize"=dword:00002000\n',
    )


@pytest.fixture
def gpo_reg(tmp_path: Path) -> object:
    return _parse(
        tmp_path,
        "gpo.reg",
        HEADER + f"[{GPO}\\PublicProfile]\n"
        '"EnableFirewall"=dword:00000001\n'
        '"AllowLocalPolicyMerge"=dword:00000000\n',
    )


def test_the_local_value_decides_and_is_named(local_reg: object) -> None:
    verdict = settings.check([local_reg], _win("enabled", True))
    assert verdict.status is Status.FAIL
    (evidence,) = verdict.evidence
    assert evidence.line == 4 and "EnableFirewall = False" in evidence.text
    assert "local store" in evidence.text


def test_the_group_policy_value_wins_over_the_local_one(local_reg: object, gpo_reg: object) -> None:
    verdict = settings.check([local_reg, gpo_reg], _win("enabled", True))
    assert verdict.status is Status.PASS
    assert verdict.evidence[0].file.endswith("gpo.reg") and "gpo store" in verdict.evidence[0].text


def test_logging_subkey_values_are_read_with_at_least_semantics(local_reg: object) -> None:
    assert settings.check([local_reg], _win("log_size_at_least_kb", 8192)).status is Status.PASS
    failed = settings.check([local_reg], _win("log_size_at_least_kb", 16384))
    assert failed.status is Status.FAIL and "Logging\\LogFileSize = 8192" in failed.evidence[0].text


def test_inverted_registry_names(local_reg: object) -> None:
    # DisableNotifications = 1 means notifications are off.
    assert settings.check([local_reg], _win("notifications", False)).status is Status.PASS
    assert settings.check([local_reg], _win("notifications", True)).status is Status.FAIL


def test_a_default_applies_only_when_the_deciding_store_was_read(
    local_reg: object, gpo_reg: object
) -> None:
    # Outbound is not set by the local export, which was read: the Windows default (Allow).
    verdict = settings.check([local_reg], _win("default_outbound", "allow"))
    assert verdict.status is Status.PASS and "default" in verdict.evidence[0].text
    # Logging of dropped packets: default off, so a rule asking for it fails.
    assert settings.check([local_reg], _win("log_dropped", True)).status is Status.FAIL
    # AllowLocalPolicyMerge is Group Policy only: without a GPO export it cannot be known.
    unknown = settings.check([local_reg], _win("local_rule_merge", False))
    assert unknown.status is Status.INDETERMINATE and "Group Policy" in unknown.message
    assert (
        settings.check([local_reg, gpo_reg], _win("local_rule_merge", False)).status is Status.PASS
    )
    # A GPO export that does not set IPsec merge: its default (merged) applies.
    ipsec = settings.check([gpo_reg], _win("local_ipsec_merge", False))
    assert ipsec.status is Status.FAIL


def test_a_profile_no_export_covers_is_indeterminate(gpo_reg: object) -> None:
    verdict = settings.check([gpo_reg], _win("default_inbound", "block", profile="domain"))
    assert verdict.status is Status.INDETERMINATE


def test_a_value_without_a_documented_default_is_never_assumed(local_reg: object) -> None:
    verdict = settings.check([local_reg], _win("unicast_responses", False))
    assert verdict.status is Status.INDETERMINATE and "no default" in verdict.message


# --- netfilter -----------------------------------------------------------------------------


def _hook(hook: str, families: tuple[int, ...] = (4, 6)) -> Requirement:
    return _requirement(SettingSpec("netfilter", hook, "default", "deny", families))


def _ipt(tmp_path: Path, name: str, body: str) -> object:
    return _parse(tmp_path, name, f"*filter\n{body}COMMIT\n")


def test_policy_drop_is_default_deny(tmp_path: Path) -> None:
    rules = _ipt(
        tmp_path, "v4.rules", ":INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    )
    verdict = settings.check([rules], _hook("input", (4,)))
    assert verdict.status is Status.PASS and verdict.evidence[0].line == 2
    failed = settings.check([rules], _hook("forward", (4,)))
    assert failed.status is Status.FAIL and "policy accept" in failed.evidence[0].text


def test_an_unconditional_final_drop_is_default_deny_a_conditional_one_is_not(
    tmp_path: Path,
) -> None:
    final = _ipt(
        tmp_path,
        "final.rules",
        ":INPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -j LOG\n-A INPUT -j REJECT\n",
    )
    verdict = settings.check([final], _hook("input", (4,)))
    assert verdict.status is Status.PASS and verdict.evidence[0].line == 5
    conditional = _ipt(tmp_path, "cond.rules", ":INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j DROP\n")
    assert settings.check([conditional], _hook("input", (4,))).status is Status.FAIL


def test_a_family_no_export_describes_is_indeterminate(tmp_path: Path) -> None:
    rules = _ipt(tmp_path, "v4.rules", ":INPUT DROP [0:0]\n")
    verdict = settings.check([rules], _hook("input"))
    assert verdict.status is Status.INDETERMINATE and "IPv6" in verdict.message


def test_nft_policy_drop_on_its_own_line(tmp_path: Path) -> None:
    """The CIS grep check misses `policy drop;` on its own line; the parsed chain does not."""
    import json

    ruleset = {
        "nftables": [
            {"metainfo": {"json_schema_version": 1}},
            {"table": {"family": "inet", "name": "filter", "handle": 1}},
            {
                "chain": {
                    "family": "inet",
                    "table": "filter",
                    "name": "input",
                    "handle": 1,
                    "type": "filter",
                    "hook": "input",
                    "prio": 0,
                    "policy": "drop",
                }
            },
            {
                "chain": {
                    "family": "inet",
                    "table": "filter",
                    "name": "forward",
                    "handle": 2,
                    "type": "filter",
                    "hook": "forward",
                    "prio": 0,
                    "policy": "accept",
                }
            },
        ]
    }
    model = _parse(tmp_path, "nft.json", json.dumps(ruleset))
    assert settings.check([model], _hook("input")).status is Status.PASS
    assert settings.check([model], _hook("forward")).status is Status.FAIL
    # No output base chain at all: nothing drops, so not default deny.
    assert settings.check([model], _hook("output")).status is Status.FAIL


def test_a_windows_setting_on_a_linux_target_is_not_passed(tmp_path: Path) -> None:
    rules = _ipt(tmp_path, "v4.rules", ":INPUT DROP [0:0]\n")
    assert settings.check([rules], _win("enabled", True)).status is Status.INDETERMINATE


def test_collector_json_profile_properties(tmp_path: Path) -> None:
    """Get-NetFirewallProfile (ActiveStore: the values in force) names the logging and merge
    settings its own way: LogMaxSizeKilobytes, LogBlocked, LogAllowed, LogFileName,
    AllowLocalIPsecRules, NotifyOnListen, AllowUnicastResponseToMulticast (NetSecurity module,
    Microsoft Learn). Without reading them a setting the host has would be taken for the
    default."""
    import json

    profile = {
        "Name": "Public",
        "Enabled": "True",
        "DefaultInboundAction": "Block",
        "DefaultOutboundAction": "Allow",
        "AllowLocalIPsecRules": "False",
        "NotifyOnListen": "True",
        "AllowUnicastResponseToMulticast": "NotConfigured",
        "LogMaxSizeKilobytes": 32767,
        "LogBlocked": "True",
        "LogAllowed": "False",
        "LogFileName": "%systemroot%\\system32\\LogFiles\\Firewall\\pfirewall.log",
    }
    document = {
        "format": "fwcheck-windows-collect",
        "format_version": 1,
        "collector": {"name": "fwcheck", "version": "1"},
        "host": "ws1",
        "rules": [],
        "profiles": [profile],
    }
    model = _parse(tmp_path, "ws1.windows.json", json.dumps(document))
    assert settings.check([model], _win("log_size_at_least_kb", 16384)).status is Status.PASS
    assert settings.check([model], _win("log_dropped", True)).status is Status.PASS
    allowed = settings.check([model], _win("log_allowed", True))
    assert allowed.status is Status.FAIL and "LogAllowed = False" in allowed.evidence[0].text
    assert settings.check([model], _win("local_ipsec_merge", False)).status is Status.PASS
    assert settings.check([model], _win("notifications", True)).status is Status.PASS
    path = "%SystemRoot%\\System32\\LogFiles\\Firewall\\pfirewall.log"
    assert settings.check([model], _win("log_path", path)).status is Status.PASS
    # NotConfigured states nothing, and no default is documented for it.
    unicast = settings.check([model], _win("unicast_responses", False))
    assert unicast.status is Status.INDETERMINATE
