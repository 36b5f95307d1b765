"""The Linux kernel as oracle for exclusive policies (checker.engine.netfilter.exclusive).

Each case loads a random ruleset (the generator of test_oracle_random) into a fresh namespace,
draws a few random `expect: allow` declarations, asks fwcheck for the undeclared accepted
blocks of each direction on the kernel's own dump, and probes the kernel:

- random probes (TCP, UDP, pings, both directions, privileged and ephemeral source ports):
  every flow the kernel accepts must be declared, infrastructure, or inside a reported block;
- at least 5 probes inside every reported block that holds probeable flows (the probe plan's
  addresses, pings, and TCP/UDP to the block's own ports: the service ports it holds, and
  when it holds fewer than 5, ports of the block both namespaces then listen on too; source
  ports from the block, so a
  block narrowed to privileged source ports is probed from them): the kernel must not refuse
  them. A block with fewer than 5 probeable flows gets all it has, and the test names it; one
  with none (only other interfaces than the veth, addresses the topology lacks, ICMP types
  other than echo, other protocols) is counted as unprobeable. The totals of a run are printed
  (pytest -s) and, with FWCHECK_ORACLE_COUNTS=FILE, written as JSON. A block is about the
  first packet (as `expect: deny`): when the kernel refuses a TCP connection or a ping inside
  a block, the reference walk (oracle_ruleset, itself checked against the kernel here) must
  show that the first packet got in and a later one (the SYN-ACK, the final ACK, the echo
  reply) was dropped; a UDP datagram inside a block must reach its listener.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from oracle_check import IPTABLES_LEGACY, IPTABLES_NFT, NFT, Flavour, dump, load, parse_dumps
from oracle_generate import CLIENT_BANDS, Probe, generate, probes
from oracle_netns import NetnsPair
from oracle_probe import ECHO_REQUEST, run_probes
from oracle_ruleset import ICMP, TCP, UDP, Spec, predict
from oracle_topology import (
    HOST_IFACE,
    SERVICE_PORTS,
    host_addresses,
    peer_addresses,
)
from test_oracle_scenarios import SCENARIOS


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


RULESETS = env_int("FWCHECK_ORACLE_RULESETS", 6)
PROBES = env_int("FWCHECK_ORACLE_PROBES", 40)
PER_BLOCK = 5
# Blocks probed per case at most (a random selection when more): bounds a case's time. The
# generator's rulesets give at most about 40 blocks a case.
MAX_PROBED_BLOCKS = 100
# Extra listener ports of a block that holds no service port (each side listens on them).
EXTRA_PORTS_PER_BLOCK = 3
# Random draws per block before it is taken to hold fewer than PER_BLOCK probeable flows.
DRAWS = 400


def declarations(seed: str) -> list:
    """A few random allow rules: a protocol, a service port or two, sometimes a peer prefix."""
    from checker.errors import Location
    from checker.findings import Severity
    from checker.policies.model import Direction, Expect, Requirement

    rng = random.Random(f"declared:{seed}")
    out = []
    for index in range(rng.randint(0, 4)):
        direction = rng.choice((Direction.INBOUND, Direction.INBOUND, Direction.OUTBOUND))
        family = rng.choice((4, 6))
        remote = None
        if rng.random() < 0.4:
            peer = int(ipaddress.ip_address(rng.choice(peer_addresses(family))))
            remote = ((family, peer, peer),)
        ports = tuple((p, p) for p in rng.sample(SERVICE_PORTS, rng.randint(1, 2)))
        out.append(
            Requirement(
                policy_id="oracle",
                rule_id=f"allow-{index}",
                title="declared",
                expect=Expect.ALLOW,
                direction=direction,
                protocol=rng.choice((TCP, UDP)),
                ports=ports,
                remote=remote,
                except_remote=(),
                local=None,
                program=None,
                service=None,
                profiles=frozenset(),
                icmp_type=None,
                families=frozenset({4, 6}) if remote is None else frozenset({family}),
                severity=Severity.MEDIUM,
                origin=Location("oracle", 1),
            )
        )
    return out


def exclusive_requirement(direction):
    from checker.errors import Location
    from checker.policies.exclusive import exclusive_requirements
    from checker.policies.model import Policy

    policy = Policy(
        "oracle", "oracle", (), (), None, (), Location("oracle", 1), exclusive=(direction,)
    )
    (found,) = exclusive_requirements(policy)
    return found


def flow_point(probe: Probe, interfaces) -> dict[str, int]:
    inbound = probe.direction == "inbound"
    ping = probe.proto == ICMP[probe.family]
    return {
        "family": probe.family,
        "proto": probe.proto,
        "saddr": int(ipaddress.ip_address(probe.src)),
        "daddr": int(ipaddress.ip_address(probe.dst)),
        "sport": probe.sport,
        "dport": probe.dport,
        "icmp": ECHO_REQUEST[probe.family] << 8 if ping else 0,
        "iif": interfaces.index_of(HOST_IFACE) if inbound else 0,
        "oif": 0 if inbound else interfaces.index_of(HOST_IFACE),
        # A new connection's packet and conntrack marks are 0 (no probe sets one).
        "mark": 0,
        "ctmark": 0,
    }


def extra_ports(rng: random.Random, block, taken: set[int], sports: set[int]) -> list[int]:
    """Listener ports for a block that holds fewer than PER_BLOCK service ports: a few of its
    own other destination ports, never a source port a probe already uses (`sports`: its bind
    would fail) nor 0."""
    dports = block.space.project("dport")
    if sum(any(lo <= p <= hi for lo, hi in dports) for p in SERVICE_PORTS) >= PER_BLOCK:
        return []
    chosen: list[int] = []
    for _ in range(50):
        lo, hi = rng.choice(dports)
        port = rng.randint(max(lo, 1), max(hi, 1))
        fresh = port not in sports and port not in chosen and port not in SERVICE_PORTS
        if lo <= port <= hi and fresh:
            chosen.append(port)
        if len(chosen) >= EXTRA_PORTS_PER_BLOCK:
            break
    taken.update(chosen)
    return chosen


def _source_port(rng: random.Random, block, listening: set[int]) -> int:
    """Half the time a client band's port (what a client stack picks), else one of the
    block's own source ports, never a port a listener holds."""
    if rng.random() < 0.5:
        lo, hi = rng.choice(CLIENT_BANDS)
    else:
        lo, hi = rng.choice(block.space.project("sport"))
    port = rng.randint(max(lo, 1), max(hi, 1))
    return 0 if port in listening else port


