"""nftables.conf read as text (nft_text) against the real `nft -f` and the kernel.

Every nft text the oracle has is loaded with the real `nft -f` into a fresh network namespace and
exported with `nft -j list ruleset`; fwcheck's verdict from the text must equal its verdict from
the kernel's JSON on every flow asked:
- the random rulesets of test_oracle_random rendered as nft text, and the nft scenarios of
  test_oracle_scenarios: on real probes, whose kernel fate must also match (run_case);
- every example Debian ships in /usr/share/doc/nftables/examples/ (loaded from that folder, so
  their `include "./…"` resolve as nft resolves them): on a grid of flows (both families, TCP,
  UDP, ping, several ports, inbound and outbound). An example the kernel refuses (a module the
  test machine lacks) is skipped saying why; with FWCHECK_REQUIRE_KERNEL_ORACLE=1 the load of
  the examples that need nothing special must succeed.
Each test prints its counts (rulesets, flows, disagreements).
"""

from __future__ import annotations

import gzip
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from oracle_check import NFT, run_case
from oracle_generate import Probe, generate, probes
from oracle_netns import COMMAND_TIMEOUT_S, NetnsPair
from oracle_probe import fwcheck_verdict
from oracle_render import nft_text
from oracle_ruleset import ICMP, TCP, UDP, Action, Chain, Cond, Rule, Spec, Table
from oracle_topology import host_addresses, peer_addresses
from test_oracle_random import PROBES, RULESETS
from test_oracle_scenarios import SCENARIOS, grid

from checker.parsers.netfilter import nft_json, nft_list
from checker.parsers.netfilter import nft_text as nft_text_parser

EXAMPLES = Path("/usr/share/doc/nftables/examples")
# Examples that need what a test machine may lack (an SELinux context, conntrack helpers,
# netdev fwd).
NEEDS_MORE = frozenset({"secmark.nft", "ct_helpers.nft", "load_balancing.nft"})
# veth pairs (the dummy driver may be missing), both ends inside the test's namespace.
# sets_and_maps.nft starts by deleting a table it never made (nft refuses that on an empty
# ruleset): both nft and fwcheck get it made first.
PRELUDE = {"sets_and_maps.nft": b"add table ip filter\n"}
EXAMPLE_DEVICES = (("eth0", "eth1"), ("eth2", "eth3"), ("bond0", "bond1"))


def compare_text(text: str, origin: str, report_outcomes: Sequence[object]) -> list[str]:
    ruleset = nft_text_parser.parse(text.encode(), origin)
    found = []
    for outcome in report_outcomes:
        probe = outcome.probe  # type: ignore[attr-defined]
        from_text = fwcheck_verdict([ruleset], probe)
        if from_text != outcome.fwcheck:  # type: ignore[attr-defined]
            found.append(
                f"TEXT DISAGREES {probe.label()} ipv{probe.family}: from the text {from_text}, "
                f"from nft -j {outcome.fwcheck}, kernel {outcome.observed.kernel}"  # type: ignore[attr-defined]
            )
    return found


@pytest.mark.parametrize("index", range(RULESETS))
def test_random_text_equals_json_and_kernel(netns: NetnsPair, oracle_seed: str, index: int) -> None:
    if not NFT.available():
        pytest.skip("nft is not installed")
    case_seed = f"{oracle_seed}/nft-text/{index}"
    spec = generate(case_seed, "nft")
    report = run_case(netns, NFT, case_seed, spec, probes(case_seed, PROBES))
    problems = report.problems() + compare_text(nft_text(spec), "random.nft", report.outcomes)
    print(f"nft-text oracle {case_seed}: 1 ruleset, {len(report.outcomes)} probes, "
          f"{len(problems)} disagreements")  # fmt: skip
    if problems:
        pytest.fail(report.message(f"FWCHECK_ORACLE_SEED={oracle_seed}") + "\n" + "\n".join(problems),
                    pytrace=False)  # fmt: skip


NFT_SCENARIOS = sorted(name for name, (flavour, _, _) in SCENARIOS.items() if flavour is NFT)


@pytest.mark.parametrize("name", NFT_SCENARIOS)
def test_scenario_text_equals_json_and_kernel(netns: NetnsPair, name: str) -> None:
    _, spec, _ = SCENARIOS[name]
    report = run_case(netns, NFT, f"scenario {name}", spec, grid())
    problems = report.problems() + compare_text(nft_text(spec), f"{name}.nft", report.outcomes)
    print(f"nft-text scenario {name}: {len(report.outcomes)} probes, {len(problems)} disagreements")
    if problems:
        pytest.fail(report.message(name) + "\n" + "\n".join(problems), pytrace=False)


# `th` ports in rules that let other protocols through: nft adds no protocol test to `th`, and
# lists `th sport 4001 th dport 22` (one merged 32-bit load) as `@th,0,32 0xfa10016`.
OPEN_TH = Spec("nft", (Table("inet", "filter", (
    Chain("input", (
        Rule((Cond("ctstate", names=("ESTABLISHED", "RELATED")),), Action("accept")),
        Rule((Cond("sport", ranges=((4001, 4001),)), Cond("dport", ranges=((22, 22),))),
             Action("accept")),
        Rule((Cond("dport", ranges=((80, 80),)),), Action("accept")),
        Rule((Cond("l4proto", ranges=((TCP, TCP),), negated=True),
              Cond("dport", ranges=((53, 53),))), Action("accept")),
    ), "input", 0, "drop"),
)),))  # fmt: skip


