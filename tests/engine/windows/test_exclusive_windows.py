"""Exclusive policies on Windows Defender Firewall (checker.engine.windows.exclusive).

No Windows host exists in CI: these run at the protocol edge, on rule strings in the format of
the firewall's registry values (MS-GPFAS 2.2.2.19) and on the recorded exports in
examples/windows. Precedence facts as in test_engine_precedence ("Windows Firewall rules" on
Microsoft Learn: block beats allow, a flow no rule matches gets the profile's default action;
MS-FASP 2.2.38 FW_PROFILE_CONFIG_SHIELDED: shields up ignores inbound allow rules).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from windows_builders import requirement, ruleset

from checker.engine.windows import exclusive as windows_exclusive
from checker.findings import Status
from checker.parsers.windows import windows_reg
from checker.policies.model import PROFILES

REPO = Path(__file__).resolve().parents[3]
ALLOW_445 = "A445=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|Name=SMB in|"
ALLOW_80 = "A80=v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=80|Name=Web in|"
BLOCK_445 = "B445=v2.30|Action=Block|Active=TRUE|Dir=In|Protocol=6|LPort=445|Name=Block SMB|"
BLOCK_DEFAULT = {p: {"enabled": True, "default_inbound": "block"} for p in PROFILES}


def exclusive(direction: str = "inbound"):
    base = requirement("deny", direction, protocol="any", families=frozenset({4, 6}))
    return replace(base, rule_id=f"exclusive-{direction}", exclusive=True)


WEB = replace(requirement(ports=[(80, 80)], families=frozenset({4, 6})), rule_id="web")


def test_an_undeclared_allow_rule_is_a_block_per_profile() -> None:
    """An enabled allow rule allows its flows in every profile it lists (none = all three)."""
    rulesets = [ruleset(ALLOW_445, ALLOW_80, profiles=BLOCK_DEFAULT)]
    verdict = windows_exclusive.check(rulesets, exclusive(), [WEB])
    assert verdict.status is Status.FAIL
    # One block per family (the address dimensions differ) and profile.
    assert "6 block(s)" in verdict.message
    assert 'tcp any -> 445 from anywhere ipv4 profile domain: allowed by rule A445 "SMB in"' in (
        verdict.message
    )
    assert {e.line for e in verdict.evidence} == {3} and len(verdict.evidence) == 6


def test_declared_rules_pass() -> None:
    smb = replace(requirement(ports=[(445, 445)], families=frozenset({4, 6})), rule_id="smb")
    rulesets = [ruleset(ALLOW_445, ALLOW_80, profiles=BLOCK_DEFAULT)]
    verdict = windows_exclusive.check(rulesets, exclusive(), [WEB, smb])
    assert verdict.status is Status.PASS, verdict.message


def test_a_declaration_counts_only_in_its_profiles() -> None:
    smb = replace(
        requirement(ports=[(445, 445)], families=frozenset({4, 6}), profiles=frozenset({"domain"})),
        rule_id="smb",
    )
    rulesets = [ruleset(ALLOW_445, ALLOW_80, profiles=BLOCK_DEFAULT)]
    verdict = windows_exclusive.check(rulesets, exclusive(), [WEB, smb])
    assert verdict.status is Status.FAIL
    assert "profile private" in verdict.message and "profile domain" not in verdict.message


def test_block_beats_allow() -> None:
    """Block rules win over allow rules ("Windows Firewall rules")."""
    rulesets = [ruleset(ALLOW_445, BLOCK_445, ALLOW_80, profiles=BLOCK_DEFAULT)]
    verdict = windows_exclusive.check(rulesets, exclusive(), [WEB])
    assert verdict.status is Status.PASS, verdict.message


def test_default_allow_is_named() -> None:
    """A flow no rule matches gets the profile's default action ("Windows Firewall rules")."""
    settings = {p: {"enabled": True, "default_inbound": "allow"} for p in PROFILES}
    verdict = windows_exclusive.check([ruleset(ALLOW_80, profiles=settings)], exclusive(), [WEB])
    assert verdict.status is Status.FAIL
    assert "allowed by default inbound action Allow" in verdict.message


def test_shields_up_ignores_allow_rules() -> None:
    """MS-FASP 2.2.38 FW_PROFILE_CONFIG_SHIELDED: all inbound traffic is blocked."""
    settings = {
        p: {"enabled": True, "default_inbound": "block", "shields_up": True} for p in PROFILES
    }
    verdict = windows_exclusive.check([ruleset(ALLOW_445, profiles=settings)], exclusive(), [])
    assert verdict.status is Status.PASS, verdict.message


def test_firewall_off_allows_everything() -> None:
    settings = {p: {"enabled": False} for p in PROFILES}
    verdict = windows_exclusive.check([ruleset(ALLOW_80, profiles=settings)], exclusive(), [WEB])
    assert verdict.status is Status.FAIL
    assert "the firewall is off" in verdict.message


def test_recorded_export_names_the_undeclared_core_networking_rules() -> None:
    """The recorded export of a compliant OneSite Patch server: the vendor policy declares
    every Adaptiva port, so what remains inbound are the Windows core-networking rules that
    are wider than the infrastructure exemptions (DHCP's rule for udp 67->68 holds for IPv6
    too, the ICMPv6 rule for IPv4 packets of protocol 58)."""
    from checker.policies.loader import load_policy_set

    path = REPO / "examples/windows/onesite-patch-server-compliant.reg"
    model = windows_reg.parse(path.read_bytes(), str(path))
    declared = load_policy_set([REPO / "policies"]).requirements_for(["onesite-patch-server"])
    inbound = windows_exclusive.check([model], exclusive(), declared)
    assert inbound.status is Status.FAIL
    assert "CoreNet-DHCP-In" in inbound.message and "Adaptiva" not in inbound.message
    blocks, _ = windows_exclusive.undeclared([model], exclusive(), declared)
    assert {b.profile for b in blocks} == PROFILES
    assert all(b.sure for b in blocks)
    outbound = windows_exclusive.check([model], exclusive("outbound"), declared)
    assert outbound.status is Status.FAIL
    assert "default outbound action Allow" in outbound.message
