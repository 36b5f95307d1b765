"""The kernel as oracle for the loopback settings (docs/controls.md "Loopback";
checker.engine.netfilter.loopback): `spoofed_loopback: drop` and `loopback: accept`.

The peer sends UDP datagrams with a loopback source (127.0.0.5, and 127.0.0.1 matching a
conntrack entry the host made over lo, so ESTABLISHED; ::1 for IPv6) as whole Ethernet frames
on an AF_PACKET socket, so no source check of the sender's IP stack stands in the way. What the
receiving kernel does by itself is part of the truth and measured here:
- IPv4 with the default sysctls: the martian-source check (ip_route_input_slow) drops every
  127.0.0.0/8 source arriving on a non-loopback device, whatever the rules. With
  net.ipv4.conf.<dev>.route_localnet=1 (and rp_filter=0, accept_local=1 so that 127.0.0.1,
  lo's own address, is taken too) the kernel delivers them, and the rules alone decide. fwcheck
  cannot read sysctls from an export, so its IPv4 verdict is the rules' verdict: the cases run
  with those sysctls, and a fail means the probe really gets in.
- IPv6: ::1 arriving on another device is dropped before netfilter (ip6_rcv_core) whatever the
  rules and sysctls: fwcheck passes IPv6 on that, and an accept-everything ruleset shows it.
`loopback: accept` is checked with a datagram over lo to a port only the lo rule opens.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from oracle_check import IPTABLES_NFT, NFT, Flavour, dump, parse_dumps
from oracle_netns import NetnsPair
from oracle_topology import (
    HOST_IFACE,
    HOST_MAC,
    PEER_IFACE,
    PEER_MAC,
    host_addresses,
    peer_addresses,
)

AGENT = Path(__file__).with_name("oracle_loopback_agent.py")
PORT = 5001  # opened to everyone by every case's rules
LO_PORT = 5002  # opened by the lo rule only
EST_SPORT = 40123
DEADLINE_S = 20

LOCALNET_SYSCTLS = (
    "net.ipv4.conf.all.route_localnet=1",
    f"net.ipv4.conf.{HOST_IFACE}.route_localnet=1",
    "net.ipv4.conf.all.rp_filter=0",
    f"net.ipv4.conf.{HOST_IFACE}.rp_filter=0",
    f"net.ipv4.conf.{HOST_IFACE}.accept_local=1",
)


def _iptables(v4_rules: str, v6_rules: str) -> dict[int, str]:
    def table(rules: str) -> str:
        return f"*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n{rules}COMMIT\n"

    return {4: table(v4_rules), 6: table(v6_rules)}


LO = "-A INPUT -i lo -j ACCEPT\n"
EST = "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
OPEN = f"-A INPUT -p udp --dport {PORT} -j ACCEPT\n"
SPOOF4 = "-A INPUT -s 127.0.0.0/8 -j DROP\n"
SPOOF6 = "-A INPUT -s ::1/128 -j DROP\n"

# name -> (flavour, ruleset, fwcheck's expected IPv4 spoofed verdict, expected loopback verdict)
CASES: dict[str, tuple[Flavour, dict[int, str] | str, str, str]] = {
    "iptables-cis-order": (
        IPTABLES_NFT,
        _iptables(LO + SPOOF4 + EST + OPEN, LO + SPOOF6 + EST + OPEN),
        "pass",
        "pass",
    ),
    "iptables-established-first": (
        IPTABLES_NFT,
        _iptables(EST + LO + SPOOF4 + OPEN, EST + LO + SPOOF6 + OPEN),
        "fail",
        "pass",
    ),
    "iptables-no-spoofing-drop": (
        IPTABLES_NFT,
        _iptables(LO + EST + OPEN, LO + EST + OPEN),
        "fail",
        "pass",
    ),
    "iptables-no-lo-accept": (
        IPTABLES_NFT,
        _iptables(SPOOF4 + EST + OPEN, SPOOF6 + EST + OPEN),
        "pass",
        "fail",
    ),
    # `-m addrtype --src-type LOCAL` matches a loopback source (127.0.0.0/8 is a local route).
    "iptables-addrtype-local-drop": (
        IPTABLES_NFT,
        _iptables(
            LO + "-A INPUT -m addrtype --src-type LOCAL -j DROP\n" + EST + OPEN,
            LO + SPOOF6 + EST + OPEN,
        ),
        "pass",
        "pass",
    ),
    "nft-cis": (
        NFT,
        "table inet f {\n"
        " chain input { type filter hook input priority 0; policy drop;\n"
        "  iif lo accept\n  ip saddr 127.0.0.0/8 drop\n  ip6 saddr ::1 drop\n"
        f"  ct state established,related accept\n  udp dport {PORT} accept\n }}\n"
        " chain output { type filter hook output priority 0; policy accept; }\n}\n",
        "pass",
        "pass",
    ),
    # Locally made traffic gets its nat in OUTPUT: PREROUTING's nat chain does not see it
    # when it comes back in through lo, so this redirect never moves the lo datagram.
    "nft-prerouting-nat-on-lo": (
        NFT,
        "table ip n {\n chain pre { type nat hook prerouting priority -100;\n"
        f"  iif lo udp dport {LO_PORT} redirect to :5999\n }}\n}}\n"
        "table inet f {\n chain input { type filter hook input priority 0; policy drop;\n"
        f"  iif lo accept\n  ip saddr 127.0.0.0/8 drop\n  udp dport {PORT} accept\n }}\n}}\n",
        "pass",
        "pass",
    ),
    "nft-accept-everything": (
        NFT,
        "table inet f {\n chain input { type filter hook input priority 0; policy accept; }\n}\n",
        "fail",
        "pass",
    ),
}

# tag -> (family, source, destination, source port, state the spoofed packet has)
PROBES = {
    "spoof-new-v4": (4, "127.0.0.5", host_addresses(4)[0], 40100, "NEW"),
    "spoof-new-v4-to-loopback": (4, "127.0.0.5", "127.0.0.1", 40101, "NEW"),
    "spoof-est-v4": (4, "127.0.0.1", "127.0.0.1", EST_SPORT, "ESTABLISHED"),
    "spoof-new-v6": (6, "::1", host_addresses(6)[0], 40102, "NEW"),
    "control-v4": (4, peer_addresses(4)[0], host_addresses(4)[0], 40103, ""),
    "control-v6": (6, peer_addresses(6)[0], host_addresses(6)[0], 40104, ""),
}


def _load(pair: NetnsPair, flavour: Flavour, ruleset: dict[int, str] | str) -> None:
    if isinstance(ruleset, str):
        pair.run(pair.host, ["nft", "-f", "-"], ruleset.encode())
        return
    for family, tool in flavour.restore:
        pair.run(pair.host, [tool], ruleset[family].encode())


def _probe(pair: NetnsPair) -> tuple[dict, set[str]]:
    """(what the host's setup over lo saw, the tags of the datagrams that arrived)."""
    listener = subprocess.Popen(
        ["ip", "netns", "exec", pair.host, sys.executable, str(AGENT), "listen"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert listener.stdin is not None and listener.stdout is not None
        config = {"port": PORT, "lo_port": LO_PORT, "est_sport": EST_SPORT}
        listener.stdin.write(json.dumps({**config, "deadline_s": DEADLINE_S}) + "\n")
        listener.stdin.flush()
        ready = json.loads(listener.stdout.readline())
        packets = [
            {"family": family, "src": src, "dst": dst, "sport": sport, "dport": PORT, "tag": tag}
            for tag, (family, src, dst, sport, _state) in PROBES.items()
        ]
        sent = {"iface": PEER_IFACE, "src_mac": PEER_MAC, "dst_mac": HOST_MAC, "packets": packets}
        pair.run(
            pair.peer, [sys.executable, str(AGENT), "send"], (json.dumps(sent) + "\n").encode()
        )
        subprocess.run(["sleep", "0.3"], timeout=5, check=True)
        listener.stdin.write("stop\n")
        listener.stdin.flush()
        seen = json.loads(listener.stdout.readline())["seen"]
    finally:
        listener.kill()
        listener.wait(timeout=10)
    return ready, {tag for tag, _src, _sport in seen}


def _verdict(models: list, name: str, setting: dict[str, str]):  # type: ignore[no-untyped-def]
    from checker.engine import settings
    from checker.errors import Location
    from checker.findings import Severity
    from checker.policies.rules import setting_requirement
    from checker.policies.settings import setting_spec

    requirement = setting_requirement(
        setting_spec(setting),
        policy_id="oracle",
        rule_id=name,
        title=name,
        severity=Severity.HIGH,
        origin=Location("oracle", 1),
        policy_title="",
        source=None,
        controls=(),
    )
    return settings.check(models, requirement)


def _sysctl(pair: NetnsPair, *assignments: str) -> None:
    pair.run(pair.host, ["sysctl", "-q", "-w", *assignments])


@pytest.mark.parametrize("name", sorted(CASES))
def test_loopback_settings_agree_with_the_kernel(netns: NetnsPair, name: str) -> None:
    flavour, ruleset, spoofed_expected, lo_expected = CASES[name]
    _load(netns, flavour, ruleset)
    _sysctl(netns, *LOCALNET_SYSCTLS)
    ready, arrived = _probe(netns)
    assert {"control-v4", "control-v6"} <= arrived, (name, arrived)  # the send path works
    models = parse_dumps(flavour, dump(netns, flavour))

    spoofed = _verdict(
        models, name, {"netfilter_hook": "input", "spoofed_loopback": "drop", "family": "ipv4"}
    )
    assert spoofed.status.value == spoofed_expected, spoofed.message
    let_in = {
        PROBES[tag][4]
        for tag in arrived
        if tag.startswith("spoof-")
        and PROBES[tag][0] == 4
        # An ESTABLISHED probe means something only when the host's setup made its entry.
        and (PROBES[tag][4] == "NEW" or ready["established"])
    }
    if spoofed_expected == "pass":
        assert not let_in, (name, arrived)
    else:
        state = "ESTABLISHED" if "(ESTABLISHED)" in spoofed.message else "NEW"
        # fwcheck's counterexample has the state of a packet the kernel really let in.
        assert state in let_in, (name, spoofed.message, arrived, ready)

    # IPv6: the kernel drops ::1 from another device whatever the rules; fwcheck passes on that.
    assert "spoof-new-v6" not in arrived
    six = _verdict(
        models, name, {"netfilter_hook": "input", "spoofed_loopback": "drop", "family": "ipv6"}
    )
    assert six.status.value == "pass" and "ip6_rcv_core" in six.evidence[0].text

    loopback = _verdict(
        models, name, {"netfilter_hook": "input", "loopback": "accept", "family": "ipv4"}
    )
    assert loopback.status.value == lo_expected, loopback.message
    assert ready["lo"] == (lo_expected == "pass"), (name, ready)


def test_the_kernel_drops_loopback_sources_itself_by_default(netns: NetnsPair) -> None:
    """With the default sysctls the kernel's martian check drops 127.0.0.0/8 sources from
    another device before INPUT, even with no rule at all: what fwcheck's IPv4 verdict does not
    count on (route_localnet turns it off); ::1 is dropped either way."""
    _load(netns, NFT, CASES["nft-accept-everything"][1])
    _sysctl(netns, "net.ipv4.conf.all.rp_filter=0", f"net.ipv4.conf.{HOST_IFACE}.rp_filter=0")
    _ready, arrived = _probe(netns)
    assert {"control-v4", "control-v6"} <= arrived
    assert not {tag for tag in arrived if tag.startswith("spoof-")}, arrived
    _sysctl(netns, *LOCALNET_SYSCTLS)
    _ready, arrived = _probe(netns)
    assert {"spoof-new-v4", "spoof-new-v4-to-loopback"} <= arrived
    assert "spoof-new-v6" not in arrived