def test_th_ports_open_to_other_protocols(netns: NetnsPair) -> None:
    """TCP and UDP flows meet `th` port matches in rules open to protocols without ports (no
    protocol test, `meta l4proto != tcp`): fwcheck decides them from nft -j (where the merged
    `th sport … th dport …` is a raw load) and from the text, as the kernel does. Before, such
    a rule was unknown as a whole, and every flow reaching it indeterminate. No pings: what
    `th dport` reads from an ICMP header is its checksum, which neither side can know."""
    flows = [
        Probe(family, proto, src, dst, sport, dport, "inbound")
        for family in (4, 6)
        for src, dst in [(peer_addresses(family)[0], host_addresses(family)[0])]
        for proto in (TCP, UDP)
        # Source ports the peer does not listen on (SERVICE_PORTS), each used once.
        for sport, dport in ((4001, 22), (4002, 22), (4003, 53), (20000, 80), (20001, 53))
    ]
    report = run_case(netns, NFT, "open th", OPEN_TH, tuple(flows))
    problems = report.problems() + compare_text(nft_text(OPEN_TH), "open-th.nft", report.outcomes)
    assert "@th,0,32 0xfa10016" in report.dumped, "nft no longer merges the two th loads"
    assert {o.fwcheck for o in report.outcomes} == {"accept", "drop"}
    if problems:
        pytest.fail(report.message("open th") + "\n" + "\n".join(problems), pytrace=False)


def example_files() -> list[Path]:
    if not EXAMPLES.is_dir():
        return []
    return sorted(
        p for p in EXAMPLES.iterdir() if p.name.endswith((".nft", ".nft.gz")) and p.is_file()
    )


def test_debian_examples_are_present() -> None:
    """The examples come with Debian's nftables package; a minimal image may drop /usr/share/doc
    (dpkg path-exclude), which would leave the example tests silently empty."""
    if len(example_files()) >= 10:
        return
    if os.environ.get("FWCHECK_REQUIRE_KERNEL_ORACLE") == "1":
        pytest.fail(f"FWCHECK_REQUIRE_KERNEL_ORACLE=1 but {EXAMPLES} holds no nft examples")
    pytest.skip(f"{EXAMPLES} holds no nft examples (install Debian's nftables package)")


def flow_grid() -> list[Probe]:
    out = []
    for family in (4, 6):
        near, far = host_addresses(family)[0], peer_addresses(family)[0]
        for direction in ("inbound", "outbound"):
            src, dst = (far, near) if direction == "inbound" else (near, far)
            for proto in (TCP, UDP):
                for port in (22, 23, 53, 80, 443, 8080):
                    out.append(Probe(family, proto, src, dst, 40000 + len(out), port, direction))
            out.append(Probe(family, ICMP[family], src, dst, 40000 + len(out), 0, direction))
    return out


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_debian_example_text_equals_json(netns: NetnsPair, path: Path, tmp_path: Path) -> None:
    if not shutil.which("nft"):
        pytest.skip("nft is not installed")
    # The examples include each other as "./name": nft resolves that from its working
    # directory, fwcheck from the including file's folder; a copy in one folder serves both.
    for source in example_files():
        data = source.read_bytes()
        name = source.name
        if name.endswith(".gz"):
            data, name = gzip.decompress(data), name[: -len(".gz")]
        (tmp_path / name).write_bytes(PRELUDE.get(name, b"") + data)
    target = tmp_path / path.name.removesuffix(".gz")
    for one, other in EXAMPLE_DEVICES:  # the examples name these; nft refuses unknown devices
        netns.run(netns.host, ["ip", "link", "add", one, "type", "veth", "peer", "name", other])
    loaded = subprocess.run(
        ["ip", "netns", "exec", netns.host, "nft", "-f", target.name],
        cwd=tmp_path, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False,
    )  # fmt: skip
    if loaded.returncode != 0:
        reason = loaded.stderr.decode(errors="replace").strip().splitlines()[:3]
        if (
            path.name.removesuffix(".gz") in NEEDS_MORE
            or os.environ.get("FWCHECK_REQUIRE_KERNEL_ORACLE") != "1"
        ):
            pytest.skip(f"nft -f {path.name} refused on this machine: {' / '.join(reason)}")
        pytest.fail(f"nft -f {path.name} failed: {' / '.join(reason)}")
    exported = netns.run(netns.host, ["nft", "-j", "list", "ruleset"]).stdout
    listing = netns.run(netns.host, ["nft", "list", "ruleset"]).stdout
    from_json = [nft_json.parse(exported, "nft.json"), nft_list.parse(listing, "nft-list.txt")]
    from_text = [nft_text_parser.parse(target.read_bytes(), str(target))]
    grid_flows = flow_grid()
    problems = []
    for probe in grid_flows:
        json_verdict, text_verdict = (
            fwcheck_verdict(from_json, probe),
            fwcheck_verdict(from_text, probe),
        )
        if json_verdict != text_verdict:
            problems.append(
                f"{probe.label()} ipv{probe.family}: text {text_verdict}, json {json_verdict}"
            )
    print(f"nft-text example {path.name}: {len(grid_flows)} flows, {len(problems)} disagreements")
    assert not problems, "\n".join(problems) + "\n" + listing.decode(errors="replace")


