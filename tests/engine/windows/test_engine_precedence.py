"""Windows Defender Firewall precedence, one case per rule of the semantics.

No Windows host exists in CI: each case rests on Microsoft's documentation, cited in its
docstring ("Windows Firewall rules" = learn.microsoft.com/windows/security/operating-system-
security/network-security/windows-firewall/rules; MS-FASP = [MS-FASP] Firewall and Advanced
Security Protocol; MS-GPFAS = [MS-GPFAS] Group Policy: Firewall and Advanced Security).
"""

from __future__ import annotations

from windows_builders import requirement, ruleset

from checker.engine.windows.engine import check
from checker.findings import Status

ALLOW_445 = "A445=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|Name=SMB in|"
BLOCK_445 = "B445=v2.30|Action=Block|Active=TRUE|Dir=In|Protocol=6|LPort=445|Name=Block SMB|"
BYPASS_445 = (
    "P445=v2.30|Action=ByPass|Active=TRUE|Dir=In|Protocol=6|LPort=445|Security=Authenticate|"
    "RMauth=O:LSD:(A;;CC;;;S-1-5-21-1-2-3-513)|Name=Authenticated bypass SMB|"
)
SMB = [(445, 445)]


def evidence_ids(verdict) -> list[str]:  # type: ignore[no-untyped-def]
    return [item.text.split(" ", 1)[0].split(":", 1)[0] for item in verdict.evidence]


def test_allow_rule_allows_and_is_cited() -> None:
    """An enabled allow rule matching the flow allows it (Windows Firewall rules: "allow")."""
    verdict = check(ruleset(ALLOW_445), requirement(ports=SMB))
    assert verdict.status == Status.PASS
    assert verdict.evidence[0].line == 3 and 'A445 "SMB in"' in verdict.evidence[0].text


def test_block_beats_allow() -> None:
    """Block rules take precedence over allow rules ("Windows Firewall rules": rule
    precedence - explicitly defined block rules take precedence over conflicting allow rules)."""
    verdict = check(ruleset(ALLOW_445, BLOCK_445), requirement(ports=SMB))
    assert verdict.status == Status.FAIL
    assert verdict.counterexample == "tcp 203.0.113.7:49152 -> 192.0.2.10:445 ipv4 profile domain"
    assert evidence_ids(verdict) == ["B445"]
    assert verdict.evidence[0].line == 4


def test_block_beats_allow_for_deny_requirement() -> None:
    """Same precedence seen from an `expect: deny` requirement: the block rule decides."""
    verdict = check(ruleset(ALLOW_445, BLOCK_445), requirement(expect="deny", ports=SMB))
    assert verdict.status == Status.PASS
    assert evidence_ids(verdict) == ["B445"]


def test_rule_order_is_irrelevant() -> None:
    """Windows rules are not first-match: order in the store means nothing (MS-FASP 3.1.1)."""
    first = check(ruleset(ALLOW_445, BLOCK_445), requirement(ports=SMB))
    second = check(ruleset(BLOCK_445, ALLOW_445), requirement(ports=SMB))
    assert first.status == second.status == Status.FAIL
    assert first.counterexample == second.counterexample


def test_authenticated_bypass_beats_block_only_for_authenticated_peers() -> None:
    """An authenticated-bypass rule (Action=ByPass, "override block rules") lets IPsec-
    authenticated peers through a block rule (Windows Firewall rules precedence: authenticated
    bypass > block). Offline no peer is known to authenticate, so a deny requirement cannot pass
    and cannot fail: indeterminate, naming the bypass rule."""
    verdict = check(ruleset(BLOCK_445, BYPASS_445), requirement(expect="deny", ports=SMB))
    assert verdict.status == Status.INDETERMINATE
    assert "P445" in verdict.message and "authenticated bypass" in verdict.message
    assert evidence_ids(verdict) == ["P445"]
    assert verdict.counterexample == "tcp 203.0.113.7:49152 -> 192.0.2.10:445 ipv4 profile domain"


def test_bypass_does_not_make_allow_certain() -> None:
    """For `expect: allow`, unauthenticated peers still meet the block rule: a definite fail."""
    verdict = check(ruleset(BLOCK_445, BYPASS_445), requirement(ports=SMB))
    assert verdict.status == Status.FAIL
    assert evidence_ids(verdict) == ["B445"]


