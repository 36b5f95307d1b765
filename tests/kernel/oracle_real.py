"""Run one real generator (oracle_generators) in a fresh namespace pair, probe it, export it like
a user, and compare fwcheck with the kernel, per probe and per requirement.

Per probe (`classify_flow` on the exports): "accept"/"drop" must equal the kernel's verdict.
Per requirement (`check` on the exports): PASS must not meet a probe the kernel contradicts
(allow: a probe dropped; deny: a probe accepted); FAIL must be shown by some probe, fwcheck's
counterexample among them, unless that counterexample arrives on another interface than the
veth (a requirement is about every interface; no probe can use the others, and the per-probe
comparison still holds on the veth). Each
requirement is probed from several source ports, privileged ones (53, 67, 123) among them: a
deny must hold for every source port, and generators accept by source port (DHCP, NTP).
"indeterminate" (per probe or requirement) is allowed only with one of the reasons an export
cannot settle, named in fwcheck's message: connection history (`recent`, `limit`, `hashlimit`,
`connlimit`), routing (`fib`, rpfilter), or an opaque `xt` match in `nft -j`.
"""

from __future__ import annotations

import ipaddress
import json
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from oracle_generate import Probe
from oracle_generators import ICMP, TCP, UDP, Backend, Generator, Need
from oracle_netns import COMMAND_TIMEOUT_S, NetnsPair, ip, veth
from oracle_probe import ECHO_REQUEST, Observed, _Agent, fwcheck_verdict, run_probes
from oracle_topology import HOST_IFACE, host_addresses

CONFINE = Path(__file__).with_name("oracle_confine.py")
START_TIMEOUT_S = 240
PRIVILEGED_SPORTS = (53, 67, 123)
# Words in fwcheck's indeterminate message that name a reason the export cannot settle.
ALLOWED_UNDECIDABLE = ("recent", "limit", "hashlimit", "connlimit", "fib", "rpfilter", "xt ")


@dataclass(frozen=True, slots=True)
class NeedResult:
    need: Need
    fwcheck: str  # pass | fail | indeterminate | error
    message: str
    kernel: str  # pass | fail (from the probes)
    probes: tuple[tuple[Probe, Observed, str], ...]  # (probe, kernel, fwcheck per probe)
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunResult:
    generator: str
    log: str
    exports: str
    results: dict[str, NeedResult]
    seconds: float


class Confined:
    """oracle_confine.py running in the host namespace until `close()`."""

    def __init__(self, pair: NetnsPair, plan: dict) -> None:
        self.process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                pair.host,
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                sys.executable,
                str(CONFINE),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(plan) + "\n")
        self.process.stdin.flush()
        answer = self._line(START_TIMEOUT_S)
        self.log = "\n".join(answer.get("log", []))
        if "error" in answer:
            self.close()
            raise RuntimeError(f"generator failed: {answer['error']}\n{self.log}")

    def _line(self, timeout: float) -> dict:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.process.kill()
            _, err = self.process.communicate(timeout=30)
            raise RuntimeError(f"confined generator gave no answer in {timeout} s: {err}")
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write("stop\n")
                self.process.stdin.flush()
                self.process.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=30)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _link_pairs(pair: NetnsPair, links: tuple[tuple[str, str], ...]) -> None:
    for one, other in links:
        pair.run(pair.host, ["ip", "link", "add", one, "type", "veth", "peer", "name", other])


