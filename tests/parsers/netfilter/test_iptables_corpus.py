"""Every real export in ../shared/corpus/linux parses, every rule is accounted for.

The files come from diekmann/Iptables_Semantics (see the corpus README); no verdicts are
asserted here, only that each -A line is one model rule and each match is modelled or Unknown.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from checker.model.netfilter import (
    AddrType,
    AnyOf,
    CtState,
    Iface,
    Ranges,
    Rule,
    Ruleset,
    SetMatch,
    TcpFlags,
    Unknown,
    Verdict,
)
from checker.parsers.netfilter import iptables_save

MODELLED = (Ranges, Iface, CtState, TcpFlags, AddrType, AnyOf, SetMatch)
_RULE_LINE = re.compile(r"^(?:\[\d+:\d+\]\s+)?-[AI]\s", re.MULTILINE)

# Unknown matches per file, by module (or "target NAME" for targets the engine cannot decide).
EXPECTED_UNKNOWN: dict[str, dict[str, int]] = {
    "docker-topos.iptables-save": {"recent": 2},
    "gopherproxy.iptables-save": {"limit": 1},
    "home-user.iptables-save": {
        "conntrack": 40,
        "owner": 4,
        "recent": 6,
        "hashlimit": 6,
        "connlimit": 1,
        "target CT": 2,
    },
    "medium-company-mainfw.iptables-save": {"rpfilter": 1, "recent": 6},
    "parser-adversarial.ip6tables-save": {},
    "parser-adversarial.iptables-save": {"multiport": 1, "icmp6": 2},
    "shorewall-akachan.iptables-save": {"recent": 3},
    "tum-border-2015-09-03.iptables-save": {
        "target NOTRACK": 24,
        "recent": 7,
        "limit": 3,
        "mac": 1653,
    },
    "ufw-server2.iptables-save": {"limit": 7},
    "ugent.iptables-save": {},
}


def corpus_files(shared: Path) -> list[Path]:
    return sorted((shared / "corpus" / "linux").glob("*tables-save"))


def all_rules(ruleset: Ruleset) -> list[Rule]:
    return [rule for table in ruleset.tables for chain in table.chains for rule in chain.rules]


def unknown_counts(ruleset: Ruleset) -> Counter[str]:
    counts: Counter[str] = Counter()
    for rule in all_rules(ruleset):
        for match in rule.matches:
            if isinstance(match, Unknown):
                counts[match.reason.split()[1]] += 1
        if rule.target.verdict is Verdict.UNKNOWN:
            counts[f"target {rule.target.name}"] += 1
    return counts


def test_corpus_is_all_here(shared_dir: Path) -> None:
    assert {path.name for path in corpus_files(shared_dir)} == set(EXPECTED_UNKNOWN)


def test_every_corpus_file_parses_and_every_rule_is_accounted_for(shared_dir: Path) -> None:
    for path in corpus_files(shared_dir):
        data = path.read_bytes()
        ruleset = iptables_save.parse(data, path.name)
        rules = all_rules(ruleset)
        assert len(rules) == len(_RULE_LINE.findall(data.decode())), path.name
        for rule in rules:
            assert rule.origin.file == path.name and rule.origin.line > 0
            assert data.decode().split("\n")[rule.origin.line - 1].strip() == rule.text
            for match in rule.matches:
                assert isinstance(match, (*MODELLED, Unknown)), (path.name, rule.text)
        counts = unknown_counts(ruleset)
        print(f"{path.name}: {len(rules)} rules, unknown: {dict(sorted(counts.items()))}")
        assert dict(counts) == EXPECTED_UNKNOWN[path.name], path.name
        expected_family = 6 if "ip6tables" in path.name else 4
        assert ruleset.families == frozenset({expected_family})


def test_home_user_models_iprange_addrtype_pkttype_and_leaves_recent_unknown(
    shared_dir: Path,
) -> None:
    path = shared_dir / "corpus" / "linux" / "home-user.iptables-save"
    ruleset = iptables_save.parse(path.read_bytes(), path.name)
    by_line = {rule.origin.line: rule for rule in all_rules(ruleset)}
    # -A spoof_vlan_10 -m iprange --src-range 192.168.10.1-192.168.10.191 -j RETURN
    iprange = by_line[243]
    assert iprange.matches == (Ranges("saddr", ((0xC0A80A01, 0xC0A80ABF),)),)
    assert iprange.target.verdict is Verdict.RETURN
    dhcp = by_line[242]
    assert AddrType("dst", frozenset({"BROADCAST"})) in dhcp.matches
    assert AddrType("pkttype", frozenset({"BROADCAST"})) in dhcp.matches
    assert Ranges("saddr", ((0, 0),)) in dhcp.matches
    recent = by_line[89]
    (unknown,) = recent.matches
    assert isinstance(unknown, Unknown)
    assert unknown.reason.startswith("-m recent --rcheck --seconds 770 --hitcount 42")
    assert recent.target.verdict is Verdict.DROP


def test_tum_border_tables_and_sizes(shared_dir: Path) -> None:
    path = shared_dir / "corpus" / "linux" / "tum-border-2015-09-03.iptables-save"
    ruleset = iptables_save.parse(path.read_bytes(), path.name)
    assert [table.name for table in ruleset.tables] == ["raw", "nat", "filter"]
    filt = ruleset.tables[2]
    assert len(filt.chains) > 20
    assert sum(len(chain.rules) for chain in filt.chains) > 4000


@pytest.mark.parametrize(
    "name", ["parser-adversarial.iptables-save", "parser-adversarial.ip6tables-save"]
)
def test_adversarial_odd_names_quotes_and_goto(shared_dir: Path, name: str) -> None:
    path = shared_dir / "corpus" / "linux" / name
    ruleset = iptables_save.parse(path.read_bytes(), path.name)
    chains = {chain.name for table in ruleset.tables for chain in table.chains}
    targets = {(rule.target.verdict, rule.target.chain) for rule in all_rules(ruleset)}
    if "ip6" in name:
        assert "gh32_-2qns" in chains and (Verdict.JUMP, "gh32_-2qns") in targets
    else:
        assert "DOS~Pro-t_ect" in chains and (Verdict.GOTO, "Terminal") in targets
