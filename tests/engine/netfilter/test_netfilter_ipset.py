"""`-m set` in the netfilter engine: exact with the target's `ipset save` output, indeterminate
(saying why) without it or when the set's contents can change at runtime.

Each semantic rule of netfilter_sets.py has a case here; the kernel oracle
(tests/kernel/test_oracle_ipset.py) checks the same semantics against real sets.
"""

from __future__ import annotations

import pytest
from builders import FILE, base, req, rule, ruleset

from checker.engine.netfilter.engine import check, classify_flow
from checker.errors import ParseError
from checker.findings import Status
from checker.model.netfilter import (
    Hook,
    IpSets,
    Ranges,
    Rule,
    Ruleset,
    SetMatch,
    Target,
    Verdict,
)
from checker.parsers.netfilter import ipset_save, iptables_save
from checker.pipeline import evaluate_target

TCP = Ranges("proto", ((6, 6),))
UDP = Ranges("proto", ((17, 17),))


def sets(text: str) -> IpSets:
    return ipset_save.parse(text.encode(), "host.ipset")


def filter_input(*rules: Rule, family: str = "ip") -> Ruleset:
    families = frozenset({4 if family == "ip" else 6})
    return ruleset(
        base("INPUT", Hook.INPUT, Verdict.DROP, *rules), family=family, families=families
    )


def verdict(models: list, src: str, dport: int = 22, proto: int = 6, family: int = 4) -> str:
    dst = "198.51.100.1" if family == 4 else "2001:db8:1::1"
    return classify_flow(
        models,
        family=family,
        proto=proto,
        src=src,
        dst=dst,
        sport=40000,
        dport=dport,
        direction="inbound",
    )


# Replies must get out for TCP: OUTPUT has no base chain here, so it accepts.
ADMINS = "create admins hash:ip family inet\nadd admins 192.0.2.10\nadd admins 192.0.2.11\n"


def test_without_ipset_contents_the_match_is_indeterminate_and_says_why() -> None:
    rules = filter_input(rule(TCP, SetMatch("admins", ("src",)), line=7))
    result = check([rules], req(remote=["192.0.2.10/32"]))
    assert result.status is Status.INDETERMINATE
    assert f"{FILE}:7: ipset admins: contents not supplied" in result.message
    assert verdict([rules], "192.0.2.10") == "indeterminate"


def test_with_the_contents_a_hash_ip_match_is_exact() -> None:
    models = [filter_input(rule(TCP, SetMatch("admins", ("src",)), line=7)), sets(ADMINS)]
    assert check(models, req(remote=["192.0.2.10/31"])).status is Status.PASS
    failing = check(models, req(remote=["192.0.2.0/24"]))
    assert failing.status is Status.FAIL
    assert failing.counterexample is not None
    assert (
        "192.0.2.10 " not in failing.counterexample and "192.0.2.11 " not in failing.counterexample
    )
    assert check(models, req("deny", remote=["203.0.113.0/24"])).status is Status.PASS
    assert verdict(models, "192.0.2.11") == "accept"
    assert verdict(models, "192.0.2.12") == "drop"


def test_destination_flag_matches_the_destination_address() -> None:
    text = "create mine hash:ip\nadd mine 198.51.100.1\n"
    models = [filter_input(rule(TCP, SetMatch("mine", ("dst",)))), sets(text)]
    assert verdict(models, "203.0.113.9") == "accept"
    models = [filter_input(rule(TCP, SetMatch("mine", ("src",)))), sets(text)]
    assert verdict(models, "203.0.113.9") == "drop"


def test_negated_match_holds_outside_the_set() -> None:
    blocked = "create blocked hash:net\nadd blocked 203.0.113.0/24\n"
    models = [filter_input(rule(TCP, SetMatch("blocked", ("src",), negated=True))), sets(blocked)]
    assert verdict(models, "203.0.113.5") == "drop"
    assert verdict(models, "192.0.2.5") == "accept"
    # Negation keeps an unknown set unknown.
    assert verdict(models[:1], "192.0.2.5") == "indeterminate"


def test_nomatch_elements_are_carved_out_longest_prefix_first() -> None:
    text = (
        "create n hash:net\n"
        "add n 10.0.0.0/8\n"
        "add n 10.1.0.0/16 nomatch\n"
        "add n 10.1.2.0/24\n"
        "add n 10.1.2.128/25 nomatch\n"
    )
    models = [filter_input(rule(TCP, SetMatch("n", ("src",)))), sets(text)]
    expected = {
        "10.9.9.9": "accept",
        "10.1.9.9": "drop",
        "10.1.2.5": "accept",
        "10.1.2.200": "drop",
        "11.0.0.1": "drop",
    }
    assert {src: verdict(models, src) for src in expected} == expected


