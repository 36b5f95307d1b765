"""The Linux kernel as oracle for fwcheck's netfilter engine, on random rulesets.

Each case generates a ruleset from the run's seed (user chains, -j/-g, RETURN in user and base
chains, multiport, port ranges, prefixes and negations, REJECT/DROP, LOG, conntrack states,
strict OUTPUT policies with and without an ESTABLISHED rule; for nft several base chains per hook
in ip/ip6/inet tables, named sets and verdict maps, netdev ingress/egress chains on the
device; packet and connection marks: MARK/CONNMARK and -m mark/connmark, nft `meta mark set`,
`ct mark set`, `meta mark & m == v`; fragment and IPv6 fragment-header matches, which the
probes, ordinary packets, never meet: `-f`, `-m ipv6header --header frag --soft`, nft
`ip frag-off`, `exthdr frag exists|missing`; sometimes an undecidable `limit` match),
loads it into a fresh network namespace with the real iptables-restore / nft, sends real TCP
and UDP probes and pings (ICMP/ICMPv6 echo, which pass only if the echo reply gets back) over a
veth from the peer namespace (inbound) and from the host (outbound), and compares each probe's
fate with fwcheck's `classify_flow` on the kernel's own dump.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from oracle_check import IPTABLES_LEGACY, IPTABLES_NFT, NFT, Flavour, run_case
from oracle_generate import generate, probes
from oracle_netns import NetnsPair


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


RULESETS = env_int("FWCHECK_ORACLE_RULESETS", 12)
PROBES = env_int("FWCHECK_ORACLE_PROBES", 40)


@pytest.mark.parametrize("index", range(RULESETS))
@pytest.mark.parametrize("flavour", [IPTABLES_NFT, IPTABLES_LEGACY, NFT], ids=lambda f: f.name)
def test_kernel_and_fwcheck_agree(
    netns: NetnsPair, oracle_seed: str, flavour: Flavour, index: int
) -> None:
    if not flavour.available():
        pytest.skip(f"{flavour.name}: {', '.join(t for _, t in flavour.restore)} not installed")
    case_seed = f"{oracle_seed}/{flavour.name}/{index}"
    print(f"kernel oracle seed: {case_seed}")
    spec = generate(case_seed, flavour.dialect)
    report = run_case(netns, flavour, case_seed, spec, probes(case_seed, PROBES))
    assert len(report.outcomes) == PROBES
    replay = (
        f"FWCHECK_ORACLE_SEED={oracle_seed} FWCHECK_ORACLE_RULESETS={RULESETS} "
        f"FWCHECK_ORACLE_PROBES={PROBES} python -m pytest "
        f"'tests/kernel/test_oracle_random.py::test_kernel_and_fwcheck_agree[{flavour.name}-{index}]'"
    )
    answers = Counter(o.fwcheck for o in report.outcomes)
    kernel = Counter(o.observed.kernel for o in report.outcomes)
    print(f"kernel {dict(kernel)}, fwcheck {dict(answers)}")
    if report.problems():
        pytest.fail(report.message(replay), pytrace=False)
