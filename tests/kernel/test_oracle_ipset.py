"""The kernel as oracle for `-m set`: real ipsets (`ipset restore` in the host namespace) and
iptables rules matching them, real TCP and UDP probes over the veth, and fwcheck's verdict on the
kernel's own `iptables-save` + `ipset save` output, which must equal the kernel's on every probe.
On the `iptables-save` output alone, fwcheck must not decide what the sets decide: every probe
the kernel lets through (through a set rule) is indeterminate.

Covered: hash:net with a nomatch exception (src and dst), hash:ip,port matched as dst,dst and
src,dst (address and port pairs, with the protocol), hash:ip as a blocklist, and a negated
`! --match-set`; the blocklist is made as fail2ban makes its sets (`timeout 0`: permanent
entries, exact). Sets of another family cannot be loaded (libxt_set refuses them): unit-tested.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from oracle_check import IPTABLES_LEGACY, IPTABLES_NFT, Flavour
from oracle_generate import Probe
from oracle_netns import NetnsPair
from oracle_probe import fwcheck_verdict, run_probes
from oracle_topology import address

TCP = 6
UDP = 17
HOST1, HOST2 = address(4, 1), address(4, 129)
# Peers: .2 is in `peers`, .66 is carved out by the nomatch /26, .200 is outside and blocked.
PEER_IN, PEER_CARVED, PEER_BLOCKED = address(4, 2), address(4, 66), address(4, 200)

IPSETS = f"""\
create peers hash:net family inet
add peers 198.51.100.0/25
add peers 198.51.100.64/26 nomatch
create svc hash:ip,port family inet
add svc {HOST1},tcp:22
add svc {HOST1},tcp:443
add svc {HOST2},udp:53
create blocked hash:ip family inet timeout 0
add blocked {PEER_BLOCKED} timeout 0
"""

RULES = """\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m set --match-set blocked src -j DROP
-A INPUT -p tcp -m set --match-set peers src -m set --match-set svc dst,dst -j ACCEPT
-A INPUT -p udp -m set --match-set svc dst,dst -j ACCEPT
-A INPUT -p tcp -m set ! --match-set peers src -m tcp --dport 80 -j ACCEPT
-A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A OUTPUT -p tcp -m set --match-set svc src,dst -j ACCEPT
-A OUTPUT -p udp -m set --match-set peers dst -j ACCEPT
COMMIT
"""

# What the kernel must do for some probes, so the test provably exercises each set feature:
# (direction, proto, src, dst, dport) -> verdict.
EXPECTED = {
    ("inbound", TCP, PEER_IN, HOST1, 22): "accept",  # peers src, svc dst,dst
    ("inbound", TCP, PEER_CARVED, HOST1, 22): "drop",  # nomatch carves .66 out of peers
    ("inbound", TCP, PEER_IN, HOST2, 22): "drop",  # svc holds (HOST1, tcp:22) only
    ("inbound", TCP, PEER_CARVED, HOST1, 80): "accept",  # ! --match-set peers
    ("inbound", TCP, PEER_IN, HOST1, 80): "drop",
    ("inbound", UDP, PEER_IN, HOST2, 53): "accept",  # svc udp:53 on HOST2
    ("inbound", TCP, PEER_IN, HOST2, 53): "drop",  # … udp only
    ("inbound", TCP, PEER_BLOCKED, HOST1, 80): "drop",  # blocked
    ("outbound", TCP, HOST1, PEER_IN, 22): "accept",  # svc src,dst: (HOST1, tcp dport 22)
    ("outbound", TCP, HOST2, PEER_IN, 22): "drop",
    ("outbound", UDP, HOST1, PEER_IN, 53): "accept",  # peers dst
    ("outbound", UDP, HOST1, PEER_CARVED, 53): "drop",  # nomatch
}
PORTS = (22, 53, 80, 443, 8080)


def probes() -> tuple[Probe, ...]:
    out = []
    flows = [
        ("inbound", src, dst)
        for src in (PEER_IN, PEER_CARVED, PEER_BLOCKED)
        for dst in (HOST1, HOST2)
    ] + [("outbound", src, dst) for src in (HOST1, HOST2) for dst in (PEER_IN, PEER_CARVED)]
    for direction, src, dst in flows:
        for proto in (TCP, UDP):
            for dport in PORTS:
                out.append(Probe(4, proto, src, dst, 20000 + len(out), dport, direction))
    return tuple(out)


@pytest.fixture
def ipset_ready(oracle_ready: None) -> Iterator[None]:
    if shutil.which("ipset") is None:
        reason = "the ipset oracle needs ipset (apt: ipset)"
        if os.environ.get("FWCHECK_REQUIRE_KERNEL_ORACLE") == "1":
            pytest.fail(f"FWCHECK_REQUIRE_KERNEL_ORACLE=1 but {reason}")
        pytest.skip(reason)
    yield


@pytest.mark.parametrize("flavour", [IPTABLES_NFT, IPTABLES_LEGACY], ids=lambda f: f.name)
def test_kernel_and_fwcheck_agree_on_ipset_matches(
    netns: NetnsPair, ipset_ready: None, flavour: Flavour
) -> None:
    from checker.parsers.netfilter import ipset_save, iptables_save

    if not flavour.available():
        pytest.skip(f"{flavour.name}: {', '.join(t for _, t in flavour.restore)} not installed")
    restore = dict(flavour.restore)[4]
    save = dict(flavour.save)[4]
    # The sets first: iptables refuses a rule naming a set that does not exist. Sets live in the
    # namespace and go with it.
    netns.run(netns.host, ["ipset", "restore"], IPSETS.encode())
    netns.run(netns.host, [restore], RULES.encode())
    all_probes = probes()
    observed = run_probes(netns, all_probes)
    rules_dump = netns.run(netns.host, [save]).stdout
    sets_dump = netns.run(netns.host, ["ipset", "save"]).stdout
    rules = iptables_save.parse(rules_dump, f"{save}.v4")
    sets = ipset_save.parse(sets_dump, "ipset-save.txt")
    context = f"\n--- {save} ---\n{rules_dump.decode()}--- ipset save ---\n{sets_dump.decode()}"

    problems = []
    accepted_by_sets = 0
    for probe, seen in zip(all_probes, observed, strict=True):
        if seen.client.startswith("bind-failed"):
            problems.append(f"HARNESS: could not send {probe.label()}: {seen.client}")
            continue
        key = (probe.direction, probe.proto, probe.src, probe.dst, probe.dport)
        if key in EXPECTED and seen.kernel != EXPECTED[key]:
            problems.append(
                f"HARNESS: the kernel did {seen.kernel} for {probe.label()}, the test expects "
                f"{EXPECTED[key]}"
            )
        exact = fwcheck_verdict([rules, sets], probe)
        if exact != seen.kernel:
            problems.append(
                f"DISAGREEMENT {probe.label()}: kernel {seen.kernel} (client {seen.client}), "
                f"fwcheck with ipset save {exact}"
            )
        alone = fwcheck_verdict([rules], probe)
        if seen.kernel == "accept":
            accepted_by_sets += 1
            if alone != "indeterminate":
                problems.append(
                    f"DECIDED WITHOUT THE SETS {probe.label()}: fwcheck on iptables-save alone "
                    f"says {alone}, the kernel {seen.kernel}"
                )
        elif alone == "accept":
            problems.append(f"UNSOUND {probe.label()}: kernel drop, fwcheck alone accept")
    assert accepted_by_sets >= 4, "too few accepted probes: the scenario tests nothing" + context
    assert not problems, "\n".join([f"ipset oracle, {flavour.name}:", *problems]) + context