def probes_for(needs: tuple[Need, ...]) -> tuple[list[tuple[Need, Probe]], tuple[int, ...]]:
    """Probes for each requirement, and the ports both sides listen on."""
    ports = tuple(sorted({n.port for n in needs if n.proto in (TCP, UDP)}))
    out: list[tuple[Need, Probe]] = []
    # Conntrack entries outlive a round: a probe that is another's reply tuple (udp .1:67 ->
    # .2:53 after udp .2:53 -> .1:67) would be ESTABLISHED, not NEW. Such a source port is left out.
    flows: set[tuple] = set()
    for index, item in enumerate(needs):
        if item.direction == "inbound":
            src, dst = item.remote_address, item.local_address
        else:
            src, dst = item.local_address, item.remote_address
        if item.proto == ICMP[item.family]:
            sports: tuple[int, ...] = (30000 + 2 * index, 30001 + 2 * index)
        elif item.proto not in (TCP, UDP):
            sports = (0,)  # another IP protocol: one raw datagram, no ports
        else:
            privileged = tuple(p for p in PRIVILEGED_SPORTS if p not in ports)
            sports = (*privileged, 40000 + index)
        for sport in sports:
            flow = (item.proto, src, sport, dst, item.port)
            if (item.proto, dst, item.port, src, sport) in flows:
                continue
            flows.add(flow)
            out.append(
                (item, Probe(item.family, item.proto, src, dst, sport, item.port, item.direction))
            )
    return out, ports


def label(probe: Probe) -> str:
    """A probe in words, for any IP protocol (Probe.label knows the ones with ports and ping)."""
    if probe.proto in (TCP, UDP) or probe.proto == ICMP[probe.family]:
        return probe.label()
    return f"{probe.direction} proto {probe.proto} {probe.src} -> {probe.dst}"


FLOW = re.compile(
    r"^(?P<proto>tcp|udp) \[?(?P<src>[0-9a-f.:]+?)\]?:(?P<sport>\d+) -> "
    r"\[?(?P<dst>[0-9a-f.:]+?)\]?:(?P<dport>\d+) ipv(?P<family>[46])(?: (?:in|out) (?P<iface>\S+))?$"
)


IFACE = re.compile(r" (?:in|out) (\S+)$")


def counterexample_probe(item: Need, text: str | None) -> Probe | None:
    """The probe that sends fwcheck's counterexample (TCP/UDP on the probed interface), if any."""
    match = FLOW.match(text or "")
    if match is None or match["iface"] not in (None, HOST_IFACE):
        return None
    return Probe(
        item.family,
        item.proto,
        str(ipaddress.ip_address(match["src"])),
        str(ipaddress.ip_address(match["dst"])),
        int(match["sport"]),
        int(match["dport"]),
        item.direction,
    )


