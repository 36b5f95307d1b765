"""Oracle: fwcheck's verdicts from an etc/firewalld tree equal its verdicts from what the real
firewalld daemon loads from that tree.

Each configuration is made by the real `firewall-offline-cmd` on a fresh tree, loaded by the real
`firewalld --nofork` (nftables backend) in its own network namespace and private mount namespace
(firewalld_lab), and listed back with `nft -j list ruleset`. fwcheck then classifies the same grid
of flows (TCP/UDP ports, ICMP echo, GRE/ESP, from several sources and interfaces, both families,
both directions) on the tree (firewalld_tree) and on the daemon's export (nft_json, whose verdicts
the nft kernel oracle holds to the kernel's): every verdict must be equal. The host's ruleset is
checked unchanged.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import firewalld_lab
import pytest
from netfilter_forward import forward_verdicts
from oracle_generate import Probe
from oracle_netns import NetnsPair
from oracle_probe import run_probes
from oracle_topology import HOST_IFACE, host_addresses, peer_addresses

from checker.engine.netfilter.engine import classify_flow
from checker.parsers.netfilter import firewalld_tree, nft_json

IFACE = "veth0"
PUB = [("--zone=public", f"--add-interface={IFACE}")]
RICH = "--add-rich-rule=rule"
CONFIGS: dict[str, tuple[list[tuple[str, ...]], dict[str, str]]] = {
    "stock": ([], {}),
    "stock-rpfilter": ([], {"IPv6_rpfilter": "yes"}),
    "services": ([*PUB, ("--zone=public", "--add-service=http"), ("--zone=public", "--add-service=dns"),
                  ("--zone=public", "--remove-service-from-zone=ssh")], {}),
    "ports": ([*PUB, ("--zone=public", "--add-port=8443/tcp"), ("--zone=public", "--add-port=1000-1010/udp"),
               ("--zone=public", "--add-port=5432/sctp")], {}),
    "protocols": ([*PUB, ("--zone=public", "--add-protocol=gre"), ("--zone=public", "--add-source-port=999/udp")], {}),
    "icmp-block": ([*PUB, ("--zone=public", "--add-icmp-block=echo-request")], {}),
    "icmp-inversion": ([*PUB, ("--zone=public", "--add-icmp-block-inversion"),
                        ("--zone=public", "--add-icmp-block=echo-request")], {}),
    "target-drop": ([*PUB, ("--zone=public", "--set-target=DROP"), ("--zone=public", "--add-port=8443/tcp")], {}),
    "target-accept": ([*PUB, ("--zone=public", "--set-target=ACCEPT")], {}),
    "target-reject": ([*PUB, ("--zone=public", "--set-target=%%REJECT%%"), ("--zone=public", "--add-service=http")], {}),
    "default-zone-drop": ([], {"DefaultZone": "drop"}),
    "default-zone-trusted-iface": ([("--zone=trusted", f"--add-interface={IFACE}")], {"DefaultZone": "block"}),
    "source-zone": ([*PUB, ("--new-zone=peers",), ("--zone=peers", "--add-source=198.51.100.64/26"),
                     ("--zone=peers", "--add-port=3306/tcp"), ("--zone=peers", "--add-source=2001:db8:1::/64")], {}),
    "ipset-source": ([*PUB, ("--new-ipset=allow", "--type=hash:net"), ("--ipset=allow", "--add-entry=198.51.100.0/25"),
                      ("--new-zone=peers",), ("--zone=peers", "--add-source=ipset:allow"),
                      ("--zone=peers", "--set-target=ACCEPT")], {}),
    "rich-basic": ([*PUB, ("--zone=public", f"{RICH} family=ipv4 source address=198.51.100.2/32 port port=5432 protocol=tcp accept"),
                    ("--zone=public", f"{RICH} family=ipv6 source address=2001:db8:1::2 port port=5432 protocol=tcp accept"),
                    ("--zone=public", "--add-service=http"),
                    ("--zone=public", f"{RICH} family=ipv4 source address=198.51.100.66 service name=http reject")], {}),
    "rich-priority": ([*PUB, ("--zone=public", "--add-port=8443/tcp"),
                       ("--zone=public", f"{RICH} priority=-10 family=ipv4 source address=198.51.100.0/24 drop"),
                       ("--zone=public", f"{RICH} priority=10 family=ipv4 port port=7000 protocol=tcp accept"),
                       ("--zone=public", f"{RICH} priority=-20 family=ipv4 source address=198.51.100.2 accept")], {}),
    "rich-invert-icmp": ([*PUB, ("--zone=public", f"{RICH} family=ipv4 source not address=198.51.100.0/24 port port=6000 protocol=tcp accept"),
                          ("--zone=public", "--add-icmp-block=echo-request"),
                          ("--zone=public", f"{RICH} family=ipv4 source address=198.51.100.2 icmp-type name=echo-request accept"),
                          ("--zone=public", f"{RICH} protocol value=esp reject")], {}),
    "rich-limit-log": ([*PUB, ("--zone=public", f"{RICH} family=ipv4 port port=7005 protocol=udp log prefix=x level=info limit value=3/m accept"),
                        ("--zone=public", f"{RICH} family=ipv6 service name=http audit drop")], {"LogDenied": "all"}),
    "forward-port": ([*PUB, ("--zone=public", "--add-forward-port=port=80:proto=tcp:toport=22"),
                      ("--zone=public", "--add-masquerade")], {}),
    "policies": ([*PUB, ("--new-policy=out",), ("--policy=out", "--add-ingress-zone=HOST"),
                  ("--policy=out", "--add-egress-zone=ANY"), ("--policy=out", "--set-target=REJECT"),
                  ("--policy=out", "--add-service=dns"), ("--policy=out", "--add-port=443/tcp"),
                  ("--new-policy=in",), ("--policy=in", "--add-ingress-zone=public"),
                  ("--policy=in", "--add-egress-zone=HOST"), ("--policy=in", "--add-port=6000/tcp"),
                  ("--policy=in", "--set-priority=-10")], {}),
    "policy-drop-in": ([*PUB, ("--new-policy=lock",), ("--policy=lock", "--add-ingress-zone=ANY"),
                        ("--policy=lock", "--add-egress-zone=HOST"), ("--policy=lock", "--set-target=DROP"),
                        ("--policy=lock", "--add-service=ssh"), ("--policy=lock", "--set-priority=5")], {}),
    "rfc3964-off": ([*PUB], {"RFC3964_IPv4": "no"}),
    "rich-own-actions": ([*PUB, ("--zone=public", f"{RICH} family=ipv4 source address=198.51.100.2 icmp-block name=echo-request"),
                          ("--zone=public", f"{RICH} family=ipv4 source address=198.51.100.66 forward-port port=8443 protocol=tcp to-port=22"),
                          ("--zone=public", f"{RICH} family=ipv4 source address=198.51.100.0/24 masquerade")], {}),
    "direct": ([*PUB, ("--zone=public", "--add-service=http"),
                ("--direct", "--add-rule", "ipv4", "filter", "INPUT", "1", "-p", "tcp", "--dport", "22", "-j", "DROP"),
                ("--direct", "--add-rule", "ipv4", "filter", "INPUT", "0", "-s", "198.51.100.2", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"),
                ("--direct", "--add-rule", "ipv6", "filter", "INPUT", "0", "-p", "tcp", "--dport", "80", "-j", "DROP"),
                ("--direct", "--add-rule", "ipv4", "filter", "OUTPUT", "0", "-p", "udp", "--dport", "53", "-j", "DROP")], {}),
    # Forwarded traffic: zones on two interfaces and a source, intra-zone forwarding, zone
    # targets on the forward path, policies between zones (ANY, priorities, targets), masquerade.
    "forward-intra": ([*PUB, ("--new-zone=lan",), ("--zone=lan", "--add-interface=veth1"),
                       ("--zone=lan", "--add-source=10.9.0.0/16"), ("--zone=lan", "--add-forward"),
                       ("--zone=public", "--add-forward"), ("--zone=public", "--add-masquerade")], {}),
    "forward-targets": ([*PUB, ("--zone=public", "--set-target=ACCEPT"), ("--zone=drop", "--add-interface=veth1"),
                         ("--zone=trusted", "--add-source=2001:db8:1::/64"), ("--zone=block", "--add-source=198.51.100.64/26")],
                        {}),
    "policy-zones": ([*PUB, ("--new-zone=lan",), ("--zone=lan", "--add-interface=veth1"), ("--zone=lan", "--add-source=10.8.0.0/16"),
                      ("--new-policy=pub2lan",), ("--policy=pub2lan", "--add-ingress-zone=public"),
                      ("--policy=pub2lan", "--add-egress-zone=lan"), ("--policy=pub2lan", "--add-service=http"),
                      ("--policy=pub2lan", "--add-port=53/udp"), ("--policy=pub2lan", "--add-icmp-block=echo-request"),
                      ("--policy=pub2lan", "--add-rich-rule=rule family=ipv4 source address=198.51.100.2 port port=22 protocol=tcp accept"),
                      ("--new-policy=lan2any",), ("--policy=lan2any", "--add-ingress-zone=lan"),
                      ("--policy=lan2any", "--add-egress-zone=ANY"), ("--policy=lan2any", "--set-target=ACCEPT"),
                      ("--policy=lan2any", "--add-masquerade")], {}),
    "policy-priorities": ([*PUB, ("--new-zone=lan",), ("--zone=lan", "--add-interface=veth1"),
                           ("--new-policy=deny",), ("--policy=deny", "--add-ingress-zone=ANY"), ("--policy=deny", "--add-egress-zone=ANY"),
                           ("--policy=deny", "--set-target=DROP"), ("--policy=deny", "--set-priority=100"),
                           ("--new-policy=ssh",), ("--policy=ssh", "--add-ingress-zone=public"), ("--policy=ssh", "--add-egress-zone=lan"),
                           ("--policy=ssh", "--add-service=ssh"), ("--policy=ssh", "--set-priority=-5"),
                           ("--new-policy=early",), ("--policy=early", "--add-ingress-zone=ANY"), ("--policy=early", "--add-egress-zone=lan"),
                           ("--policy=early", "--set-target=REJECT"), ("--policy=early", "--set-priority=-1"),
                           ("--policy=early", "--add-rich-rule=rule family=ipv6 port port=80 protocol=tcp accept"),
                           ("--policy=early", "--add-rich-rule=rule family=ipv4 source address=198.51.100.0/24 masquerade")], {}),
    "overlapping-sources": ([*PUB, ("--new-zone=zwide",), ("--zone=zwide", "--add-source=198.51.100.0/24"),
                             ("--zone=zwide", "--set-target=DROP"), ("--new-zone=anarrow",), ("--zone=anarrow", "--add-source=198.51.100.64/26"),
                             ("--zone=anarrow", "--add-port=3306/tcp"), ("--zone=anarrow", "--add-port=22/tcp"),
                             ("--zone=trusted", "--add-source=198.51.100.66"), ("--zone=work", "--add-source=2001:db8:1::/48"),
                             ("--zone=internal", "--add-source=2001:db8:1::2"), ("--zone=internal", "--add-port=5432/tcp"),
                             ("--zone=zwide", "--add-forward")], {}),
    "overlapping-sources-reversed": ([*PUB, ("--new-zone=anarrow",), ("--zone=anarrow", "--add-source=198.51.100.0/24"),
                                      ("--zone=anarrow", "--set-target=DROP"), ("--new-zone=zwide",),
                                      ("--zone=zwide", "--add-source=198.51.100.64/26"), ("--zone=zwide", "--add-port=3306/tcp"),
                                      ("--zone=dmz", "--add-source=198.51.100.0/25")], {}),
    "direct-reject": ([*PUB, ("--zone=public", "--add-service=http"),
                       ("--direct", "--add-rule", "ipv4", "filter", "INPUT", "0", "-p", "tcp", "--dport", "80", "-s", "198.51.100.0/26",
                        "-j", "REJECT", "--reject-with", "tcp-reset"),
                       ("--direct", "--add-rule", "ipv4", "filter", "INPUT", "1", "-p", "udp", "--dport", "53", "-j", "REJECT"),
                       ("--direct", "--add-rule", "ipv6", "filter", "INPUT", "0", "-p", "tcp", "--dport", "22", "-s", "2001:db8:1::/64",
                        "-j", "REJECT", "--reject-with", "icmp6-adm-prohibited"),
                       ("--direct", "--add-rule", "ipv4", "filter", "OUTPUT", "0", "-p", "tcp", "--dport", "443", "-j", "REJECT"),
                       ("--direct", "--add-rule", "ipv4", "filter", "FORWARD", "0", "-p", "tcp", "--dport", "8080", "-j", "REJECT")], {}),
}  # fmt: skip

SOURCES = {4: ["203.0.113.9", "198.51.100.2", "198.51.100.66", "198.51.100.70"],
           6: ["2001:db8:9::9", "2001:db8:1::2", "2002:a00::1"]}  # fmt: skip
DESTS = {4: "192.0.2.1", 6: "2001:db8::1"}
PORTS = [(6, 22), (6, 80), (6, 443), (6, 3306), (6, 5432), (6, 6000), (6, 7000), (6, 8443), (6, 9999),
         (17, 53), (17, 546), (17, 999), (17, 1005), (17, 7005), (132, 5432), (47, 0), (50, 0)]  # fmt: skip
ICMP = {4: 1, 6: 58}


def _flows() -> list[tuple[int, int, str, int, str, str, int]]:
    flows = []
    for family, (proto, port), direction, iface in itertools.product(
        (4, 6), PORTS, ("inbound", "outbound"), (IFACE, "eth7")
    ):
        for src in SOURCES[family]:
            flows.append((family, proto, src, port, direction, iface, 0))
    for family, iface in itertools.product((4, 6), (IFACE, "eth7")):
        for src in SOURCES[family]:
            flows.append(
                (family, ICMP[family], src, 0, "inbound", iface, (8 if family == 4 else 128) << 8)
            )
    return flows


def _verdict(rulesets: list, flow: tuple[int, int, str, int, str, str, int]) -> str:
    family, proto, src, port, direction, iface, icmp = flow
    local, remote = DESTS[family], src
    source, dest = (remote, local) if direction == "inbound" else (local, remote)
    return classify_flow(rulesets, family=family, proto=proto, src=source, dst=dest, sport=999 if port == 999 else 40000,
                         dport=40000 if port == 999 else port, direction=direction, iface=iface, icmp=icmp)  # fmt: skip


# Forwarded flows (first packet through prerouting, forward and postrouting): between the
# oracle's interfaces, to addresses behind them (none of the host's own).
FORWARD_IFACES = (IFACE, "veth1", "eth7")
FORWARD_TO = {4: ["10.9.0.5", "10.8.1.1", "192.0.2.77"], 6: ["2001:db8:5::5", "2002:a00::9"]}
FORWARD_PORTS = [(6, 22), (6, 80), (6, 8080), (17, 53), (1, 0), (58, 0)]


def _forward_flows() -> list[tuple[int, int, str, str, int, str, str]]:
    flows = []
    for family, (proto, port), iif, oif in itertools.product(
        (4, 6), FORWARD_PORTS, FORWARD_IFACES, FORWARD_IFACES
    ):
        if proto in ICMP.values() and proto != ICMP[family]:
            continue
        for src, dst in itertools.product(SOURCES[family][:3], FORWARD_TO[family]):
            flows.append((family, proto, src, dst, port, iif, oif))
    return flows


@pytest.fixture(scope="module")
def lab_ready() -> None:
    reason = firewalld_lab.missing() if os.geteuid() == 0 else "needs root"
    if reason:
        if os.environ.get("FWCHECK_REQUIRE_KERNEL_ORACLE") == "1":
            pytest.fail(f"FWCHECK_REQUIRE_KERNEL_ORACLE=1 but {reason}")
        pytest.skip(reason)


def _host_ruleset() -> str:
    return subprocess.run(
        ["nft", "list", "ruleset"], capture_output=True, text=True, timeout=30
    ).stdout


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_tree_verdicts_equal_the_daemons(lab_ready: None, tmp_path: Path, name: str) -> None:
    offline, conf = CONFIGS[name]
    before = _host_ruleset()
    loaded = firewalld_lab.load(tmp_path, offline, conf)
    assert _host_ruleset() == before, "the host's ruleset changed"
    export = tmp_path / "daemon.nft.json"
    export.write_text(json.dumps(loaded.nft))
    live = [nft_json.parse(export.read_bytes(), str(export))]
    tree = list(firewalld_tree.parse_tree(str(loaded.etc)))
    differ = []
    counts: dict[str, int] = {}
    for flow in _flows():
        expected, got = _verdict(live, flow), _verdict(tree, flow)
        counts[expected] = counts.get(expected, 0) + 1
        if expected != got:
            differ.append(f"{flow}: daemon {expected}, tree {got}")
    forwarded = _forward_flows()
    pairs = zip(forward_verdicts(live, forwarded, FORWARD_IFACES),
                forward_verdicts(tree, forwarded, FORWARD_IFACES), strict=True)  # fmt: skip
    for flow, (expected, got) in zip(forwarded, pairs, strict=True):
        counts[f"fwd-{expected}"] = counts.get(f"fwd-{expected}", 0) + 1
        if expected != got:
            differ.append(f"forwarded {flow}: daemon {expected}, tree {got}")
    print(f"{name}: {sum(counts.values())} flows, {counts}")
    assert not differ, f"{name}: {len(differ)} verdicts differ:\n" + "\n".join(differ[:20])


# Configurations probed through the kernel too: bound to the oracle's host interface.
PROBED = (
    "stock",
    "ports",
    "target-drop",
    "source-zone",
    "rich-basic",
    "icmp-block",
    "policies",
    "direct",
    "rich-own-actions",
    "rich-invert-icmp",
    "overlapping-sources",
    "overlapping-sources-reversed",
    "direct-reject",
    "policy-zones",
)


# Ports a configuration forwards (redirects) elsewhere: fwcheck follows the redirect where it
# can; where it cannot, "indeterminate" (it goes to another port or host) is allowed there and
# nowhere else.
TRANSLATED = {"rich-own-actions": (8443,), "forward-port": (80,)}


def _probes() -> tuple[Probe, ...]:
    probes, sport = [], 41000
    for family in (4, 6):
        local = host_addresses(family)[0]
        for remote in peer_addresses(family):
            for proto, port in (
                (6, 22),
                (6, 80),
                (6, 443),
                (6, 3306),
                (6, 5432),
                (6, 8443),
                (17, 53),
                (17, 1000),
            ):
                sport += 1
                probes.append(Probe(family, proto, remote, local, sport, port, "inbound"))
            sport += 1
            probes.append(Probe(family, ICMP[family], remote, local, sport, 0, "inbound"))
        for proto, port in ((6, 443), (17, 53)):
            sport += 1
            probes.append(
                Probe(family, proto, local, peer_addresses(family)[0], sport, port, "outbound")
            )
    return tuple(probes)


def _bound(offline: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    return [tuple(a.replace(IFACE, HOST_IFACE) for a in step) for step in offline]


@pytest.mark.parametrize("name", PROBED)
def test_tree_verdicts_equal_the_kernels(
    lab_ready: None, netns: NetnsPair, tmp_path: Path, name: str
) -> None:
    offline, conf = CONFIGS[name]
    before = _host_ruleset()
    loaded = firewalld_lab.load(tmp_path, _bound(offline), conf, namespace=netns.host)
    assert _host_ruleset() == before, "the host's ruleset changed"
    tree = list(firewalld_tree.parse_tree(str(loaded.etc)))
    probes = _probes()
    observed = run_probes(netns, probes)
    differ, counts = [], {"accept": 0, "drop": 0, "indeterminate": 0}
    for probe, seen in zip(probes, observed, strict=True):
        got = classify_flow(tree, family=probe.family, proto=probe.proto, src=probe.src, dst=probe.dst,
                            sport=probe.sport, dport=probe.dport, direction=probe.direction, iface=HOST_IFACE,
                            icmp=(8 if probe.family == 4 else 128) << 8 if probe.proto == ICMP[probe.family] else 0)  # fmt: skip
        counts[got] += 1
        if got == "indeterminate" and probe.dport in TRANSLATED.get(name, ()):
            continue
        if got != seen.kernel:
            differ.append(f"{probe.label()}: kernel {seen.kernel} ({seen.client}), tree {got}")
    print(f"{name}: {len(probes)} probes, {counts}")
    assert not differ, f"{name}: {len(differ)} verdicts differ from the kernel's:\n" + "\n".join(
        differ[:20]
    )