def block_probes(
    rng: random.Random,
    block,
    direction: str,
    interfaces,
    used: set,
    ports: tuple[int, ...] = SERVICE_PORTS,
    listening: frozenset[int] = frozenset(SERVICE_PORTS),
) -> list[Probe]:
    """Up to PER_BLOCK distinct probes whose flows lie in the block, drawn at random from the
    probe plan's addresses, TCP/UDP to `ports` and pings, each distinct (family, protocol,
    source, source port) flow at most once across the case; never from a source port a
    listener holds (`listening`: every listener port of the case)."""
    family = block.family
    local, remote = host_addresses(family), peer_addresses(family)
    dports = [p for p in ports if any(lo <= p <= hi for lo, hi in block.space.project("dport"))]
    candidates = [
        (proto, src, dst, dport)
        for proto in (TCP, UDP, ICMP[family])
        for src in (remote if direction == "inbound" else local)
        for dst in (local if direction == "inbound" else remote)
        for dport in (dports if proto != ICMP[family] else (0,))
    ]
    listening = listening | set(ports)
    # Without any candidate whose other fields lie in the block, no source port helps.
    candidates = [
        c
        for c in candidates
        if any(
            block.space.contains(
                flow_point(Probe(family, *c[:3], sport, c[3], direction), interfaces)
            )
            for sport in {lo for lo, _ in block.space.project("sport")} | {40000}
            if sport not in listening
        )
    ] or candidates
    rng.shuffle(candidates)
    found: list[Probe] = []
    # First each probe its own (family, protocol, source, source port), which the harness can
    # match to a listener whatever port it lands on; then, for a block of one source port
    # (what the DHCP exemption leaves: udp 546 -> every other port), distinct destinations
    # from a shared one, told apart by the port they reach.
    for whole_key in (False, True):
        for draw in range(DRAWS):
            proto, src, dst, dport = candidates[draw % len(candidates)]
            sport = _source_port(rng, block, listening)
            key = (family, proto, src, sport) + ((dst, dport) if whole_key else ())
            if not sport or key in used:
                continue
            probe = Probe(family, proto, src, dst, sport, dport, direction)
            if block.space.contains(flow_point(probe, interfaces)):
                used.add(key)
                used.add((family, proto, src, sport))
                found.append(probe)
            if len(found) >= PER_BLOCK:
                return found
    return found


