"""nft_text: nftables.conf (the nft -f language) read into the model of the nft JSON path.

Each construct is checked on a small script: what the rules match and decide, where they point
(file:line:col, in included files too), and the clear error for what nft would refuse. That the
translation means what the kernel does is tests/kernel/test_oracle_nft_text.py's job (the real
`nft -f` and `nft -j` on the same text).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker import parsers
from checker.errors import ParseError
from checker.model.netfilter import (
    AnyOf,
    CtState,
    Hook,
    Iface,
    MarkMatch,
    Ranges,
    Rule,
    Ruleset,
    Unknown,
    Verdict,
)
from checker.parsers.netfilter import nft_json, nft_list, nft_text

DATA = Path(__file__).parent / "data" / "nft"
V4 = Ranges("family", ((4, 4),))
TCP = Ranges("proto", ((6, 6),))


def parse(text: str, origin: str = "nftables.conf", **kw: object) -> Ruleset:
    return nft_text.parse(text.encode(), origin, **kw)  # type: ignore[arg-type]


def rules(ruleset: Ruleset, chain: str = "input") -> list[Rule]:
    return [r for t in ruleset.tables for c in t.chains if c.name == chain for r in c.rules]


def error(text: str, origin: str = "nftables.conf", **kw: object) -> str:
    with pytest.raises(ParseError) as caught:
        parse(text, origin, **kw)
    problem = caught.value.problems[0]
    return f"{problem.file}:{problem.line}:{problem.col}: {problem.message}"


BASIC = """#!/usr/sbin/nft -f
flush ruleset

