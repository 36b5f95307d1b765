"""The kernel as oracle for the `default: deny` hook setting (docs/controls.md, the CIS Linux
pack's default-deny rules): fwcheck's verdict on the dumped ruleset must agree with what the
kernel does to an inbound connection to a port no rule accepts. Pass = the kernel drops it
(policy drop, an unconditional final drop, or a drop in a later base chain of the hook, which an
earlier chain's accept cannot save); fail = the kernel lets it in."""

from __future__ import annotations

import pytest
from oracle_check import IPTABLES_NFT, NFT, Flavour, dump, load, parse_dumps
from oracle_generate import Probe
from oracle_netns import NetnsPair
from oracle_probe import run_probes
from oracle_ruleset import TCP, Action, Chain, Cond, Rule, Spec, Table
from oracle_topology import host_addresses, peer_addresses

ESTABLISHED = Rule((Cond("ctstate", names=("ESTABLISHED", "RELATED")),), Action("accept"))


def _tcp(port: int, action: str = "accept") -> Rule:
    return Rule(
        (Cond("l4proto", ranges=((TCP, TCP),)), Cond("dport", ranges=((port, port),))),
        Action(action),
    )


def _spec(dialect: str, family_tables: tuple[str, ...], inputs: tuple[Chain, ...]) -> Spec:
    if dialect == "iptables":
        # iptables: the filter table, OUTPUT left open so replies leave.
        output = Chain("OUTPUT", (), "output", 0, "accept")
        tables = tuple(Table(family, "filter", (*inputs, output)) for family in family_tables)
    else:
        tables = tuple(Table(family, "t", inputs) for family in family_tables)
    return Spec(dialect, tables)


IPT_FAMILIES = ("ip", "ip6")
CASES: dict[str, tuple[Flavour, Spec, str]] = {
    "iptables-policy-drop": (
        IPTABLES_NFT,
        _spec(
            "iptables", IPT_FAMILIES, (Chain("INPUT", (ESTABLISHED, _tcp(22)), "input", 0, "drop"),)
        ),
        "pass",
    ),
    "iptables-final-unconditional-drop": (
        IPTABLES_NFT,
        _spec(
            "iptables",
            IPT_FAMILIES,
            (
                Chain(
                    "INPUT", (ESTABLISHED, _tcp(22), Rule((), Action("drop"))), "input", 0, "accept"
                ),
            ),
        ),
        "pass",
    ),
    "iptables-conditional-drop-only": (
        IPTABLES_NFT,
        _spec(
            "iptables", IPT_FAMILIES, (Chain("INPUT", (_tcp(443, "drop"),), "input", 0, "accept"),)
        ),
        "fail",
    ),
    "nft-later-chain-policy-drop": (
        NFT,
        _spec(
            "nft",
            ("inet",),
            (
                Chain("early", (_tcp(80), _tcp(22)), "input", -10, "accept"),
                Chain("late", (ESTABLISHED, _tcp(22)), "input", 10, "drop"),
            ),
        ),
        "pass",
    ),
    "nft-policy-accept": (
        NFT,
        _spec("nft", ("inet",), (Chain("in", (_tcp(443, "drop"),), "input", 0, "accept"),)),
        "fail",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_default_deny_agrees_with_the_kernel(netns: NetnsPair, name: str) -> None:
    from checker.engine import settings
    from checker.errors import Location
    from checker.findings import Severity
    from checker.policies.rules import setting_requirement
    from checker.policies.settings import SettingSpec

    flavour, spec, expected = CASES[name]
    loaded = load(netns, flavour, spec)
    # Port 80 is accepted by no rule of the deciding chain (only by the earlier nft chain).
    probes = tuple(
        Probe(
            family,
            TCP,
            peer_addresses(family)[0],
            host_addresses(family)[0],
            41000 + family,
            80,
            "inbound",
        )
        for family in (4, 6)
    )
    observed = run_probes(netns, probes)
    models = parse_dumps(flavour, dump(netns, flavour))
    requirement = setting_requirement(
        SettingSpec("netfilter", "input", "default", "deny", (4, 6)),
        policy_id="oracle",
        rule_id=name,
        title=name,
        severity=Severity.HIGH,
        origin=Location("oracle", 1),
        policy_title="",
        source=None,
        controls=(),
    )
    verdict = settings.check(models, requirement)
    kernel = {o.kernel for o in observed}
    assert verdict.status.value == expected, (verdict.message, loaded)
    # pass: the kernel drops the unlisted port in both families; fail: it lets it in.
    assert kernel == ({"drop"} if expected == "pass" else {"accept"}), (observed, loaded)
