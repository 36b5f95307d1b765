"""The shipped CIS Linux pack (policies/benchmarks/cis-linux-firewall, docs/controls.md) run on
rulesets in the kernel, every verdict checked against probes.

Rulesets: the two hosts of examples/cis-linux (iptables-restore), a ruleset that accepts
everything but drops nothing, Debian's nftables workstation example, and the real generators'
rulesets of the generator oracle (ufw with its varied rules, firewalld with zones and rich
rules; oracle_generators, loaded confined as there). The host listens (oracle_loopback_agent):
TCP on the case's ports, UDP on 5001, and raw IPv4 sockets that see every packet delivered after
the INPUT hook; `ss -tulpn` in the host namespace gives fwcheck the open ports, the export is
what a user collects (oracle_real.export). The host runs with route_localnet=1, rp_filter=0 and
accept_local=1 so that loopback-source packets reach the rules (test_oracle_loopback.py measures
the kernel's own martian drop without them). What each verdict must agree with:

- default-deny-input: a packet of protocol 253 (RFC 3692, which no rule here names) from the
  peer reaches the host's raw socket exactly when the verdict is fail.
- default-deny-output: a protocol-253 packet from the host to the peer: sendto fails with EPERM
  (OUTPUT dropped it) exactly when the verdict is pass. default-deny-forward is not probed here
  (the forward path needs a third namespace): its reading of chain policies is the one the input
  and output probes check.
- spoofed-loopback: pass - none of the spoofed probes (UDP and TCP SYNs from 127.0.0.5 to the
  open ports, a spoofed UDP datagram matching an ESTABLISHED loopback conntrack entry) gets in;
  fail - the probe of fwcheck's counterexample state gets in.
- loopback-input / -output: a datagram over lo to a port only a lo rule opens arrives exactly
  when both pass.
- open-ports-have-rules, port by port: pass - a TCP connection from some peer address
  completes (or the UDP datagram arrives); fail "no rule accepts" - none does; fail "only by the
  default policy" - one does.
An indeterminate verdict must give a reason the oracle allows (oracle_real.ALLOWED_UNDECIDABLE).
FWCHECK_ORACLE_VERBOSE=1 prints every verdict (run with -s).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from oracle_generators import FIREWALLD, UFW, Generator, nft_example_generators
from oracle_loopback_agent import inner_udp
from oracle_netns import NetnsPair, netns_pair
from oracle_real import ALLOWED_UNDECIDABLE, Confined, _link_pairs, export, parse_exports
from oracle_topology import (
    HOST_IFACE,
    HOST_MAC,
    PEER_IFACE,
    PEER_MAC,
    host_addresses,
    peer_addresses,
)

REPO = Path(__file__).resolve().parents[2]
AGENT = Path(__file__).with_name("oracle_loopback_agent.py")
EXAMPLE = REPO / "examples" / "cis-linux"
PORT = 5001
LO_PORT = 5002
EST_SPORT = 40123
EXPERIMENT = 253
TCP, UDP = 6, 17
LOCALNET = (
    "net.ipv4.conf.all.route_localnet=1",
    f"net.ipv4.conf.{HOST_IFACE}.route_localnet=1",
    "net.ipv4.conf.all.rp_filter=0",
    f"net.ipv4.conf.{HOST_IFACE}.rp_filter=0",
    f"net.ipv4.conf.{HOST_IFACE}.accept_local=1",
)


@dataclass(frozen=True)
class Case:
    tcp_ports: tuple[int, ...]
    # iptables-restore texts (family -> text), or an nft script, or a generator.
    iptables: dict[int, str] = field(default_factory=dict)
    nft: str = ""
    generator: Generator | None = None

    @property
    def exports(self) -> tuple[str, ...]:
        if self.generator is not None:
            return self.generator.exports
        return ("nft",) if self.nft else ("iptables4", "iptables6")


def _example(name: str) -> dict[int, str]:
    return {
        4: (EXAMPLE / f"{name}.iptables-save").read_text(),
        6: (EXAMPLE / f"{name}.ip6tables-save").read_text(),
    }


def _workstation() -> Generator | None:
    found = [g for g in nft_example_generators() if g.config == "workstation"]
    return found[0] if found else None


CASES: dict[str, Callable[[], Case | None]] = {
    "example-db-1": lambda: Case((22, 5432), iptables=_example("db-1")),
    "example-legacy-1": lambda: Case((22, 3306), iptables=_example("legacy-1")),
    "nft-accept-all-lo": lambda: Case(
        (22,),
        nft="table inet f {\n chain input { type filter hook input priority 0; policy accept;\n"
        "  iif lo accept\n }\n}\n",
    ),
    # ICMP errors accepted statelessly before the spoofing drop: RELATED ones get in.
    "nft-icmp-errors-before-the-drop": lambda: Case(
        (22,),
        nft="table inet f {\n chain input { type filter hook input priority 0; policy drop;\n"
        "  iif lo accept\n  icmp type destination-unreachable accept\n"
        f"  ip saddr 127.0.0.0/8 drop\n  tcp dport 22 accept\n  udp dport {PORT} accept\n }}\n}}\n",
    ),
    "nft-example-workstation": lambda: (
        Case((22,), generator=g) if (g := _workstation()) is not None else None
    ),
    "ufw-default-ipv6-varied": lambda: Case((22, 3306, 8443), generator=UFW),
    "firewalld-zones-rich-rules": lambda: Case((22, 3306, 9999), generator=FIREWALLD),
}


def _pack_requirements() -> dict[str, object]:
    from checker import resources
    from checker.policies.loader import load_policy_set

    pack = resources.shipped_policies_dir() / "benchmarks" / "cis-linux-firewall"
    policy_set = load_policy_set([pack])
    return {r.rule_id: r for r in policy_set.requirements_for(["cis-linux-firewall"])}


class Listener:
    def __init__(self, pair: NetnsPair, tcp_ports: tuple[int, ...]) -> None:
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", pair.host, sys.executable, str(AGENT), "listen"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        config = {
            "port": PORT,
            "lo_port": LO_PORT,
            "est_sport": EST_SPORT,
            "tcp_ports": list(tcp_ports),
            # Not the address the protocol-253 probe comes from: conntrack follows a portless
            # protocol by addresses alone, so that probe would be this packet's reply.
            "egress": [[peer_addresses(4)[1]]],
            "deadline_s": 60,
        }
        self.ready = self._talk(json.dumps(config))

    def _talk(self, line: str) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(
                f"listener: {self.process.stderr.read() if self.process.stderr else ''}"
            )
        return json.loads(answer)

    def stop(self) -> dict:
        try:
            return self._talk("stop")
        finally:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass(frozen=True)
class Spoof:
    tag: str
    proto: int
    src: str
    dst: str
    sport: int
    dport: int
    state: str  # NEW | ESTABLISHED | RELATED | INVALID | "" (the peer's own address)
    kind: int = 0  # ICMP type
    code: int = 0
    inner: str = ""  # an ICMP error's quoted packet (hex)


def _spoofs(case: Case) -> list[Spoof]:
    host = host_addresses(4)[0]
    out = [
        Spoof("new-udp", UDP, "127.0.0.5", host, 40100, PORT, "NEW"),
        Spoof("new-udp-to-lo", UDP, "127.0.0.5", "127.0.0.1", 40101, PORT, "NEW"),
        Spoof("est-udp", UDP, "127.0.0.1", "127.0.0.1", EST_SPORT, PORT, "ESTABLISHED"),
        Spoof("open-udp", UDP, peer_addresses(4)[0], host, 40102, PORT, ""),
        Spoof("default", EXPERIMENT, peer_addresses(4)[2], host, 0, 0, ""),
    ]
    out += [
        Spoof(f"new-tcp-{port}", TCP, "127.0.0.5", host, 40200 + i, port, "NEW")
        for i, port in enumerate(case.tcp_ports)
    ]
    return out


STATES = ("ESTABLISHED", "RELATED", "INVALID")
FLOW = re.compile(
    r"^(\w+) ([\d.]+)(?::(\d+))? -> ([\d.]+)(?::(\d+))?(?: type (\d+) code (\d+))? ipv4"
)
# The protocols the listener's raw sockets see (oracle_loopback_agent).
PROBED = {"icmp": 1, "tcp": TCP, "udp": UDP, "gre": 47}


def _counterexample_spoof(text: str | None, state: str) -> Spoof | None:
    """The spoofed probe of fwcheck's counterexample (`udp 127.0.0.1:40000 -> 192.0.2.10:22
    ipv4 in fwc0`, `icmp 127.0.0.1 -> 192.0.2.10 type 8 code 0 ipv4 ...`), to this host."""
    match = FLOW.match(text or "")
    if match is None or match[1] not in PROBED:
        return None
    dst = match[4] if match[4].startswith("127.") else host_addresses(4)[0]
    sport, dport = int(match[3] or 0), int(match[5] or 0)
    kind, code = int(match[6] or 0), int(match[7] or 0)
    proto = PROBED[match[1]]
    return Spoof("counterexample", proto, match[2], dst, sport, dport, state, kind, code)


def _arrived(spoof: Spoof, raw: list[list]) -> bool:
    for proto, src, sport, dport, flags in raw:
        if (proto, src, sport, dport) != (spoof.proto, spoof.src, spoof.sport, spoof.dport):
            continue
        if proto == 1 and flags != spoof.kind:
            continue  # the host's own ICMP answers are other types
        # A SYN, not the RST the host's own stack answers a SYN-ACK with.
        if proto != TCP or flags & 0x12 == 0x02:
            return True
    return False


def _send(pair: NetnsPair, spoofs: list[Spoof]) -> None:
    packets = [
        {
            "family": 4,
            "proto": s.proto,
            "src": s.src,
            "dst": s.dst,
            "sport": s.sport,
            "dport": s.dport,
            "tag": s.tag,
            "type": s.kind,
            "code": s.code,
            "inner": s.inner,
        }
        for s in spoofs
    ]
    sent = {"iface": PEER_IFACE, "src_mac": PEER_MAC, "dst_mac": HOST_MAC, "packets": packets}
    pair.run(pair.peer, [sys.executable, str(AGENT), "send"], (json.dumps(sent) + "\n").encode())


FLOW_ANY = re.compile(r"^(\w+) \[?([\da-f.:]+?)\]?:(\d+) -> ")


def _source_of(flow: str | None) -> str | None:
    """The source address of an engine flow text (`tcp 10.20.0.254:40000 -> ...`)."""
    match = FLOW_ANY.match(flow or "")
    return match[2] if match else None


def _give_peer(pair: NetnsPair, source: str) -> None:
    """Let the peer send from `source` (an address a rule names that the topology lacks): the
    address on the peer's veth, and the host's route back to it through the peer."""
    family = 6 if ":" in source else 4
    length = 128 if family == 6 else 32
    argv = ["ip", "addr", "add", f"{source}/{length}", "dev", PEER_IFACE]
    pair.run(pair.peer, [*argv, "nodad"] if family == 6 else argv)
    pair.run(
        pair.host,
        ["ip", "route", "replace", f"{source}/{length}", "via", peer_addresses(family)[0]],
    )


def _connect(pair: NetnsPair, port: int, family: int, extra: tuple[str, ...] = ()) -> bool:
    sources = [*peer_addresses(family), *(a for a in extra if (":" in a) == (family == 6))]
    connects = [[src, host_addresses(family)[0], port] for src in sources]
    config = {"connects": connects, "timeout_s": 0.5}
    out = pair.run(
        pair.peer, [sys.executable, str(AGENT), "connect"], json.dumps(config).encode() + b"\n"
    )
    return any(json.loads(out.stdout)["connected"])


def _allowed(message: str) -> bool:
    return any(reason in message for reason in ALLOWED_UNDECIDABLE)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_cis_pack_agrees_with_the_kernel(oracle_ready: None, name: str) -> None:
    from checker.engine import settings
    from checker.engine.netfilter import open_ports, walk
    from checker.findings import Status
    from checker.model.listening import ListeningSockets
    from checker.parsers.netfilter import ss_listen

    case = CASES[name]()
    if case is None:
        pytest.skip("Debian's nftables examples are not installed")
    if case.generator is not None:
        import shutil

        missing = [t for t in case.generator.requires if shutil.which(t) is None]
        if missing:
            pytest.skip(f"{name} needs {', '.join(missing)}")
    requirements = _pack_requirements()
    with netns_pair() as pair, tempfile.TemporaryDirectory() as work:
        confined = None
        if case.generator is not None:
            _link_pairs(pair, case.generator.links)
            confined = Confined(pair, case.generator.build(Path(work)))
        elif case.nft:
            pair.run(pair.host, ["nft", "-f", "-"], case.nft.encode())
        else:
            for family, tool in ((4, "iptables-restore"), (6, "ip6tables-restore")):
                pair.run(pair.host, [tool], case.iptables[family].encode())
        try:
            pair.run(pair.host, ["sysctl", "-q", "-w", *LOCALNET])
            listener = Listener(pair, case.tcp_ports)
            try:
                ss = pair.run(pair.host, ["ss", "-tulpn"]).stdout
                dumps = export(pair, case.exports)
                models = [*parse_exports(dumps), ss_listen.parse(ss, "ss-tulpn.txt")]
                verdicts = {
                    rule: settings.check(models, requirement)  # type: ignore[arg-type]
                    for rule, requirement in requirements.items()
                }
                spoofs = _spoofs(case)
                spoofed = verdicts["spoofed-loopback"]
                state = next((s for s in STATES if f"({s})" in spoofed.message), "NEW")
                example = _counterexample_spoof(spoofed.counterexample, state)
                if spoofed.status is Status.FAIL and example is not None:
                    if state == "RELATED" and example.proto == 1:
                        # An ICMP error about the loopback connection the host made: RELATED.
                        inner = inner_udp("127.0.0.1", "127.0.0.1", EST_SPORT, PORT)
                        example = replace(example, dst="127.0.0.1", inner=inner)
                    if state != "ESTABLISHED":
                        spoofs.append(example)
                _send(pair, spoofs)
                # The peers the open-ports verdicts name (a rule may accept only some network).
                walk_context = walk.new_context(models)  # type: ignore[arg-type]
                covered = frozenset().union(*(r.families for r in walk_context.rulesets))
                listening = [m for m in models if isinstance(m, ListeningSockets)]
                sockets = open_ports.open_sockets(listening, (4, 6))
                per_port = open_ports.per_socket(walk_context, sockets, covered)
                extra = tuple(
                    dict.fromkeys(
                        source
                        for _, verdict in per_port
                        if (source := _source_of(verdict.counterexample))
                        and source not in (*peer_addresses(4), *peer_addresses(6))
                    )
                )
                for source in extra:
                    _give_peer(pair, source)
                connected = {
                    (port, family): _connect(pair, port, family, extra)
                    for port in case.tcp_ports
                    for family in (4, 6)
                }
                subprocess.run(["sleep", "0.3"], timeout=5, check=True)
            finally:
                seen = listener.stop()
        finally:
            if confined is not None:
                confined.close()
    if os.environ.get("FWCHECK_ORACLE_VERBOSE") == "1":
        for rule, verdict in verdicts.items():
            print(f"{name} {rule}: {verdict.status.value}: {verdict.message}")
    ready, raw = listener.ready, seen["raw"]
    arrived = {s.tag for s in spoofs if _arrived(s, raw)}
    context = f"{name}: arrived {sorted(arrived)}, ready {ready}, connected {connected}"
    for rule, verdict in verdicts.items():
        if verdict.status is Status.INDETERMINATE:
            assert _allowed(verdict.message), (rule, verdict.message, context)

    # Default deny: the protocol-253 packet in, and out.
    deny_in = verdicts["default-deny-input"].status
    if deny_in is not Status.INDETERMINATE:
        assert ("default" in arrived) == (deny_in is Status.FAIL), context
    deny_out = verdicts["default-deny-output"].status
    if deny_out is not Status.INDETERMINATE:
        assert ready["egress"][0].startswith("error") == (deny_out is Status.PASS), context

    # Spoofed loopback (IPv4 decides: IPv6's ::1 the kernel drops itself, test_oracle_loopback).
    spoof_tags = {s.tag for s in spoofs if s.state}
    if spoofed.status is Status.PASS:
        let_in = arrived & spoof_tags
        if not ready["established"]:
            let_in.discard("est-udp")
        assert not let_in, (spoofed.message, context)
    elif spoofed.status is Status.FAIL:
        wanted = "est-udp" if state == "ESTABLISHED" else "counterexample"
        if state in ("ESTABLISHED", "RELATED"):
            assert ready["established"], context
        assert wanted in arrived, (spoofed.message, context)

    # Loopback: the datagram over lo crosses OUTPUT (oif lo) and INPUT (iif lo).
    lo_in, lo_out = verdicts["loopback-input"].status, verdicts["loopback-output"].status
    if Status.INDETERMINATE not in (lo_in, lo_out):
        assert ready["lo"] == (lo_in is Status.PASS and lo_out is Status.PASS), context

    # Open ports, one by one.
    assert sockets, f"{name}: ss shows no open port: {ss!r}"
    for socket, verdict in per_port:
        if verdict.status is Status.INDETERMINATE:
            assert _allowed(verdict.message), (socket.label(), verdict.message, context)
            continue
        families = sorted(socket.families)
        if socket.protocol == UDP:
            if socket.port != PORT or 4 not in families:
                continue
            got_in = "open-udp" in arrived
        else:
            got_in = any(connected.get((socket.port, f), False) for f in families)
        if verdict.status is Status.PASS:
            assert got_in, (socket.label(), verdict.message, context)
        elif "only by the default policy" in verdict.message:
            assert got_in, (socket.label(), verdict.message, context)
        else:
            assert not got_in, (socket.label(), verdict.message, context)