@dataclass
class Tally:
    blocks: int = 0
    probed_blocks: int = 0
    # Probed blocks that held fewer than PER_BLOCK probeable flows (all were probed).
    scarce_blocks: int = 0
    # Blocks with no flow the namespace pair can send: other interfaces than the veth, addresses
    # the topology does not have, ICMP types other than echo, other protocols only.
    unprobeable_blocks: int = 0
    block_probes: int = 0
    kernel_accepted_in_blocks: int = 0
    later_packet_dropped: int = 0
    accepted_in_blocks: int = 0
    accepted_declared: int = 0


@pytest.fixture(scope="module")
def totals():
    """Every case's tally; at the end the sums are printed (pytest -s) and, with
    FWCHECK_ORACLE_COUNTS=FILE, written as JSON: the counts docs/kernel-oracle.md quotes."""
    cases: list[Tally] = []
    yield cases
    if not cases:
        return
    summed = {name: sum(getattr(t, name) for t in cases) for name in Tally.__dataclass_fields__}
    summed["cases"] = len(cases)
    print(f"\nexclusive oracle totals: {summed}")
    if os.environ.get("FWCHECK_ORACLE_COUNTS"):
        Path(os.environ["FWCHECK_ORACLE_COUNTS"]).write_text(json.dumps(summed, indent=1) + "\n")


@pytest.mark.parametrize("index", range(RULESETS))
@pytest.mark.parametrize("flavour", [IPTABLES_NFT, IPTABLES_LEGACY, NFT], ids=lambda f: f.name)
def test_exclusive_blocks_agree_with_the_kernel(
    netns: NetnsPair, oracle_seed: str, flavour: Flavour, index: int, totals: list
) -> None:
    if not flavour.available():
        pytest.skip(f"{flavour.name}: {', '.join(t for _, t in flavour.restore)} not installed")
    case_seed = f"{oracle_seed}/exclusive/{flavour.name}/{index}"
    replay = (
        f"FWCHECK_ORACLE_SEED={oracle_seed} python -m pytest "
        f"'tests/kernel/test_oracle_exclusive.py::"
        f"test_exclusive_blocks_agree_with_the_kernel[{flavour.name}-{index}]'"
    )
    run_exclusive_case(
        netns, flavour, generate(case_seed, flavour.dialect), case_seed, replay, totals
    )


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_exclusive_on_the_scenarios(
    netns: NetnsPair, oracle_seed: str, name: str, totals: list
) -> None:
    """The hand-written scenarios of test_oracle_scenarios (one per netfilter rule the engine
    must get right), each with random declarations."""
    flavour, spec, _expected = SCENARIOS[name]
    if not flavour.available():
        pytest.skip(f"{flavour.name} not installed")
    case_seed = f"{oracle_seed}/exclusive-scenario/{name}"
    replay = (
        f"FWCHECK_ORACLE_SEED={oracle_seed} python -m pytest "
        f"'tests/kernel/test_oracle_exclusive.py::test_exclusive_on_the_scenarios[{name}]'"
    )
    run_exclusive_case(netns, flavour, spec, case_seed, replay, totals)


