"""The oracle's own probe harness: a listener records (protocol, family, source, source port,
destination port) and not the destination address, so two probes differing only in destination
address must not be sent in one round. CI failed once on exactly that: a datagram to one peer
address counted as the kernel accepting the dropped datagram to another
(seed 28351930/exclusive/nft/3)."""

from __future__ import annotations

import ipaddress

from oracle_check import NFT, load
from oracle_generate import Probe
from oracle_netns import NetnsPair
from oracle_probe import rounds_of, run_probes
from oracle_ruleset import UDP, Action, Chain, Cond, Rule, Spec, Table
from oracle_topology import host_addresses, peer_addresses


def _udp(src: str, dst: str, sport: int = 40000, dport: int = 1001) -> Probe:
    return Probe(4, UDP, src, dst, sport, dport, "outbound")


def test_probes_a_listener_cannot_tell_apart_go_in_separate_rounds() -> None:
    host = host_addresses(4)[0]
    first, _, third = peer_addresses(4)
    probes = (
        _udp(host, first),
        _udp(host, third),  # same listener record as the first
        _udp(host, third, dport=53),
        _udp(host, first, sport=40001),
    )
    assert rounds_of(probes) == [[0, 2, 3], [1]]
    assert rounds_of(probes[2:]) == [[0, 1]]


def test_a_datagram_to_another_address_is_not_taken_for_the_dropped_one(netns: NetnsPair) -> None:
    """Real kernel: the host's output drops UDP to one peer address only; two probes differing
    only in that address get different verdicts (both were "accept" in one round)."""
    host = host_addresses(4)[0]
    allowed, _, dropped = peer_addresses(4)
    only_dropped = Cond("daddr", prefixes=((int(ipaddress.IPv4Address(dropped)), 32),), family=4)
    output = Chain(
        "out",
        (Rule((Cond("l4proto", ranges=((UDP, UDP),)), only_dropped), Action("drop")),),
        "output",
        0,
        "accept",
    )
    load(netns, NFT, Spec("nft", (Table("ip", "t", (output,)),)))
    observed = run_probes(netns, (_udp(host, dropped), _udp(host, allowed)))
    assert [o.kernel for o in observed] == ["drop", "accept"]
    assert observed[0].client.startswith("error")
