"""Send the probes through a namespace pair and read the kernel's verdict for each.

One agent per namespace (oracle_agent.py) listens on every service port and sends that side's
probes: inbound probes leave the peer, outbound ones leave the host. The verdict is what the far
side's listener saw, after every probe finished and a grace period: a TCP connection the
listener accepted (SYN, SYN-ACK and ACK all passed) or a UDP datagram it received is "accept";
anything else (a timeout, a refusal) is "drop". A ping has no listener (the far side's kernel
answers it): it is "accept" when the sender got its echo reply back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from oracle_generate import Probe
from oracle_netns import NetnsPair
from oracle_ruleset import ICMP
from oracle_topology import HOST_IFACE, SERVICE_PORTS

AGENT = Path(__file__).with_name("oracle_agent.py")
TIMEOUT_S = 0.5
# After the last probe returns: time for queued accepts and datagrams to reach the listeners.
GRACE_S = 0.2
AGENT_DEADLINE_S = 30
# ICMP echo request types (RFC 792, RFC 4443); a ping probe asks about this type, code 0.
ECHO_REQUEST = {4: 8, 6: 128}


@dataclass(frozen=True, slots=True)
class Observed:
    kernel: str  # "accept" | "drop"
    client: str  # what the sending side saw: connected | refused | timeout | sent | error: …


class _Agent:
    def __init__(
        self,
        pair: NetnsPair,
        namespace: str,
        probes: list[dict],
        ports: tuple[int, ...],
        raw: tuple[int, ...] = (),
    ) -> None:
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, str(AGENT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.namespace = namespace
        config = {"ports": list(ports), "probes": probes, "timeout_s": TIMEOUT_S, "raw": list(raw)}
        self.send(json.dumps(config))

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=AGENT_DEADLINE_S)
            assert self.process.stderr is not None
            raise RuntimeError(f"agent in {self.namespace} died: {self.process.stderr.read()}")
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=AGENT_DEADLINE_S)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _wire(index: int, probe: Probe) -> dict:
    return {
        "id": str(index),
        "family": probe.family,
        "proto": probe.proto,
        "src": probe.src,
        "dst": probe.dst,
        "sport": probe.sport,
        "dport": probe.dport,
    }


def _listener_key(probe: Probe) -> tuple:
    # What a listener records of a probe (oracle_agent.py): the destination address is not in
    # it, so two probes differing only there are one record to the listener.
    return (probe.proto, probe.family, probe.src, probe.sport, probe.dport)


def rounds_of(probes: tuple[Probe, ...]) -> list[list[int]]:
    """The probes' indexes in rounds (first fit, in order) such that no two probes of one round
    have the same listener key: one round when every key differs."""
    rounds: list[list[int]] = []
    taken: list[set[tuple]] = []
    for index, probe in enumerate(probes):
        key = _listener_key(probe)
        for members, keys in zip(rounds, taken, strict=True):
            if key not in keys:
                members.append(index)
                keys.add(key)
                break
        else:
            rounds.append([index])
            taken.append({key})
    return rounds


def run_probes(
    pair: NetnsPair, probes: tuple[Probe, ...], ports: tuple[int, ...] = SERVICE_PORTS
) -> list[Observed]:
    """The kernel's verdict on each probe; both sides listen on `ports` (TCP and UDP) and, with
    raw sockets, for the other IP protocols the probes use (a datagram received is "accept").

    Probes a listener could not tell apart (they differ only in the destination address) go in
    separate rounds: one's datagram would otherwise count as the other's."""
    observed: dict[int, Observed] = {}
    for members in rounds_of(probes):
        found = _run_round(pair, tuple(probes[i] for i in members), ports)
        observed.update(zip(members, found, strict=True))
    return [observed[i] for i in range(len(probes))]


def _run_round(
    pair: NetnsPair, probes: tuple[Probe, ...], ports: tuple[int, ...]
) -> list[Observed]:
    # Not TCP, UDP, UDP-Lite (136: ports, its own sockets) or ICMP/ICMPv6 (pings).
    raw = tuple(sorted({p.proto for p in probes} - {6, 17, 136, 1, 58}))
    inbound = [_wire(i, p) for i, p in enumerate(probes) if p.direction == "inbound"]
    outbound = [_wire(i, p) for i, p in enumerate(probes) if p.direction == "outbound"]
    agents: list[_Agent] = []
    try:
        # The peer sends the inbound probes and listens for the outbound ones; the host the
        # other way round. A kill in `finally` ends both even when an assertion fails.
        agents.append(_Agent(pair, pair.peer, inbound, ports, raw))
        agents.append(_Agent(pair, pair.host, outbound, ports, raw))
        for agent in agents:
            if agent.receive() != {"ready": True}:
                raise RuntimeError(f"agent in {agent.namespace} did not start")
        for agent in agents:
            agent.send("go")
        clients: dict[str, str] = {}
        for agent in agents:
            clients.update(agent.receive()["probes"])
        time.sleep(GRACE_S)
        seen: set[tuple] = set()
        for agent in agents:
            agent.send("stop")
            seen.update(tuple(record) for record in agent.receive()["seen"])
        for agent in agents:
            agent.process.wait(timeout=AGENT_DEADLINE_S)
    finally:
        for agent in agents:
            agent.close()
    # A DNAT/REDIRECT (firewalld's forward-port) delivers a probe to another port's listener,
    # and that is the kernel letting it through: a probe alone with its (protocol, family,
    # source, source port) is also matched by a record of any listener port.
    shared = Counter((p.proto, p.family, p.src, p.sport) for p in probes)
    landed = {record[:4] for record in seen}
    observed = []
    for index, probe in enumerate(probes):
        client = clients.get(str(index), "missing")
        if probe.proto == ICMP[probe.family]:
            verdict = "accept" if client == "replied" else "drop"
        else:
            key = (probe.proto, probe.family, probe.src, probe.sport)
            alone = shared[key] == 1 and key in landed
            verdict = "accept" if (*key, probe.dport) in seen or alone else "drop"
        observed.append(Observed(verdict, client))
    return observed


def fwcheck_verdict(rulesets: list, probe: Probe) -> str:
    """fwcheck's answer for the connection `probe` makes over the host's veth: "accept", "drop"
    or "indeterminate" (a ping asks whether its echo reply gets back)."""
    from checker.engine.netfilter.engine import classify_flow

    return classify_flow(
        rulesets,
        family=probe.family,
        proto=probe.proto,
        src=probe.src,
        dst=probe.dst,
        sport=probe.sport,
        dport=probe.dport,
        direction=probe.direction,
        iface=HOST_IFACE,
        icmp=ECHO_REQUEST[probe.family] << 8 if probe.proto == ICMP[probe.family] else 0,
    )
