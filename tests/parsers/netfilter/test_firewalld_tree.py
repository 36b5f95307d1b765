"""etc/firewalld trees read as the rules firewalld's nftables backend loads.

The trees are written here, by hand, in the shape `firewall-offline-cmd` writes them; the stock
definitions they use are this test's own small files (never firewalld's GPL files), given as the
defaults folder, so the tests do not depend on an installed firewalld. What the real daemon makes
of such trees is tests/kernel/test_firewalld_oracle.py's concern.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.engine.netfilter.engine import classify_flow
from checker.errors import ParseError
from checker.model.netfilter import Ruleset, Unknown
from checker.parsers import folder_parser
from checker.parsers.netfilter import firewalld_tree

SERVICES = {
    "ssh": '<port protocol="tcp" port="22"/>',
    "http": '<port protocol="tcp" port="80"/>',
    "dns": '<port protocol="tcp" port="53"/>\n  <port protocol="udp" port="53"/>',
    "dhcpv6-client": '<port protocol="udp" port="546"/>\n  <destination ipv6="fe80::/64"/>',
}


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def defaults(root: Path) -> Path:
    lib = root / "lib-firewalld"
    for name, body in SERVICES.items():
        write(
            lib,
            f"services/{name}.xml",
            f'<?xml version="1.0" encoding="utf-8"?>\n<service>\n  {body}\n</service>\n',
        )
    write(
        lib,
        "zones/public.xml",
        '<?xml version="1.0" encoding="utf-8"?>\n<zone>\n  <service name="ssh"/>\n  <service name="dhcpv6-client"/>\n</zone>\n',
    )
    write(
        lib,
        "zones/drop.xml",
        '<?xml version="1.0" encoding="utf-8"?>\n<zone target="DROP">\n</zone>\n',
    )
    return lib


def tree(
    tmp_path: Path, zones: dict[str, str], conf: str = "DefaultZone=public\nIPv6_rpfilter=no\n"
) -> Path:
    etc = tmp_path / "repo" / "etc" / "firewalld"
    write(etc, "firewalld.conf", conf)
    for name, body in zones.items():
        write(etc, f"zones/{name}.xml", body)
    return tmp_path / "repo"


def load(tmp_path: Path, zones: dict[str, str], **kw: str) -> Ruleset:
    repo = tree(tmp_path, zones, **kw)
    (ruleset,) = firewalld_tree.parse_tree(str(repo), str(defaults(tmp_path)), system=None)
    return ruleset


def verdict(ruleset: Ruleset, port: int, src: str = "203.0.113.9", proto: int = 6, iface: str = "eth0",
            family: int = 4, dst: str = "192.0.2.1", direction: str = "inbound") -> str:  # fmt: skip
    return classify_flow([ruleset], family=family, proto=proto, src=src, dst=dst, sport=40000,
                         dport=port, direction=direction, iface=iface)  # fmt: skip


PUBLIC = """\
    <?xml version="1.0" encoding="utf-8"?>
    <zone>
      <short>Public</short>
      <service name="ssh"/>
      <port port="8443" protocol="tcp"/>
      <interface name="eth0"/>
    </zone>
    """


def rule_at(ruleset: Ruleset, chain: str) -> list[tuple[str, str]]:
    found = [c for t in ruleset.tables for c in t.chains if c.name == chain]
    return [(str(r.origin), r.text) for r in found[0].rules]


def test_services_and_ports_are_open_and_the_rest_rejected(tmp_path: Path) -> None:
    ruleset = load(tmp_path, {"public": PUBLIC})
    assert verdict(ruleset, 22) == "accept"
    assert verdict(ruleset, 8443) == "accept"
    assert verdict(ruleset, 80) == "drop"
    assert verdict(ruleset, 22, family=6, src="2001:db8::9", dst="2001:db8::1") == "accept"
    assert verdict(ruleset, 53, proto=17, direction="outbound") == "accept"


def test_evidence_cites_the_zone_element_and_the_service_file(tmp_path: Path) -> None:
    ruleset = load(tmp_path, {"public": PUBLIC})
    rules = rule_at(ruleset, "filter_IN_public_allow")
    origin, text = rules[0]
    assert origin.endswith("etc/firewalld/zones/public.xml:4")
    assert 'zone public: <service name="ssh"/>' in text and "services/ssh.xml:3" in text
    assert "tcp dport 22 accept" in text
    assert rules[1][0].endswith("zones/public.xml:5")


def test_sources_are_dispatched_before_interfaces(tmp_path: Path) -> None:
    peers = """\
        <?xml version="1.0" encoding="utf-8"?>
        <zone>
          <source address="198.51.100.64/26"/>
          <port port="3306" protocol="tcp"/>
        </zone>
        """
    ruleset = load(tmp_path, {"public": PUBLIC, "peers": peers})
    assert verdict(ruleset, 3306, src="198.51.100.70") == "accept"
    assert verdict(ruleset, 3306) == "drop"
    # The source's zone decides: it has no ssh, although eth0's zone has.
    assert verdict(ruleset, 22, src="198.51.100.70") == "drop"


@pytest.mark.parametrize(
    ("target", "expected"), [("ACCEPT", "accept"), ("DROP", "drop"), ("%%REJECT%%", "drop")]
)
def test_zone_targets(tmp_path: Path, target: str, expected: str) -> None:
    zone = f'<?xml version="1.0" encoding="utf-8"?>\n<zone target="{target}">\n  <interface name="eth1"/>\n</zone>\n'
    ruleset = load(tmp_path, {"public": PUBLIC, "other": zone})
    assert verdict(ruleset, 9999, iface="eth1") == expected
    assert verdict(ruleset, 22, iface="eth0") == "accept"


def test_default_zone_catches_unbound_interfaces(tmp_path: Path) -> None:
    ruleset = load(tmp_path, {"public": PUBLIC}, conf="DefaultZone=drop\nIPv6_rpfilter=no\n")
    assert verdict(ruleset, 22, iface="eth7") == "drop"
    assert verdict(ruleset, 22, iface="eth0") == "accept"


def test_rich_rules_priorities_and_limits(tmp_path: Path) -> None:
    zone = """\
        <?xml version="1.0" encoding="utf-8"?>
        <zone>
          <service name="http"/>
          <rule family="ipv4" priority="-1">
            <source address="198.51.100.66"/>
            <service name="http"/>
            <reject/>
          </rule>
          <rule>
            <port port="7000-7010" protocol="udp"/>
            <accept><limit value="10/s"/></accept>
          </rule>
        </zone>
        """
    ruleset = load(tmp_path, {"public": zone})
    assert verdict(ruleset, 80) == "accept"
    assert verdict(ruleset, 80, src="198.51.100.66") == "drop"
    assert verdict(ruleset, 7005, proto=17) == "indeterminate"
    assert any(
        isinstance(m, Unknown)
        for t in ruleset.tables
        for c in t.chains
        for r in c.rules
        for m in r.matches
    )


def test_icmp_blocks(tmp_path: Path) -> None:
    zone = '<?xml version="1.0" encoding="utf-8"?>\n<zone>\n  <icmp-block name="echo-request"/>\n</zone>\n'
    ruleset = load(tmp_path, {"public": zone})
    ping = classify_flow([ruleset], family=4, proto=1, src="203.0.113.9", dst="192.0.2.1", sport=0,
                         dport=0, direction="inbound", iface="eth0", icmp=8 << 8)  # fmt: skip
    assert ping == "drop"
    assert rule_at(ruleset, "filter_IN_public_deny")[0][0].endswith("zones/public.xml:3")


def test_builtin_table_when_no_defaults(tmp_path: Path) -> None:
    repo = tree(tmp_path, {})
    (ruleset,) = firewalld_tree.parse_tree(str(repo), None, system=None)
    assert verdict(ruleset, 22) == "accept"
    assert verdict(ruleset, 80) == "drop"
    assert any("built-in" in w for w in ruleset.warnings)


def test_folder_is_detected(tmp_path: Path) -> None:
    repo = tree(tmp_path, {"public": PUBLIC})
    assert folder_parser(repo) is firewalld_tree
    assert folder_parser(repo / "etc" / "firewalld") is firewalld_tree
    assert firewalld_tree.tree_of(repo / "etc" / "firewalld" / "zones" / "public.xml") == (
        repo / "etc" / "firewalld"
    )
    with pytest.raises(ParseError):
        folder_parser(tmp_path / "lib-firewalld-nothing")


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ('<zone>\n  <service name="nosuch"/>\n</zone>\n', 2, "defined nowhere"),
        ('<zone>\n  <port port="99999" protocol="tcp"/>\n</zone>\n', 2, "out of range"),
        ('<zone>\n  <port port="22" protocol="icmp"/>\n</zone>\n', 2, "not tcp"),
        ("<zone>\n  <service name='ssh'>\n</zone>\n", 3, "not well-formed"),
        ('<!DOCTYPE zone [<!ENTITY a "b">]>\n<zone/>\n', 1, "DTD"),
    ],
)
def test_bad_trees_give_located_errors(tmp_path: Path, body: str, line: int, words: str) -> None:
    with pytest.raises(ParseError) as caught:
        load(tmp_path, {"public": body})
    problem = caught.value.problems[0]
    assert problem.file.endswith("zones/public.xml") and problem.line == line
    assert words in problem.message


def test_missing_default_zone_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as caught:
        load(tmp_path, {"public": PUBLIC}, conf="# x\nDefaultZone=nosuch\n")
    assert caught.value.problems[0].line == 2


MUTATIONS = st.lists(
    st.tuples(
        st.integers(0, 400),
        st.integers(0, 3),
        st.sampled_from(
            [
                '"',
                "<",
                ">",
                "/",
                "x",
                "-1",
                "=",
                " ",
                "\x00",
                "é",
                "99999",
                "ipv6",
                "%%REJECT%%",
                "+",
            ]
        ),
    ),
    max_size=6,
)
RICH = """\
<?xml version="1.0" encoding="utf-8"?>
<zone target="default">
  <service name="ssh"/>
  <port port="8443" protocol="tcp"/>
  <source-port port="999" protocol="udp"/>
  <protocol value="gre"/>
  <icmp-block name="echo-request"/>
  <forward-port port="80" protocol="tcp" to-port="8080"/>
  <source address="198.51.100.0/24"/>
  <interface name="eth+"/>
  <forward/>
  <masquerade/>
  <rule family="ipv4" priority="-5"><source address="10.0.0.0/8" invert="True"/><port port="5432" protocol="tcp"/><drop/></rule>
  <rule family="ipv4"><source address="10.1.0.0/16"/><masquerade/></rule>
  <rule family="ipv6"><icmp-type name="echo-request"/><accept><limit value="3/m"/></accept></rule>