def test_listing_is_a_full_source(netns: NetnsPair) -> None:
    """`nft list ruleset` output read back as nft text gives the verdicts of the JSON."""
    spec = generate("listing", "nft")
    netns.run(netns.host, ["nft", "-f", "-"], nft_text(spec).encode())
    exported = netns.run(netns.host, ["nft", "-j", "list", "ruleset"]).stdout
    listing = netns.run(netns.host, ["nft", "-a", "list", "ruleset"]).stdout
    from_json = [nft_json.parse(exported, "nft.json"), nft_list.parse(listing, "nft-list.txt")]
    from_text = [nft_text_parser.parse(listing, "listing.nft")]
    flows = flow_grid()
    differ = [
        p.label() for p in flows if fwcheck_verdict(from_json, p) != fwcheck_verdict(from_text, p)
    ]
    assert not differ, "\n".join(differ) + "\n" + listing.decode(errors="replace")
    assert ipaddress.ip_address(flows[0].src)


PEER4, PEER6 = peer_addresses(4)[0], peer_addresses(6)[0]
# nftables.conf files that are command scripts, not one table block: what each command leaves
# behind decides the verdicts. The kernel's own listing after `nft -f` is the reference.
COMMAND_SCRIPTS = {
    # The kernel keeps a set's elements across `flush table` (rules only; nft(8), "flush table").
    "flush-table-keeps-set-elements": f"""
table inet t {{
  set peers4 {{ type ipv4_addr; elements = {{ {PEER4} }} }}
  set peers6 {{ type ipv6_addr; elements = {{ {PEER6} }} }}
  chain input {{ type filter hook input priority 0; policy accept; tcp dport 22 accept; }};
}}
flush table inet t
add rule inet t input tcp dport 22 accept
add rule inet t input ip saddr @peers4 drop
add rule inet t input ip6 saddr @peers6 drop
""",
    "flush-set-empties-it": f"""
table inet t {{
  set peers4 {{ type ipv4_addr; elements = {{ {PEER4} }} }}
  set peers6 {{ type ipv6_addr; flags interval; elements = {{ {PEER6} }} }}
  chain input {{
    type filter hook input priority 0; policy accept;
    ip saddr @peers4 drop
    ip6 saddr @peers6 drop
    udp dport 53 drop
  }}
}}
flush set inet t peers4
flush set inet t peers6
""",
    "delete-and-add-element": f"""
table inet t {{
  set peers6 {{ type ipv6_addr; elements = {{ {PEER6} }} }}
  set ports {{ type inet_service; flags interval; elements = {{ 20-30, 80 }} }}
  chain input {{
    type filter hook input priority 0; policy accept;
    ip6 saddr @peers6 drop
    tcp dport @ports drop
  }}
}}
delete element inet t peers6 {{ {PEER6} }}
add element inet t ports {{ 53, 443 }}
""",
    "table-block-twice-adds": """
table ip t { chain input { type filter hook input priority 0; policy drop; tcp dport 22 accept; }; }
table ip t { chain input { tcp dport 80 accept; }; }
flush chain ip t input
add rule ip t input udp dport 53 accept
""",
}


@pytest.mark.parametrize("name", sorted(COMMAND_SCRIPTS))
def test_command_scripts_leave_what_the_kernel_holds(netns: NetnsPair, name: str) -> None:
    """Each script loaded by the real `nft -f`; fwcheck's verdicts from the script's text must
    be those from the kernel's listing, on every flow of the grid (and they must not all be one
    verdict: the script's commands must matter)."""
    text = COMMAND_SCRIPTS[name].encode()
    netns.run(netns.host, ["nft", "-f", "-"], text)
    exported = netns.run(netns.host, ["nft", "-j", "list", "ruleset"]).stdout
    listing = netns.run(netns.host, ["nft", "list", "ruleset"]).stdout
    from_json = [nft_json.parse(exported, "nft.json"), nft_list.parse(listing, "nft-list.txt")]
    from_text = [nft_text_parser.parse(text, f"{name}.nft")]
    flows = [p for p in flow_grid() if p.direction == "inbound"]
    verdicts = [(fwcheck_verdict(from_json, p), fwcheck_verdict(from_text, p)) for p in flows]
    differ = [
        f"{p.label()} ipv{p.family}: text {t}, kernel's listing {j}"
        for p, (j, t) in zip(flows, verdicts, strict=True)
        if j != t
    ]
    assert not differ, "\n".join(differ) + "\n" + listing.decode(errors="replace")
    assert len({j for j, _ in verdicts}) > 1, listing.decode(errors="replace")
