"""The implicit dependencies nft adds, read from the kernel's own bytecode and compared with what
fwcheck puts back from `nft -j list ruleset` (which leaves them out).

Each expression is loaded as a one-statement rule into a table of every family it is valid in,
inside a fresh network namespace, with `nft --debug=netlink -f`: the netlink dump shows the
tests nft put in front of it (`meta nfproto` in inet, `meta protocol` in netdev, `ether type`
in bridge tables; `meta l4proto` everywhere). The same ruleset is listed with `nft -j` and
parsed; the family and protocol tests fwcheck's rule carries must be exactly the kernel's.
Needs root, iproute2 and nftables (CI runs as root on Debian 12).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from checker.model.netfilter import Ranges, Rule
from checker.parsers.netfilter import nft_json

# Expressions whose dependencies matter; a family where nft refuses one is left out for it.
EXPRESSIONS = (
    "icmpv6 type nd-neighbor-solicit",
    "icmpv6 code 0",
    "icmp type echo-request",
    "icmp code 0",
    "igmp type 1",
    "tcp dport 22",
    "udp dport 53",
    "udplite dport 1",
    "sctp dport 1",
    "dccp dport 1",
    "tcp flags syn",
    "ah spi 1",
    "esp spi 1",
    "comp cpi 1",
    "th dport 22",
    "ip saddr 192.0.2.1",
    "ip protocol 6",
    "ip option rr exists",
    "ip6 saddr 2001:db8::1",
    "ip6 nexthdr 6",
    "exthdr rt exists",
    "exthdr frag missing",
    "rt type 0",
    "frag more-fragments 1",
    "hbh nexthdr 6",
    "dst nexthdr 6",
    "mh type 1",
)
# What the expression itself tests in the model's fields (not a dependency).
OWN = {"ip protocol 6": {("proto", 6)}, "ip6 nexthdr 6": {("proto", 6)}}
IPV4_ONLY = ("ip saddr", "ip protocol", "ip option")
IPV6_ONLY = ("ip6 ", "exthdr", "rt type", "frag ", "hbh ", "dst ", "mh ")
FAMILIES = {
    "inet": "type filter hook input priority 0;",
    "netdev": "type filter hook ingress device lo priority 0;",
    "bridge": "type filter hook input priority 0;",
    "ip": "type filter hook input priority 0;",
    "ip6": "type filter hook input priority 0;",
}
# What a dependency's compared value means: nfproto (NFPROTO_*), ethertype as the register
# holds it (network byte order read as a little-endian word), or the IP protocol itself.
_NFPROTO = {0x02: 4, 0x0A: 6}
_ETHERTYPE = {0x0008: 4, 0xDD86: 6}
_LOAD = re.compile(r"\[ (meta load (nfproto|protocol|l4proto)|payload load 2b @ link header \+ 12)")
_CMP = re.compile(r"\[ cmp eq reg 1 (0x[0-9a-f]+) \]")


def expressions(family: str) -> list[str]:
    def valid(text: str) -> bool:
        if family == "ip":
            return not text.startswith(IPV6_ONLY)
        if family == "ip6":
            return not text.startswith(IPV4_ONLY)
        return True

    return [text for text in EXPRESSIONS if valid(text)]


def script(family: str) -> str:
    rules = "".join(f"\t\t{text} accept\n" for text in expressions(family))
    return f"table {family} t {{\n\tchain c {{\n\t\t{FAMILIES[family]}\n{rules}\t}}\n}}\n"


def kernel_dependencies(netlink: str) -> list[set[tuple[str, int]]]:
    """Per rule of the dump (in order), the family and protocol tests in its bytecode."""
    found: list[set[tuple[str, int]]] = []
    for block in netlink.split("\n\n"):
        lines = [line.strip() for line in block.splitlines() if line.strip().startswith("[")]
        if not any("immediate reg 0 accept" in line for line in lines):
            continue
        deps: set[tuple[str, int]] = set()
        for load, compare in zip(lines, lines[1:], strict=False):
            loaded, value = _LOAD.match(load), _CMP.match(compare)
            if not (loaded and value):
                continue
            number = int(value.group(1), 16)
            key = loaded.group(2)
            if key == "l4proto":
                deps.add(("proto", number))
            elif key == "nfproto":
                deps.add(("family", _NFPROTO[number]))
            else:
                deps.add(("family", _ETHERTYPE[number]))
        found.append(deps)
    return found


def fwcheck_dependencies(rule: Rule) -> set[tuple[str, int]]:
    """The one-value family and protocol tests of a parsed rule (an extension header's
    "proto is an extension header" scope or a never-true test is no dependency)."""
    return {
        (match.field, match.ranges[0][0])
        for match in rule.matches
        if isinstance(match, Ranges)
        and match.field in ("family", "proto")
        and len(match.ranges) == 1
        and match.ranges[0][0] == match.ranges[0][1]
        and not match.negated
    }


@pytest.fixture
def namespace() -> Iterator[str]:
    if shutil.which("nft") is None or shutil.which("ip") is None:
        pytest.skip("needs nft and ip (apt: nftables iproute2)")
    name = f"fwc-deps-{secrets.token_hex(4)}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, timeout=30)
    if made.returncode != 0:
        pytest.skip(f"`ip netns add` fails here: {made.stderr.decode(errors='replace').strip()}")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def _nft(namespace: str, *argv: str, stdin: str = "") -> str:
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, "nft", *argv],
        input=stdin.encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_dependencies_match_the_kernel(namespace: str, family: str) -> None:
    netlink = _nft(namespace, "--debug=netlink", "-f", "-", stdin=script(family))
    kernel = kernel_dependencies(netlink)
    texts = expressions(family)
    assert len(kernel) == len(texts), netlink
    listed = _nft(namespace, "-j", "list", "ruleset")
    ruleset = nft_json.parse(listed.encode(), f"{family}.json")
    (table,) = ruleset.tables
    (chain,) = table.chains
    assert len(chain.rules) == len(texts)
    # nft -j leaves the dependencies out (it shows igmp's `meta nfproto ipv4` in inet tables
    # only): the icmpv6 rule is its own match and the verdict, nothing more.
    statements = [item["rule"]["expr"] for item in json.loads(listed)["nftables"] if "rule" in item]
    assert len(statements[texts.index("icmpv6 type nd-neighbor-solicit")]) == 2
    wrong = [
        f"{text}: kernel {sorted(want)}, fwcheck {sorted(fwcheck_dependencies(rule))}"
        for text, want, rule in zip(texts, kernel, chain.rules, strict=True)
        if fwcheck_dependencies(rule) != want | OWN.get(text, set())
    ]
    assert not wrong, f"{family} table:\n" + "\n".join(wrong)
