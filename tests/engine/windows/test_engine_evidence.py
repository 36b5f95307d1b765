"""The deciding item of a Windows verdict is what decides its flows (issue 11, defect 7).

No Windows host exists here: the rulesets are written by hand from the rule-string grammar
(MS-GPFAS 2.2.2.19) and the semantics rest on Microsoft's documents:
- precedence ("Windows Firewall rules", Microsoft Learn): block rules beat allow rules, and a flow
  no rule matches gets the profile's default action;
- the default outbound action is set per profile (MS-FASP 2.2.38
  FW_PROFILE_CONFIG_DEFAULT_OUTBOUND_ACTION; INetFwPolicy2::put_DefaultOutboundAction takes a
  profile type and is "Allow by default");
- AllowLocalPolicyMerge (MS-GPFAS 2.2.3.13 "Allow Local Firewall Rule Policy Merge", MS-FASP
  2.2.38 FW_PROFILE_CONFIG_ALLOW_LOCAL_POLICY_MERGE): from Group Policy, 0 means local-store
  rules are not applied.
"""

from __future__ import annotations

from windows_builders import requirement, ruleset

from checker.engine.windows.engine import check
from checker.findings import Status

BLOCK_WEB = "B80=v2.30|Action=Block|Active=TRUE|Dir=Out|Protocol=6|RPort=80|Name=Block web|"
PUBLIC = frozenset({"public"})
BLOCK_RANGE = (
    "BR=v2.30|Action=Block|Active=TRUE|Dir=In|Protocol=6|LPort=445|RA4=10.0.0.0-10.0.0.255|"
    "Name=Block SMB from a range|"
)
ALLOW_SMB = "A445=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|Name=SMB in|"
SMB = [(445, 445)]


def ids(verdict) -> list[str]:  # type: ignore[no-untyped-def]
    return [item.text.split(" ", 1)[0].rstrip(":") for item in verdict.evidence]


def test_public_outbound_deny_is_the_default_not_a_port_80_rule() -> None:
    """Public profile, default outbound Block, and a block rule for remote port 80. Denying all
    outbound TCP holds because the default blocks what no rule matches; the port-80 rule
    decides only port 80. fwcheck said "blocked by rule B80"."""
    rs = ruleset(BLOCK_WEB, profiles={"public": {"default_outbound": "block"}})
    verdict = check(rs, requirement(expect="deny", direction="outbound", profiles=PUBLIC))
    assert verdict.status == Status.PASS
    assert "default outbound action Block (DefaultOutboundAction" in verdict.message
    assert "B80" not in verdict.message
    assert verdict.evidence[0].line == 50 and "default outbound action Block" in (
        verdict.evidence[0].text
    )


def test_per_profile_details_name_the_public_default() -> None:
    """The same export checked in all profiles: domain and private fail (default outbound
    Allow), and the public profile's line in the details names its default, not rule B80."""
    rs = ruleset(BLOCK_WEB, profiles={"public": {"default_outbound": "block"}})
    verdict = check(rs, requirement(expect="deny", direction="outbound"))
    assert verdict.status == Status.FAIL
    public = dict(verdict.details)["public"]
    assert public.startswith("pass:") and "default outbound action Block" in public
    assert "B80" not in public


def test_counterexample_no_rule_matches_cites_the_default() -> None:
    """An allow requirement for outbound 8080 in public: no rule matches the counterexample, so
    the profile's default Block is the deciding item and the port-80 rule is not cited."""
    rs = ruleset(BLOCK_WEB, profiles={"public": {"default_outbound": "block"}})
    verdict = check(rs, requirement(direction="outbound", ports=[(8080, 8080)], profiles=PUBLIC))
    assert verdict.status == Status.FAIL
    assert verdict.counterexample == "tcp 192.0.2.10:49152 -> 203.0.113.7:8080 ipv4 profile public"
    assert "default outbound action Block" in verdict.evidence[0].text
    assert "B80" not in ids(verdict)


def test_range_block_is_not_cited_for_addresses_it_does_not_cover() -> None:
    """Deny SMB from 10.0.0.0/16 with a block rule for 10.0.0.0-10.0.0.255 only: the rest of
    the /16 is denied by the default inbound Block, which is what the verdict must cite."""
    verdict = check(
        ruleset(BLOCK_RANGE), requirement(expect="deny", ports=SMB, remote=["10.0.0.0/16"])
    )
    assert verdict.status == Status.PASS
    assert "BR" not in ids(verdict) and "BR" not in verdict.message
    assert "default inbound action Block" in verdict.evidence[0].text


