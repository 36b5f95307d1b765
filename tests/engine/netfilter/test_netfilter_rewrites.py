"""Issue 11: a destination rewritten before routing (nft `ip daddr set` in a raw prerouting chain,
Debian's load_balancing.nft) to addresses that are not this host's: the kernel routes the packet
on (FORWARD) or drops it, it never delivers it here (the routing decision follows PREROUTING;
checked against the kernel by tests/kernel/test_oracle_generators.py). Decided exactly with the
host's addresses (`ip -j addr`); indeterminate, naming that input, without them."""

from __future__ import annotations

import json

import pytest
from builders import req

from checker.engine.netfilter.engine import check, classify_flow
from checker.findings import Status
from checker.parsers.netfilter import ip_addr, nft_json

HOST = [
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.0.2.10", "prefixlen": 24}]},
]


def _numgen(*targets: str) -> object:
    pairs = [[n, address] for n, address in enumerate(targets)]
    key = {"numgen": {"mode": "inc", "mod": len(targets), "offset": 0}}
    return {"map": {"key": key, "data": {"set": pairs}}}


def _ruleset(value: object, *extra: object, table: str = "ip") -> bytes:
    dport80 = {
        "match": {
            "op": "==",
            "left": {"payload": {"protocol": "tcp", "field": "dport"}},
            "right": 80,
        }
    }
    daddr = {"payload": {"protocol": "ip", "field": "daddr"}}
    exprs = [dport80, {"notrack": None}, {"mangle": {"key": daddr, "value": value}}]
    items = [
        {"metainfo": {"json_schema_version": 1}},
        {"table": {"family": table, "name": "raw", "handle": 1}},
        {"chain": {"family": table, "table": "raw", "name": "pre", "handle": 1, "type": "filter",
                   "hook": "prerouting", "prio": -300, "policy": "accept"}},
        {"rule": {"family": table, "table": "raw", "chain": "pre", "handle": 2, "expr": exprs}},
        *({"rule": {"family": table, "table": "raw", "chain": "pre", "handle": 3 + n, "expr": e}}
          for n, e in enumerate(extra)),
    ]  # fmt: skip
    # One object per line, as `jq -c '.nftables[]'` lays it out: the rule object is line 5.
    return ('{"nftables": [\n' + ",\n".join(json.dumps(i) for i in items) + "\n]}\n").encode()


def _models(data: bytes, host: bool = True) -> list[object]:
    out: list[object] = [nft_json.parse(data, "rules.json")]
    if host:
        out.append(ip_addr.parse(json.dumps(HOST).encode(), "ip-addr.json"))
    return out


LB = _numgen("192.168.1.100", "192.168.1.101")


def test_rewrite_to_other_hosts_is_never_delivered_here() -> None:
    models = _models(_ruleset(LB))
    verdict = check(models, req(ports=((80, 80),)))
    assert verdict.status is Status.FAIL, verdict.message
    assert [e.line for e in verdict.evidence] == [5]  # the rewriting rule object
    assert check(models, req(expect="deny", ports=((80, 80),))).status is Status.PASS
    flow = dict(family=4, proto=6, src="203.0.113.7", dst="192.0.2.10", sport=40000)
    assert classify_flow(models, **flow, dport=80, direction="inbound") == "drop"
    assert classify_flow(models, **flow, dport=22, direction="inbound") == "accept"


def test_without_host_addresses_it_names_the_missing_input() -> None:
    verdict = check(_models(_ruleset(LB), host=False), req(ports=((80, 80),)))
    assert verdict.status is Status.INDETERMINATE, verdict.message
    assert "ip -j addr" in verdict.message


@pytest.mark.parametrize(
    "value",
    [
        _numgen("192.168.1.100", "192.0.2.10"),  # one target is this host: delivered there
        {
            "map": {
                "key": {"numgen": {"mode": "inc", "mod": 3, "offset": 0}},
                "data": {"set": [[0, "192.168.1.100"], [1, "192.168.1.101"]]},
            }
        },  # 2 misses
    ],  # fmt: skip
)
def test_rewrites_that_may_keep_the_packet_here_stay_indeterminate(value: object) -> None:
    verdict = check(_models(_ruleset(value)), req(ports=((80, 80),)))
    assert verdict.status is Status.INDETERMINATE, verdict.message


