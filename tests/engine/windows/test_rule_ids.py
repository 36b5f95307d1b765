"""One rule per rule ID: a GPO rule replaces the local rule with its ID, and a .reg value written
twice holds its last data (issue 11, defects 6 and 9).

No Windows host exists here. The exports are written by hand from the documented formats and
the semantics rest on Microsoft's documents:
- the rule ID is the FirewallRules registry value name (MS-GPFAS 2.2.2.19);
- New-NetFirewallRule `-Name` (Microsoft Learn, NetSecurity module): "only one rule with a given
  name may exist in a policy store at a time. During group policy processing and policy merge,
  rules that have the same name but come from multiple stores being merged, will overwrite one
  another so that only one exists", and a rule copied to a GPO "will override the local
  versions on a local computer";
- Microsoft KB 310516 (adding, modifying or deleting registry values with a .reg file): values
  are written to the registry in file order, "if a data item does exist, the value in your .reg
  file overwrites the existing value", and `"Name"=-` deletes a value.
"""

from __future__ import annotations

from dataclasses import replace

from windows_builders import requirement, ruleset

from checker.engine.windows.engine import check
from checker.findings import Status
from checker.parsers.windows import windows_reg
from checker.pipeline import evaluate_target

# The built-in "File and Printer Sharing (SMB-In)" rule, as Windows names it.
SMB_ID = "FPS-SMB-In-TCP"
SMB_ENABLED = (
    f"{SMB_ID}=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|"
    "Name=File and Printer Sharing (SMB-In)|"
)
SMB_DISABLED = SMB_ENABLED.replace("Active=TRUE", "Active=FALSE")
SMB = [(445, 445)]
LOCAL_KEY = (
    "[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\"
    "FirewallPolicy\\FirewallRules]"
)
GPO_KEY = "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\FirewallRules]"
PROFILE_KEY = (
    "[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\"
    "FirewallPolicy\\PublicProfile]"
)


def reg(*lines: str) -> bytes:
    """A UTF-16LE .reg export, as `reg export` writes it; line 3 is the first of `lines`."""
    text = "\r\n".join(["Windows Registry Editor Version 5.00", "", *lines, ""])
    return b"\xff\xfe" + text.encode("utf-16-le")


def value(rule: str) -> str:
    rule_id, _, text = rule.partition("=")
    return f'"{rule_id}"="{text}"'


# --- defect 6: the GPO copy of a rule ID wins over the local copy ------------------------------


def test_disabled_gpo_copy_turns_the_local_builtin_rule_off() -> None:
    """A GPO holding a disabled copy of the built-in SMB rule: after the merge only the GPO copy
    exists, so nothing allows 445 and the default inbound Block denies it. fwcheck used to keep
    the enabled local copy and fail the deny requirement (a false fail)."""
    local = ruleset(SMB_ENABLED, origin="local.reg")
    gpo = ruleset(SMB_DISABLED, store="gpo", origin="registry.pol")
    verdict = check([gpo, local], requirement(expect="deny", ports=SMB))
    assert verdict.status == Status.PASS
    assert "default inbound action Block" in verdict.message
    # The shadowed local rule is named, with its file:line, as a warning.
    assert f"warning: rule {SMB_ID} " in verdict.message and "local.reg:3" in verdict.message
    assert "Group Policy rule with the same ID at registry.pol:3" in verdict.message
    shadow = verdict.evidence[-1]
    assert (shadow.file, shadow.line) == ("local.reg", 3)
    assert shadow.text.startswith(f'not applied: {SMB_ID} "File and Printer Sharing')


def test_override_does_not_depend_on_order_or_id_case() -> None:
    """Registry value names compare without case; the order of the exports means nothing."""
    local = ruleset(SMB_ENABLED.replace(SMB_ID, SMB_ID.lower()), origin="local.reg")
    gpo = ruleset(SMB_DISABLED, store="gpo", origin="registry.pol")
    for order in ([local, gpo], [gpo, local]):
        assert check(order, requirement(expect="deny", ports=SMB)).status == Status.PASS


def test_enabled_gpo_copy_still_allows() -> None:
    """The GPO copy applies whatever it says: an enabled GPO copy allows, the disabled local copy
    does not matter (and is named as not applied)."""
    local = ruleset(SMB_DISABLED, origin="local.reg")
    gpo = ruleset(SMB_ENABLED, store="gpo", origin="registry.pol")
    verdict = check([local, gpo], requirement(ports=SMB))
    assert verdict.status == Status.PASS
    assert verdict.evidence[0].file == "registry.pol"
    assert "not applied" in verdict.message


