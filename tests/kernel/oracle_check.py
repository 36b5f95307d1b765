"""One oracle case: load a ruleset into the host namespace, probe it, dump the kernel's own view,
and compare every probe's kernel verdict with fwcheck's verdict on that dump.

What is required of fwcheck (`classify_flow`):
- "accept" / "drop" equal to the kernel's verdict, always;
- "indeterminate" only for a probe whose packets reach an undecidable match (`limit`), and
  surely for a probe whose verdict hinges on one.
The reference walk (oracle_ruleset) must explain every kernel verdict too: if it does not, the
harness is wrong, not fwcheck, and the message says so.

Requirements are checked against the kernel too (`check`, the engine the policies use): for each
TCP/UDP probe, "deny this proto/dport from this source to this address" must not pass when the
kernel accepted the probe, whatever its source port (probes also come from privileged source
ports, e.g. 67), and "allow" must not pass when the kernel dropped a probe from an ephemeral
source port (1024-65535, docs/policy-format.md "Source ports").
"""

from __future__ import annotations

import ipaddress
import shutil
from dataclasses import dataclass

from oracle_generate import Probe
from oracle_netns import NetnsPair
from oracle_probe import Observed, fwcheck_verdict, run_probes
from oracle_render import iptables_text, nft_text
from oracle_ruleset import ICMP, Prediction, Spec, predict


@dataclass(frozen=True, slots=True)
class Flavour:
    """How a ruleset reaches the kernel and comes back: restore and save commands per family
    (iptables) or one nft script and `nft -j list ruleset`."""

    name: str
    dialect: str
    restore: tuple[tuple[int, str], ...]
    save: tuple[tuple[int, str], ...]

    def available(self) -> bool:
        return all(shutil.which(tool) for _, tool in self.restore + self.save)


IPTABLES_NFT = Flavour(
    "iptables-nft",
    "iptables",
    ((4, "iptables-restore"), (6, "ip6tables-restore")),
    ((4, "iptables-save"), (6, "ip6tables-save")),
)
IPTABLES_LEGACY = Flavour(
    "iptables-legacy",
    "iptables",
    ((4, "iptables-legacy-restore"), (6, "ip6tables-legacy-restore")),
    ((4, "iptables-legacy-save"), (6, "ip6tables-legacy-save")),
)
NFT = Flavour("nft", "nft", ((0, "nft"),), ((0, "nft"),))


@dataclass(frozen=True, slots=True)
class Outcome:
    probe: Probe
    observed: Observed
    predicted: Prediction
    fwcheck: str
    # Status values of the engine's `check` for the probe's deny and allow requirements ("" for
    # pings, which have no ports).
    deny: str = ""
    allow: str = ""


@dataclass(frozen=True, slots=True)
class CaseReport:
    seed: str
    flavour: str
    loaded: str  # the text given to the kernel
    dumped: str  # the kernel's own view, which fwcheck parsed
    outcomes: tuple[Outcome, ...]

    def problems(self) -> list[str]:
        found = []
        for item in self.outcomes:
            kernel, fw, pred = item.observed.kernel, item.fwcheck, item.predicted
            facts = (
                f"{item.probe.label()} ipv{item.probe.family}: kernel {kernel} "
                f"(client saw {item.observed.client}), fwcheck {fw}, reference walk "
                f"{pred.outcome} (kernel-expected {pred.kernel}, reaches an undecidable match: "
                f"{pred.touched})"
            )
            if item.observed.client.startswith("bind-failed"):
                found.append(f"HARNESS: the probe could not be sent: {facts}")
                continue
            if fw in ("accept", "drop") and fw != kernel:
                found.append(f"DISAGREEMENT {facts}")
            elif fw in ("accept", "drop") and pred.outcome == "depends":
                found.append(f"DECIDED AN UNDECIDABLE FLOW {facts}")
            elif fw == "indeterminate" and not pred.touched:
                found.append(f"INDETERMINATE WITHOUT AN UNDECIDABLE MATCH {facts}")
            elif fw not in ("accept", "drop", "indeterminate"):
                found.append(f"UNEXPECTED ANSWER {facts}")
            if pred.kernel != kernel:
                found.append(f"HARNESS: the reference walk does not explain the kernel: {facts}")
            if kernel == "accept" and item.deny == "pass":
                found.append(f"DENY PASSES FOR AN ACCEPTED FLOW {facts}")
            ephemeral = 1024 <= item.probe.sport <= 65535
            if kernel == "drop" and ephemeral and item.allow == "pass":
                found.append(f"ALLOW PASSES FOR A DROPPED FLOW {facts}")
        return found

    def message(self, replay: str) -> str:
        problems = self.problems()
        return "\n".join(
            [
                f"kernel oracle, {self.flavour}, seed {self.seed!r}: {len(problems)} problem(s) "
                f"in {len(self.outcomes)} probes",
                f"replay: {replay}",
                *problems,
                "--- ruleset loaded into the kernel ---",
                self.loaded.rstrip(),
                "--- the kernel's dump that fwcheck parsed ---",
                self.dumped.rstrip(),
            ]
        )


