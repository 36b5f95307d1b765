"""Each iptables match as its exact model value (iptables-extensions(8), kernel xt_* semantics)."""

from __future__ import annotations

import pytest
from iptables_helpers import one_rule

from checker.errors import ParseError
from checker.model.netfilter import (
    AddrType,
    AnyOf,
    CtState,
    Iface,
    Ranges,
    SetMatch,
    TcpFlags,
    Unknown,
)

V4 = (1 << 32) - 1
TCP = Ranges("proto", ((6, 6),))
UDP = Ranges("proto", ((17, 17),))


def ip(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def test_protocol_names_numbers_case_and_all() -> None:
    assert one_rule("-p tcp").matches == (TCP,)
    assert one_rule("-p TCP").matches == (TCP,)
    assert one_rule("-p 17").matches == (UDP,)
    assert one_rule("-p esp").matches == (Ranges("proto", ((50, 50),)),)
    assert one_rule("-p ipv6-icmp").matches == (Ranges("proto", ((58, 58),)),)
    assert one_rule("-p all").matches == ()
    assert one_rule("-p 0").matches == ()
    assert one_rule("! -p tcp").matches == (Ranges("proto", ((0, 5), (7, 255))),)


@pytest.mark.parametrize("spec", ["! -p all", "-p 300", "-p nosuch", "-p tcp -p udp"])
def test_bad_protocols_are_errors(spec: str) -> None:
    with pytest.raises(ParseError):
        one_rule(spec)


def test_addresses_prefixes_netmasks_abbreviations() -> None:
    assert one_rule("-s 10.0.0.0/8").matches == (
        Ranges("saddr", ((ip("10.0.0.0"), ip("10.255.255.255")),)),
    )
    assert one_rule("-s 10.1.2.3/8").matches == one_rule("-s 10.0.0.0/8").matches
    assert one_rule("-d 10.0.0.0/255.0.0.0").matches == (
        Ranges("daddr", ((ip("10.0.0.0"), ip("10.255.255.255")),)),
    )
    assert one_rule("-s 10/8").matches == one_rule("-s 10.0.0.0/8").matches
    assert one_rule("-s 1.2.3.4").matches == (Ranges("saddr", ((ip("1.2.3.4"), ip("1.2.3.4")),)),)
    # libxtables numbers are strtoul(…, 0): 010 is octal, 0x10 hex.
    assert one_rule("-s 010.0x10.0.1").matches == (
        Ranges("saddr", ((ip("8.16.0.1"), ip("8.16.0.1")),)),
    )
    assert one_rule("-s 0.0.0.0/0").matches == ()


def test_negated_address_is_the_complement() -> None:
    assert one_rule("! -s 128.0.0.0/1").matches == (Ranges("saddr", ((0, ip("127.255.255.255")),)),)
    assert one_rule("-s ! 128.0.0.0/1").matches == one_rule("! -s 128.0.0.0/1").matches
    assert one_rule("! -d 0.0.0.0/0").matches == (Ranges("daddr", ()),)


def test_comma_lists_are_one_rule_with_every_address() -> None:
    rule = one_rule("-s 1.1.1.1,2.2.2.2 -d 3.3.3.3,4.4.4.0/24 -j ACCEPT")
    assert rule.matches == (
        Ranges("saddr", ((ip("1.1.1.1"), ip("1.1.1.1")), (ip("2.2.2.2"), ip("2.2.2.2")))),
        Ranges("daddr", ((ip("3.3.3.3"), ip("3.3.3.3")), (ip("4.4.4.0"), ip("4.4.4.255")))),
    )
    with pytest.raises(ParseError, match="multiple"):
        one_rule("! -s 1.1.1.1,2.2.2.2")


def test_non_contiguous_netmask_lists_its_ranges() -> None:
    (match,) = one_rule("-s 10.0.0.0/255.0.255.0").matches
    assert isinstance(match, Ranges) and len(match.ranges) == 256
    assert match.ranges[0] == (ip("10.0.0.0"), ip("10.0.0.255"))
    assert match.ranges[1] == (ip("10.1.0.0"), ip("10.1.0.255"))
    (huge,) = one_rule("-s 10.0.0.1/255.0.0.255").matches
    assert isinstance(huge, Unknown) and "non-contiguous" in huge.reason


def test_host_names_are_errors_that_say_why() -> None:
    with pytest.raises(ParseError, match="host name") as caught:
        one_rule("-s www.example.com -j ACCEPT")
    problem = caught.value.problems[0]
    assert (problem.line, problem.col) == (5, 13)


@pytest.mark.parametrize(
    "spec", ["-s 1.2.3.256", "-s 1.2.3.4/33", "-s 2001:db8::1", "-s 1.2.3.4/255.0.255"]
)
def test_bad_addresses_are_errors(spec: str) -> None:
    with pytest.raises(ParseError):
        one_rule(spec)


def test_ipv6_addresses_and_masks() -> None:
    rule = one_rule("-s 2001:db8::/32 -d ::ffff:127.0.0.1/128", family=6)
    base = 0x20010DB8 << 96
    assert rule.matches == (
        Ranges("saddr", ((base, base + (1 << 96) - 1),)),
        Ranges("daddr", ((0xFFFF7F000001, 0xFFFF7F000001),)),
    )
    assert one_rule("-s 2001:db8::1/ffff:ffff::", family=6).matches == rule.matches[:1]
    with pytest.raises(ParseError, match="IPv4 address"):
        one_rule("-s 10.0.0.1", family=6)


def test_interfaces_with_wildcard_and_negation() -> None:
    assert one_rule("-i eth+ ! -o lo").matches == (
        Iface("iif", ("eth+",)),
        Iface("oif", ("lo",), True),
    )
    with pytest.raises(ParseError, match="longer than 15"):
        one_rule("-i abcdefghijklmnop")
    with pytest.raises(ParseError, match="multiple -i"):
        one_rule("-i a -i b")


def test_ports_ranges_names_and_negation() -> None:
    assert one_rule("-p tcp --dport ssh").matches == (TCP, Ranges("dport", ((22, 22),)))
    assert one_rule("-p tcp -m tcp --sport 1024:").matches == (
        TCP,
        Ranges("sport", ((1024, 65535),)),
    )
    assert one_rule("-p udp --dport :53").matches == (UDP, Ranges("dport", ((0, 53),)))
    assert one_rule("-p udp -m udp --dport 0x35").matches == (UDP, Ranges("dport", ((53, 53),)))
    assert one_rule("-p tcp ! --dport 22").matches == (TCP, Ranges("dport", ((0, 21), (23, 65535))))
    assert one_rule("-p tcp --dport ! 22").matches == one_rule("-p tcp ! --dport 22").matches
    assert one_rule("-p udp --dport domain").matches == (UDP, Ranges("dport", ((53, 53),)))


@pytest.mark.parametrize(
    "spec",
    [
        "-p tcp --dport 30:20",
        "-p tcp --dport 1-10",
        "-p tcp --dport 70000",
        "-p tcp --dport nosuchservice",
        "-p udp --dport ssh",  # ssh is a tcp service name only
        "-m tcp --dport 22",  # the kernel refuses -m tcp without -p tcp
        "--dport 22",  # no module owns it
        "-p tcp --dport 22 --dport 23",
        "-p tcp --dport",
    ],
)
def test_bad_ports_are_errors(spec: str) -> None:
    with pytest.raises(ParseError):
        one_rule(spec)


def test_multiport() -> None:
    assert one_rule("-p tcp -m multiport --dports 80,443,8000:8080").matches == (
        TCP,
        Ranges("dport", ((80, 80), (443, 443), (8000, 8080))),
    )
    assert one_rule("-p udp -m multiport ! --sports 53").matches == (
        UDP,
        Ranges("sport", ((0, 52), (54, 65535))),
    )
    either = one_rule("-p tcp -m multiport --ports 22,80").matches[1]
    spans = ((22, 22), (80, 80))
    assert either == AnyOf(((Ranges("sport", spans),), (Ranges("dport", spans),)))
    # ! --ports: neither port in the list (xt_multiport inverts the "either" test).
    outside = ((0, 21), (23, 79), (81, 65535))
    assert one_rule("-p tcp -m multiport ! --ports 22,80").matches[1:] == (
        Ranges("sport", outside),
        Ranges("dport", outside),
    )
    with pytest.raises(ParseError, match="too many"):
        one_rule("-p tcp -m multiport --dports " + ",".join(str(p) for p in range(1, 17)))
    with pytest.raises(ParseError, match="needs"):
        one_rule("-m multiport --dports 22")


def test_tcp_flags_and_syn() -> None:
    syn = TcpFlags(frozenset({"FIN", "SYN", "RST", "ACK"}), frozenset({"SYN"}))
    assert one_rule("-p tcp --syn").matches == (TCP, syn)
    assert one_rule("-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN").matches == (TCP, syn)
    assert one_rule("-p tcp ! --syn").matches == (TCP, TcpFlags(syn.mask, syn.comp, True))
    all_none = one_rule("-p tcp --tcp-flags ALL NONE").matches[1]
    assert all_none == TcpFlags(frozenset({"FIN", "SYN", "RST", "PSH", "ACK", "URG"}), frozenset())
    # A compare flag outside the mask can never be equal: the rule never matches.
    assert one_rule("-p tcp --tcp-flags SYN,ACK SYN,FIN").matches == (TCP, Ranges("proto", ()))
    (_, option) = one_rule("-p tcp --tcp-option 2").matches
    assert isinstance(option, Unknown) and "--tcp-option 2" in option.reason


def test_icmp_types() -> None:
    icmp = Ranges("proto", ((1, 1),))
    assert one_rule("-p icmp --icmp-type echo-request").matches == (
        icmp,
        Ranges("icmp", ((2048, 2303),)),
    )
    assert one_rule("-p icmp --icmp-type Echo-Req").matches[1] == Ranges("icmp", ((2048, 2303),))
    assert one_rule("-p icmp -m icmp --icmp-type 3/4").matches[1] == Ranges("icmp", ((772, 772),))
    assert one_rule("-p icmp --icmp-type 8").matches[1] == Ranges("icmp", ((2048, 2303),))
    assert one_rule("-p icmp --icmp-type port-unreachable").matches[1] == Ranges(
        "icmp", ((771, 771),)
    )
    assert one_rule("-p icmp --icmp-type any").matches == (icmp,)
    assert one_rule("-p icmp ! --icmp-type any").matches == (icmp, Ranges("icmp", ()))
    assert one_rule("-p icmp ! --icmp-type 0").matches[1] == Ranges("icmp", ((256, 65535),))
    with pytest.raises(ParseError, match="ambiguous"):
        one_rule("-p icmp --icmp-type echo")
    with pytest.raises(ParseError):
        one_rule("-p icmp --icmp-type 3/300")


def test_icmpv6_types() -> None:
    rule = one_rule("-p ipv6-icmp -m icmp6 --icmpv6-type neighbour-solicitation", family=6)
    assert rule.matches == (
        Ranges("proto", ((58, 58),)),
        Ranges("icmp", ((135 * 256, 135 * 256 + 255),)),
    )
    assert one_rule("-p icmpv6 --icmpv6-type 1/4", family=6).matches[1] == Ranges(
        "icmp", ((260, 260),)
    )
    # -m icmp6 in an IPv4 ruleset: iptables would refuse it; never guessed.
    (_, unknown) = one_rule("-p icmpv6 -m icmp6 --icmpv6-type 133").matches
    assert isinstance(unknown, Unknown) and "only for IPv6" in unknown.reason


def test_conntrack_and_state() -> None:
    assert one_rule("-m state --state NEW,established").matches == (
        CtState(frozenset({"NEW", "ESTABLISHED"})),
    )
    assert one_rule("-m conntrack ! --ctstate INVALID --ctproto tcp").matches == (
        CtState(frozenset({"INVALID"}), True),
        TCP,
    )
    status, direction = one_rule("-m conntrack --ctstatus ASSURED --ctdir ORIGINAL").matches
    assert isinstance(status, Unknown) and "--ctstatus ASSURED" in status.reason
    assert isinstance(direction, Unknown) and "--ctdir ORIGINAL" in direction.reason
    (orig,) = one_rule("-m conntrack --ctorigdst 10.0.0.1").matches
    assert isinstance(orig, Unknown)
    with pytest.raises(ParseError, match="state"):
        one_rule("-m state --state NEWISH")


def test_iprange() -> None:
    assert one_rule("-m iprange --src-range 10.0.0.1-10.0.0.9").matches == (
        Ranges("saddr", ((ip("10.0.0.1"), ip("10.0.0.9")),)),
    )
    assert one_rule("-m iprange ! --dst-range 0.0.0.1-255.255.255.255").matches == (
        Ranges("daddr", ((0, 0),)),
    )
    # Reversed: xt_iprange warns it never matches.
    assert one_rule("-m iprange --src-range 10.0.0.5-10.0.0.1").matches == (Ranges("saddr", ()),)


def test_addrtype_and_pkttype() -> None:
    assert one_rule("-m addrtype --dst-type local,Unicast ! --src-type BROADCAST").matches == (
        AddrType("dst", frozenset({"LOCAL", "UNICAST"})),
        AddrType("src", frozenset({"BROADCAST"}), True),
    )
    (limited,) = one_rule("-m addrtype --dst-type LOCAL --limit-iface-in").matches
    assert isinstance(limited, Unknown) and "--limit-iface-in" in limited.reason
    assert one_rule("-m pkttype --pkt-type host").matches == (
        AddrType("pkttype", frozenset({"UNICAST"})),
    )
    assert one_rule("-m pkttype ! --pkt-type broadcast").matches == (
        AddrType("pkttype", frozenset({"BROADCAST"}), True),
    )


def test_fragments_never_match_a_first_packet() -> None:
    assert one_rule("-f").matches == (Ranges("proto", ()),)
    assert one_rule("! -f").matches == ()
    with pytest.raises(ParseError, match="IPv6"):
        one_rule("-f", family=6)


def test_comments_are_ignored_but_required_to_be_well_formed() -> None:
    assert one_rule('-m comment --comment "a \\"quoted\\" -j DROP" -j ACCEPT').matches == ()
    assert one_rule('-m comment --comment "!" -j ACCEPT').matches == ()
    with pytest.raises(ParseError, match="--comment"):
        one_rule("-m comment -j ACCEPT")


@pytest.mark.parametrize(
    ("spec", "module"),
    [
        ("-m limit --limit 5/min --limit-burst 10", "limit"),
        ("-m hashlimit --hashlimit-above 10/sec --hashlimit-name x", "hashlimit"),
        ("-m recent --update --seconds 60 --name DEFAULT --rsource", "recent"),
        ("-m set --match-set blocklist src --return-nomatch", "set"),
        ("-m set --match-set blocklist src,dst --packets-gt 10", "set"),
        ('-m string --algo bm --string "GET /"', "string"),
        ('-m u32 --u32 "0>>22&0x3C@12>>26&0x3C@0=0x29"', "u32"),
        ("-m owner --uid-owner 1000", "owner"),
        ("-m statistic --mode random --probability 0.5", "statistic"),
        ("-m physdev --physdev-in eth0", "physdev"),
        ("-m mac --mac-source 00:11:22:33:44:55", "mac"),
        ("-m length --length 0:100", "length"),
        ("-m socket --transparent", "socket"),
        ("-m rpfilter --invert", "rpfilter"),
        ("-m helper --helper ftp", "helper"),
        ("-m ttl --ttl-gt 5", "ttl"),
        ("-m tos --tos 0x10", "tos"),
        ("-m dscp --dscp 10", "dscp"),
        ("-m time --timestart 09:00 --timestop 17:00", "time"),
        ("-m geoip --src-cc CN,RU", "geoip"),
        ("-m bpf --bytecode 4,48", "bpf"),
        ("-m cgroup --path user.slice", "cgroup"),
        ("-m policy --dir in --pol ipsec", "policy"),
        ("-m devgroup --src-group 1", "devgroup"),
        ("-m realm --realm 1", "realm"),
        ("-m frobnicate --wobble 3 --quiet", "frobnicate"),
    ],
)
def test_everything_else_is_unknown_naming_module_and_options(spec: str, module: str) -> None:
    rule = one_rule(spec + " -j ACCEPT")
    assert len(rule.matches) == 1
    (unknown,) = rule.matches
    assert isinstance(unknown, Unknown)
    assert unknown.reason.startswith(f"-m {module} ")
    assert spec.split()[2] in unknown.reason
    assert rule.target.name == "ACCEPT"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("-m set --match-set blocklist src", SetMatch("blocklist", ("src",))),
        ("-m set ! --match-set svc dst,dst", SetMatch("svc", ("dst", "dst"), negated=True)),
        # Not updating the counters does not change what matches (iptables-extensions(8)).
        (
            "-m set --match-set a src,dst ! --update-counters ! --update-subcounters",
            SetMatch("a", ("src", "dst")),
        ),
    ],
)
def test_ipset_matches_name_the_set_and_its_flags(spec: str, expected: SetMatch) -> None:
    assert one_rule(spec + " -j ACCEPT").matches == (expected,)


