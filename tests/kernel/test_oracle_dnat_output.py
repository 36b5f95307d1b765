"""The kernel as oracle for DNAT in nat OUTPUT: this host's own connections to a "service
address" translated to an endpoint, the way kube-proxy writes cluster IPs
(`-A OUTPUT -j KUBE-SERVICES` ... `-j DNAT --to-destination POD:PORT`).

The host namespace connects to 10.96.0.1:443 (a route sends it out of the oracle's veth); nat
OUTPUT sends it to the container namespace behind the host (192.0.2.2:80 over ctr0). What the
kernel does after the translation (nf_nat_ipv4_local_fn, and the reply's source restored at
NF_IP_PRI_NAT_SRC in INPUT, after the filter table): filter OUTPUT sees the new destination,
port and output device; filter INPUT sees the SYN-ACK from the endpoint, not from the service
address. fwcheck, given the kernel's own dump and `ip -j addr`, must agree with the kernel on
every probe; each variant also says what the kernel must do, so it tests what it names.
Everything runs inside the test's namespaces, with bounded timeouts.
"""

from __future__ import annotations

import pytest
from oracle_container import CONTAINER, CONTAINER_IFACE, container_behind
from oracle_generate import Probe
from oracle_netns import NetnsPair
from oracle_probe import fwcheck_verdict
from oracle_ruleset import TCP
from oracle_tcp import connect, listening
from oracle_topology import HOST_IFACE, host_addresses

from checker.parsers.netfilter import ip_addr, iptables_save, nft_json

pytestmark = pytest.mark.usefixtures("oracle_ready")