def test_range_block_is_cited_when_it_covers_the_requirement() -> None:
    """Control: when the range covers every remote address of the requirement, it decides."""
    verdict = check(
        ruleset(BLOCK_RANGE), requirement(expect="deny", ports=SMB, remote=["10.0.0.0/25"])
    )
    assert verdict.status == Status.PASS and ids(verdict) == ["BR"]


def test_range_block_beating_an_allow_rule_is_cited_after_the_default() -> None:
    """An allow rule for 10.0.0.0/24 and the range block over it: the block decides where the
    allow rule matches, the default elsewhere; both are named, the default first."""
    allow = ALLOW_SMB.replace("LPort=445|", "LPort=445|RA4=10.0.0.0/24|")
    verdict = check(
        ruleset(BLOCK_RANGE, allow), requirement(expect="deny", ports=SMB, remote=["10.0.0.0/16"])
    )
    assert verdict.status == Status.PASS
    assert "default inbound action Block" in verdict.evidence[0].text and ids(verdict)[1] == "BR"
    assert "blocked by rule BR" in verdict.message and "where an allow rule matches" in (
        verdict.message
    )


def gpo_merge_off_and_local_allow():  # type: ignore[no-untyped-def]
    local = ruleset(ALLOW_SMB, origin="local.wfw")
    gpo = ruleset(
        store="gpo",
        profiles={"public": {"allow_local_policy_merge": False}},
        origin="registry.pol",
    )
    return [gpo, local]


def test_local_allow_ignored_by_merge_off_names_the_gpo_setting() -> None:
    """A local allow rule for SMB, and Group Policy's AllowLocalPolicyMerge=0 in the public
    profile: the flow is blocked because the setting drops the local rule. fwcheck said it
    "matches no allow rule"; now the deciding item is the setting (store, file:line), then the
    ignored rule, then the default that applies."""
    verdict = check(gpo_merge_off_and_local_allow(), requirement(ports=SMB, profiles=PUBLIC))
    assert verdict.status == Status.FAIL
    assert "matches no allow rule" not in verdict.message
    assert 'allowed only by local rule A445 "SMB in", which is ignored' in verdict.message
    assert "AllowLocalPolicyMerge=0 (registry.pol:50)" in verdict.message
    setting = verdict.evidence[0]
    assert (setting.file, setting.line) == ("registry.pol", 50)
    assert "AllowLocalPolicyMerge, gpo store" in setting.text
    assert (verdict.evidence[1].file, verdict.evidence[1].line) == ("local.wfw", 3)
    assert "default inbound action Block" in verdict.evidence[2].text


def test_deny_holding_because_of_merge_off_says_so() -> None:
    """The deny side: the requirement holds, and the verdict names the setting that makes the
    local allow rule not count."""
    verdict = check(
        gpo_merge_off_and_local_allow(),
        requirement(expect="deny", ports=SMB, profiles=PUBLIC),
    )
    assert verdict.status == Status.PASS
    assert "AllowLocalPolicyMerge=0 (registry.pol:50)" in verdict.message
    assert ("registry.pol", 50) in [(e.file, e.line) for e in verdict.evidence]


def test_uncertain_ignored_local_allow_is_worded_as_possible() -> None:
    """A dropped local rule scoped to LocalSubnet (a set only the host knows) could allow the
    counterexample, not surely: the message says so."""
    local = ruleset(ALLOW_SMB.replace("LPort=445|", "LPort=445|RA4=LocalSubnet|"), origin="l.wfw")
    gpo = gpo_merge_off_and_local_allow()[0]
    verdict = check([gpo, local], requirement(ports=SMB, profiles=PUBLIC))
    assert verdict.status == Status.FAIL
    assert 'could be allowed only by local rule A445 "SMB in"' in verdict.message


def test_dropped_local_allow_under_a_gpo_block_is_not_mentioned() -> None:
    """Where a GPO block rule covers the requirement, the block decides whether or not local
    rules merge: the verdict cites the block and says nothing of the merge setting."""
    gpo = ruleset(
        ALLOW_SMB.replace("A445", "G445").replace("Action=Allow", "Action=Block"),
        store="gpo",
        profiles={"public": {"allow_local_policy_merge": False}},
        origin="registry.pol",
    )
    local = ruleset(ALLOW_SMB, origin="local.wfw")
    verdict = check([gpo, local], requirement(expect="deny", ports=SMB, profiles=PUBLIC))
    assert verdict.status == Status.PASS
    assert ids(verdict) == ["G445"] and "AllowLocalPolicyMerge" not in verdict.message