def test_default_inbound_block_when_no_rule() -> None:
    """No rule matches: the profile default applies; inbound defaults to Block
    (INetFwPolicy2::get_DefaultInboundAction: "These settings are Block by default")."""
    verdict = check(ruleset(ALLOW_445), requirement(ports=[(3389, 3389)]))
    assert verdict.status == Status.FAIL
    assert verdict.counterexample == "tcp 203.0.113.7:49152 -> 192.0.2.10:3389 ipv4 profile domain"
    assert "default inbound action Block (Windows default" in verdict.evidence[0].text


def test_default_outbound_allow_when_no_rule() -> None:
    """Outbound defaults to Allow (INetFwPolicy2 DefaultOutboundAction): a deny requirement fails
    and cites the default."""
    verdict = check(ruleset(), requirement(expect="deny", direction="outbound", ports=[(25, 25)]))
    assert verdict.status == Status.FAIL
    assert verdict.counterexample == "tcp 192.0.2.10:49152 -> 203.0.113.7:25 ipv4 profile domain"
    assert "default outbound action Allow" in verdict.evidence[0].text


def test_default_action_from_profile_setting_is_cited() -> None:
    """DefaultOutboundAction=1 (Block) in the profile key (MS-GPFAS 2.2.1) blocks unmatched
    outbound flows; the evidence is the setting's location."""
    rs = ruleset(
        profiles={p: {"default_outbound": "block"} for p in ("domain", "private", "public")}
    )
    verdict = check(rs, requirement(expect="deny", direction="outbound", ports=[(25, 25)]))
    assert verdict.status == Status.PASS
    assert verdict.evidence[0].line == 50
    assert (
        "default outbound action Block (DefaultOutboundAction, local store)"
        in verdict.evidence[0].text
    )


def test_disabled_rule_is_ignored() -> None:
    """Active=FALSE: the rule is disabled (MS-FASP 2.2.37 FW_RULE_FLAGS_ACTIVE unset)."""
    disabled = ALLOW_445.replace("Active=TRUE", "Active=FALSE")
    verdict = check(ruleset(disabled), requirement(ports=SMB))
    assert verdict.status == Status.FAIL
    assert "default inbound action Block" in verdict.message


def test_missing_active_means_disabled() -> None:
    """MS-GPFAS 2.2.2.19: the Active field carries FW_RULE_FLAGS_ACTIVE; absent = not active."""
    verdict = check(ruleset(ALLOW_445.replace("Active=TRUE|", "")), requirement(ports=SMB))
    assert verdict.status == Status.FAIL


def test_profile_scoping_and_per_profile_report() -> None:
    """A rule applies only in the profiles it lists (MS-FASP 2.2.37 dwProfiles). The verdict
    fails, names the failing profile, and details differ per profile."""
    rs = ruleset(ALLOW_445.replace("Dir=In|", "Dir=In|Profile=Domain|Profile=Private|"))
    verdict = check(rs, requirement(ports=SMB))
    assert verdict.status == Status.FAIL
    assert verdict.message.startswith("public profile:")
    assert verdict.counterexample == "tcp 203.0.113.7:49152 -> 192.0.2.10:445 ipv4 profile public"
    assert dict(verdict.details)["domain"].startswith("pass")
    assert dict(verdict.details)["public"].startswith("fail")


def test_requirement_profiles_narrow_the_check() -> None:
    """A requirement naming `profiles: [domain]` is checked in that profile only."""
    rs = ruleset(ALLOW_445.replace("Dir=In|", "Dir=In|Profile=Domain|"))
    verdict = check(rs, requirement(ports=SMB, profiles=frozenset({"domain"})))
    assert verdict.status == Status.PASS
    assert verdict.details == ()


def test_active_profiles_narrow_the_check() -> None:
    """When the export states the active network categories (Get-NetConnectionProfile), only
    those profiles count."""
    rs = ruleset(
        ALLOW_445.replace("Dir=In|", "Dir=In|Profile=Domain|"), active=frozenset({"domain"})
    )
    assert check(rs, requirement(ports=SMB)).status == Status.PASS
    rs_public = ruleset(
        ALLOW_445.replace("Dir=In|", "Dir=In|Profile=Domain|"), active=frozenset({"public"})
    )
    assert check(rs_public, requirement(ports=SMB)).status == Status.FAIL