</zone>
"""


POLICY = """\
<?xml version="1.0" encoding="utf-8"?>
<policy target="REJECT" priority="-5">
  <ingress-zone name="HOST"/>
  <egress-zone name="ANY"/>
  <service name="dns"/>
  <rule family="ipv6"><destination address="2001:db8::/32"/><port port="443" protocol="tcp"/><accept/></rule>
</policy>
"""
FORWARDED = """\
<?xml version="1.0" encoding="utf-8"?>
<policy target="ACCEPT" priority="10">
  <ingress-zone name="peers"/>
  <egress-zone name="public"/>
  <port port="80" protocol="tcp"/>
  <masquerade/>
  <forward-port port="2222" protocol="tcp" to-port="22" to-addr="10.9.0.5"/>
</policy>
"""
DIRECT = """\
<?xml version="1.0" encoding="utf-8"?>
<direct>
  <chain ipv="ipv4" table="filter" chain="mine"/>
  <rule priority="0" table="filter" ipv="ipv4" chain="INPUT">-p tcp --dport 22 -j mine</rule>
  <rule priority="0" table="filter" ipv="ipv4" chain="mine">-s 198.51.100.2 -j DROP</rule>
  <passthrough ipv="ipv6">-t filter -I INPUT -j ACCEPT</passthrough>