def test_unrelated_requirement_gets_no_warning() -> None:
    """The warning is for requirements the replaced rule could concern, not every finding."""
    local = ruleset(SMB_ENABLED, origin="local.reg")
    gpo = ruleset(SMB_DISABLED, store="gpo", origin="registry.pol")
    verdict = check([gpo, local], requirement(expect="deny", ports=[(3389, 3389)]))
    assert verdict.status == Status.PASS and "warning" not in verdict.message
    outbound = check([gpo, local], requirement(direction="outbound", ports=SMB))
    assert "warning" not in outbound.message


def test_exports_without_rule_ids_never_override() -> None:
    """netsh text and GPO reports carry display names, not rule IDs: a GPO rule there with the
    same name as a local rule is a different rule, and both apply."""
    local = ruleset(SMB_ENABLED, origin="local.reg")
    gpo = replace(ruleset(SMB_DISABLED, store="gpo", origin="gpo.netsh.txt"), has_rule_ids=False)
    assert check([gpo, local], requirement(expect="deny", ports=SMB)).status == Status.FAIL


def test_one_reg_export_holding_both_stores_through_the_pipeline() -> None:
    """A .reg export of both keys (policy and local store) read by the real parser and the
    pipeline: the finding passes and carries the warning about the local copy at its line."""
    data = reg(
        LOCAL_KEY,
        value(SMB_ENABLED),
        "",
        GPO_KEY,
        value(SMB_DISABLED),
    )
    findings, platform, problems = evaluate_target(
        "host", [("both.reg", data)], [requirement(expect="deny", ports=SMB)]
    )
    assert (platform, problems) == ("windows", [])
    (finding,) = findings
    assert finding.status == Status.PASS
    assert "both.reg:4 is not applied" in finding.message
    assert ("both.reg", 4) in [(e.file, e.line) for e in finding.evidence]


# --- defect 9: a .reg value written twice holds its last data ----------------------------------


def test_reg_value_written_twice_last_one_wins() -> None:
    """`"R1"=` Block then `"R1"=` Allow: regedit leaves the Allow. fwcheck kept both, so the block
    won and a deny requirement passed (a false pass). Now the deny fails, and the output warns
    about the overwritten copy at its line."""
    block = "R1=v2.30|Action=Block|Active=TRUE|Dir=In|Protocol=6|LPort=445|Name=SMB block|"
    allow = "R1=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|Name=SMB allow|"
    data = reg(LOCAL_KEY, value(block), value(allow))
    parsed = windows_reg.parse(data, "dup.reg")
    assert [(r.id, r.action, r.origin.line) for r in parsed.rules] == [("R1", "allow", 5)]
    (warning,) = [w for w in parsed.warnings if w.code == "windows-duplicate-value"]
    assert (warning.file, warning.line) == ("dup.reg", 4) and "dup.reg:5" in warning.message
    verdict = check(parsed, requirement(expect="deny", ports=SMB))
    assert verdict.status == Status.FAIL
    assert verdict.evidence[0].line == 5
    assert 'warning: rule R1 "SMB block" at dup.reg:4 is not applied' in verdict.message
    assert ("dup.reg", 4) in [(e.file, e.line) for e in verdict.evidence]


def test_reg_value_names_compare_without_case() -> None:
    """Registry value names are case-insensitive: "r1" overwrites "R1"."""
    block = "R1=v2.30|Action=Block|Active=TRUE|Dir=In|Protocol=6|LPort=445|"
    allow = "r1=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|"
    parsed = windows_reg.parse(reg(LOCAL_KEY, value(block), value(allow)), "dup.reg")
    assert [r.action for r in parsed.rules] == ["allow"]


def test_profile_setting_written_twice_cites_the_later_line() -> None:
    """EnableFirewall 0 then 1: the firewall is on, and the evidence is the line that says so."""
    data = reg(PROFILE_KEY, '"EnableFirewall"=dword:00000000', '"EnableFirewall"=dword:00000001')
    parsed = windows_reg.parse(data, "p.reg")
    settings = parsed.profiles["public"]
    assert settings.enabled is True and settings.origin_of("enabled").line == 5


def test_reg_value_deleted_later_is_not_applied() -> None:
    """`"R1"=-` after `"R1"=…` deletes the value: the rule does not exist after the import."""
    allow = "R1=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|"
    parsed = windows_reg.parse(reg(LOCAL_KEY, value(allow), '"R1"=-'), "del.reg")
    assert parsed.rules == ()
    assert [(w.code, w.line) for w in parsed.warnings] == [("windows-reg-delete", 4)]