def test_firewall_off_allows_everything() -> None:
    """EnableFirewall=0: "the server MUST NOT block any network traffic, regardless of other
    policy settings" (MS-FASP 2.2.38 FW_PROFILE_CONFIG_ENABLE_FW)."""
    rs = ruleset(BLOCK_445, profiles={"public": {"enabled": False}})
    verdict = check(rs, requirement(expect="deny", ports=SMB))
    assert verdict.status == Status.FAIL
    assert verdict.message.startswith("public profile: the firewall is off")
    assert verdict.counterexample == "tcp 203.0.113.7:49152 -> 192.0.2.10:445 ipv4 profile public"
    assert "firewall off (EnableFirewall" in verdict.evidence[0].text
    assert dict(verdict.details)["domain"].startswith("pass")


def test_shields_up_ignores_inbound_allow_rules() -> None:
    """DoNotAllowExceptions=1 ("shields up"): all inbound blocked regardless of rules (MS-FASP
    2.2.38 FW_PROFILE_CONFIG_SHIELDED; INetFwPolicy2 BlockAllInboundTraffic: exceptions ignored)."""
    rs = ruleset(ALLOW_445, BYPASS_445, profiles={"private": {"shields_up": True}})
    verdict = check(rs, requirement(ports=SMB, profiles=frozenset({"private"})))
    assert verdict.status == Status.FAIL
    assert "shields up" in verdict.message
    assert "DoNotAllowExceptions" in verdict.evidence[0].text
    deny = check(rs, requirement(expect="deny", ports=SMB, profiles=frozenset({"private"})))
    assert deny.status == Status.PASS


def test_shields_up_does_not_touch_outbound() -> None:
    """Shields up concerns incoming traffic only."""
    rs = ruleset(profiles={"domain": {"shields_up": True}})
    verdict = check(
        rs, requirement(direction="outbound", ports=[(443, 443)], profiles=frozenset({"domain"}))
    )
    assert verdict.status == Status.PASS


def test_local_merge_off_ignores_local_rules() -> None:
    """AllowLocalPolicyMerge=0 from Group Policy: local-store rules are not applied (MS-FASP
    2.2.38 FW_PROFILE_CONFIG_ALLOW_LOCAL_POLICY_MERGE); GPO rules still are."""
    local = ruleset(ALLOW_445, origin="local.wfw")
    gpo = ruleset(
        store="gpo", profiles={"public": {"allow_local_policy_merge": False}}, origin="registry.pol"
    )
    verdict = check([gpo, local], requirement(ports=SMB))
    assert verdict.status == Status.FAIL
    assert verdict.message.startswith("public profile:")
    assert dict(verdict.details)["domain"].startswith("pass")
    gpo_rule = ruleset(
        ALLOW_445, store="gpo", profiles={"public": {"allow_local_policy_merge": False}}
    )
    assert check([gpo_rule, local], requirement(ports=SMB)).status == Status.PASS


def test_local_merge_setting_in_local_store_is_not_honoured() -> None:
    """Only Group Policy can stop local rules from merging: a local AllowLocalPolicyMerge=0
    would disable the store that sets it."""
    rs = ruleset(ALLOW_445, profiles={"public": {"allow_local_policy_merge": False}})
    assert check(rs, requirement(ports=SMB)).status == Status.PASS


def test_gpo_profile_setting_wins_over_local() -> None:
    """Merge law: the GroupPolicyRSoPStore value wins if configured (MS-FASP 2.2.38)."""
    local = ruleset(ALLOW_445, profiles={"domain": {"enabled": True}})
    gpo = ruleset(store="gpo", profiles={"domain": {"enabled": False}}, origin="registry.pol")
    verdict = check(
        [local, gpo], requirement(expect="deny", ports=[(80, 80)], profiles=frozenset({"domain"}))
    )
    assert verdict.status == Status.FAIL
    assert verdict.evidence[0].file == "registry.pol"