table inet filter {
\tchain input {
\t\ttype filter hook input priority filter + 10; policy drop;
\t\tct state established,related accept
\t\tiifname "eth*" tcp dport { 22, 80-90 } accept comment "ssh and web"
\t\tip saddr != 10.0.0.0/8 tcp dport 23 drop
\t}
}
"""


def test_block_form_rules_chain_and_locations() -> None:
    ruleset = parse(BASIC)
    (table,) = ruleset.tables
    (chain,) = table.chains
    assert (table.family, table.name) == ("inet", "filter")
    assert (chain.hook, chain.priority, chain.policy) == (Hook.INPUT, 10, Verdict.DROP)
    first, second, third = chain.rules
    assert first.matches == (CtState(frozenset({"ESTABLISHED", "RELATED"})),)
    assert first.target.verdict is Verdict.ACCEPT
    assert Iface("iif", ("eth+",)) in second.matches
    assert Ranges("dport", ((22, 22), (80, 90))) in second.matches and TCP in second.matches
    assert Ranges("saddr", ((0, 0x09FFFFFF), (0x0B000000, 0xFFFFFFFF))) in third.matches
    assert V4 in third.matches and third.target.verdict is Verdict.DROP
    assert [str(r.origin) for r in chain.rules] == [
        "nftables.conf:7:3",
        "nftables.conf:8:3",
        "nftables.conf:9:3",
    ]
    assert str(chain.policy_origin) == "nftables.conf:5:2"


@pytest.mark.parametrize(
    ("priority", "family", "value"),
    [("filter", "inet", 0), ("filter + 10", "ip", 10), ("dstnat - 5", "ip", -105),
     ("-150", "ip", -150), ("raw", "ip6", -300), ("filter", "bridge", -200), ("100", "inet", 100)],
)  # fmt: skip
def test_named_and_numeric_priorities(priority: str, family: str, value: int) -> None:
    text = f"table {family} t {{ chain input {{ type filter hook input priority {priority}; }} }}"
    (chain,) = parse(text).tables[0].chains
    assert chain.priority == value and chain.policy is Verdict.ACCEPT


def test_family_defaults_to_ip_and_netdev_devices() -> None:
    ruleset = parse(
        "table t { chain c { type filter hook output priority 0; } }\n"
        'table netdev edge { chain in { type filter hook ingress devices = { "eth0", eth1 } '
        "priority -10; policy drop; } }\n"
    )
    assert [t.family for t in ruleset.tables] == ["ip", "netdev"]
    devices = sorted(c.device or "" for c in ruleset.tables[1].chains)
    assert devices == ["eth0", "eth1"]


def test_commands_in_file_order() -> None:
    ruleset = parse(
        "add table ip t\n"
        "add chain ip t input { type filter hook input priority 0; policy drop; }\n"
        "add rule ip t input tcp dport 22 accept\n"
        "add rule t input tcp dport 80 accept\n"
        "insert rule ip t input tcp dport 23 drop\n"
        "add rule ip t input index 0 tcp dport 25 drop\n"
        "add chain ip t gone\nadd rule ip t gone accept\ndelete chain ip t gone\n"
    )
    ports = [r.matches[-1] for r in rules(ruleset)]
    assert ports == [Ranges("dport", ((p, p),)) for p in (23, 25, 22, 80)]
    assert [c.name for c in ruleset.tables[0].chains] == ["input"]


def test_flush_ruleset_and_flush_chain() -> None:
    ruleset = parse(
        "table ip old { chain input { type filter hook input priority 0; policy drop; } }\n"
        "flush ruleset\n"
        "table ip t { chain input { type filter hook input priority 0; tcp dport 1 drop; } }\n"
        "flush chain ip t input\n"
        "add rule ip t input tcp dport 2 drop\n"
    )
    assert [t.name for t in ruleset.tables] == ["t"]
    assert [r.matches[-1] for r in rules(ruleset)] == [Ranges("dport", ((2, 2),))]


def test_defines_scalars_sets_redefine_undefine() -> None:
    ruleset = parse(
        "define ssh = 22\ndefine web = { 80, 443 }\n"
        "define both = { $ssh, $web }\n"
        "redefine ssh = 2222\n"
        "table inet t { chain input { type filter hook input priority 0\n"
        "tcp dport $both accept\ntcp dport $ssh drop\n} }\n"
        "undefine web\n"
    )
    first, second = rules(ruleset)
    assert Ranges("dport", ((22, 22), (80, 80), (443, 443))) in first.matches
    assert Ranges("dport", ((2222, 2222),)) in second.matches


def test_undefined_variable_is_an_error_at_its_use() -> None:
    text = "table inet t {\n chain input {\n  tcp dport $nope accept\n }\n}\n"
    assert error(text) == "nftables.conf:3:13: variable $nope is not defined"


def test_named_sets_maps_and_verdict_maps() -> None:
    ruleset = parse("""table inet t {
  set allowed { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 192.168.1.1-192.168.1.9 } }
  map ports { type inet_service : verdict; elements = { 22 : accept, 23 : drop } }
  chain input {
    type filter hook input priority 0; policy drop;
    ip saddr @allowed accept
    tcp dport vmap @ports
    udp dport vmap { 53 : accept, 5353 : jump other }
  }
  chain other { counter }
}
add element inet t allowed { 1.2.3.4 }
""")
    first, *expanded = rules(ruleset)
    assert Ranges("saddr", ((0x01020304, 0x01020304), (0x0A000000, 0x0AFFFFFF),
                            (0xC0A80101, 0xC0A80109))) in first.matches  # fmt: skip
    verdicts = [(r.matches[-1], r.target.verdict.value) for r in expanded]
    assert (Ranges("dport", ((22, 22),)), "accept") in verdicts
    assert (Ranges("dport", ((23, 23),)), "drop") in verdicts
    assert (Ranges("dport", ((5353, 5353),)), "jump") in verdicts


def test_dynamic_set_and_unmodelled_matches_are_unknown() -> None:
    ruleset = parse("""table inet t {
  set seen { type ipv4_addr; flags dynamic,timeout; timeout 1m; }
  chain input {
    type filter hook input priority 0;
    ip saddr @seen drop
    meta mark 0x1 drop
    limit rate over 10/second drop
  }
}""")
    reasons = [m.reason for r in rules(ruleset) for m in r.matches if isinstance(m, Unknown)]
    # `meta mark` is decided (marks are tracked along the walk: MarkMatch), not Unknown.
    assert len(reasons) == 2 and "dynamic" in reasons[0]
    assert "limit rate over 10/second" in reasons[1]
    assert any(isinstance(m, MarkMatch) for r in rules(ruleset) for m in r.matches)


def test_exthdr_presence_is_read_as_nft_json_prints_it() -> None:
    """`exthdr frag exists|missing` (kernel oracle seed n1/nft-text/4: the text was unread,
    UNKNOWN, where the kernel's JSON listing decided the same rule on ordinary packets)."""
    text = (
        "table ip6 t { chain input { type filter hook input priority 0;\n"
        "exthdr frag exists drop\nexthdr frag missing tcp dport 22 accept\n"
        "exthdr frag more-fragments 1 drop\n} }"
    )
    listed = {"nftables": [
        {"table": {"family": "ip6", "name": "t"}},
        {"chain": {"family": "ip6", "table": "t", "name": "input", "type": "filter",
                   "hook": "input", "prio": 0, "policy": "accept"}},
        {"rule": {"family": "ip6", "table": "t", "chain": "input", "expr": [
            {"match": {"op": "==", "left": {"exthdr": {"name": "frag"}}, "right": True}},
            {"drop": None}]}},
        {"rule": {"family": "ip6", "table": "t", "chain": "input", "expr": [
            {"match": {"op": "==", "left": {"exthdr": {"name": "frag"}}, "right": False}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                       "right": 22}},
            {"accept": None}]}},
    ]}  # fmt: skip
    from_json = rules(nft_json.parse(json.dumps(listed).encode(), "ruleset.json"))
    first, second, third = rules(parse(text))
    assert (first.matches, first.target.verdict) == (from_json[0].matches, Verdict.DROP)
    assert (second.matches, second.target.verdict) == (from_json[1].matches, Verdict.ACCEPT)
    # A header field test stays unread: only the presence form is translated.
    assert third.target.verdict is Verdict.UNKNOWN


