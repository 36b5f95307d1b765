"""The kernel as oracle for DNAT (issue 11 defect 5): a published port the way Docker writes it,
with ufw-like INPUT rules that do not allow it, and a REDIRECT to another local port.

The host namespace DNATs peer -> host:8080 to a container namespace behind it (port 80), which
the kernel forwards through FORWARD; fwcheck, given the kernel's own iptables-save dump and the
host's `ip -j addr`, must agree with the kernel on every probe (a TCP connection that completes,
or not). Each variant also says what the kernel must do, so the scenario provably tests what it
names. Listeners and probes are bounded by timeouts; everything runs inside the test's own
namespaces.
"""

from __future__ import annotations

import pytest
from oracle_container import CONTAINER, CONTAINER_IFACE, container_behind
from oracle_generate import Probe
from oracle_netns import NetnsPair
from oracle_probe import fwcheck_verdict
from oracle_ruleset import TCP
from oracle_tcp import connect, listening
from oracle_topology import host_addresses, peer_addresses

from checker.parsers.netfilter import ip_addr, iptables_save, nft_json

pytestmark = pytest.mark.usefixtures("oracle_ready")

DOCKER = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 192.0.2.0/24 ! -o ctr0 -j MASQUERADE
-A DOCKER -i ctr0 -j RETURN
-A DOCKER ! -i ctr0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.2:80
-A DOCKER ! -i ctr0 -p tcp -m tcp --dport 8443 -j REDIRECT --to-ports 443
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
-A FORWARD -j DOCKER-USER
-A FORWARD -o ctr0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o ctr0 -j DOCKER
-A FORWARD -i ctr0 ! -o ctr0 -j ACCEPT
-A DOCKER -d 192.0.2.2/32 ! -i ctr0 -o ctr0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-USER -j RETURN
COMMIT
"""
# (name, ruleset, {port: what the kernel must do})
VARIANTS = (
    ("published", DOCKER, {8080: "accept", 8081: "drop", 22: "accept", 8443: "accept"}),
    (
        "docker-user-drops-the-container-port",
        DOCKER.replace("-A DOCKER-USER -j RETURN", "-A DOCKER-USER -p tcp --dport 80 -j DROP"),
        {8080: "drop", 22: "accept"},
    ),
    (
        "docker-user-drop-of-the-host-port-misses",
        DOCKER.replace("-A DOCKER-USER -j RETURN", "-A DOCKER-USER -p tcp --dport 8080 -j DROP"),
        {8080: "accept"},
    ),
    (
        "no-reply-rule",
        DOCKER.replace("-A FORWARD -i ctr0 ! -o ctr0 -j ACCEPT\n", ""),
        {8080: "drop"},
    ),
    (
        "redirect-target-closed",
        DOCKER.replace("--dport 443 -j ACCEPT", "--dport 444 -j ACCEPT"),
        {8443: "drop", 8080: "accept"},
    ),
)
PORTS = (22, 8080, 8081, 8443)


def _agree(
    netns: NetnsPair, name: str, load: list[str], ruleset: str, dump: list[str], parse,
    expected: dict[int, str],
) -> bytes:  # fmt: skip
    """Loads `ruleset` into the host namespace with `load`, connects from the peer to every
    port in PORTS through the DNAT to the container, and requires the kernel to do what
    `expected` says and fwcheck, reading the `dump` (with `parse`) and `ip -j addr`, to agree
    with the kernel on every port; returns the dump."""
    with container_behind(netns) as container:
        netns.run(netns.host, load, ruleset.encode())
        host, peer = host_addresses(4)[0], peer_addresses(4)[0]
        with listening((container, (80,)), (netns.host, (22, 443, 444, 8081))):
            kernel = {port: connect(netns, netns.peer, host, port) for port in PORTS}
        saved = netns.run(netns.host, dump).stdout
        addresses = netns.run(netns.host, ["ip", "-j", "addr"]).stdout
    models = [parse(saved, "dump"), ip_addr.parse(addresses, "ip-addr")]
    for port, verdict in expected.items():
        assert kernel[port] == verdict, f"{name}: the kernel says {kernel[port]} on {port}"
    answers = {
        port: fwcheck_verdict(models, Probe(4, TCP, peer, host, 40000, port, "inbound"))
        for port in PORTS
    }
    assert answers == kernel, f"{name}: fwcheck {answers}, kernel {kernel}\n{saved.decode()}"
    # fwcheck read the container link it routes the translated flow by.
    assert CONTAINER_IFACE.encode() in addresses
    return saved


@pytest.mark.parametrize("name,ruleset,expected", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_dnat_to_a_container_agrees_with_the_kernel(
    netns: NetnsPair, name: str, ruleset: str, expected: dict[int, str]
) -> None:
    saved = _agree(netns, name, ["iptables-restore"], ruleset, ["iptables-save"],
                   iptables_save.parse, expected)  # fmt: skip
    # The dump fwcheck read holds the translation.
    assert f"--to-destination {CONTAINER}:80".encode() in saved


# The same host in nft's own syntax: `dnat to` / `redirect to` statements (issue 11).
DOCKER_NFT = """flush ruleset
table ip nat {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    iifname != "ctr0" tcp dport 8080 dnat to 192.0.2.2:80
    iifname != "ctr0" tcp dport 8443 redirect to :443
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 192.0.2.0/24 oifname != "ctr0" masquerade
  }
}
table ip filter {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    tcp dport { 22, 443 } accept
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    oifname "ctr0" ct state established,related accept
    ip daddr 192.0.2.2 iifname != "ctr0" oifname "ctr0" tcp dport 80 accept
    iifname "ctr0" oifname != "ctr0" accept
  }
}
"""
NFT_VARIANTS = (
    ("nft-published", DOCKER_NFT, {8080: "accept", 8081: "drop", 22: "accept", 8443: "accept"}),
    (
        "nft-no-reply-rule",
        DOCKER_NFT.replace('    iifname "ctr0" oifname != "ctr0" accept\n', ""),
        {8080: "drop", 8443: "accept"},
    ),
)


@pytest.mark.parametrize("name,ruleset,expected", NFT_VARIANTS, ids=[v[0] for v in NFT_VARIANTS])
def test_nft_dnat_to_a_container_agrees_with_the_kernel(
    netns: NetnsPair, name: str, ruleset: str, expected: dict[int, str]
) -> None:
    """nft `dnat to`/`redirect to` statements, read from `nft -j list ruleset`, are followed
    like iptables' DNAT/REDIRECT: fwcheck agrees with the kernel on every probe."""
    saved = _agree(netns, name, ["nft", "-f", "-"], ruleset, ["nft", "-j", "list", "ruleset"],
                   nft_json.parse, expected)  # fmt: skip
    assert b'"dnat"' in saved