def run_exclusive_case(
    netns: NetnsPair, flavour: Flavour, spec: Spec, case_seed: str, replay: str, totals: list
) -> None:
    from checker.engine.netfilter import exclusive
    from checker.engine.netfilter.walk import new_context
    from checker.policies.model import Direction

    print(f"kernel oracle seed: {case_seed}")
    loaded = load(netns, flavour, spec)
    rulesets = parse_dumps(flavour, dump(netns, flavour))
    context = new_context(rulesets, [HOST_IFACE])
    interfaces = context.interfaces
    declared = declarations(case_seed)
    rng = random.Random(f"blocks:{case_seed}")
    tally = Tally()
    blocks: dict[str, list] = {}
    covered: dict[tuple[str, int], object] = {}
    for direction in (Direction.INBOUND, Direction.OUTBOUND):
        requirement = exclusive_requirement(direction)
        for family in (4, 6):
            result = exclusive.undeclared(context, requirement, declared, family)
            blocks.setdefault(direction.value, []).extend(result.blocks)
            inbound = direction is Direction.INBOUND
            covered[(direction.value, family)] = exclusive.declared_space(
                declared, family, inbound, interfaces
            ).union(exclusive.infrastructure(result.universe.dims, family, inbound))
    random_probes = probes(case_seed, PROBES)
    used = {(p.family, p.proto, p.src, p.sport) for p in random_probes}
    inside: list[tuple[Probe, object]] = []
    chosen_blocks = []
    extra: set[int] = set()
    sports = {p.sport for p in random_probes}
    for direction, found in blocks.items():
        sure = [b for b in found if b.sure]
        tally.blocks += len(sure)
        if len(sure) > MAX_PROBED_BLOCKS:
            sure = rng.sample(sure, MAX_PROBED_BLOCKS)
        chosen_blocks += [(direction, b, extra_ports(rng, b, extra, sports)) for b in sure]
    ports = tuple(sorted({*SERVICE_PORTS, *extra}))
    scarce = []
    for direction, block, own in chosen_blocks:
        wanted = (*SERVICE_PORTS, *own)
        chosen = block_probes(rng, block, direction, interfaces, used, wanted, frozenset(ports))
        tally.probed_blocks += bool(chosen)
        tally.unprobeable_blocks += not chosen
        if not chosen:
            scarce.append(f"unprobeable: {block.text()}")
        if chosen and len(chosen) < PER_BLOCK:
            tally.scarce_blocks += 1
            scarce.append(f"{len(chosen)} probe(s) only: {block.text()}")
        inside += [(probe, block) for probe in chosen]
    every = tuple(random_probes) + tuple(p for p, _ in inside)
    observed = run_probes(netns, every, ports)
    problems = []
    for probe, seen in zip(every, observed, strict=True):
        packets = probe.packets()
        predicted = predict(spec, packets)
        facts = f"{probe.label()} ipv{probe.family}: kernel {seen.kernel} ({seen.client})"
        if seen.client.startswith("bind-failed"):
            problems.append(f"HARNESS: the probe could not be sent: {facts}")
            continue
        if predicted.kernel != seen.kernel:
            problems.append(f"HARNESS: the reference walk does not explain the kernel: {facts}")
            continue
        point = flow_point(probe, interfaces)
        if seen.kernel == "accept":
            found = blocks[probe.direction]
            if covered[(probe.direction, probe.family)].contains(point):  # type: ignore[attr-defined]
                tally.accepted_declared += 1
            elif not any(b.space.contains(point) for b in found):
                problems.append(f"ACCEPTED BUT IN NO BLOCK AND NOT DECLARED {facts}")
            else:
                tally.accepted_in_blocks += 1
    for probe, block in inside:
        index_of = every.index(probe)
        seen = observed[index_of]
        tally.block_probes += 1
        facts = f"{probe.label()} ipv{probe.family} in block {block.text()}: kernel {seen.kernel}"
        if seen.kernel == "accept":
            tally.kernel_accepted_in_blocks += 1
            continue
        packets = probe.packets()
        first = predict(spec, packets[:1])
        if probe.proto == UDP or first.kernel != "accept":
            problems.append(f"BLOCK REFUSED BY THE KERNEL {facts}")
        else:
            tally.later_packet_dropped += 1
    print(f"{tally}; declared: {len(declared)}")
    for line in scarce:
        print(f"scarce block: {line}")
    totals.append(tally)
    if problems:
        pytest.fail(
            "\n".join(
                [
                    f"exclusive oracle, {flavour.name}, seed {case_seed!r}: {len(problems)}"
                    " problem(s)",
                    f"replay: {replay}",
                    *problems,
                    *(f"block: {b.text()}" for bs in blocks.values() for b in bs[:20]),
                    "--- ruleset loaded into the kernel ---",
                    loaded.rstrip(),
                ]
            ),
            pytrace=False,
        )


