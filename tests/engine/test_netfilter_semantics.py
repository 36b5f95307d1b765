"""Netfilter semantics, one rule of iptables(8)/nft(8) per test, on hand-built models.

Each test asserts the verdict, the counterexample and the deciding rule's line.
"""

from __future__ import annotations

from builders import base, req, rule, ruleset, tcp_dport, user

from checker.engine.netfilter import check, classify_flow
from checker.findings import Status
from checker.model.netfilter import CtState, Hook, Ranges, Unknown, Verdict

ESTABLISHED = CtState(frozenset({"ESTABLISHED", "RELATED"}))


def test_first_match_wins_and_counterexample_names_deciding_rule() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.ACCEPT,
            rule(*tcp_dport(22), verdict=Verdict.DROP, line=5),
            rule(*tcp_dport(22), line=6),
        )
    )
    verdict = check([rs], req())
    assert verdict.status is Status.FAIL
    assert verdict.counterexample == "tcp 203.0.113.7:40000 -> 192.0.2.10:22 ipv4"
    assert [e.line for e in verdict.evidence] == [5]


def test_policy_drop_is_the_deciding_evidence_when_nothing_matches() -> None:
    rs = ruleset(base("INPUT", Hook.INPUT, Verdict.DROP, rule(*tcp_dport(80))))
    verdict = check([rs], req())
    assert verdict.status is Status.FAIL
    assert "policy DROP" in verdict.evidence[0].text


def test_accept_passes_with_accepting_rule_as_evidence() -> None:
    rs = ruleset(base("INPUT", Hook.INPUT, Verdict.DROP, rule(*tcp_dport(22), line=9)))
    verdict = check([rs], req())
    assert verdict.status is Status.PASS, verdict.message
    assert [e.line for e in verdict.evidence] == [9]


def test_user_chain_return_resumes_in_caller() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(verdict=Verdict.JUMP, chain="SUB"),
            rule(*tcp_dport(22), line=20),
        ),
        user(
            "SUB", rule(*tcp_dport(22), verdict=Verdict.RETURN), rule(verdict=Verdict.DROP, line=31)
        ),
    )
    assert check([rs], req()).status is Status.PASS
    other = check([rs], req(ports=((23, 23),)))
    assert other.status is Status.FAIL and other.evidence[0].line == 31


def test_goto_does_not_return_to_the_chain_it_left() -> None:
    # INPUT -j A; A -g B; B falls off its end: resumes in INPUT after the jump to A, skipping
    # the rest of A (which would accept).
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(verdict=Verdict.JUMP, chain="A"),
            rule(*tcp_dport(23), line=12),
        ),
        user("A", rule(verdict=Verdict.GOTO, chain="B"), rule(*tcp_dport(22), line=22)),
        user("B", rule(*tcp_dport(80))),
    )
    assert check([rs], req(ports=((22, 22),))).status is Status.FAIL
    assert check([rs], req(ports=((23, 23),))).status is Status.PASS


def test_any_drop_in_another_base_chain_wins_over_accept() -> None:
    early = base("in_a", Hook.INPUT, Verdict.ACCEPT, rule(*tcp_dport(22)), priority=-10)
    late = base(
        "in_b",
        Hook.INPUT,
        Verdict.ACCEPT,
        rule(*tcp_dport(22), verdict=Verdict.DROP, line=44),
        priority=10,
    )
    rs = ruleset(early, late, family="inet", name="t", families=frozenset({4, 6}))
    verdict = check([rs], req(families=frozenset({4, 6})))
    assert verdict.status is Status.FAIL
    assert verdict.evidence[0].line == 44


def test_strict_output_without_established_rule_fails_tcp_allow() -> None:
    rs = ruleset(
        base("INPUT", Hook.INPUT, Verdict.DROP, rule(*tcp_dport(22))),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP),
    )
    verdict = check([rs], req())
    assert verdict.status is Status.FAIL
    assert "SYN-ACK" in verdict.message
    fixed = ruleset(
        base("INPUT", Hook.INPUT, Verdict.DROP, rule(*tcp_dport(22))),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP, rule(ESTABLISHED)),
    )
    assert check([fixed], req()).status is Status.PASS
    # For deny, the first packet getting in is enough: the SYN is accepted, so deny fails.
    assert check([rs], req(expect="deny")).status is Status.FAIL


def test_established_rule_does_not_make_a_port_reachable() -> None:
    rs = ruleset(base("INPUT", Hook.INPUT, Verdict.DROP, rule(ESTABLISHED)))
    assert check([rs], req()).status is Status.FAIL
    assert check([rs], req(expect="deny")).status is Status.PASS


def test_unknown_match_is_indeterminate_never_pass() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(Unknown("-m recent: state not known"), *tcp_dport(22), line=7),
        )
    )
    allow = check([rs], req())
    deny = check([rs], req(expect="deny"))
    assert allow.status is Status.INDETERMINATE and "recent" in allow.message
    assert deny.status is Status.INDETERMINATE
    assert allow.evidence[0].line == 7


def test_unknown_match_behind_a_certain_drop_is_irrelevant() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.ACCEPT,
            rule(*tcp_dport(22), verdict=Verdict.DROP),
            rule(Unknown("-m limit"), *tcp_dport(22)),
        )
    )
    assert check([rs], req(expect="deny")).status is Status.PASS