@pytest.mark.parametrize(
    "spec",
    [
        "-m set --match-set a src,source",
        "-m set --match-set a src,src,src,src,src,src,src",
        "-m set --match-set a src --match-set b src",
        "-m set ! --update-counters",
    ],
)
def test_garbled_ipset_matches_are_parse_errors(spec: str) -> None:
    with pytest.raises(ParseError):
        one_rule(spec + " -j ACCEPT")


def test_unknown_option_of_a_known_module_keeps_the_rest() -> None:
    proto, ports, strange = one_rule(
        "-p udp -m multiport --ports 8080:8081,8082 --something-else -j ACCEPT"
    ).matches
    assert proto == UDP and isinstance(ports, AnyOf)
    assert isinstance(strange, Unknown) and "--something-else" in strange.reason


def test_negated_unknown_module_options_are_kept_in_the_reason() -> None:
    (unknown,) = one_rule("-m ttl ! --ttl-eq 5 -j DROP").matches
    assert isinstance(unknown, Unknown) and "! --ttl-eq 5" in unknown.reason


def test_options_resolve_to_the_module_that_has_them() -> None:
    # --dport after -m comment still belongs to the implicit tcp module; --sport too after -j.
    rule = one_rule("-p tcp --dport 22 -m comment --comment x -j ACCEPT --sport 80")
    assert rule.matches == (TCP, Ranges("dport", ((22, 22),)), Ranges("sport", ((80, 80),)))


