"""The `ipset save` parser: what it keeps of each set type, and clear ParseErrors on garbled
input (property-based: random and mutated input gives IpSets or a ParseError, never a traceback).

SAVED is real output of `ipset save` (ipset v7.17, kernel 6.1), recorded on this machine with the
commands in each set's comment removed; the kernel oracle test loads real sets too.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.errors import ParseError
from checker.model.netfilter import IpSet, IpSets
from checker.parsers import detect
from checker.parsers.netfilter import ipset_save

SAVED = b"""\
create a hash:ip family inet hashsize 1024 maxelem 65536 comment bucketsize 12 initval 0xda4f735c
add a 192.0.2.22
add a 192.0.2.10 comment "hi there"
create n hash:net family inet hashsize 1024 maxelem 65536 counters bucketsize 12 initval 0x5f6b5db2
add n 10.1.0.0/16 nomatch packets 0 bytes 0
add n 10.1.2.3 packets 0 bytes 0
add n 10.0.0.0/8 packets 0 bytes 0
create p hash:ip,port family inet6 hashsize 1024 maxelem 65536 timeout 300 bucketsize 12 initval 0x1cf7b88e
add p 2001:db8::1,ipv6-icmp:echo-request timeout 299
add p 2001:db8::1,udp:53 timeout 0
create q hash:net,port family inet hashsize 1024 maxelem 65536 skbinfo bucketsize 12 initval 0x07375af6
add q 192.0.2.0/24,icmp:echo-request
add q 192.0.2.0/24,gre:0
add q 192.0.2.0/24,tcp:81
add q 192.0.2.0/24,sctp:5
create b bitmap:ip range 192.168.0.0-192.168.0.255 netmask 30
add b 192.168.0.4
create bp bitmap:port range 0-1024
add bp 22
create ipi hash:ip,port,ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x59491c4a
add ipi 1.2.3.4,tcp:22,5.6.7.8
create hn hash:ip family inet hashsize 1024 maxelem 65536 netmask 24 bucketsize 12 initval 0xdbfc3a19
add hn 10.9.9.0
create ni hash:net,iface family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xa6da9a4c
add ni 10.0.0.0/8,eth0
create l list:set size 8
add l a
add l n
"""


def a4(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def net(text: str) -> tuple[int, int]:
    network = ipaddress.ip_network(text)
    return int(network.network_address), int(network.broadcast_address)


def by_name(sets: IpSets) -> dict[str, IpSet]:
    return {s.name: s for s in sets.sets}


def test_detect_picks_ipset_save_and_parses_every_set_type() -> None:
    assert detect(SAVED, "x").NAME == "ipset-save"
    parsed = ipset_save.parse(SAVED, "host.ipset")
    sets = by_name(parsed)
    assert list(sets) == ["a", "n", "p", "q", "b", "bp", "ipi", "hn", "ni", "l"]
    assert parsed.origin == "host.ipset"
    a = sets["a"]
    assert (a.kind, a.family, a.dims, a.origin.line) == ("hash:ip", 4, ("ip",), 1)
    assert [e.values for e in a.elements] == [
        ((a4("192.0.2.22"),) * 2,),
        ((a4("192.0.2.10"),) * 2,),
    ]
    assert [e.line for e in a.elements] == [2, 3]


def test_hash_net_keeps_prefixes_and_nomatch_exceptions() -> None:
    n = by_name(ipset_save.parse(SAVED, "x"))["n"]
    assert [(e.values[0], e.nomatch) for e in n.elements] == [
        (net("10.1.0.0/16"), True),
        (net("10.1.2.3/32"), False),
        (net("10.0.0.0/8"), False),
    ]


def test_ports_carry_their_protocol_and_icmp_is_type_and_code() -> None:
    sets = by_name(ipset_save.parse(SAVED, "x"))
    q = sets["q"]
    assert [(e.proto, e.values[1]) for e in q.elements] == [
        (1, (8 * 256, 8 * 256)),
        (47, (0, 0)),
        (6, (81, 81)),
        (132, (5, 5)),
    ]
    p = sets["p"]
    assert p.family == 6 and p.timeout
    assert [(e.proto, e.values[1], e.expires) for e in p.elements] == [
        (58, (128 * 256, 128 * 256), True),
        (17, (53, 53), False),
    ]
    assert sets["bp"].family == 0 and sets["bp"].elements[0].proto is None


def test_netmask_sets_hold_whole_networks() -> None:
    sets = by_name(ipset_save.parse(SAVED, "x"))
    assert sets["b"].elements[0].values == (net("192.168.0.4/30"),)
    assert sets["hn"].elements[0].values == (net("10.9.9.0/24"),)


def test_list_set_members_and_unmodelled_dimensions_are_kept() -> None:
    sets = by_name(ipset_save.parse(SAVED, "x"))
    assert sets["l"].members == ("a", "n") and sets["l"].family == 0
    assert sets["ni"].dims == ("net", "iface")
    assert sets["ipi"].elements[0].values == (
        (a4("1.2.3.4"),) * 2,
        (22, 22),
        (a4("5.6.7.8"),) * 2,
    )


def test_comments_blank_lines_and_bitmask_are_accepted() -> None:
    text = b"# saved by hand\n\ncreate m hash:ip bitmask 255.255.0.255\nadd m 10.0.0.1\n"
    (m,) = ipset_save.parse(text, "x").sets
    assert "bitmask" in m.unmodelled


@pytest.mark.parametrize(
    ("text", "line", "code"),
    [
        (b"create a hash:ip\nadd b 1.2.3.4\n", 2, "ipset-add"),
        (b"create a hash:ip\ncreate a hash:ip\n", 2, "ipset-duplicate"),
        (b"create a hash:frob\n", 1, "ipset-type"),
        (b"create a hash:ip\nadd a 1.2.3.999\n", 2, "ipset-address"),
        (b"create a hash:ip\nadd a 2001:db8::1\n", 2, "ipset-address"),
        (b"create a hash:ip family inet6\nadd a 10.0.0.1\n", 2, "ipset-address"),
        (b"create a hash:ip,port\nadd a 10.0.0.1\n", 2, "ipset-element"),
        (b"create a hash:ip,port\nadd a 10.0.0.1,tcp:70000\n", 2, "ipset-port"),
        (b"create a hash:ip,port\nadd a 10.0.0.1,gre:5\n", 2, "ipset-port"),
        (b"create a hash:ip,port\nadd a 10.0.0.1,icmp:frobnicate\n", 2, "ipset-icmp"),
        (b"create a hash:ip\nadd a 10.0.0.1 nomatch\n", 2, "ipset-nomatch"),
        (b"create a hash:ip\nadd a 10.0.0.1 timeout 5\n", 2, "ipset-timeout"),
        (b'create a hash:ip\nadd a 10.0.0.1 comment "open\n', 2, "ipset-quote"),
        (b"create a hash:ip frobs 3\n", 1, "ipset-option"),
        (b"create a hash:ip family\n", 1, "ipset-option"),
        (b"create a hash:net\nadd a 10.0.0.0/33\n", 2, "ipset-address"),
        (b"create a hash:ip\nflush a\n", 2, "ipset-command"),
        (b"create a hash:ip\n\xff\n", 2, "ipset-encoding"),
    ],
)
def test_garbled_lines_are_parse_errors_with_their_line(text: bytes, line: int, code: str) -> None:
    with pytest.raises(ParseError) as caught:
        ipset_save.parse(text, "bad.ipset")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.code) == ("bad.ipset", line, code)


def test_sniff_wants_a_create_line_first() -> None:
    assert ipset_save.sniff(b"# x\ncreate s list:set size 8\n")
    assert not ipset_save.sniff(b"*filter\n:INPUT ACCEPT [0:0]\n")
    assert not ipset_save.sniff(b"create table inet x\n")


WORDS = st.sampled_from(
    [
        "create",
        "add",
        "s",
        "t",
        "hash:ip",
        "hash:net,port",
        "hash:ip,port,ip",
        "bitmap:port",
        "list:set",
        "family",
        "inet",
        "inet6",
        "timeout",
        "300",
        "nomatch",
        "comment",
        '"c"',
        '"',
        "10.0.0.1",
        "10.0.0.0/8",
        "2001:db8::/32",
        "10.0.0.1,tcp:80",
        "10.0.0.0/8,icmp:8/0,10.0.0.2",
        "1-2",
        "netmask",
        "24",
        "range",
        "0-1024",
        "-",
        ",",
    ]
)
LINES = st.lists(st.lists(WORDS, min_size=1, max_size=7).map(" ".join), max_size=12)


def _parse_or_error(data: bytes) -> None:
    try:
        result = ipset_save.parse(data, "fuzz")
    except ParseError as exc:
        assert exc.problems and all(p.file == "fuzz" for p in exc.problems)
        return
    assert isinstance(result, IpSets)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES)
def test_random_commands_parse_or_fail_cleanly(lines: list[str]) -> None:
    _parse_or_error("\n".join(lines).encode())


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(SAVED) - 1), st.binary(min_size=0, max_size=4), st.integers(0, 3))
def test_mutated_saves_parse_or_fail_cleanly(at: int, insert: bytes, cut: int) -> None:
    _parse_or_error(SAVED[:at] + insert + SAVED[at + cut :])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_parse_or_fail_cleanly(data: bytes) -> None:
    _parse_or_error(data)
