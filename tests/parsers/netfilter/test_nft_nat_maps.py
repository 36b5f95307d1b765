"""`dnat to KEY map { … }` translates only packets whose key is in the map: a lookup that misses
ends the rule (nft(8) MAPS; the kernel oracle on Debian's nat.nft example showed the kernel
letting every other flow through untranslated, where fwcheck had made them all indeterminate)."""

from __future__ import annotations

import json

from checker.engine.netfilter.engine import classify_flow
from checker.model.netfilter import Ranges, Verdict
from checker.parsers.netfilter import nft_json


def dport() -> dict:
    return {"payload": {"protocol": "tcp", "field": "dport"}}


RULESET = {
    "nftables": [
        {"table": {"family": "ip", "name": "nat", "handle": 1}},
        {"chain": {"family": "ip", "table": "nat", "name": "pre", "handle": 1,
                   "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
        {"rule": {"family": "ip", "table": "nat", "chain": "pre", "handle": 2, "expr": [
            {"dnat": {
                "addr": {"map": {"key": dport(), "data": {"set": [[7000, "192.0.2.7"], [7001, "192.0.2.8"]]}}},
                "port": {"map": {"key": dport(), "data": {"set": [[7000, 80], [7001, 81]]}}},
            }}
        ]}},
    ]
}  # fmt: skip


def parse():
    return nft_json.parse(json.dumps(RULESET).encode(), "nat.json")


def test_the_map_keys_narrow_the_nat_rule() -> None:
    (rule,) = parse().tables[0].chains[0].rules
    assert rule.target.verdict is Verdict.DNAT
    assert Ranges("proto", ((6, 6),)) in rule.matches  # the payload's implicit dependency
    assert Ranges("dport", ((7000, 7001),)) in rule.matches


def flow(proto: int, port: int) -> str:
    return classify_flow(
        [parse()], family=4, proto=proto, src="198.51.100.2", dst="198.51.100.1",
        sport=40000, dport=port, direction="inbound", iface="eth0",
    )  # fmt: skip


def test_flows_outside_the_map_are_not_translated() -> None:
    assert flow(6, 22) == "accept"
    assert flow(17, 7000) == "accept"  # tcp dport: UDP is not looked up
    assert flow(6, 7000) == "indeterminate"  # translated: goes elsewhere