def test_raw_payloads_read_as_whole_fields_or_unknown() -> None:
    """`@th`/`@nh` loads that cover whole ports or addresses are those fields (nft_raw); a
    load across field boundaries, or `@nh` where the IP family is open, stays unknown. `@th`
    in a rule open to protocols without ports (`th sport 4001 th dport 22` with no protocol
    test, which nft lists as `@th,0,32 0xfa10016`) is the ports under a port protocol's header
    and unknown under others."""
    first, second, third, fourth, fifth, sixth = rules(parse(
        "table inet t { chain input { type filter hook input priority 0;\n"
        "meta l4proto udp @th,0,32 { 0x00350035, 0x007b007b } accept\n"
        "meta nfproto ipv4 @nh,96,64 0x0a0000010a000002 accept\n"
        "@nh,96,64 0x0a0000010a000002 accept\n"
        "meta l4proto tcp @th,4,16 443 drop\n"
        "@th,16,16 443 drop\n"
        "@th,0,32 0xfa10016 accept\n} }"
    ))  # fmt: skip
    ports = [Ranges("sport", ((p, p),)) for p in (53, 123)]
    assert first.matches[1] == AnyOf(
        ((ports[0], Ranges("dport", ((53, 53),))), (ports[1], Ranges("dport", ((123, 123),))))
    )
    assert second.matches[1:] == (
        Ranges("saddr", ((0x0A000001, 0x0A000001),)),
        Ranges("daddr", ((0x0A000002, 0x0A000002),)),
    )
    reasons = [str(r.matches) for r in (third, fourth)]
    assert "open to both IP families" in reasons[0]
    assert "does not cover whole header fields" in reasons[1]
    port_protocols = Ranges("proto", ((6, 6), (17, 17), (33, 33), (132, 132), (136, 136)))
    others = Ranges("proto", ((0, 5), (7, 16), (18, 32), (34, 131), (133, 135), (137, 255)))
    assert fifth.matches == (
        AnyOf(
            (
                (port_protocols, Ranges("dport", ((443, 443),))),
                (others, Unknown("th dport without a port protocol match")),
            )
        ),
    )
    assert sixth.matches == (
        AnyOf(
            (
                (port_protocols, Ranges("sport", ((4001, 4001),)), Ranges("dport", ((22, 22),))),
                (others, Unknown("th sport without a port protocol match")),
            )
        ),
    )


def test_unread_selector_makes_the_rule_unknown_not_a_guess() -> None:
    ruleset = parse(
        "table inet t { chain input { type filter hook input priority 0;\n"
        "tcp option maxseg size 1400 drop\ntcp dport 22 accept\n} }"
    )
    first, second = rules(ruleset)
    assert first.target.verdict is Verdict.UNKNOWN and "tcp option" in first.target.detail
    assert second.target.verdict is Verdict.ACCEPT


def test_includes_relative_glob_and_include_dirs(tmp_path: Path) -> None:
    (tmp_path / "nftables.d").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "nftables.d" / "10-ssh.nft").write_text(
        "add rule inet t input tcp dport 22 accept\n"
    )
    (tmp_path / "nftables.d" / "20-telnet.nft").write_text(
        "\n\nadd rule inet t input tcp dport 23 accept\n"
    )
    (tmp_path / "lib" / "defs.nft").write_text("define policy = drop\n")
    main = tmp_path / "nftables.conf"
    main.write_text(
        'include "defs.nft"\n'
        "table inet t { chain input { type filter hook input priority 0; policy $policy; } }\n"
        'include "nftables.d/*.nft"\ninclude "nothing/*.nft"\n'
    )
    ruleset = nft_text.parse(
        main.read_bytes(), str(main), {"nft_include": (str(tmp_path / "lib"),)}
    )
    found = rules(ruleset)
    assert ruleset.tables[0].chains[0].policy is Verdict.DROP
    assert [str(r.origin) for r in found] == [
        f"{tmp_path}/nftables.d/10-ssh.nft:1:1",
        f"{tmp_path}/nftables.d/20-telnet.nft:3:1",
    ]