def test_probe_counts_cover_the_blocks() -> None:
    """The sampler's own contract, without a kernel: PER_BLOCK distinct probes inside a block
    that holds enough probeable flows."""
    from checker.engine.netfilter.exclusive import Block
    from checker.engine.netfilter.query import dims_for
    from checker.engine.space import Space
    from checker.engine.symbols import InterfaceSymbols

    interfaces = InterfaceSymbols.build([HOST_IFACE])
    dims = dims_for(4, interfaces)
    space = Space.where(dims, {"family": [(4, 4)], "proto": [(TCP, TCP)], "dport": [(80, 80)]})
    block = Block(4, space, "tcp any -> 80", "", None)
    used: set = set()
    chosen = block_probes(random.Random(1), block, "inbound", interfaces, used)
    assert len(chosen) == PER_BLOCK
    assert all(p.proto == TCP and p.dport == 80 for p in chosen)
    assert len({(p.src, p.sport) for p in chosen}) == PER_BLOCK
    assert Counter(p.direction for p in chosen) == {"inbound": PER_BLOCK}


@pytest.mark.parametrize(
    "narrowed",
    [
        # One peer, one local address, one service port: one flow per source port.
        {"saddr": "peer", "daddr": "host", "dport": [(22, 22)]},
        # No service port at all: probed on a port of its own that both sides then listen on.
        {"dport": [(7000, 7010)]},
        # Privileged source ports only (no client band's port is in it).
        {"sport": [(1, 1023)], "dport": [(443, 443)]},
    ],
    ids=["one-peer-one-port", "no-service-port", "privileged-source-ports"],
)
def test_narrow_blocks_still_get_five_probes(narrowed: dict) -> None:
    """Blocks the first sampler probed once or not at all (one candidate address pair and
    port, a port outside the service ports, source ports outside the client bands) get
    PER_BLOCK probes, each inside the block."""
    from checker.engine.netfilter.exclusive import Block
    from checker.engine.netfilter.query import dims_for
    from checker.engine.space import Space
    from checker.engine.symbols import InterfaceSymbols

    interfaces = InterfaceSymbols.build([HOST_IFACE])
    dims = dims_for(4, interfaces)
    peer = int(ipaddress.ip_address(peer_addresses(4)[0]))
    host = int(ipaddress.ip_address(host_addresses(4)[0]))
    where = {"family": [(4, 4)], "proto": [(TCP, TCP)]}
    for name, value in narrowed.items():
        where[name] = (
            value
            if not isinstance(value, str)
            else {"peer": [(peer, peer)], "host": [(host, host)]}[value]
        )
    block = Block(4, Space.where(dims, where), "narrow", "", None)
    rng = random.Random(7)
    extra: set[int] = set()
    own = extra_ports(rng, block, extra, set())
    chosen = block_probes(rng, block, "inbound", interfaces, set(), (*SERVICE_PORTS, *own))
    assert len(chosen) == PER_BLOCK
    assert all(block.space.contains(flow_point(p, interfaces)) for p in chosen)
    assert len({(p.src, p.sport) for p in chosen}) == PER_BLOCK
    if "dport" in narrowed and narrowed["dport"] == [(7000, 7010)]:
        assert own and all(7000 <= p <= 7010 for p in own) and extra == set(own)
