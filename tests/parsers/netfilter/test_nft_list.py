"""`nft list ruleset` text, read for the devices of netdev/inet ingress and egress chains.

The live test loads a ruleset into a test-made network namespace with a veth pair and lists
it with the real nft both ways: the JSON (nft 1.0.6 leaves the devices out) and the text (which
names them); fwcheck, given both, binds each chain to its devices. Needs root (CI runs as root).
"""

from __future__ import annotations

import subprocess
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from needs_root import require_root

from checker.engine.netfilter.walk import new_context
from checker.errors import ParseError
from checker.model.netfilter import Hook, NftDevices
from checker.parsers import detect
from checker.parsers.netfilter import nft_json, nft_list
from checker.pipeline import evaluate_target

RULESET = """table netdev edge {
\tset blocked { type ipv4_addr; flags interval; elements = { 192.0.2.0/24 } }
\tchain eg { type filter hook egress device "fwl0" priority 0; policy accept; udp dport 53 drop; }
\tchain ing { type filter hook ingress devices = { "fwl0", "fwl1" } priority -5; policy accept;
\t\tip saddr @blocked drop comment "braces { in } a comment"
\t}
}
table inet filter {
\tchain input { type filter hook input priority 0; policy accept; tcp dport { 22, 80 } accept; }
\tchain ing2 { type filter hook ingress device "fwl1" priority 0; policy accept; }
}
"""


@pytest.fixture(scope="module")
def listed() -> tuple[bytes, bytes]:
    """(nft -j list ruleset, nft list ruleset) of RULESET, loaded for real."""
    require_root("nft in a network namespace")
    name = f"fwc-nftl-{uuid.uuid4().hex[:8]}"

    def run(*argv: str, data: bytes = b"") -> bytes:
        done = subprocess.run(
            ["ip", "netns", "exec", name, *argv], input=data, capture_output=True, timeout=20
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    subprocess.run(["ip", "netns", "add", name], check=True, timeout=20)
    try:
        run("ip", "link", "add", "fwl0", "type", "veth", "peer", "name", "fwl1")
        run("nft", "-f", "-", data=RULESET.encode())
        return run("nft", "-j", "list", "ruleset"), run("nft", "list", "ruleset")
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=20)


def test_the_text_names_the_devices_the_json_leaves_out(listed: tuple[bytes, bytes]) -> None:
    json_data, text = listed
    assert detect(text, "nft-list.txt") is nft_list
    devices = nft_list.parse(text, "nft-list.txt")
    assert devices.bindings == (
        ("netdev", "edge", "eg", ("fwl0",)),
        ("netdev", "edge", "ing", ("fwl0", "fwl1")),
        ("inet", "filter", "ing2", ("fwl1",)),
    )
    ruleset = nft_json.parse(json_data, "nft.json")
    unbound = [
        c.name for t in ruleset.tables for c in t.chains if c.hook in (Hook.INGRESS, Hook.EGRESS)
    ]
    assert sorted(unbound) == ["eg", "ing", "ing2"]
    context = new_context([ruleset, devices])
    bound = sorted(
        (c.name, c.device)
        for t in context.rulesets[0].tables
        for c in t.chains
        if c.hook in (Hook.INGRESS, Hook.EGRESS)
    )
    assert bound == [("eg", "fwl0"), ("ing", "fwl0"), ("ing", "fwl1"), ("ing2", "fwl1")]
    assert {"fwl0", "fwl1"} <= {name for kind, name in context.interfaces.symbols if kind == "lit"}


def test_alone_it_describes_no_firewall(listed: tuple[bytes, bytes]) -> None:
    _, text = listed
    findings, platform, problems = evaluate_target("h", [("nft-list.txt", text)], [])
    assert (findings, platform) == ([], None)
    assert [p.code for p in problems] == ["no-ruleset"]
    assert "nft list ruleset text" in problems[0].message


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("table inet t {\n}\nchain c {\n}\n", 3, "chain outside a table"),
        ("table inet t {\n\tchain c {\n\t}\n", 1, "table opened here is not closed"),
        ("table inet t {\n}\n}\n", 3, "closing brace without an open block"),
        ("table inet t {\n\tchain c {\ntable ip u {\n", 3, "table inside another block"),
    ],
)
def test_broken_listings_name_their_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        nft_list.parse(text.encode(), "x.txt")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == ("x.txt", line) and message in problem.message


def test_not_utf8_and_not_a_listing() -> None:
    with pytest.raises(ParseError, match="not UTF-8"):
        nft_list.parse(b"table inet t {\xff\n}\n", "x.txt")
    assert not nft_list.sniff(b"*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")
    assert nft_list.sniff(b"# a comment\ntable ip filter {\n}\n")


LINES = st.sampled_from(
    [
        "table netdev edge {",
        "table inet filter {",
        'chain c { type filter hook ingress device "x" priority 0;',
        "chain d {",
        'type filter hook egress device "eth0" priority 0; policy accept;',
        'type filter hook ingress devices = { "a", b } priority 0;',
        "}",
        "{",
        'comment "}"',
        "set s { type ipv4_addr; elements = { 1.2.3.4 } }",
        "# }",
        "",
    ]
)


@given(st.lists(LINES, max_size=20), st.text(max_size=20))
@settings(max_examples=400, deadline=None)
def test_random_listings_parse_or_fail_cleanly(lines: list[str], noise: str) -> None:
    data = ("\n".join(lines) + noise).encode("utf-8", errors="surrogatepass")
    try:
        result = nft_list.parse(data, "fuzz.txt")
    except ParseError as error:
        assert error.problems[0].file == "fuzz.txt"
        return
    assert isinstance(result, NftDevices)
    for family, _table, _chain, devices in result.bindings:
        assert family in ("ip", "ip6", "inet", "arp", "bridge", "netdev") and devices