EXTENSION_HEADERS = ((0, 0), (43, 43), (44, 44), (51, 51), (60, 60))


@pytest.mark.parametrize(
    ("spec", "header"),
    [
        ("-m rt --rt-type 0", 43),
        ("-m rt ! --rt-type 0", 43),
        ("-m frag --fragmore", 44),
        ("-m frag", 44),
        ("-m hbh --hbh-len 8", 0),
        ("-m dst ! --dst-len 8", 60),
    ],
)
def test_extension_header_modules_need_their_header(spec: str, header: int) -> None:
    """ip6t_rt/frag/hbh/dst return false when ipv6_find_hdr() finds no header, whatever their
    `!`: no ordinary packet matches, and only a flow whose protocol is itself an extension
    header stays unknown (ufw's `-m rt --rt-type 0 -j DROP` no longer clouds every allow)."""
    rule = one_rule(spec + " -j DROP", family=6)
    proto, unknown = rule.matches
    assert proto == Ranges("proto", EXTENSION_HEADERS)
    assert isinstance(unknown, Unknown) and spec.split()[1] in unknown.reason
    assert header in {lo for lo, _ in proto.ranges}


def test_extension_header_modules_are_unknown_in_ipv4() -> None:
    (unknown,) = one_rule("-m rt --rt-type 0 -j DROP").matches
    assert isinstance(unknown, Unknown) and "IPv6" in unknown.reason