def test_a_later_rewrite_could_bring_it_back() -> None:
    """A later rule that rewrites what the walk cannot read (here a DNAT statement) may send the
    packet back here: not decided."""
    back = [{"dnat": {"addr": "192.0.2.10"}}]
    verdict = check(_models(_ruleset(LB, back)), req(ports=((80, 80),)))
    assert verdict.status is Status.INDETERMINATE, verdict.message


def test_constant_rewrite_and_inet_table() -> None:
    assert check(_models(_ruleset("198.51.100.9")), req(ports=((80, 80),))).status is Status.FAIL
    # In an inet table `ip daddr set` is not read (its family dependency is not modelled).
    inet = check(_models(_ruleset(LB, table="inet")), req(ports=((80, 80),)))
    assert inet.status is Status.INDETERMINATE, inet.message


def _doc(*items: object) -> bytes:
    body = ",\n".join(json.dumps(i) for i in items)
    return ('{"nftables": [\n' + body + "\n]}\n").encode()


def _chain(table: str, name: str, kind: str, hook: str, prio: int, policy: str) -> object:
    return {"chain": {"family": "ip", "table": table, "name": name, "handle": 1, "type": kind,
                      "hook": hook, "prio": prio, "policy": policy}}  # fmt: skip


def _rule(table: str, chain: str, *exprs: object) -> object:
    return {"rule": {"family": "ip", "table": table, "chain": chain, "handle": 2, "expr": exprs}}


def _match(protocol: str, field: str, right: object) -> object:
    left = {"payload": {"protocol": protocol, "field": field}}
    return {"match": {"op": "==", "left": left, "right": right}}


DOCKER_HOST = [
    *HOST,
    {
        "ifname": "docker0",
        "addr_info": [{"family": "inet", "local": "172.17.0.1", "prefixlen": 16}],
    },
]


def _nat(
    statement: object, forward: tuple[object, ...], input_: tuple[object, ...]
) -> list[object]:
    data = _doc(
        {"table": {"family": "ip", "name": "nat", "handle": 1}},
        _chain("nat", "pre", "nat", "prerouting", -100, "accept"),
        _rule("nat", "pre", _match("tcp", "dport", 8080), statement),
        {"table": {"family": "ip", "name": "filter", "handle": 2}},
        _chain("filter", "input", "filter", "input", 0, "drop"),
        *(_rule("filter", "input", *e) for e in input_),
        _chain("filter", "forward", "filter", "forward", 0, "drop"),
        *(_rule("filter", "forward", *e) for e in forward),
    )
    host = ip_addr.parse(json.dumps(DOCKER_HOST).encode(), "ip-addr.json")
    return [nft_json.parse(data, "rules.json"), host]


def test_nft_dnat_is_followed_into_forward() -> None:
    """nft's `dnat to 172.17.0.2:80` in a nat prerouting chain sends the flow through FORWARD
    like iptables' DNAT (docs/linux.md): a port INPUT drops is reachable when FORWARD accepts
    the translated flow, and the finding cites that rule and the dnat."""
    established = ({"match": {"op": "in", "left": {"ct": {"key": "state"}},
                              "right": ["established", "related"]}}, {"accept": None})  # fmt: skip
    to_container = (
        _match("ip", "daddr", "172.17.0.2"),
        _match("tcp", "dport", 80),
        {"accept": None},
    )
    dnat = {"dnat": {"addr": "172.17.0.2", "port": 80}}
    models = _nat(dnat, (established, to_container), ())
    verdict = check(models, req(expect="deny", ports=((8080, 8080),)))
    assert verdict.status is Status.FAIL, verdict.message
    assert [e.line for e in verdict.evidence][:2] == [9, 4], verdict.evidence
    # Without the FORWARD accept the translated flow is dropped there: the deny holds.
    assert (
        check(_nat(dnat, (established,), ()), req(expect="deny", ports=((8080, 8080),))).status
        is Status.PASS
    )


def test_nft_redirect_is_followed_into_input() -> None:
    ssh = (_match("tcp", "dport", 22), {"accept": None})
    models = _nat({"redirect": {"port": 22}}, (), (ssh,))
    verdict = check(models, req(ports=((8080, 8080),)))
    assert verdict.status is Status.PASS, verdict.message
    assert (
        check(_nat({"redirect": {"port": 23}}, (), (ssh,)), req(ports=((8080, 8080),))).status
        is Status.FAIL
    )