def test_ip_port_sets_match_address_and_port_pairs_with_their_protocol() -> None:
    text = (
        "create svc hash:ip,port\n"
        "add svc 192.0.2.10,tcp:22\n"
        "add svc 192.0.2.20,udp:53\n"
        "add svc 192.0.2.30,icmp:echo-request\n"
    )
    models = [filter_input(rule(SetMatch("svc", ("src", "dst")))), sets(text)]
    assert verdict(models, "192.0.2.10", 22) == "accept"
    assert verdict(models, "192.0.2.10", 23) == "drop"
    assert verdict(models, "192.0.2.20", 22) == "drop"
    assert verdict(models, "192.0.2.20", 53, proto=17) == "accept"
    assert verdict(models, "192.0.2.10", 22, proto=17) == "drop"
    # The element is echo-request code 0 only: another code of type 8 is the counterexample.
    echo = check(models, req(protocol=1, ports=None, icmp_type=8, remote=["192.0.2.30/32"]))
    assert echo.status is Status.FAIL and echo.counterexample is not None
    assert "type 8 code" in echo.counterexample and "code 0 " not in echo.counterexample
    # With src,src the port is the source port (40000 here): nothing matches.
    models = [filter_input(rule(SetMatch("svc", ("src", "src")))), sets(text)]
    assert verdict(models, "192.0.2.10", 22) == "drop"


def test_fewer_flags_than_dimensions_or_another_family_never_match() -> None:
    text = "create svc hash:ip,port\nadd svc 192.0.2.10,tcp:22\ncreate six hash:ip family inet6\n"
    models = [filter_input(rule(SetMatch("svc", ("src",)))), sets(text)]
    assert verdict(models, "192.0.2.10", 22) == "drop"
    text += "add six 2001:db8::5\n"
    models = [filter_input(rule(SetMatch("six", ("src",)))), sets(text)]
    assert verdict(models, "192.0.2.10") == "drop"
    six = [filter_input(rule(SetMatch("six", ("src",))), family="ip6"), sets(text)]
    assert verdict(six, "2001:db8::5", family=6) == "accept"
    assert verdict(six, "2001:db8::6", family=6) == "drop"


def test_list_set_is_the_union_of_its_members() -> None:
    text = ADMINS + "create more hash:net\nadd more 10.0.0.0/8\ncreate all list:set\n"
    text += "add all admins\nadd all more\n"
    models = [filter_input(rule(TCP, SetMatch("all", ("src",)))), sets(text)]
    assert [verdict(models, s) for s in ("192.0.2.10", "10.2.3.4", "192.0.2.99")] == [
        "accept",
        "accept",
        "drop",
    ]
    broken = sets("create all list:set\nadd all ghost\n")
    result = check([models[0], broken], req(remote=["192.0.2.10/32"]))
    assert "ipset ghost: not in the supplied ipset save output" in result.message


def test_bitmap_port_matches_tcp_and_udp_only() -> None:
    models = [
        filter_input(rule(SetMatch("ports", ("dst",)))),
        sets("create ports bitmap:port range 0-1024\nadd ports 22\n"),
    ]
    assert verdict(models, "192.0.2.1", 22) == "accept"
    assert verdict(models, "192.0.2.1", 22, proto=17) == "accept"
    assert verdict(models, "192.0.2.1", 22, proto=132) == "drop"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("create other hash:ip\n", "ipset admins: not in the supplied ipset save output"),
        (
            "create admins hash:ip timeout 600\nadd admins 192.0.2.10 timeout 500\n",
            "ipset admins: its entries expire (timeout)",
        ),
        ("create admins hash:net,iface\n", "ipset admins: set type hash:net,iface is not modelled"),
        ("create admins hash:ip bitmask 255.0.255.0\n", "ipset admins: bitmask"),
        (
            "create admins hash:net,port,net\nadd admins 10.0.0.0/8,tcp:22,10.0.0.0/8\n"
            "add admins 10.1.0.0/16,tcp:22,10.0.0.0/8 nomatch\n",
            "ipset admins: nomatch elements in a set with several net dimensions",
        ),
    ],
)
def test_sets_that_are_missing_dynamic_or_unmodelled_stay_indeterminate(
    text: str, reason: str
) -> None:
    match = SetMatch("admins", ("src", "dst", "dst"))
    models = [filter_input(rule(TCP, match, line=4)), sets(text)]
    result = check(models, req(remote=["192.0.2.10/32"]))
    assert result.status is Status.INDETERMINATE
    assert f"{FILE}:4: {reason}" in result.message