def test_missing_include_cycle_and_template(tmp_path: Path) -> None:
    main = tmp_path / "nftables.conf"
    main.write_text('\ninclude "missing.nft"\n')
    assert "include file 'missing.nft' not found" in error(main.read_text(), str(main))
    assert error(main.read_text(), str(main)).startswith(f"{main}:2:1:")
    (tmp_path / "a.nft").write_text('include "b.nft"\n')
    (tmp_path / "b.nft").write_text('include "a.nft"\n')
    assert "include cycle" in error('include "a.nft"\n', str(main))
    (tmp_path / "rules.j2").write_text("table inet t {}\n")
    assert "Jinja template" in error('include "rules.j2"\n', str(main))
    assert "Jinja template" in error("table inet {{ name }} {\n}\n")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("table inet t {\n  chain input {\n    tcp dport 22 acept\n  }\n}\n", "3:18"),
        ("table inet t {\n  chain input {\n    frobnicate 22\n  }\n}\n", "3:5"),
        ('table inet t {\n  chain input {\n    iifname "eth0 accept\n  }\n}\n', "3:13"),
        ("table inet t {\n  chain input {\n    tcp dport 22 accept\n", "1:14"),
        ("add rule inet t input accept\n", "1:1"),
        ("table inet t {\n}\n}\n", "3:1"),
        ("table inet t { chain c { type filter hook input priority bogus; } }", "1:58"),
        ("add table inet t\ndelete rule inet t c handle 4\n", "2:1"),
    ],
)
def test_syntax_errors_are_located(text: str, where: str) -> None:
    assert error(text).startswith(f"nftables.conf:{where}:"), error(text)


def test_sniff_and_detect() -> None:
    for head in (b"#!/usr/sbin/nft -f\n", b"flush ruleset\n", b"# c\n\ntable inet filter {\n",
                 b'include "/etc/nftables.d/*.nft"\n', b"define x = 1\n", b"add table ip t\n"):  # fmt: skip
        assert nft_text.sniff(head), head
        assert parsers.detect(head, "nftables.conf") is nft_text
    assert not nft_text.sniff(b'{"nftables": []}')
    assert not nft_text.sniff(b"*filter\n:INPUT ACCEPT [0:0]\n")
    # fwcheck scan's companion of the nft JSON stays a device listing, not a second ruleset.
    listing = b"table netdev edge {\n}\n"
    assert parsers.detect(listing, "evidence/nft-list.txt") is nft_list
    assert parsers.detect(listing, "nftables.conf") is nft_text
    assert "nft-text" in parsers.format_names()


def test_fixture_scripts_give_the_json_verdicts_per_rule() -> None:
    """The committed data/nft/*.nft scripts and the `nft -j` output the kernel made of them:
    same tables, chains, hooks and policies, and every rule with the same verdict."""
    for name in ("inet", "families"):
        text = nft_text.parse((DATA / f"{name}.nft").read_bytes(), f"{name}.nft")
        kernel = nft_json.parse((DATA / f"{name}.json").read_bytes(), f"{name}.json")
        shape = [
            [
                (
                    c.name,
                    c.hook,
                    c.priority,
                    c.policy,
                    len({r.origin for r in c.rules}),
                    sorted(r.target.verdict.value for r in c.rules),
                )
                for c in t.chains
            ]  # fmt: skip
            for t in (text, kernel)
            for t in t.tables
        ]
        half = len(shape) // 2
        assert shape[:half] == shape[half:], name


