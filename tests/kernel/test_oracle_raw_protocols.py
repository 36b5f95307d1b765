"""The kernel as oracle on what the hand-written Spec scenarios cannot express: implicit protocol
dependencies (IPv4 packets of protocol 58, IPv6 packets of protocol 1) and matches on IPv6
extension headers, which requirements decide on ordinary packets (no extension headers).

Each scenario loads a ruleset text into the host namespace, sends its probes from the peer
(raw IP packets through oracle_raw.py, TCP connections through the oracle agent), dumps the
kernel's view as `fwcheck scan` would, and requires fwcheck's verdict (classify_flow) to equal
the kernel's on every probe; the scenario also states the kernel verdicts it is about, so it
provably tests what its name says. fwcheck must decide every probe here (no "indeterminate").
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from oracle_check import IPTABLES_NFT, NFT, Flavour, dump, parse_dumps
from oracle_generate import Probe
from oracle_netns import NetnsPair
from oracle_probe import fwcheck_verdict, run_probes
from oracle_ruleset import TCP
from oracle_topology import HOST_IFACE, host_addresses, peer_addresses

RAW = Path(__file__).with_name("oracle_raw.py")
LISTEN_S = 10
# After the sender returns: time for the packets to cross the veth pair.
GRACE_S = 0.3


@dataclass(frozen=True, slots=True)
class RawProbe:
    """One raw packet from the peer to the host: IP protocol `proto`, first byte `kind` (the
    ICMP/ICMPv6 type for protocols 1 and 58)."""

    family: int
    proto: int
    kind: int

    def label(self) -> str:
        return f"IPv{self.family} protocol {self.proto} type {self.kind}"


@dataclass(frozen=True, slots=True)
class Scenario:
    flavour: Flavour
    # (restore tool, text) pairs loaded in order into the host namespace.
    load: tuple[tuple[str, str], ...]
    # Each probe with the kernel verdict the scenario is about; "drop, indeterminate": the
    # kernel drops and fwcheck rightly cannot say (a DNAT it does not follow).
    probes: tuple[tuple[RawProbe | Probe, str], ...]


def _tcp(family: int, dport: int, index: int) -> Probe:
    return Probe(
        family,
        TCP,
        peer_addresses(family)[0],
        host_addresses(family)[0],
        40000 + index,
        dport,
        "inbound",
    )


FIREWALLD_LIKE = """table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    icmpv6 type nd-neighbor-solicit accept
    icmp type echo-request accept
  }
}
"""
# In an ip table nft adds no family test: `icmpv6 type` there is about IPv4 protocol 58.
ICMPV6_IN_IP_TABLE = """table ip filter4 {
  chain input {
    type filter hook input priority 0; policy drop;
    icmpv6 type nd-neighbor-solicit accept
  }
}
table ip6 filter6 {
  chain input {
    type filter hook input priority 0; policy drop;
    icmp type echo-request accept
  }
}
"""
# ufw's stock ip6tables rules drop routing header type 0 before anything is accepted.
UFW_RT0 = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m rt --rt-type 0 -j DROP
-A INPUT -m frag -j DROP
-A INPUT -m hbh -j DROP
-A INPUT -m dst -j DROP
-A INPUT -m ipv6header --header frag,route -j DROP
-A INPUT -m ipv6header --header hop --soft -j DROP
-A INPUT -m ipv6header ! --header prot -j DROP
-A INPUT -m ipv6header ! --header protocol --soft -j DROP
-A INPUT -m ipv6header --header esp -j DROP
-A INPUT -m ipv6header ! --header hop,dst,route,frag,auth --soft -p tcp --dport 443 -j DROP
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m ipv6header ! --header frag,route --soft -p tcp --dport 22 -j ACCEPT
-A INPUT -m ipv6header --header prot -p tcp --dport 80 -j ACCEPT
COMMIT
"""
UFW_RT0_V4 = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -f -j DROP
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT ! -f -p tcp --dport 22 -j ACCEPT
COMMIT
"""
NFT_EXTHDR = """table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ip frag-off & 0x1fff != 0 drop
    rt type 0 drop
    exthdr rt exists drop
    frag more-fragments 1 drop
    ct state established,related accept
    ip option rr exists accept
    exthdr frag missing tcp dport 22 accept
    exthdr hbh exists tcp dport 80 accept
    ip frag-off & 0x1fff == 0 tcp dport 443 accept
  }
}
"""
# `dnat ip to` in an inet table acts on IPv4 only (the nat expression has a family); nft -j
# shows the family inside the statement, no match. DNATed IPv4 connections to port 22 go to the
# host's port 80, which INPUT drops; IPv6 ones reach port 22. fwcheck follows the dnat (without
# the host's addresses it cannot tell delivered from forwarded: the IPv4 one is indeterminate).
INET_DNAT_IP = """table inet nat {
  chain pre {
    type nat hook prerouting priority -100; policy accept;
    tcp dport 22 dnat ip to 198.51.100.1:80
  }
}
table inet filter {
  chain in {
    type filter hook input priority 0; policy accept;
    tcp dport 80 drop
  }
}
"""

SCENARIOS: dict[str, Scenario] = {
    # firewalld's `icmpv6 type nd-neighbor-solicit accept` carries `meta nfproto ipv6`: an IPv4
    # packet of protocol 58 does not match it and meets the drop policy.
    "icmpv6-rule-does-not-accept-ipv4-protocol-58": Scenario(
        NFT,
        (("nft", FIREWALLD_LIKE),),
        (
            (RawProbe(4, 58, 135), "drop"),
            (RawProbe(6, 58, 135), "accept"),
            (RawProbe(6, 1, 8), "drop"),
            (RawProbe(4, 1, 8), "accept"),
        ),
    ),
    "icmpv6-rule-in-ip-table-is-about-ipv4": Scenario(
        NFT,
        (("nft", ICMPV6_IN_IP_TABLE),),
        (
            (RawProbe(4, 58, 135), "accept"),
            (RawProbe(4, 58, 136), "drop"),
            (RawProbe(6, 1, 8), "accept"),
            (RawProbe(6, 1, 0), "drop"),
        ),
    ),
    # Extension-header matches match no ordinary packet; `! -f` and `--soft` negations match
    # all of them; a header list naming only the transport matches exactly ordinary TCP.
    "iptables-extension-headers-on-ordinary-packets": Scenario(
        IPTABLES_NFT,
        (("ip6tables-restore", UFW_RT0), ("iptables-restore", UFW_RT0_V4)),
        (
            (_tcp(6, 22, 0), "accept"),
            (_tcp(6, 80, 1), "accept"),
            (_tcp(6, 443, 2), "drop"),
            (_tcp(4, 22, 3), "accept"),
            (_tcp(4, 80, 4), "drop"),
        ),
    ),
    "inet-dnat-ip-leaves-ipv6-alone": Scenario(
        NFT,
        (("nft", INET_DNAT_IP),),
        (
            (_tcp(6, 22, 0), "accept"),
            (_tcp(4, 80, 1), "drop"),
            (_tcp(4, 22, 2), "drop, indeterminate"),
        ),
    ),
    "nft-extension-headers-on-ordinary-packets": Scenario(
        NFT,
        (("nft", NFT_EXTHDR),),
        (
            (_tcp(6, 22, 0), "accept"),
            (_tcp(6, 80, 1), "drop"),
            (_tcp(4, 22, 2), "drop"),
            (_tcp(4, 80, 3), "drop"),
            (_tcp(4, 443, 4), "accept"),
            (_tcp(6, 443, 5), "drop"),
        ),
    ),
}


def _load(pair: NetnsPair, scenario: Scenario) -> None:
    for tool, text in scenario.load:
        argv = [tool, "-f", "-"] if tool == "nft" else [tool]
        pair.run(pair.host, argv, text.encode())


def _raw(pair: NetnsPair, probes: list[RawProbe]) -> list[str]:
    """Send the raw probes from the peer; "accept" for each the host's raw sockets saw."""
    if not probes:
        return []
    sockets = sorted({(p.family, p.proto) for p in probes})
    peers = [peer_addresses(4)[0], peer_addresses(6)[0]]
    listener = subprocess.Popen(
        ["ip", "netns", "exec", pair.host, sys.executable, str(RAW), "listen"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert listener.stdin is not None and listener.stdout is not None
        config = {"sockets": sockets, "from": peers, "deadline_s": LISTEN_S}
        listener.stdin.write(json.dumps(config) + "\n")
        listener.stdin.flush()
        if json.loads(listener.stdout.readline() or "{}") != {"ready": True}:
            raise RuntimeError("raw listener did not start")
        packets = [
            {
                "family": p.family,
                "proto": p.proto,
                "type": p.kind,
                "src": peer_addresses(p.family)[0],
                "dst": host_addresses(p.family)[0],
            }
            for p in probes
        ]
        sent = pair.run(
            pair.peer,
            [sys.executable, str(RAW), "send"],
            (json.dumps({"packets": packets}) + "\n").encode(),
        )
        assert json.loads(sent.stdout)["sent"] == ["sent"] * len(probes), sent.stdout
        subprocess.run(["sleep", str(GRACE_S)], timeout=5, check=True)
        listener.stdin.write("stop\n")
        listener.stdin.flush()
        seen = {tuple(s[:3]) for s in json.loads(listener.stdout.readline())["seen"]}
        listener.wait(timeout=LISTEN_S)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait(timeout=LISTEN_S)
    return ["accept" if (p.family, p.proto, p.kind) in seen else "drop" for p in probes]


def _fwcheck(rulesets: list, probe: RawProbe | Probe) -> str:
    from checker.engine.netfilter.engine import classify_flow

    if isinstance(probe, RawProbe):
        return classify_flow(
            rulesets,
            family=probe.family,
            proto=probe.proto,
            src=peer_addresses(probe.family)[0],
            dst=host_addresses(probe.family)[0],
            sport=0,
            dport=0,
            direction="inbound",
            iface=HOST_IFACE,
            icmp=probe.kind << 8,
        )
    return fwcheck_verdict(rulesets, probe)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_raw_scenario(netns: NetnsPair, name: str) -> None:
    scenario = SCENARIOS[name]
    _load(netns, scenario)
    raw = [p for p, _ in scenario.probes if isinstance(p, RawProbe)]
    tcp = tuple(p for p, _ in scenario.probes if isinstance(p, Probe))
    kernel = dict(zip(raw, _raw(netns, raw), strict=True))
    kernel.update(zip(tcp, (seen.kernel for seen in run_probes(netns, tcp)), strict=True))
    dumps = dump(netns, scenario.flavour)
    rulesets = parse_dumps(scenario.flavour, dumps)
    loaded = "\n".join(text for _, text in scenario.load)
    problems = []
    for probe, wanted in scenario.probes:
        want, _, undecided = wanted.partition(", ")
        assert kernel[probe] == want, (
            f"scenario {name}: the kernel did not do what the scenario is about for "
            f"{probe.label()}: {kernel[probe]}\n{loaded}"
        )
        verdict = _fwcheck(rulesets, probe)
        if verdict != (undecided or kernel[probe]):
            problems.append(f"{probe.label()}: kernel {kernel[probe]}, fwcheck {verdict}")
    assert not problems, f"scenario {name}:\n" + "\n".join(problems) + "\n" + loaded
