"""`fwcheck explain`'s walk against the kernel's own packet trace.

The host namespace gets an nft ruleset with a jump, a RETURN, a counter that continues, a drop
and a policy; a separate table sets `meta nftrace set 1` at prerouting so the kernel reports
every rule the packet hits (`nft monitor trace`, nft(8) "TRACING"; the rule handles come with
`-a`). The peer sends one TCP SYN per port; for each, the rules the kernel says the SYN matched
in table fw, and the chain policy it fell to, must be exactly the hops fwcheck's walk of the same
flow lists (netfilter_trace on the `nft -j list ruleset` dump of that table)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from oracle_netns import NetnsPair
from oracle_topology import host_addresses, peer_addresses

from checker.engine.netfilter import trace as netfilter_trace
from checker.errors import Location
from checker.findings import Severity
from checker.parsers.netfilter import nft_json
from checker.policies.model import Direction, Expect, Requirement

RULES = """table inet fw {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    tcp dport 22 counter
    tcp dport 22 accept
    tcp dport { 23, 2323 } jump legacy
  }
  chain legacy {
    tcp dport 2323 drop
    tcp dport 23 return
  }
}
table inet tracing {
  chain pre {
    type filter hook prerouting priority -350;
    meta nftrace set 1
  }
}
"""

_LINE = re.compile(
    r"^trace id \S+ inet fw (\S+) (rule .*# handle (\d+) \(verdict (\w+)|policy (\w+))"
)


def _kernel_hops(pair: NetnsPair, port: int) -> list[tuple[str, str]]:
    """(chain, handle or "policy <verdict>") for each table-fw line of the SYN's trace."""
    monitor = subprocess.Popen(
        ["ip", "netns", "exec", pair.host, "nft", "-a", "monitor", "trace"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(0.4)
        address = host_addresses(4)[0]
        code = (
            "import socket; s = socket.socket(); s.settimeout(1.0); "
            f"s.connect_ex(({address!r}, {port}))"
        )
        pair.run(pair.peer, [sys.executable, "-c", code], check=False)
        time.sleep(0.4)
    finally:
        monitor.terminate()
        out, _ = monitor.communicate(timeout=10)
    hops = []
    first_id = None
    for line in out.decode(errors="replace").splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        trace_id = line.split()[2]
        first_id = first_id or trace_id
        if trace_id != first_id:
            break  # only the SYN (the first traced packet of table fw)
        chain = match.group(1)
        hops.append((chain, match.group(3) if match.group(3) else f"policy {match.group(5)}"))
    return hops


def _requirement(port: int) -> Requirement:
    peer = int.from_bytes(bytes(int(x) for x in peer_addresses(4)[0].split(".")), "big")
    return Requirement(
        policy_id="oracle",
        rule_id=f"port-{port}",
        title="",
        expect=Expect.DENY,
        direction=Direction.INBOUND,
        protocol=6,
        ports=((port, port),),
        remote=((4, peer, peer),),
        except_remote=(),
        local=None,
        program=None,
        service=None,
        profiles=frozenset(),
        icmp_type=None,
        families=frozenset({4}),
        severity=Severity.HIGH,
        origin=Location("oracle.yaml", 1, 1),
    )


def _fwcheck_hops(dump: bytes, port: int) -> list[tuple[str, str]]:
    models = [nft_json.parse(dump, "dump.nft.json")]
    (trace,) = netfilter_trace.trace(models, _requirement(port))
    hops = []
    for walk in trace.packets[0].chains:
        chain = walk.chain
        for hop in walk.hops:
            handle = re.search(r"# handle (\d+)", hop.text)
            if handle:
                hops.append((_chain_of(dump, int(handle.group(1))), handle.group(1)))
            else:
                hops.append((chain, f"policy {walk.outcome}"))
    return hops


def _chain_of(dump: bytes, handle: int) -> str:
    for item in json.loads(dump)["nftables"]:
        rule = item.get("rule")
        if rule and rule["handle"] == handle and rule["table"] == "fw":
            return str(rule["chain"])
    return "?"


@pytest.mark.parametrize("port", [22, 23, 2323, 80])
def test_explain_walk_is_the_kernel_trace(netns: NetnsPair, port: int) -> None:
    netns.run(netns.host, ["nft", "-f", "-"], stdin=RULES.encode())
    listed = json.loads(netns.run(netns.host, ["nft", "-j", "list", "ruleset"]).stdout)
    # fwcheck gets table fw only: the tracing table is the test's instrument, not the firewall.
    listed["nftables"] = [
        item
        for item in listed["nftables"]
        if next(iter(item.values())).get("table", next(iter(item.values())).get("name"))
        != "tracing"
    ]
    dump = json.dumps(listed).encode()
    kernel = _kernel_hops(netns, port)
    assert kernel, "the kernel traced nothing: is nftrace supported here?"
    assert _fwcheck_hops(dump, port) == kernel, kernel