def test_nat_map_targets_read_as_nft_json_prints_them() -> None:
    """`dnat|snat [to] KEY map { k : v } [: KEY map { … } | : PORT]` (nft(8) MAPS; Debian's
    examples/nat.nft spells it without `to`): the text gives the statements `nft -j` printed
    for data/nft/natmap.nft, so each rule matches only the map's keys (a key not in the map
    ends the rule without translating) and decides DNAT/SNAT, as in the JSON's model."""
    from checker.parsers.netfilter import nft_text_rule
    from checker.parsers.netfilter.nft_text_cursor import Cursor
    from checker.parsers.netfilter.nft_text_lex import tokens

    script = (DATA / "natmap.nft").read_text()
    exported = json.loads((DATA / "natmap.json").read_text())
    printed = [item["rule"]["expr"] for item in exported["nftables"] if "rule" in item]
    lines = script.replace("\\\n", " ").splitlines()
    texts = [line.strip() for line in lines if line.strip().startswith(("dnat", "snat", "tcp"))]
    assert len(texts) == len(printed) == 6
    for text, expected in zip(texts, printed, strict=True):
        exprs, _ = nft_text_rule.rule(Cursor(tokens(text, "x")[:-1]), "ip")
        assert exprs == expected, text
    text_model = nft_text.parse(script.encode(), "natmap.nft")
    json_model = nft_json.parse((DATA / "natmap.json").read_bytes(), "natmap.json")
    for chain in ("prerouting", "postrouting"):
        got, want = rules(text_model, chain), rules(json_model, chain)
        assert [(r.matches, r.target.verdict) for r in got] == [
            (r.matches, r.target.verdict) for r in want
        ]
        assert all(r.target.verdict in (Verdict.DNAT, Verdict.SNAT) for r in got)
    first = rules(text_model, "prerouting")[0]
    assert Ranges("dport", ((8080, 8080), (8443, 8443))) in first.matches


NO_TELNET = """id: web
title: Web
roles: [web]
rules:
  - id: no-telnet
    title: No inbound Telnet
    expect: deny
    direction: inbound
    protocol: tcp
    port: 23
    family: ipv4
    severity: critical
"""


def test_check_command_reads_nftables_conf_with_nft_include(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from checker.cli import main

    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "web.yaml").write_text(NO_TELNET)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "admin.nft").write_text("\nadd rule inet f input tcp dport 23 accept\n")
    conf = tmp_path / "nftables.conf"
    conf.write_text(
        "flush ruleset\n"
        "table inet f { chain input { type filter hook input priority 0; policy drop; } }\n"
        'include "admin.nft"\n'
    )
    argv = ["check", str(conf), "--role", "web", "--policies", str(tmp_path / "policies")]
    # Without the include folder the include is missing: the target cannot be read (exit 3).
    assert main(argv) == 3
    assert "include file 'admin.nft' not found" in capsys.readouterr().out
    sarif = tmp_path / "out.sarif"
    assert main([*argv, "--nft-include", str(tmp_path / "shared"), "--sarif", str(sarif)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "shared/admin.nft:2" in out, out
    # The code-scanning annotation lands on the included file's line.
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    places = [
        (
            loc["physicalLocation"]["artifactLocation"]["uri"],
            loc["physicalLocation"]["region"]["startLine"],
        )
        for result in results
        for loc in result.get("locations", [])
    ]
    assert any(uri.endswith("shared/admin.nft") and line == 2 for uri, line in places), places


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("dnat to 10.0.0.2:80", {"dnat": {"addr": "10.0.0.2", "port": 80}}),
        ("redirect to :80", {"redirect": {"port": 80}}),
        ("snat ip6 to [fe80::1]:53", {"snat": {"family": "ip6", "addr": "fe80::1", "port": 53}}),
        ("snat to 1.2.3.4 fully-random", {"snat": {"addr": "1.2.3.4", "flags": ["fully-random"]}}),
        ("masquerade", {"masquerade": None}),
        ("reject with icmpx type port-unreachable",
         {"reject": {"type": "icmpx", "expr": "port-unreachable"}}),
        ("reject with tcp reset", {"reject": {"type": "tcp reset"}}),
        ("limit rate over 10 mbytes/second",
         {"limit": {"inv": True, "rate": 10, "rate_unit": "mbytes", "per": "second"}}),
        # nft 1.0.6 `nft -j` of these (the kernel oracle loads them: Debian's nat.nft, the
        # random rulesets).
        ("dnat to tcp dport map { 1000 : 1.1.1.1, 2000 : 2.2.2.2 } : tcp dport map "
         "{ 1000 : 1234, 2000 : 2345 }",
         {"dnat": {
             "addr": {"map": {"key": {"payload": {"protocol": "tcp", "field": "dport"}},
                              "data": {"set": [[1000, "1.1.1.1"], [2000, "2.2.2.2"]]}}},
             "port": {"map": {"key": {"payload": {"protocol": "tcp", "field": "dport"}},
                              "data": {"set": [[1000, 1234], [2000, 2345]]}}}}}),
        ("snat ip saddr map { 192.168.1.1 : 1.1.1.1 }",
         {"snat": {"addr": {"map": {"key": {"payload": {"protocol": "ip", "field": "saddr"}},
                                    "data": {"set": [["192.168.1.1", "1.1.1.1"]]}}}}}),
        ("exthdr frag exists",
         {"match": {"op": "==", "left": {"exthdr": {"name": "frag"}}, "right": True}}),
        ("exthdr hbh missing",
         {"match": {"op": "==", "left": {"exthdr": {"name": "hbh"}}, "right": False}}),
    ],
)  # fmt: skip
def test_statements_as_nft_json_prints_them(statement: str, expected: dict[str, object]) -> None:
    from checker.parsers.netfilter import nft_text_rule
    from checker.parsers.netfilter.nft_text_cursor import Cursor
    from checker.parsers.netfilter.nft_text_lex import tokens

    exprs, _ = nft_text_rule.rule(Cursor(tokens(statement, "x")[:-1]), "ip")
    assert exprs == [expected]


