"""`fwcheck check` on a node's own connections to a kube-proxy ClusterIP (DNAT in nat OUTPUT,
endpoints picked by `-m statistic`): with the node's `ip -j addr` the translation is followed
to every endpoint and the requirement decided; without it, indeterminate, saying which file
would decide it. Run as a user runs it; the engine's semantics are measured on the kernel in
tests/kernel/test_oracle_dnat_output.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

NODE = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-API - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SEP-B - [0:0]
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-SVC-API
-A KUBE-SVC-API -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-A
-A KUBE-SVC-API -j KUBE-SEP-B
-A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.244.0.2:6443
-A KUBE-SEP-B -p tcp -m tcp -j DNAT --to-destination 10.244.0.3:6443
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A OUTPUT -d 10.244.0.0/16 -p tcp -m tcp --dport 6443 -j ACCEPT
COMMIT
"""
ADDRESSES = [
    {"ifindex": 1, "ifname": "lo", "addr_info": [
        {"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {"ifindex": 2, "ifname": "eth0", "addr_info": [
        {"family": "inet", "local": "192.0.2.10", "prefixlen": 24}]},
    {"ifindex": 3, "ifname": "cni0", "addr_info": [
        {"family": "inet", "local": "10.244.0.1", "prefixlen": 24}]},
]  # fmt: skip
POLICY = """\
id: node
title: Node
roles: [node]
rules:
  - {id: api-out, title: API server reachable, expect: allow, direction: outbound, protocol: tcp, port: 443, remote: 10.96.0.1, family: ipv4}
  - {id: api-out-closed, title: not 8443, expect: deny, direction: outbound, protocol: tcp, port: 8443, remote: 10.96.0.1, family: ipv4}
"""


def _check(root: Path, *files: str) -> dict[str, dict]:
    argv = [
        *(sys.executable, "-m", "checker", "check", "--no-builtin-policies"),
        *("--policies", "policies", "--role", "node", "--json", "out.json", *files),
    ]
    run = subprocess.run(argv, cwd=root, capture_output=True, timeout=120)
    assert b"Traceback" not in run.stderr, run.stderr.decode(errors="replace")
    report = json.loads((root / "out.json").read_text())
    return {r["rule"]: r for r in report["results"]}


def test_cluster_ip_from_the_node_is_followed_with_the_node_addresses(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "node.yaml").write_text(POLICY)
    (tmp_path / "node.iptables-save").write_text(NODE)
    (tmp_path / "node.ip-addr.json").write_text(json.dumps(ADDRESSES))
    decided = _check(tmp_path, "node.iptables-save", "node.ip-addr.json")
    assert decided["api-out"]["status"] == "pass", decided["api-out"]["message"]
    assert decided["api-out-closed"]["status"] == "pass", decided["api-out-closed"]["message"]
    alone = _check(tmp_path, "node.iptables-save")
    assert alone["api-out"]["status"] == "indeterminate"
    assert "add the `ip -j addr` output" in alone["api-out"]["message"]
    # OUTPUT refuses every endpoint: the requirement fails on the service address.
    (tmp_path / "node.iptables-save").write_text(NODE.replace("6443 -j ACCEPT", "6443 -j DROP"))
    failed = _check(tmp_path, "node.iptables-save", "node.ip-addr.json")["api-out"]
    assert failed["status"] == "fail", failed["message"]
    assert "10.96.0.1:443" in failed["counterexample"]
    # One endpoint refused: whether a connection gets through depends on the random pick.
    one = NODE.replace(
        "-A OUTPUT -d 10.244.0.0/16",
        "-A OUTPUT -d 10.244.0.3/32 -j DROP\n-A OUTPUT -d 10.244.0.0/16",
    )
    (tmp_path / "node.iptables-save").write_text(one)
    either = _check(tmp_path, "node.iptables-save", "node.ip-addr.json")["api-out"]
    assert either["status"] == "indeterminate"
    assert "--probability 0.5" in either["message"]
