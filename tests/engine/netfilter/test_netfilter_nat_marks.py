"""Issue 11 defect 5: packet marks along the walk, and DNAT/REDIRECT followed into FORWARD or
INPUT, on rulesets laid out the way Docker and kube-proxy write them.

Semantics relied on: iptables-extensions(8) (mark, connmark, MARK, CONNMARK, DNAT, REDIRECT,
addrtype, statistic), and the packet path of netfilter: nat PREROUTING (DNAT) -> routing ->
FORWARD -> POSTROUTING for a destination that is not the host's, INPUT for one that is.
"""

from __future__ import annotations

import json

from builders import req

from checker.engine.netfilter.engine import check, classify_flow
from checker.findings import Status
from checker.parsers.netfilter import ip_addr, iptables_save

# Docker's chains (docs.docker.com "Packet filtering and firewalls", Docker < 28) beside ufw's:
# ufw's INPUT lets in only ssh; Docker publishes container port 80 as host port 8080.
DOCKER_UFW = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
:ufw-before-input - [0:0]
:ufw-user-input - [0:0]
:ufw-before-forward - [0:0]
-A INPUT -j ufw-before-input
-A INPUT -j ufw-user-input
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A FORWARD -j ufw-before-forward
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
-A ufw-before-input -i lo -j ACCEPT
-A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT
-A ufw-before-forward -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
"""

HOST = [
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.0.2.10", "prefixlen": 24}]},
    {
        "ifname": "docker0",
        "addr_info": [{"family": "inet", "local": "172.17.0.1", "prefixlen": 16}],
    },
]


def models(text: str, host: list[dict[str, object]] | None = HOST) -> list[object]:
    out: list[object] = [iptables_save.parse(text.encode(), "host.rules")]
    if host is not None:
        out.append(ip_addr.parse(json.dumps(host).encode(), "ip-addr.json"))
    return out


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_docker_published_port_gets_past_ufw_through_forward() -> None:
    """The question users ask most: ufw's INPUT denies 8080, yet Docker's DNAT sends it to the
    container through FORWARD, where DOCKER accepts it. fwcheck says accepted, citing the
    FORWARD accept rule and the DNAT rule."""
    verdict = check(models(DOCKER_UFW), req(expect="deny", ports=((8080, 8080),)))
    assert verdict.status is Status.FAIL, verdict.message
    lines = [e.line for e in verdict.evidence]
    assert lines[:2] == [
        line_of(DOCKER_UFW, "-A DOCKER -d 172.17.0.2/32"),
        line_of(DOCKER_UFW, "-j DNAT --to-destination 172.17.0.2:80"),
    ]
    # ufw's INPUT still refuses what Docker does not publish.
    assert check(models(DOCKER_UFW), req(expect="deny", ports=((8081, 8081),))).status is (
        Status.PASS
    )


def test_docker_connection_completes_through_forward_both_ways() -> None:
    rulesets = models(DOCKER_UFW)
    flow = dict(family=4, proto=6, src="203.0.113.7", dst="192.0.2.10", sport=40000)
    assert classify_flow(rulesets, **flow, dport=8080, direction="inbound") == "accept"
    assert classify_flow(rulesets, **flow, dport=8081, direction="inbound") == "drop"
    # Without the reply rules on FORWARD the SYN-ACK from the container is dropped.
    strict = DOCKER_UFW.replace("-A FORWARD -i docker0 ! -o docker0 -j ACCEPT\n", "").replace(
        "-A ufw-before-forward -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n", ""
    )
    assert classify_flow(models(strict), **flow, dport=8080, direction="inbound") == "drop"


def test_docker_without_host_addresses_says_which_input_is_missing() -> None:
    verdict = check(models(DOCKER_UFW, None), req(expect="deny", ports=((8080, 8080),)))
    assert verdict.status is Status.INDETERMINATE, verdict.message
    assert "ip -j addr" in verdict.message


def test_docker_user_sees_the_translated_port() -> None:
    """DOCKER-USER runs in FORWARD, after the DNAT: a drop of the container's port 80 closes
    the published port, a drop of the host's port 8080 does not (Docker's documentation says
    the same: match the original port with `-m conntrack --ctorigdstport`)."""
    deny = req(expect="deny", ports=((8080, 8080),))
    inner = DOCKER_UFW.replace(
        "-A DOCKER-USER -j RETURN",
        "-A DOCKER-USER -p tcp --dport 80 -j DROP\n-A DOCKER-USER -j RETURN",
    )
    assert check(models(inner), deny).status is Status.PASS
    outer = DOCKER_UFW.replace(
        "-A DOCKER-USER -j RETURN",
        "-A DOCKER-USER -p tcp --dport 8080 -j DROP\n-A DOCKER-USER -j RETURN",
    )
    assert check(models(outer), deny).status is Status.FAIL


REDIRECT = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 3128
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 3128 -j ACCEPT
COMMIT
"""