def test_lexical_conventions() -> None:
    """nft(8) LEXICAL CONVENTIONS: `#` comments (not inside quotes), `\\` continues a line, `;`
    separates statements like a newline."""
    ruleset = parse(
        "table inet t { # a comment with a { brace\n"
        "  chain input { type filter hook input priority 0; policy drop; tcp dport 22 \\\n"
        '      accept; log prefix "# not a comment" drop\n'
        "  }\n"
        "}\n"
    )
    first, second = rules(ruleset)
    assert first.target.verdict is Verdict.ACCEPT and str(first.origin) == "nftables.conf:2:65"
    assert second.target.verdict is Verdict.DROP and second.origin.line == 3


def test_listing_with_handles_is_a_full_source() -> None:
    listing = (
        "table inet filter { # handle 1\n"
        "\tchain input { # handle 1\n"
        "\t\ttype filter hook input priority filter; policy drop;\n"
        '\t\ttcp dport 22 counter packets 0 bytes 0 accept comment "ssh" # handle 2\n'
        "\t}\n"
        "}\n"
    )
    assert parsers.detect(listing.encode(), "ruleset.nft") is nft_text
    (rule,) = rules(parse(listing, "ruleset.nft"))
    assert rule.target.verdict is Verdict.ACCEPT and rule.origin.line == 4


def test_a_syntax_error_stops_its_target_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from checker.cli import main

    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "web.yaml").write_text(NO_TELNET)
    good = "table inet f { chain input { type filter hook input priority 0; policy drop; } }\n"
    (tmp_path / "good.nft").write_text(good)
    (tmp_path / "bad.nft").write_text(
        good.replace("policy drop;", "policy drop;\n tcp dport 23 acept")
    )
    (tmp_path / "fwcheck.yaml").write_text(
        "version: 1\npolicies: [policies]\ntargets:\n"
        "  - {name: good, files: [good.nft], roles: [web]}\n"
        "  - {name: bad, files: [bad.nft], roles: [web]}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--config", "fwcheck.yaml"]) == 3
    out = capsys.readouterr().out
    assert "bad.nft:2:" in out and "acept" in out, out
    assert "good (good.nft): 1 passed, 0 failed" in out, out


def test_deleting_an_element_the_file_put_in_an_interval_set_is_refused() -> None:
    """nft 1.0.6 on Linux 6.18, measured: `nft -f` leaves such an element in the set (one
    transaction) and exits 0, while a plain set loses it; tests/kernel/test_oracle_nft_text.py
    holds the cases fwcheck reads as the kernel does. Refused with its location, not guessed."""
    base = (
        "table inet t {\n"
        "  set ports { type inet_service; flags interval; elements = { 20-30, 80 } }\n"
        "  set peers { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2 } }\n"
        "}\n"
    )
    message = error(base + "delete element inet t ports { 80 }\n")
    assert message.startswith("nftables.conf:5:16: delete element on interval set ports,")
    assert "\n" not in message
    assert "interval set ports" in error(base + "destroy element inet t ports { 20-30 }\n")
    # Not an element of the set: nothing the kernel could keep (destroy ignores it).
    nft_text.parse((base + "destroy element inet t ports { 443 }\n").encode(), "nftables.conf")
    # A plain set: the kernel removes it as the text says.
    nft_text.parse((base + "delete element inet t peers { 10.0.0.1 }\n").encode(), "x.nft")