def export(pair: NetnsPair, kinds: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """What a user collects, by hand or with `fwcheck scan`."""
    commands = {
        "iptables4": [("iptables-save.v4", ["iptables-save"])],
        "iptables6": [("ip6tables-save.v6", ["ip6tables-save"])],
        "legacy4": [("iptables-legacy-save.v4", ["iptables-legacy-save"])],
        "legacy6": [("ip6tables-legacy-save.v6", ["ip6tables-legacy-save"])],
        "nft": [
            ("nft.json", ["nft", "-j", "list", "ruleset"]),
            ("nft-list.txt", ["nft", "list", "ruleset"]),
        ],
        "ipset": [("ipset-save.txt", ["ipset", "save"])],
    }
    # The host's addresses too (`ip -j addr`, which `fwcheck scan` collects where fwcheck has
    # the parser for it): they settle `addrtype LOCAL` and where a DNAT leads.
    if _addresses_parser() is not None:
        commands["addr"] = [("ip-addr.json", ["ip", "-j", "addr"])]
        kinds = (*kinds, "addr")
    return [
        (origin, pair.run(pair.host, argv).stdout)
        for kind in kinds
        for origin, argv in commands[kind]
    ]


def _addresses_parser():  # checker.parsers.netfilter.ip_addr, once merged (issue 11 defect 7, h3)
    import importlib
    import importlib.util

    if importlib.util.find_spec("checker.parsers.netfilter.ip_addr") is None:
        return None
    return importlib.import_module("checker.parsers.netfilter.ip_addr")


def parse_exports(dumps: list[tuple[str, bytes]]) -> list:
    from checker.parsers.netfilter import ipset_save, iptables_save, nft_json, nft_list

    parsers = {"v4": iptables_save, "v6": iptables_save, "json": nft_json, "txt": nft_list}
    out = []
    for origin, data in dumps:
        if origin.startswith("ipset"):
            out.append(ipset_save.parse(data, origin))
        elif origin.startswith("ip-addr"):
            out.append(_addresses_parser().parse(data, origin))
        else:
            out.append(parsers[origin.rsplit(".", 1)[1]].parse(data, origin))
    return out


def requirement(tool: str, item: Need):
    from checker.errors import Location
    from checker.findings import Severity
    from checker.policies.model import Direction, Expect, Requirement

    def one(address: str) -> tuple[tuple[int, int, int], ...]:
        value = int(ipaddress.ip_address(address))
        return ((item.family, value, value),)

    ping = item.proto == ICMP[item.family]
    return Requirement(
        policy_id=tool,
        rule_id=item.name,
        title=item.name,
        expect=Expect(item.expect),
        direction=Direction(item.direction),
        protocol=item.proto,
        ports=((item.port, item.port),) if item.proto in (TCP, UDP) else None,
        remote=one(item.remote_address),
        except_remote=(),
        local=one(item.local_address),
        program=None,
        service=None,
        profiles=frozenset(),
        icmp_type=ECHO_REQUEST[item.family] if ping else None,
        families=frozenset({item.family}),
        severity=Severity.HIGH,
        origin=Location(f"oracle/{tool}"),
    )


def _allowed_reason(message: str) -> bool:
    return any(word in message for word in ALLOWED_UNDECIDABLE)


def compare(
    tool: str, item: Need, rulesets: list, seen: list[tuple[Probe, Observed]]
) -> NeedResult:
    from checker.engine.netfilter.engine import check

    verdict = check(rulesets, requirement(tool, item))
    problems: list[str] = []
    rows = []
    for probe, observed in seen:
        flow = fwcheck_verdict(rulesets, probe)
        rows.append((probe, observed, flow))
        what = (
            f"{label(probe)}: kernel {observed.kernel} (client {observed.client}), fwcheck {flow}"
        )
        if observed.client.startswith("bind-failed"):
            problems.append(f"HARNESS: probe not sent: {what}")
        elif flow in ("accept", "drop") and flow != observed.kernel:
            problems.append(f"DISAGREEMENT per probe: {what}")
        elif flow == "indeterminate" and not _allowed_reason(verdict.message):
            problems.append(f"INDETERMINATE per probe without an allowed reason: {what}")
    # A deny must hold for every source port; an allow is about the clients' ports 1024-65535
    # (docs/policy-format.md, "Source ports"): a privileged-port probe can only break a deny.
    contradicted = [
        (probe, observed)
        for probe, observed in seen
        if observed.kernel == ("drop" if item.expect == "allow" else "accept")
        and (item.expect == "deny" or probe.proto not in (TCP, UDP) or probe.sport >= 1024)
    ]
    kernel = "fail" if contradicted else "pass"
    status = str(verdict.status)
    if status == "pass" and contradicted:
        probe, observed = contradicted[0]
        problems.append(
            f"DISAGREEMENT: fwcheck passes {item.name} but the kernel did "
            f"{observed.kernel} for {label(probe)}"
        )
    elif status == "fail" and not contradicted:
        where = IFACE.search(verdict.counterexample or "")
        if where is None or where[1] == HOST_IFACE:
            problems.append(
                f"DISAGREEMENT: fwcheck fails {item.name} ({verdict.message}) but "
                "every probe met it, its counterexample too"
            )
        # else: the counterexample arrives on another interface, which no probe can use; the
        # requirement is about every interface, so fwcheck is right to fail it.
    elif status == "indeterminate" and not _allowed_reason(verdict.message):
        problems.append(f"INDETERMINATE without an allowed reason: {verdict.message}")
    elif status not in ("pass", "fail", "indeterminate"):
        problems.append(f"UNEXPECTED {status}: {verdict.message}")
    return NeedResult(item, status, verdict.message, kernel, tuple(rows), tuple(problems))


@contextmanager
def backend_namespace(pair: NetnsPair, backend: Backend | None) -> Iterator[None]:
    """The namespace behind the host, with a listening agent, for the probes' duration."""
    if backend is None:
        yield
        return
    name = pair.host.replace("fwck-h-", "fwck-b-")
    ip("netns", "add", name)
    agent = None
    try:
        veth(pair.host, backend.host_iface, name, backend.backend_iface)
        ip("-n", pair.host, "addr", "add", backend.host_cidr, "dev", backend.host_iface)
        ip("-n", pair.host, "link", "set", backend.host_iface, "up")
        ip("-n", name, "link", "set", "lo", "up")
        for cidr in backend.addresses:
            ip("-n", name, "addr", "add", cidr, "dev", backend.backend_iface)
        ip("-n", name, "link", "set", backend.backend_iface, "up")
        ip("-n", name, "route", "add", "default", "via", backend.host_cidr.split("/")[0])
        for route in backend.peer_routes:
            ip("-n", pair.peer, "route", "add", route, "via", host_addresses(4)[0])
        pair.run(pair.host, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        agent = _Agent(pair, name, [], backend.ports)
        if agent.receive() != {"ready": True}:
            raise RuntimeError(f"agent in {name} did not start")
        agent.send("go")
        agent.receive()
        yield
        agent.send("stop")
        agent.receive()
    finally:
        if agent is not None:
            agent.close()
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=COMMAND_TIMEOUT_S)


def _handshakes(observed: list[Observed], probes: list[Probe]) -> list[Observed]:
    # Behind a DNAT the listener that answers is the backend's, on the translated port: a
    # completed TCP handshake is the kernel's "accept" (SYN in, SYN-ACK back through the host).
    return [
        Observed("accept", o.client) if p.proto == TCP and o.client == "connected" else o
        for o, p in zip(observed, probes, strict=True)
    ]


def run_generator(pair: NetnsPair, generator: Generator, work: Path) -> RunResult:
    names = [n.name for n in generator.needs]
    assert len(set(names)) == len(names), f"{generator.id}: requirement names repeat"
    started = time.monotonic()
    _link_pairs(pair, generator.links)
    plan = generator.build(work)
    confined = Confined(pair, plan)
    try:
        with backend_namespace(pair, generator.backend):
            pairs, observed, rulesets, dumps = _probe_and_export(pair, generator)
    finally:
        confined.close()
    results = {}
    for item in generator.needs:
        seen = [(p, o) for (n, p), o in zip(pairs, observed, strict=True) if n is item]
        results[item.name] = compare(generator.tool, item, rulesets, seen)
    text = "\n".join(
        f"# {origin}\n{data.decode(errors='replace')}"
        for origin, data in dumps
        if not origin.endswith(".json")
    )
    return RunResult(generator.id, confined.log, text, results, time.monotonic() - started)


def _probe_and_export(
    pair: NetnsPair, generator: Generator
) -> tuple[list[tuple[Need, Probe]], list[Observed], list, list[tuple[str, bytes]]]:
    from checker.engine.netfilter.engine import check

    pairs, ports = probes_for(generator.needs)
    observed = run_probes(pair, tuple(p for _, p in pairs), ports)
    dumps = export(pair, generator.exports)
    rulesets = parse_exports(dumps)
    # fwcheck's counterexamples are probed too: a FAIL must be shown by the kernel.
    extra: list[tuple[Need, Probe]] = []
    for item in generator.needs:
        verdict = check(rulesets, requirement(generator.tool, item))
        probe = counterexample_probe(item, verdict.counterexample)
        if str(verdict.status) == "fail" and probe is not None:
            if probe.sport not in ports or probe.proto not in (TCP, UDP):
                extra.append((item, probe))
    if extra:
        observed += run_probes(pair, tuple(p for _, p in extra), ports)
        pairs += extra
    if generator.backend is not None:
        observed = _handshakes(observed, [p for _, p in pairs])
    return pairs, observed, rulesets, dumps