def test_missing_ipv6_ruleset_is_indeterminate() -> None:
    rs = ruleset(base("INPUT", Hook.INPUT, Verdict.DROP))
    verdict = check([rs], req(expect="deny", families=frozenset({4, 6})))
    assert verdict.status is Status.INDETERMINATE
    assert "IPv6" in verdict.message


def test_dnat_catching_the_flow_is_indeterminate() -> None:
    nat = base(
        "PREROUTING",
        Hook.PREROUTING,
        Verdict.ACCEPT,
        rule(*tcp_dport(22), verdict=Verdict.DNAT),
        priority=-100,
        kind="nat",
    )
    flt = base("INPUT", Hook.INPUT, Verdict.DROP)
    rs = ruleset(nat, flt)
    verdict = check([rs], req(expect="deny"))
    assert verdict.status is Status.INDETERMINATE
    assert "DNAT" in verdict.message or "translated" in verdict.message


def test_except_remote_carves_out_and_counterexample_respects_it() -> None:
    admin = Ranges("saddr", ((0x0A000000, 0x0AFFFFFF),))
    rs = ruleset(base("INPUT", Hook.INPUT, Verdict.DROP, rule(admin, *tcp_dport(3389))))
    assert (
        check([rs], req(expect="deny", ports=((3389, 3389),), except_remote=["10.0.0.0/8"])).status
        is Status.PASS
    )
    open_rs = ruleset(base("INPUT", Hook.INPUT, Verdict.DROP, rule(*tcp_dport(3389))))
    verdict = check(
        [open_rs], req(expect="deny", ports=((3389, 3389),), except_remote=["10.0.0.0/8"])
    )
    assert verdict.status is Status.FAIL
    assert not verdict.counterexample.startswith("tcp 10.")


def test_partial_acceptance_fails_allow_with_a_flow_outside() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(Ranges("saddr", ((0x0A000000, 0x0AFFFFFF),)), *tcp_dport(22)),
        )
    )
    verdict = check([rs], req())
    assert verdict.status is Status.FAIL
    assert verdict.counterexample.startswith("tcp 203.0.113.7:")


def test_classify_flow_point_queries() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(*tcp_dport(22)),
            rule(Ranges("proto", ((17, 17),)), Ranges("dport", ((53, 53),))),
        ),
    )
    args = dict(family=4, src="198.51.100.2", dst="198.51.100.1", sport=40000, direction="inbound")
    assert classify_flow([rs], proto=6, dport=22, **args) == "accept"
    assert classify_flow([rs], proto=6, dport=23, **args) == "drop"
    assert classify_flow([rs], proto=17, dport=53, **args) == "accept"


ICMP_ECHO = (Ranges("proto", ((1, 1),)), Ranges("icmp", ((8 << 8, (8 << 8) | 0xFF),)))
ICMP_ECHO_REPLY = (Ranges("proto", ((1, 1),)), Ranges("icmp", ((0, 0xFF),)))


def test_ping_allow_needs_the_echo_reply_to_get_back() -> None:
    """A strict INPUT policy with no ESTABLISHED rule drops the echo reply (conntrack tracks ICMP
    echo as a connection), so an outbound ping never completes."""
    ping = dict(direction="outbound", protocol=1, ports=None, icmp_type=8)
    strict = ruleset(
        base("INPUT", Hook.INPUT, Verdict.DROP),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP, rule(*ICMP_ECHO, line=7)),
    )
    verdict = check([strict], req(**ping))
    assert verdict.status is Status.FAIL
    assert "echo reply" in verdict.message
    assert verdict.counterexample.startswith("icmp 192.0.2.10 -> 203.0.113.7 type 8")
    assert "policy DROP" in verdict.evidence[0].text
    with_established = ruleset(
        base("INPUT", Hook.INPUT, Verdict.DROP, rule(ESTABLISHED)),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP, rule(*ICMP_ECHO)),
    )
    assert check([with_established], req(**ping)).status is Status.PASS
    # An explicit echo-reply rule is as good as the ESTABLISHED one.
    with_reply_rule = ruleset(
        base("INPUT", Hook.INPUT, Verdict.DROP, rule(*ICMP_ECHO_REPLY)),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP, rule(*ICMP_ECHO)),
    )
    assert check([with_reply_rule], req(**ping)).status is Status.PASS
    # For deny, the request getting out is enough to fail.
    assert check([strict], req(expect="deny", **ping)).status is Status.FAIL


def test_echo_completion_does_not_touch_other_protocols() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(Ranges("proto", ((17, 17),)), Ranges("dport", ((53, 53),))),
        ),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP),
    )
    assert check([rs], req(protocol=17, ports=((53, 53),))).status is Status.PASS


def test_undecidable_echo_reply_names_its_reason() -> None:
    rs = ruleset(
        base(
            "INPUT",
            Hook.INPUT,
            Verdict.DROP,
            rule(Unknown("-m limit: rate not known"), *ICMP_ECHO_REPLY, line=4),
        ),
        base("OUTPUT", Hook.OUTPUT, Verdict.DROP, rule(*ICMP_ECHO)),
    )
    verdict = check([rs], req(direction="outbound", protocol=1, ports=None, icmp_type=8))
    assert verdict.status is Status.INDETERMINATE
    assert "limit" in verdict.message and [e.line for e in verdict.evidence] == [4]