def test_a_set_written_by_a_set_target_is_indeterminate() -> None:
    text = (
        "*filter\n:INPUT DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A INPUT -p tcp -m tcp --dport 23 -j SET --add-set admins src --exist\n"
        "-A INPUT -p tcp -m set --match-set admins src -j ACCEPT\nCOMMIT\n"
    )
    parsed = iptables_save.parse(text.encode(), FILE)
    learner = parsed.tables[0].chains[0].rules[0]
    assert learner.target == Target(Verdict.CONTINUE, "SET", writes=("admins",))
    result = check([parsed, sets(ADMINS)], req(remote=["192.0.2.10/32"]))
    assert result.status is Status.INDETERMINATE
    assert "ipset admins: rules add to or delete from it at runtime (-j SET)" in result.message
    # A set no rule writes is decided from its saved contents.
    reading_only = iptables_save.parse(
        text.replace("admins src --exist", "other src").encode(), FILE
    )
    assert check([reading_only, sets(ADMINS)], req(remote=["192.0.2.10/32"])).status is (
        Status.PASS
    )


def test_two_ipset_outputs_that_disagree_make_the_set_indeterminate() -> None:
    other = ipset_save.parse(b"create admins hash:ip\nadd admins 192.0.2.99\n", "other.ipset")
    models = [filter_input(rule(TCP, SetMatch("admins", ("src",)))), sets(ADMINS), other]
    assert verdict(models, "192.0.2.10") == "indeterminate"
    models[2] = ipset_save.parse(ADMINS.encode(), "again.ipset")
    assert verdict(models, "192.0.2.10") == "accept"


RULES = b"""*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m set --match-set admins src -m tcp --dport 22 -j ACCEPT
COMMIT
"""


def test_pipeline_combines_ipset_save_with_the_rulesets_and_refuses_it_alone() -> None:
    requirement = req(remote=["192.0.2.10/32"])
    findings, platform, problems = evaluate_target(
        "h", [("iptables.txt", RULES), ("ipset.txt", ADMINS.encode())], [requirement]
    )
    assert platform == "netfilter" and not problems
    assert [f.status for f in findings] == [Status.PASS]
    findings, _, _ = evaluate_target("h", [("iptables.txt", RULES)], [requirement])
    assert [f.status for f in findings] == [Status.INDETERMINATE]
    assert "ipset admins: contents not supplied" in findings[0].message
    findings, platform, problems = evaluate_target(
        "h", [("ipset.txt", ADMINS.encode())], [requirement]
    )
    assert platform is None and [p.code for p in problems] == ["no-ruleset"]
    with pytest.raises(ParseError):
        ipset_save.parse(b"create admins hash:ip\nadd admins nonsense\n", "x")


# What `ipset save` prints for fail2ban's iptables-ipset action (`ipset create f2b-sshd hash:ip
# timeout 0`, bans added with `timeout 0`), checked with the real ipset in a namespace: every
# entry carries its remaining timeout, 0 for a permanent one.
FAIL2BAN = (
    "create f2b-sshd hash:ip family inet hashsize 1024 maxelem 65536 timeout 0 bucketsize 12"
    " initval 0x1a60afb1\nadd f2b-sshd 192.0.2.66 timeout 0\nadd f2b-sshd 192.0.2.67 timeout 0\n"
)


def test_fail2ban_sets_with_timeout_0_are_exact() -> None:
    """ipset(8): "Zero timeout value means the entry is added permanent to the set"."""
    banned = rule(TCP, SetMatch("f2b-sshd", ("src",)), verdict=Verdict.REJECT, line=3)
    models = [filter_input(banned, rule(TCP, line=4)), sets(FAIL2BAN)]
    assert verdict(models, "192.0.2.66") == "drop"
    assert verdict(models, "192.0.2.1") == "accept"
    assert check(models, req(remote=["198.51.100.0/24"])).status is Status.PASS
    assert check(models, req("deny", remote=["192.0.2.66/31"])).status is Status.PASS


@pytest.mark.parametrize(
    "text",
    [
        # An entry with time left, in a set whose default is permanent.
        FAIL2BAN + "add f2b-sshd 192.0.2.9 timeout 599\n",
        # restore input: an entry without `timeout` takes the set's non-zero default.
        "create f2b-sshd hash:ip timeout 600\nadd f2b-sshd 192.0.2.9\n",
    ],
)
def test_sets_with_an_expiring_entry_stay_indeterminate(text: str) -> None:
    banned = rule(TCP, SetMatch("f2b-sshd", ("src",)), verdict=Verdict.REJECT, line=3)
    models = [filter_input(banned, rule(TCP, line=4)), sets(text)]
    assert verdict(models, "192.0.2.1") == "indeterminate"
