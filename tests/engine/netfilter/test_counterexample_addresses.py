"""Counterexamples are packets a host could send (issue 11, defect 8): the source is never an
unspecified, loopback, multicast or broadcast address, and not a network- or broadcast-looking
address (x.x.x.0, x.x.x.255, an IPv6 address ending in 64 zero bits) when the flows hold an
ordinary host address. Expectations use Python's ipaddress classification, not fwcheck's.
"""

from __future__ import annotations

import ipaddress

from builders import req
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.engine.netfilter.engine import check
from checker.findings import Status
from checker.model import net
from checker.parsers.netfilter import iptables_save

V4_BASES = [
    "0.0.0.0",
    "0.255.255.0",
    "1.0.0.0",
    "10.0.0.0",
    "126.255.255.0",
    "127.255.255.0",
    "128.0.0.0",
    "192.0.2.0",
    "198.51.100.0",
    "203.0.113.0",
    "223.255.255.0",
    "224.0.0.0",
    "239.255.255.0",
    "240.0.0.0",
    "255.255.255.0",
]
V6_BASES = [
    "::",
    "::1",
    "2001:db8::",
    "2001:db8:0:1::",
    "fe80::",
    "feff:ffff:ffff:ffff::",
    "ff02::",
]


def expected_rank(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """0 an ordinary host, 1 network/broadcast-looking or reserved, 2 never a unicast source."""
    if address.version == 4:
        if (
            address in ipaddress.ip_network("0.0.0.0/8")
            or address.is_loopback
            or address.is_multicast
            or address == ipaddress.IPv4Address("255.255.255.255")
        ):
            return 2
        last = int(address) & 0xFF
        return 1 if address in ipaddress.ip_network("240.0.0.0/4") or last in (0, 255) else 0
    if address.is_unspecified or address.is_loopback or address.is_multicast:
        return 2
    return 1 if int(address) & ((1 << 64) - 1) == 0 else 0


def dropped_by_linux(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Sources the kernel drops before INPUT (out of scope of `remote: any`); IPv6 :: is not
    among them, so a deny must still cover it (a counterexample only avoids it)."""
    if address.version == 6:
        return address.is_multicast or address.is_loopback
    return expected_rank(address) == 2


@st.composite
def v4_nets(draw) -> ipaddress.IPv4Network:
    base = int(ipaddress.IPv4Address(draw(st.sampled_from(V4_BASES))))
    length = draw(st.integers(22, 32))
    offset = draw(st.integers(0, 1023))
    address = (base + offset) & ~((1 << (32 - length)) - 1)
    return ipaddress.IPv4Network(
        (min(address, (1 << 32) - 1) >> (32 - length) << (32 - length), length)
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(v4_nets(), min_size=1, max_size=4))
def test_counterexample_source_is_a_host_a_packet_could_come_from(nets) -> None:
    lines = [f"-A INPUT -s {n} -j ACCEPT" for n in nets]
    text = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    ruleset = iptables_save.parse((text + "\n".join(lines) + "\nCOMMIT\n").encode(), "v4")
    verdict = check([ruleset], req("deny"))
    addresses = {a for n in nets for a in (n if n.num_addresses > 1 else [n.network_address])}
    ranks = {expected_rank(a) for a in addresses if not dropped_by_linux(a)}
    if not ranks:
        # Only sources the kernel drops are accepted: nothing gets in.
        assert verdict.status is Status.PASS, verdict.message
        return
    assert verdict.status is Status.FAIL and verdict.counterexample is not None
    source = ipaddress.ip_address(verdict.counterexample.split()[1].rsplit(":", 1)[0])
    assert source in addresses
    assert expected_rank(source) == min(ranks), verdict.counterexample


@st.composite
def v6_nets(draw) -> ipaddress.IPv6Network:
    base = int(ipaddress.IPv6Address(draw(st.sampled_from(V6_BASES))))
    length = draw(st.integers(120, 128))
    address = (base + draw(st.integers(0, 1023))) % (1 << 128)
    return ipaddress.IPv6Network((address >> (128 - length) << (128 - length), length))


@settings(max_examples=100, deadline=None)
@given(st.lists(v6_nets(), min_size=1, max_size=4))
def test_counterexample_source_is_a_host_a_packet_could_come_from_ipv6(nets) -> None:
    lines = [f"-A INPUT -s {n} -j ACCEPT" for n in nets]
    text = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    ruleset = iptables_save.parse((text + "\n".join(lines) + "\nCOMMIT\n").encode(), "rules.v6")
    verdict = check([ruleset], req("deny", families=frozenset({6})))
    addresses = {a for n in nets for a in (n if n.num_addresses > 1 else [n.network_address])}
    ranks = {expected_rank(a) for a in addresses if not dropped_by_linux(a)}
    if not ranks:
        assert verdict.status is Status.PASS, verdict.message
        return
    assert verdict.status is Status.FAIL and verdict.counterexample is not None
    source = ipaddress.ip_address(verdict.counterexample.split()[1].rsplit(":", 1)[0].strip("[]"))
    assert source in addresses
    assert expected_rank(source) == min(ranks), verdict.counterexample


@st.composite
def v6_ranges(draw) -> tuple[int, int]:
    base = int(ipaddress.IPv6Address(draw(st.sampled_from(V6_BASES))))
    lo = (base + draw(st.integers(-3, 3))) % (1 << 128)
    return lo, min(lo + draw(st.integers(0, 600)), (1 << 128) - 1)


@st.composite
def v4_ranges(draw) -> tuple[int, int]:
    base = int(ipaddress.IPv4Address(draw(st.sampled_from(V4_BASES))))
    lo = (base + draw(st.integers(-300, 600))) % (1 << 32)
    return lo, min(lo + draw(st.integers(0, 600)), (1 << 32) - 1)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_host_address_is_the_nearest_of_the_best_rank(data) -> None:
    family = data.draw(st.sampled_from((4, 6)))
    drawn = data.draw(st.lists(v4_ranges() if family == 4 else v6_ranges(), min_size=1, max_size=3))
    members = sorted({a for lo, hi in drawn for a in range(lo, hi + 1)})
    ranges = []
    for value in members:
        if ranges and ranges[-1][1] == value - 1:
            ranges[-1] = (ranges[-1][0], value)
        else:
            ranges.append((value, value))
    preferred = data.draw(st.sampled_from(members + [0, net.ADDRESS_MAX[family]]))
    chosen = net.host_address(family, tuple(ranges), preferred)
    assert chosen in set(members)
    if family == 4:
        rank = {a: expected_rank(ipaddress.IPv4Address(a)) for a in members}
    else:
        rank = {a: expected_rank(ipaddress.IPv6Address(a)) for a in members}
    best = min(rank.values())
    assert rank[chosen] == best
    assert abs(chosen - preferred) == min(abs(a - preferred) for a in members if rank[a] == best)


def test_issue_cases_broadcast_and_unspecified_sources() -> None:
    """The sources issue 11 saw: 0.0.0.0 and a subnet broadcast."""
    text = (
        "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A INPUT -s 10.1.2.0/24 -j ACCEPT\nCOMMIT\n"
    )
    ruleset = iptables_save.parse(text.encode(), "v4")
    verdict = check([ruleset], req("deny"))
    assert verdict.counterexample == "tcp 10.1.2.254:40000 -> 192.0.2.10:22 ipv4"
    everything = iptables_save.parse(
        b"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n", "v4"
    )
    verdict = check([everything], req("deny", remote=["0.0.0.0/8", "10.0.0.0/24"]))
    assert verdict.counterexample == "tcp 10.0.0.254:40000 -> 192.0.2.10:22 ipv4"
    everything6 = iptables_save.parse(
        b"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
        "rules.v6",
    )
    requirement = req("deny", families=frozenset({6}), remote=["2001:db8:5::/64"])
    verdict = check([everything6], requirement)
    assert verdict.counterexample == "tcp [2001:db8:5::1]:40000 -> [2001:db8::10]:22 ipv6"
