"""Exposure end to end (docs/policy-format.md, "Exposure"): real listeners in the SSH lab's
namespace (TCP and UDP over IPv4 and IPv6, a dual-stack IPv6 socket that takes IPv4 too, one
bound to IPv4 loopback and one to IPv6 loopback), scanned over SSH with `fwcheck scan` (which
gathers `ss -H -tulpn` with the firewall dumps), and both the exposure results and the HTML
report's exposed-services table compared with real probes from the namespace on the other end
of the lab's veth.

The lab's rules (sshlab.py): IPv4 is accepted but for nft's `tcp dport 9090 drop`, legacy's
REJECT of 25 and iptables-nft's 23 drop; IPv6 is dropped but for ICMPv6 and tcp 22.
"""

from __future__ import annotations

import html
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sshlab

from checker.commands import scan
from checker.commands.outputs import Outputs

LAB6, PEER6 = "2001:db8:77::2", "2001:db8:77::1"
# (protocol, family, bind address, port): what listens in the lab. Family 46: an IPv6 socket
# without IPV6_V6ONLY, which takes IPv4 too (ss shows it as `*:port`).
LISTENERS = (
    ("tcp", 4, "0.0.0.0", 8080),  # accepted, declared: pass
    ("udp", 4, "0.0.0.0", 5353),  # accepted, undeclared: fail
    ("tcp", 4, "0.0.0.0", 9090),  # nft drops it: no result
    ("tcp", 6, LAB6, 22),  # ip6tables accepts tcp 22: fail
    ("tcp", 6, "::", 8081),  # ip6tables drops it: no result
    ("udp", 6, "::", 5355),  # ip6tables drops udp: no result
    ("tcp", 46, "::", 8084),  # IPv4 accepts it, IPv6 drops it: fail, reached over IPv4
    ("tcp", 4, "127.0.0.1", 8082),  # loopback only: never exposed
    ("tcp", 6, "::1", 8083),  # IPv6 loopback only: never exposed
)
AGENT = r"""
import socket, sys, json, select
specs = json.loads(sys.argv[1])
socks = []
for proto, family, address, port in specs:
    fam = socket.AF_INET if family == 4 else socket.AF_INET6
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(fam, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family != 4:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if family == 6 else 0)
    s.bind((address, port))
    if kind == socket.SOCK_STREAM:
        s.listen(8)
    socks.append((proto, port, s))
print("ready", flush=True)
while True:
    ready, _, _ = select.select([s for _, _, s in socks], [], [], 30)
    if not ready:
        break
    for proto, port, s in socks:
        if s in ready:
            if proto == "tcp":
                conn, _ = s.accept()
                conn.close()
            else:
                s.recvfrom(100)
            print(f"seen {proto} {port}", flush=True)
"""
POLICY = """\
id: lab-exposure
title: Lab exposure
roles: [lab]
rules:
  - {id: web, title: Web, expect: allow, direction: inbound, protocol: tcp, port: 8080}
  - {id: https, title: HTTPS, expect: allow, direction: inbound, protocol: tcp, port: 443}
"""


def _write_config(ssh_lab: sshlab.SshLab, folder: Path) -> tuple[Path, Path]:
    """The policy and an inventory of the one lab host (roles: lab)."""
    policy = folder / "lab.yaml"
    policy.write_text(POLICY)
    inventory = folder / "inventory.yaml"
    inventory.write_text(
        f"""\
version: 1
known_hosts: {ssh_lab.known_hosts}
defaults:
  timeout_s: 20
  roles: [lab]
  ssh: {{user: root, key_file: {ssh_lab.client_key}, use_agent: false}}
hosts:
  lab1: {{address: {ssh_lab.address}, port: 2222}}
"""
    )
    return policy, inventory


def _start_agent(netns: str, listeners: tuple) -> subprocess.Popen:
    agent = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-c", AGENT, json.dumps(listeners)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert agent.stdout is not None
    assert agent.stdout.readline().strip() == "ready", agent.stderr.read() if agent.stderr else ""
    return agent


def _stop(agent: subprocess.Popen) -> None:
    if agent.poll() is None:
        agent.kill()
    agent.communicate(timeout=10)


def _table_rows(html_text: str) -> dict[str, tuple[str, ...]]:
    """The HTML report's exposed-services rows, `tcp-8080` -> (status, port, protocol, program,
    reachable from, declared by), read back from the page as a reader sees it."""
    table = re.search(r'<table class="exposed">.*?</table>', html_text, re.S)
    assert table is not None, "no exposed-services table in the HTML report"
    rows = {}
    for row in re.findall(r"<tr class=[^>]*>(.*?)</tr>", table.group(0), re.S):
        cells = tuple(html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row, re.S))
        rows[f"{cells[2]}-{cells[1]}"] = cells
    return rows