</direct>
"""
IPSET = """\
<?xml version="1.0" encoding="utf-8"?>
<ipset type="hash:net">
  <option name="family" value="inet"/>
  <entry>198.51.100.0/25</entry>
</ipset>
"""
FILES = {"zones/public.xml": RICH, "policies/out.xml": POLICY, "policies/fwd.xml": FORWARDED, "direct.xml": DIRECT, "ipsets/set1.xml": IPSET,
         "zones/peers.xml": '<zone target="ACCEPT">\n  <source ipset="set1"/>\n</zone>\n',
         "firewalld.conf": "DefaultZone=public\nIPv6_rpfilter=yes\nRFC3964_IPv4=yes\n"}  # fmt: skip


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(sorted(FILES)), MUTATIONS)
def test_mutated_trees_parse_or_fail_located(
    tmp_path: Path, victim: str, mutations: list[tuple[int, int, str]]
) -> None:
    etc = tmp_path / "m" / "etc" / "firewalld"
    for name, original in FILES.items():
        text = original
        if name == victim:
            for position, cut, insert in mutations:
                position %= len(text) + 1
                text = text[:position] + insert + text[position + cut :]
        (etc / name).parent.mkdir(parents=True, exist_ok=True)
        (etc / name).write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        rulesets = firewalld_tree.parse_tree(
            str(tmp_path / "m"), str(defaults(tmp_path)), system=None
        )
    except ParseError as error:
        assert error.problems and all(p.file for p in error.problems)
        return
    assert all(isinstance(r, Ruleset) for r in rulesets)
    classify_flow(list(rulesets), family=4, proto=6, src="198.51.100.2", dst="192.0.2.1", sport=1, dport=22,
                  direction="inbound", iface="eth0")  # fmt: skip


def test_direct_rules_are_iptables_rules_at_their_line(tmp_path: Path) -> None:
    repo = tree(tmp_path, {"public": PUBLIC})
    write(repo / "etc" / "firewalld", "direct.xml", """\
        <?xml version="1.0" encoding="utf-8"?>
        <direct>
          <rule priority="1" table="filter" ipv="ipv4" chain="INPUT">-p tcp --dport 22 -j DROP</rule>
          <rule priority="0" table="filter" ipv="ipv4" chain="INPUT">-s 198.51.100.2 -p tcp --dport 22 -j ACCEPT</rule>
          <rule priority="0" table="filter" ipv="ipv6" chain="INPUT">-p tcp --dport 9999 -j ACCEPT</rule>
        </direct>
        """)  # fmt: skip
    rulesets = firewalld_tree.parse_tree(str(repo), str(defaults(tmp_path)), system=None)
    assert len(rulesets) == 3

    def check(port: int, src: str = "203.0.113.9", family: int = 4) -> str:
        dst = "192.0.2.1" if family == 4 else "2001:db8::1"
        return classify_flow(list(rulesets), family=family, proto=6, src=src, dst=dst, sport=40000,
                             dport=port, direction="inbound", iface="eth0")  # fmt: skip

    assert check(22) == "drop"
    assert check(22, src="198.51.100.2") == "accept"
    # A direct ACCEPT ends only its own base chain: firewalld's zones (filter + 10) still decide.
    assert check(9999, src="2001:db8:9::9", family=6) == "drop"
    assert check(8443, src="2001:db8:9::9", family=6) == "accept"
    ipv4 = rulesets[1]
    rules = [r for t in ipv4.tables for c in t.chains for r in c.rules]
    assert [r.origin.line for r in rules] == [4, 3]
    assert rules[0].origin.file.endswith("etc/firewalld/direct.xml")


def test_direct_passthrough_is_indeterminate_and_bad_rules_are_located(tmp_path: Path) -> None:
    repo = tree(tmp_path, {"public": PUBLIC})
    etc = repo / "etc" / "firewalld"
    write(
        etc,
        "direct.xml",
        '<direct>\n  <passthrough ipv="ipv4">-t filter -I INPUT -j ACCEPT</passthrough>\n</direct>\n',
    )
    rulesets = firewalld_tree.parse_tree(str(repo), str(defaults(tmp_path)), system=None)
    # Whatever it does, it may drop ssh (an accept there cannot open what the zones reject).
    assert verdict(rulesets[0], 22) == "indeterminate"
    assert verdict(rulesets[0], 80) == "drop"
    # An ipv4 passthrough leaves IPv6 alone.
    assert verdict(rulesets[0], 22, family=6, src="2001:db8:9::9", dst="2001:db8::1") == "accept"
    write(
        etc,
        "direct.xml",
        '<direct>\n\n  <rule priority="0" table="filter" ipv="ipv4" chain="INPUT">-p tcp --dport x -j ACCEPT</rule>\n</direct>\n',
    )
    with pytest.raises(ParseError) as caught:
        firewalld_tree.parse_tree(str(repo), str(defaults(tmp_path)), system=None)
    assert caught.value.problems[0].line == 3 and caught.value.problems[0].file.endswith(
        "direct.xml"
    )


def test_check_command_reads_the_tree_with_given_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from checker.cli import main

    repo = tree(tmp_path, {"public": PUBLIC})
    policy = write(tmp_path, "p.yaml", """\
        id: fw
        title: fw
        source: test
        roles: [web]
        rules:
          - {id: ssh, title: ssh, expect: allow, direction: inbound, protocol: tcp, port: 22, severity: high}
          - {id: no-http, title: no http, expect: deny, direction: inbound, protocol: tcp, port: 80, severity: high}
        """)  # fmt: skip
    lib = defaults(tmp_path)
    argv = ["check", "--no-builtin-policies", "--policies", str(policy), "--role", "web",
            "--firewalld-defaults", str(lib), str(repo / "etc" / "firewalld")]  # fmt: skip
    assert main(argv) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out
    (lib / "services" / "ssh.xml").write_text(
        '<service>\n  <port protocol="tcp" port="2222"/>\n</service>\n'
    )
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "zones/public.xml" in out


def test_rich_icmp_block_is_its_own_action(tmp_path: Path) -> None:
    zone = """\
        <?xml version="1.0" encoding="utf-8"?>
        <zone>
          <rule family="ipv4">
            <source address="198.51.100.2"/>
            <icmp-block name="echo-request"/>
          </rule>
        </zone>
        """
    ruleset = load(tmp_path, {"public": zone})

    def ping(src: str) -> str:
        return classify_flow([ruleset], family=4, proto=1, src=src, dst="192.0.2.1", sport=0, dport=0,
                             direction="inbound", iface="eth0", icmp=8 << 8)  # fmt: skip

    assert ping("198.51.100.2") == "drop"
    assert ping("198.51.100.3") == "accept"