def _ipv6header(spec: str) -> Ranges:
    (anyof,) = one_rule(f"-m ipv6header {spec} -j DROP", family=6).matches
    assert isinstance(anyof, AnyOf)
    (decided,), (scope, unknown) = anyof.options
    assert scope == Ranges("proto", EXTENSION_HEADERS) and isinstance(unknown, Unknown)
    assert isinstance(decided, Ranges)
    return decided


ORDINARY = ((1, 42), (45, 49), (52, 58), (61, 255))


@pytest.mark.parametrize(
    ("spec", "ranges"),
    [
        # Strict: the packet's headers are exactly the listed ones.
        ("--header prot", ORDINARY),
        ("--header protocol", ORDINARY),
        ("--header frag,ipv6-route", ()),
        ("! --header frag,route", ((1, 42), (45, 50), (52, 59), (61, 255))),
        ("--header esp", ((50, 50),)),
        ("--header ipv6-nonxt", ((59, 59),)),
        # Soft: every listed header is there (with !: none is).
        ("--header prot --soft", ORDINARY),
        ("--header hop --soft", ()),
        ("! --header hop-by-hop,dst --soft", ((1, 42), (45, 50), (52, 59), (61, 255))),
        ("! --header prot --soft", ((50, 50), (59, 59))),
    ],
)
def test_ipv6header_on_ordinary_packets(spec: str, ranges: tuple) -> None:
    assert _ipv6header(spec).ranges == ranges


def test_ipv6header_unknown_header_name_is_an_error() -> None:
    with pytest.raises(ParseError, match="unknown header `tcp`"):
        one_rule("-m ipv6header --header tcp -j DROP", family=6)


def test_mark_and_connmark_are_value_mask_matches() -> None:
    """iptables-extensions(8) mark/connmark: --mark VALUE[/MASK] is (mark & MASK) == VALUE."""
    from checker.model.netfilter import MarkMatch

    (match,) = one_rule("-m mark ! --mark 0x4000/0x4000 -j RETURN").matches
    assert match == MarkMatch("mark", 0x4000, 0x4000, True)
    (match,) = one_rule("-m connmark --mark 1 -j ACCEPT").matches
    assert match == MarkMatch("ctmark", 1, 0xFFFFFFFF)


def test_mark_and_connmark_targets_are_kept_as_writes() -> None:
    from checker.model.netfilter import MarkOp

    rule = one_rule("-j MARK --set-xmark 0x4000/0x4000")
    assert rule.target.marks == (MarkOp("mark", 0xFFFFBFFF, xor=0x4000),)
    rule = one_rule("-j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xf")
    assert rule.target.marks == (MarkOp("mark", 0xFFFFFF00, "ctmark", 0xF),)