def _probe(proto: str, family: int, address: str, port: int) -> bool:
    """Whether a TCP connection from the peer side completes (UDP: sent; the agent says
    whether it arrived)."""
    fam = socket.AF_INET if family == 4 else socket.AF_INET6
    if proto == "tcp":
        try:
            with socket.socket(fam, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                s.connect((address, port))
            return True
        except OSError:
            return False
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.sendto(b"probe", (address, port))
    return False


def test_exposure_matches_probes(ssh_lab: sshlab.SshLab, tmp_path: Path) -> None:
    tag = ssh_lab.netns.removeprefix("fwcssh")
    host_dev, lab_dev = f"fwch{tag}", f"fwcn{tag}"
    subprocess.run(
        ["ip", "-6", "addr", "add", f"{PEER6}/64", "dev", host_dev, "nodad"], check=True, timeout=10
    )
    sshlab.run(
        "ip", "-6", "addr", "add", f"{LAB6}/64", "dev", lab_dev, "nodad", netns=ssh_lab.netns
    )
    agent = _start_agent(ssh_lab.netns, LISTENERS)
    try:
        time.sleep(0.5)  # IPv6 addresses without DAD are usable at once; routes settle
        policy, inventory = _write_config(ssh_lab, tmp_path)
        report = tmp_path / "scan.json"
        page = tmp_path / "scan.html"
        scan.run(
            inventory=str(inventory),
            evidence_dir=str(tmp_path / "evidence"),
            policy_paths=[str(policy)],
            outputs=Outputs(reports=(("json", str(report)), ("html", str(page))), quiet=True),
            user_known_hosts=False,
        )
        table = _table_rows(page.read_text(encoding="utf-8"))
        results = {
            r["rule"]: r
            for r in json.loads(report.read_text())["results"]
            if r["policy"] == "exposure"
        }
        reached = set()
        reached_over: dict[int, int] = {}
        # The lab's sshd listens too (2222-2224 on its IPv4 address).
        sshd = [("tcp", 4, ssh_lab.address, port) for port in (2222, 2223, 2224)]
        for proto, family, _address, port in (*LISTENERS, *sshd):
            # The loopback-only listeners are probed on the lab's addresses: the peer's view.
            # A dual-stack socket is probed over both families.
            for each in (4, 6) if family == 46 else (family,):
                target = ssh_lab.address if each == 4 else LAB6
                if _probe(proto, each, target, port):
                    reached.add(f"{proto}-{port}")
                    if family == 46:
                        reached_over[port] = each
        time.sleep(0.5)
        agent.kill()
        out, _ = agent.communicate(timeout=10)
        reached |= {
            f"{words[1]}-{words[2]}"
            for words in (line.split() for line in out.splitlines())
            if words[:1] == ["seen"]
        }
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.communicate(timeout=10)
        subprocess.run(["ip", "-6", "addr", "del", f"{PEER6}/64", "dev", host_dev], timeout=10)
    exposed = {rule for rule, r in results.items() if not rule.startswith("unused-")}
    print(f"probes reached {sorted(reached)}; fwcheck exposure results {sorted(exposed)}")
    # The claim: a socket has an exposure result exactly when a peer's probe reaches it.
    assert exposed == reached
    assert reached == {
        "tcp-8080",
        "udp-5353",
        "tcp-22",
        "tcp-8084",
        "tcp-2222",
        "tcp-2223",
        "tcp-2224",
    }
    assert results["tcp-8080"]["status"] == "pass"
    assert results["udp-5353"]["status"] == "fail" and results["tcp-22"]["status"] == "fail"
    assert "ipv6" in results["tcp-22"]["counterexample"]
    assert "tcp-8082" not in results  # loopback only, though the firewall accepts 8082
    assert "tcp-8083" not in results and "udp-5355" not in results
    # The dual-stack socket: exposed through IPv4 only, as the probes found.
    assert reached_over == {8084: 4} and results["tcp-8084"]["status"] == "fail"
    # The HTML report's exposed-services table: exactly the sockets a peer reached, each row
    # with the result's status and its program.
    assert set(table) == reached
    assert table["tcp-8080"][0] == "pass" and table["tcp-8080"][5] == "lab-exposure/web"
    assert table["udp-5353"][0] == "fail" and table["udp-5353"][5] == "-"
    assert table["tcp-8084"][4] == "anywhere (ipv4)"
    assert table["tcp-22"][4].endswith("(ipv6)")
    assert all(row[3] != "-" for row in table.values())  # ss -p names every program
    # Declared, nothing listens on 443: info.
    unused = results["unused-lab-exposure-https"]
    assert unused["status"] == "pass" and unused["severity"] == "info"


def test_new_exposure_since_last_run(
    ssh_lab: sshlab.SshLab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two scans of the lab with one history, as two nights would be: between them a UDP
    service starts on 5360 (IPv4 accepts it, no policy declares it). The second run's HTML
    report and console name it, and only it, as new exposure since the last run; the sshd
    ports, open in both runs, are not new."""
    policy, inventory = _write_config(ssh_lab, tmp_path)
    history = str(tmp_path / "history.sqlite")

    def night(name: str) -> str:
        capsys.readouterr()
        scan.run(
            inventory=str(inventory),
            evidence_dir=str(tmp_path / "evidence"),
            policy_paths=[str(policy)],
            outputs=Outputs(reports=(("html", str(tmp_path / f"{name}.html")),)),
            user_known_hosts=False,
            history_path=history,
        )
        return capsys.readouterr().out

    first = night("first")
    assert "new exposure since last run" not in first  # no earlier run: nothing to compare
    agent = _start_agent(ssh_lab.netns, (("udp", 4, "0.0.0.0", 5360),))
    try:
        second = night("second")
    finally:
        _stop(agent)
    page = (tmp_path / "second.html").read_text(encoding="utf-8")
    found = re.search(
        r'<p class="new-exposure" id="new-exposure" data-count="(\d+)">(.*?)</p>', page
    )
    assert found is not None, page[:2000]
    assert found.group(1) == "1" and "lab1 udp-5360" in html.unescape(found.group(2))
    assert "new exposure since last run: 1 (lab1 udp-5360)" in second
    assert "udp-5360" in _table_rows(page)


def test_probe_helper_refuses_closed_ports() -> None:
    """The probe itself can fail: nothing listens on this port of loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert not _probe("tcp", 4, "127.0.0.1", port)


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