SERVICE = "10.96.0.1"
KUBE = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:SERVICES - [0:0]
-A OUTPUT -m comment --comment "service portals" -j SERVICES
-A SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j DNAT --to-destination 192.0.2.2:80
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A OUTPUT -d 192.0.2.2/32 -p tcp -m tcp --dport 80 -j ACCEPT
COMMIT
"""
ENDPOINT_RULE = "-A OUTPUT -d 192.0.2.2/32 -p tcp -m tcp --dport 80 -j ACCEPT"
REPLY_RULE = "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
MANGLE_POST = ":POSTROUTING ACCEPT [0:0]\nCOMMIT\n*filter"
# (name, ruleset, {service port: what the kernel must do})
VARIANTS = (
    # 443 is translated to the endpoint, which OUTPUT lets out; 444 is not translated and
    # OUTPUT's policy refuses it.
    ("translated-endpoint-allowed", KUBE, {443: "accept", 444: "drop"}),
    (
        "output-drops-the-endpoint",
        KUBE.replace(ENDPOINT_RULE, f"-A OUTPUT -d {CONTAINER}/32 -j DROP\n{ENDPOINT_RULE}"),
        {443: "drop"},
    ),
    (
        "output-drop-of-the-service-port-misses",
        KUBE.replace(ENDPOINT_RULE, f"-A OUTPUT -p tcp --dport 443 -j DROP\n{ENDPOINT_RULE}"),
        {443: "accept"},
    ),
    # The OUTPUT hook is called with the device first routed to; nf_nat reroutes afterwards.
    (
        "output-sees-the-first-device",
        KUBE.replace(ENDPOINT_RULE, ENDPOINT_RULE.replace("-A OUTPUT", "-A OUTPUT -o fwc0")),
        {443: "accept"},
    ),
    (
        "output-accept-on-the-new-device-misses",
        KUBE.replace(ENDPOINT_RULE, ENDPOINT_RULE.replace("-A OUTPUT", "-A OUTPUT -o ctr0")),
        {443: "drop"},
    ),
    (
        "postrouting-drops-the-new-device",
        KUBE.replace(
            MANGLE_POST, MANGLE_POST.replace("\nCOMMIT", "\n-A POSTROUTING -o ctr0 -j DROP\nCOMMIT")
        ),
        {443: "drop"},
    ),
    (
        "postrouting-drop-of-the-first-device-misses",
        KUBE.replace(
            MANGLE_POST, MANGLE_POST.replace("\nCOMMIT", "\n-A POSTROUTING -o fwc0 -j DROP\nCOMMIT")
        ),
        {443: "accept"},
    ),
    # The reply's source is written back after the filter table of INPUT.
    (
        "reply-allowed-by-the-endpoint-source",
        KUBE.replace(REPLY_RULE, f"-A INPUT -s {CONTAINER}/32 -p tcp -m tcp --sport 80 -j ACCEPT"),
        {443: "accept"},
    ),
    (
        "reply-allowed-by-the-service-source-misses",
        KUBE.replace(REPLY_RULE, f"-A INPUT -s {SERVICE}/32 -p tcp -m tcp --sport 443 -j ACCEPT"),
        {443: "drop"},
    ),
)
PORTS = (443, 444)


def _run(
    netns: NetnsPair, ruleset: str, nft: bool = False
) -> tuple[dict[int, str], dict[int, str], bytes, bytes]:
    """(the kernel's verdict per service port, fwcheck's, the dump fwcheck read, ip -j addr)."""
    load, dump = (["nft", "-f", "-"], ["nft", "-j", "list", "ruleset"]) if nft else (
        ["iptables-restore"], ["iptables-save"])  # fmt: skip
    parse = nft_json.parse if nft else iptables_save.parse
    with container_behind(netns) as container:
        netns.run(netns.host, ["ip", "route", "add", "10.96.0.0/16", "dev", HOST_IFACE])
        netns.run(netns.host, load, ruleset.encode())
        source = host_addresses(4)[0]
        with listening((container, (80,)), (netns.host, (8443,))):
            kernel = {
                port: connect(netns, netns.host, SERVICE, port, (source, 41000 + port))
                for port in PORTS
            }
        saved = netns.run(netns.host, dump).stdout
        addresses = netns.run(netns.host, ["ip", "-j", "addr"]).stdout
    models = [parse(saved, "dump"), ip_addr.parse(addresses, "ip-addr")]
    answers = {
        port: fwcheck_verdict(
            models, Probe(4, TCP, host_addresses(4)[0], SERVICE, 41000 + port, port, "outbound")
        )
        for port in PORTS
    }
    return kernel, answers, saved, addresses


@pytest.mark.parametrize("name,ruleset,expected", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_dnat_in_output_agrees_with_the_kernel(
    netns: NetnsPair, name: str, ruleset: str, expected: dict[int, str]
) -> None:
    kernel, answers, saved, addresses = _run(netns, ruleset)
    for port, verdict in expected.items():
        assert kernel[port] == verdict, f"{name}: the kernel says {kernel[port]} on {port}"
    assert answers == kernel, f"{name}: fwcheck {answers}, kernel {kernel}\n{saved.decode()}"
    assert f"--to-destination {CONTAINER}:80".encode() in saved
    assert CONTAINER_IFACE.encode() in addresses


# The translated packets and the listener's SYN-ACK leave through OUTPUT; no ESTABLISHED
# rule, so the connection's ACK gets out only as translated.
OWN_PORT_OUT = (
    f"{ENDPOINT_RULE}\n-A OUTPUT -p tcp --dport 8443 -j ACCEPT"
    "\n-A OUTPUT -p tcp --sport 8443 -j ACCEPT"
)
# Translations the walk does not follow: to this host's own address (the packet comes back in
# through loopback) and REDIRECT.
UNFOLLOWED = (
    (
        "dnat-to-an-own-address",
        KUBE.replace("192.0.2.2:80", "192.0.2.1:8443")
        .replace(REPLY_RULE, f"{REPLY_RULE}\n-A INPUT -p tcp --dport 8443 -j ACCEPT")
        .replace(ENDPOINT_RULE, OWN_PORT_OUT),
    ),
    (
        "redirect",
        KUBE.replace("-j DNAT --to-destination 192.0.2.2:80", "-j REDIRECT --to-ports 8443")
        .replace(REPLY_RULE, f"{REPLY_RULE}\n-A INPUT -p tcp --dport 8443 -j ACCEPT")
        .replace(ENDPOINT_RULE, OWN_PORT_OUT),
    ),
)


@pytest.mark.parametrize("name,ruleset", UNFOLLOWED, ids=[v[0] for v in UNFOLLOWED])
def test_a_translation_not_followed_is_indeterminate(
    netns: NetnsPair, name: str, ruleset: str
) -> None:
    """The kernel lets the connection through; fwcheck cannot follow it and must say so, on
    every packet of the handshake: before, the connection's later packets were judged as if
    untranslated (OUTPUT's policy refuses 10.96.0.1:443) and the verdict was a wrong "drop"."""
    kernel, answers, saved, _ = _run(netns, ruleset)
    assert kernel == {443: "accept", 444: "drop"}, f"{name}: the kernel says {kernel}"
    assert answers == {443: "indeterminate", 444: "drop"}, (
        f"{name}: fwcheck {answers}\n{saved.decode()}"
    )


# The same in nft's syntax: a nat output chain with `dnat to`, an output filter chain after it.
KUBE_NFT = """flush ruleset
table ip nat {
  chain out {
    type nat hook output priority -100; policy accept;
    ip daddr 10.96.0.1 tcp dport 443 dnat to 192.0.2.2:80
  }
}
table ip filter {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
  }
  chain output {
    type filter hook output priority filter; policy drop;
    oifname "fwc0" ip daddr 192.0.2.2 tcp dport 80 accept
  }
  chain post {
    type filter hook postrouting priority filter; policy accept;
  }
}
"""
NFT_VARIANTS = (
    ("nft-output-sees-the-first-device", KUBE_NFT, {443: "accept", 444: "drop"}),
    (
        "nft-postrouting-drops-the-new-device",
        KUBE_NFT.replace(
            "priority filter; policy accept;",
            'priority filter; policy accept;\n    oifname "ctr0" drop',
        ),
        {443: "drop"},
    ),
)


@pytest.mark.parametrize("name,ruleset,expected", NFT_VARIANTS, ids=[v[0] for v in NFT_VARIANTS])
def test_nft_dnat_in_output_agrees_with_the_kernel(
    netns: NetnsPair, name: str, ruleset: str, expected: dict[int, str]
) -> None:
    kernel, answers, saved, _ = _run(netns, ruleset, nft=True)
    for port, verdict in expected.items():
        assert kernel[port] == verdict, f"{name}: the kernel says {kernel[port]} on {port}"
    assert answers == kernel, f"{name}: fwcheck {answers}, kernel {kernel}\n{saved.decode()}"
    assert b'"dnat"' in saved