def test_redirect_is_answered_from_input_on_the_new_port() -> None:
    verdict = check(models(REDIRECT), req(expect="allow", ports=((80, 80),)))
    assert verdict.status is Status.PASS, verdict.message
    closed = REDIRECT.replace("--dport 3128 -j ACCEPT", "--dport 3129 -j ACCEPT")
    verdict = check(models(closed), req(expect="allow", ports=((80, 80),)))
    assert verdict.status is Status.FAIL, verdict.message
    assert verdict.evidence[0].text.startswith("chain INPUT policy DROP")


# kube-proxy (iptables mode): KUBE-MARK-MASQ marks service traffic, KUBE-POSTROUTING
# masquerades only marked packets, and the node firewall drops packets marked 0x8000.
KUBE = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SEP-B - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -p tcp -m tcp --dport 30080 -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -j KUBE-MARK-MASQ
-A KUBE-SVC-WEB -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-A
-A KUBE-SVC-WEB -j KUBE-SEP-B
-A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SEP-B -p tcp -m tcp -j DNAT --to-destination 10.244.2.7:8080
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A OUTPUT -p tcp -m tcp --dport 25 -j MARK --set-xmark 0x8000/0xffffffff
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A OUTPUT -j KUBE-FIREWALL
-A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
"""
NODE = [
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.0.2.10", "prefixlen": 24}]},
    {"ifname": "cni0", "addr_info": [{"family": "inet", "local": "10.244.0.1", "prefixlen": 16}]},
]


def test_outbound_is_decided_on_kube_proxy_marks() -> None:
    """A new packet starts with mark 0: `! --mark 0x4000/0x4000 -j RETURN` and the 0x8000 drop
    are decided, so outbound requirements are no longer indeterminate; a MARK in mangle OUTPUT
    that sets 0x8000 is seen by the filter chain after it."""
    rulesets = models(KUBE, NODE)
    verdict = check(rulesets, req(expect="allow", direction="outbound", ports=((443, 443),)))
    assert verdict.status is Status.PASS, verdict.message
    verdict = check(rulesets, req(expect="deny", direction="outbound", ports=((25, 25),)))
    assert verdict.status is Status.PASS, verdict.message


def test_nodeport_reaches_every_endpoint_through_kube_forward() -> None:
    """`-m statistic` picks an endpoint at random: every endpoint is possible, and the flow is
    accepted only because KUBE-FORWARD accepts the 0x4000-marked packets to each of them."""
    rulesets = models(KUBE, NODE)
    verdict = check(rulesets, req(expect="deny", ports=((30080, 30080),)))
    assert verdict.status is Status.FAIL, verdict.message
    assert any("--to-destination 10.244" in e.text for e in verdict.evidence)
    flow = dict(family=4, proto=6, src="203.0.113.7", dst="192.0.2.10", sport=40000)
    assert classify_flow(rulesets, **flow, dport=30080, direction="inbound") == "accept"
    # Without the mark accept in KUBE-FORWARD the forwarded SYN meets FORWARD's DROP policy.
    unmarked = KUBE.replace("-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT\n", "")
    assert classify_flow(models(unmarked, NODE), **flow, dport=30080, direction="inbound") == (
        "drop"
    )
    # One endpoint refused: the flow may or may not get through, depending on the draw.
    one = KUBE.replace(
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        "-A KUBE-FORWARD -d 10.244.2.7/32 -j DROP",
    )
    verdict = check(models(one, NODE), req(expect="allow", ports=((30080, 30080),)))
    assert verdict.status is not Status.PASS


def test_a_connmark_saved_on_the_first_packet_is_not_assumed_on_replies() -> None:
    """The reply's connection mark is what the rules saved: with a CONNMARK writer in the
    ruleset, a reply rule testing it is indeterminate, not decided as 0."""
    text = """*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp --dport 22 -j CONNMARK --set-xmark 0x1/0xffffffff
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -p tcp --dport 22 -j ACCEPT
-A INPUT -m connmark --mark 0x1 -j ACCEPT
-A OUTPUT -m connmark --mark 0x1 -j ACCEPT
COMMIT
"""
    verdict = check(models(text), req(expect="allow"))
    assert verdict.status is Status.INDETERMINATE, verdict.message
    assert "connection mark" in verdict.message
    # On the first packet the ctmark is known: 0x1 for port 22 only.
    first = check(
        models(text.replace("--dport 22 -j ACCEPT", "--dport 23 -j ACCEPT")),
        req(expect="deny", ports=((23, 23),)),
    )
    assert first.status is Status.FAIL


def _nft(
    prerouting: list[list[dict[str, object]]], inputs: list[list[dict[str, object]]]
) -> object:
    from checker.parsers.netfilter import nft_json

    doc: list[dict[str, object]] = [
        {"table": {"family": "inet", "name": "t", "handle": 1}},
        {"chain": {"family": "inet", "table": "t", "name": "pre", "handle": 2, "type": "filter",
                   "hook": "prerouting", "prio": -150, "policy": "accept"}},
        {"chain": {"family": "inet", "table": "t", "name": "in", "handle": 3, "type": "filter",
                   "hook": "input", "prio": 0, "policy": "drop"}},
    ]  # fmt: skip
    handle = 10
    for chain, rules in (("pre", prerouting), ("in", inputs)):
        for expr in rules:
            handle += 1
            doc.append({"rule": {"family": "inet", "table": "t", "chain": chain, "handle": handle,
                                 "expr": expr}})  # fmt: skip
    return nft_json.parse(json.dumps({"nftables": doc}).encode(), "t.json")


def test_nft_meta_mark_and_ct_mark_are_followed() -> None:
    """nft(8): `meta mark set meta mark | 0x10` then `ct mark set meta mark` in prerouting;
    input accepts `meta mark & 0x10 == 0x10` (first packet) and established replies."""
    mark = {"meta": {"key": "mark"}}
    tcp22 = {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                       "right": 22}}  # fmt: skip
    set_mark = {"mangle": {"key": mark, "value": {"|": [mark, 16]}}}
    save = {"mangle": {"key": {"ct": {"key": "mark"}}, "value": mark}}
    marked = {"match": {"op": "==", "left": {"&": [mark, 16]}, "right": 16}}
    established = {"match": {"op": "in", "left": {"ct": {"key": "state"}},
                             "right": ["established", "related"]}}  # fmt: skip
    accept = {"accept": None}
    ruleset = _nft([[tcp22, set_mark, save]], [[established, accept], [marked, accept]])
    assert check([ruleset], req(expect="allow")).status is Status.PASS
    assert check([ruleset], req(expect="deny", ports=((23, 23),))).status is Status.PASS
    # `ct mark 0x10` on the first packet: the ctmark was just saved from the packet mark.
    saved = {"match": {"op": "==", "left": {"ct": {"key": "mark"}}, "right": 16}}
    ruleset = _nft([[tcp22, set_mark, save]], [[established, accept], [saved, accept]])
    assert check([ruleset], req(expect="allow")).status is Status.PASS


def test_a_connection_translated_only_sometimes_is_walked_both_ways_later() -> None:
    """`-m statistic` before the DNAT: a connection may be translated or not. Its reply must
    get back both ways; here OUTPUT drops the untranslated one, so the connection is not
    surely accepted, though its first packet gets through either way."""
    text = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp --dport 8080 -m statistic --mode random --probability 0.5 -j DNAT --to-destination 172.17.0.2:80
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT DROP [0:0]
-A INPUT -p tcp --dport 8080 -j ACCEPT
COMMIT
"""
    flow = dict(family=4, proto=6, src="203.0.113.7", dst="192.0.2.10", sport=40000, dport=8080)
    assert classify_flow(models(text), **flow, direction="inbound") == "indeterminate"
    opened = text.replace(":OUTPUT DROP", ":OUTPUT ACCEPT")
    assert classify_flow(models(opened), **flow, direction="inbound") == "accept"