def load(pair: NetnsPair, flavour: Flavour, spec: Spec) -> str:
    texts = []
    for family, tool in flavour.restore:
        text = nft_text(spec) if flavour.dialect == "nft" else iptables_text(spec, family)
        argv = [tool, "-f", "-"] if tool == "nft" else [tool]
        pair.run(pair.host, argv, text.encode())
        texts.append(f"# {tool}\n{text}")
    return "\n".join(texts)


def dump(pair: NetnsPair, flavour: Flavour) -> list[tuple[str, bytes]]:
    """What `fwcheck scan` collects: for nft also the text listing, which names the devices of
    netdev chains that nft 1.0.6 leaves out of the JSON."""
    dumps = []
    for family, tool in flavour.save:
        if tool == "nft":
            dumps.append(("nft.json", pair.run(pair.host, ["nft", "-j", "list", "ruleset"]).stdout))
            dumps.append(("nft-list.txt", pair.run(pair.host, ["nft", "list", "ruleset"]).stdout))
        else:
            dumps.append((f"{tool}.v{family}", pair.run(pair.host, [tool]).stdout))
    return dumps


def parse_dumps(flavour: Flavour, dumps: list[tuple[str, bytes]]) -> list:
    # Imported here: these modules are fwcheck's, the code under test.
    if flavour.dialect == "nft":
        from checker.parsers.netfilter import nft_json, nft_list

        return [
            (nft_list if origin.endswith(".txt") else nft_json).parse(data, origin)
            for origin, data in dumps
        ]
    from checker.parsers.netfilter import iptables_save

    return [iptables_save.parse(data, origin) for origin, data in dumps]


def probe_requirement(probe: Probe, expect: str) -> object:
    """The requirement "expect this probe's protocol and port between its two addresses"."""
    from checker.errors import Location
    from checker.findings import Severity
    from checker.policies.model import Direction, Expect, Requirement

    def one(text: str) -> tuple[int, int, int]:
        value = int(ipaddress.ip_address(text))
        return (probe.family, value, value)

    inbound = probe.direction == "inbound"
    return Requirement(
        policy_id="oracle",
        rule_id=f"{expect}-{probe.dport}",
        title=probe.label(),
        expect=Expect(expect),
        direction=Direction(probe.direction),
        protocol=probe.proto,
        ports=((probe.dport, probe.dport),),
        remote=(one(probe.src if inbound else probe.dst),),
        except_remote=(),
        local=(one(probe.dst if inbound else probe.src),),
        program=None,
        service=None,
        profiles=frozenset(),
        icmp_type=None,
        families=frozenset({probe.family}),
        severity=Severity.MEDIUM,
        origin=Location("oracle", 1),
    )


def run_case(
    pair: NetnsPair, flavour: Flavour, seed: str, spec: Spec, probes: tuple[Probe, ...]
) -> CaseReport:
    from checker.engine.netfilter.engine import check, new_context

    loaded = load(pair, flavour, spec)
    observed = run_probes(pair, probes)
    dumps = dump(pair, flavour)
    dumped = "\n".join(f"# {name}\n{data.decode(errors='replace')}" for name, data in dumps)
    rulesets = parse_dumps(flavour, dumps)
    context = new_context(rulesets)
    outcomes = []
    for probe, seen in zip(probes, observed, strict=True):
        packets = probe.packets()
        verdict = fwcheck_verdict(rulesets, probe)
        answers = {"deny": "", "allow": ""}
        if probe.proto != ICMP[probe.family]:
            for expect in answers:
                requirement = probe_requirement(probe, expect)
                answers[expect] = check(rulesets, requirement, context=context).status.value  # type: ignore[arg-type]
        outcomes.append(Outcome(probe, seen, predict(spec, packets), verdict, **answers))
    return CaseReport(seed, flavour.name, loaded, dumped, tuple(outcomes))