def test_more_translations_than_followed_stay_indeterminate() -> None:
    """A limit keeps the walk near-linear: past MAX_FOLLOWED translations of the asked flows in
    one nat chain (kube-proxy: a ClusterIP per service), none is followed and the answer is
    indeterminate, naming the limit, as before DNAT was followed."""
    from checker.engine.netfilter.walk import MAX_FOLLOWED

    def ruleset(count: int) -> str:
        dnat = "".join(
            f"-A PREROUTING -d 10.96.{n // 250}.{n % 250 + 1}/32 -p tcp --dport 80"
            f" -j DNAT --to-destination 10.244.{n // 250}.{n % 250 + 1}:8080\n"
            for n in range(count)
        )
        return (
            "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            f":POSTROUTING ACCEPT [0:0]\n{dnat}COMMIT\n*filter\n:INPUT DROP [0:0]\n"
            ":FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
        )

    deny = req(expect="deny", ports=((80, 80),))
    few = check(models(ruleset(2), NODE), deny)
    assert few.status is Status.FAIL, few.message  # followed: FORWARD accepts them
    many = check(models(ruleset(MAX_FOLLOWED + 1), NODE), deny)
    assert many.status is Status.INDETERMINATE, many.message
    assert f"at most {MAX_FOLLOWED} translations" in many.message
