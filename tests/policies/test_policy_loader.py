"""The policy loader: conversion of rules to Requirements, params, includes, set problems."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from policy_testing import SHIPPED

from checker.errors import PolicyError
from checker.findings import Severity
from checker.policies.loader import PolicySet, default_policy_paths, load_policy_set
from checker.policies.model import PROFILES, Direction, Expect

RULE = """\
rules:
  - id: r1
    title: a rule
    expect: allow
    direction: inbound
    protocol: {protocol}
{extra}"""


def rule(protocol: str = "tcp", **fields: str) -> str:
    extra = "".join(f"    {key}: {value}\n" for key, value in fields.items())
    return RULE.format(protocol=protocol, extra=extra)


def one(write_policy, body: str, params=None):
    path = write_policy(body)
    policy_set = load_policy_set([path])
    requirements = policy_set.requirements_for(["r"], params or {})
    assert len(requirements) == 1
    return requirements[0]


def problems(paths) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy_set(paths)
    return [f"{p.line}:{p.col}:{p.code}:{p.message}" for p in caught.value.problems]


def test_defaults_of_a_minimal_rule(write_policy) -> None:
    req = one(write_policy, rule())
    assert req.policy_id == "p" and req.rule_id == "r1" and req.key == "p/r1"
    assert req.expect is Expect.ALLOW and req.direction is Direction.INBOUND
    assert req.protocol == 6
    assert req.ports is None and req.remote is None and req.local is None
    assert req.except_remote == ()
    assert req.profiles == PROFILES
    assert req.families == frozenset({4, 6})
    assert req.severity is Severity.MEDIUM
    assert req.program is None and req.service is None and req.icmp_type is None
    assert req.policy_title == "Test policy" and req.source is None
    # origin: the line of the rule's "- id:" item (line 5 after the 3-line header + "rules:").
    assert (req.origin.line, req.origin.col) == (5, 5)


@pytest.mark.parametrize(
    ("protocol", "number"),
    [("tcp", 6), ("udp", 17), ("icmp", 1), ("icmpv6", 58), ("any", None), ("47", 47)],
)
def test_protocols(write_policy, protocol: str, number: int | None) -> None:
    assert one(write_policy, rule(protocol)).protocol == number


@pytest.mark.parametrize(
    ("port", "ranges"),
    [
        ("80", ((80, 80),)),
        ('"8000-8080"', ((8000, 8080),)),
        ("[443, 80, 81, '1000-2000']", ((80, 81), (443, 443), (1000, 2000))),
        ("0", ((0, 0),)),
        ("65535", ((65535, 65535),)),
    ],
)
def test_ports(write_policy, port: str, ranges) -> None:
    assert one(write_policy, rule(port=port)).ports == ranges


def test_param_ports_and_offsets(write_policy) -> None:
    body = "params:\n  sp: 4000\n" + rule(port='["${sp}", "${sp+1}"]')
    path = write_policy(body)
    policy_set = load_policy_set([path])
    assert policy_set.requirements_for(["r"])[0].ports == ((4000, 4001),)
    # CLI values are strings: "5000" works as an int.
    assert policy_set.requirements_for(["r"], {"sp": "5000"})[0].ports == ((5000, 5001),)
    assert policy_set.requirements_for(["r"], {"sp": 6000})[0].ports == ((6000, 6001),)


def test_param_override_errors(write_policy) -> None:
    path = write_policy("params:\n  sp: 4000\n" + rule(port='"${sp+1}"'))
    policy_set = load_policy_set([path])
    with pytest.raises(PolicyError) as caught:
        policy_set.requirements_for(["r"], {"sq": "1"})
    assert "unknown param 'sq'" in caught.value.problems[0].message
    with pytest.raises(PolicyError) as caught:
        policy_set.requirements_for(["r"], {"sp": "abc"})
    assert (
        caught.value.problems[0].line == 12 and "not an integer" in caught.value.problems[0].message
    )
    with pytest.raises(PolicyError) as caught:
        policy_set.requirements_for(["r"], {"sp": "65535"})
    assert "65536" in caught.value.problems[0].message


def _range(text: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(text)
    return (net.version, int(net.network_address), int(net.broadcast_address))


def test_addresses_and_families(write_policy) -> None:
    req = one(write_policy, rule(remote="[10.0.0.0/8, 192.0.2.1, '198.51.100.10-198.51.100.20']"))
    assert req.remote == (
        _range("10.0.0.0/8"),
        _range("192.0.2.1/32"),
        (4, int(ipaddress.ip_address("198.51.100.10")), int(ipaddress.ip_address("198.51.100.20"))),
    )
    # remote only has IPv4, so the rule asks about IPv4 only.
    assert req.families == frozenset({4})


def test_local_v6_limits_families(write_policy) -> None:
    req = one(write_policy, rule(local="2001:db8::/32"))
    assert req.local == (_range("2001:db8::/32"),) and req.families == frozenset({6})


def test_icmp_families(write_policy) -> None:
    assert one(write_policy, rule("icmp", icmp_type="8")).families == frozenset({4})
    assert one(write_policy, rule("icmpv6", icmp_type="128")).icmp_type == 128


def test_address_param_list_in_except_remote(write_policy) -> None:
    body = 'params:\n  mgmt: "10.1.0.0/16, 2001:db8::/48"\n' + rule(
        except_remote='"${mgmt}"', expect="deny"
    ).replace("    expect: allow\n", "")
    path = write_policy(body)
    policy_set = load_policy_set([path])
    req = policy_set.requirements_for(["r"])[0]
    assert req.remote is None
    assert req.except_remote == (_range("10.1.0.0/16"), _range("2001:db8::/48"))
    assert req.families == frozenset({4, 6})
    req = policy_set.requirements_for(["r"], {"mgmt": "192.0.2.0/24 192.0.2.128"})[0]
    assert req.except_remote == (_range("192.0.2.0/24"), _range("192.0.2.128/32"))


def test_fields_pass_through(write_policy) -> None:
    req = one(
        write_policy,
        rule(
            "udp",
            program="AdaptivaClientService.exe",
            service="svc",
            profiles="[domain]",
            severity="critical",
        ),
    )
    assert req.program == "AdaptivaClientService.exe" and req.service == "svc"
    assert req.profiles == frozenset({"domain"}) and req.severity is Severity.CRITICAL


@pytest.mark.parametrize(
    ("fields", "code", "text"),
    [
        ({"port": "70000"}, "schema", "greater than the maximum of 65535"),
        ({"port": '"90-80"'}, "port", "runs backwards"),
        ({"port": '"1-70000"'}, "port", "outside 0-65535"),
        ({"port": '"${nope}"'}, "param", "unknown param 'nope'"),
        ({"remote": "10.0.0.1/8"}, "address", "host bits set"),
        ({"remote": "[10.0.0.0/8, 'fe80::1-10.0.0.1']"}, "address", "mixes IPv4 and IPv6"),
        ({"remote": "[]"}, "address", "empty list"),
        ({"remote": "[any]"}, "address", "'any' cannot be a list entry"),
        ({"remote": "not-an-ip"}, "address", "not an IPv4 or IPv6 address"),
        ({"except_remote": "[0.0.0.0/0, '::/0']"}, "address", "removes every remote address"),
        ({"family": "ipv6", "remote": "10.0.0.0/8"}, "family", "no address family is left"),
        ({"icmp_type": "3"}, "icmp-type", "needs protocol icmp"),
        ({"titel": "x"}, "schema", "unknown key 'titel'"),
    ],
)
def test_rule_problems(write_policy, fields: dict[str, str], code: str, text: str) -> None:
    path = write_policy(rule(**fields))
    found = problems([path])
    assert any(f":{code}:" in p and text in p for p in found), found
    # Every problem points into the rule (lines 5-12), never at line 0.
    assert all(5 <= int(p.split(":")[0]) <= 12 for p in found), found


def test_port_with_portless_protocol(write_policy) -> None:
    found = problems([write_policy(rule("icmp", port="80"))])
    assert found == [
        "10:5:port:protocol icmp has no ports: use tcp, udp, dccp (33), sctp (132) or udplite (136), or drop port"
    ]
    found = problems([write_policy(rule("any", port="80"))])
    assert "protocol any has no ports" in found[0]


def test_all_problems_reported_at_once(write_policy) -> None:
    body = """\
rules:
  - id: a
    title: t
    expect: allow
    direction: inbound
    protocol: tcp
    port: "${x}"
    remote: 10.0.0.1/8
  - id: a
    title: t
    expect: deny
    direction: outbound
    protocol: udp
"""
    write_policy(body, "one.yaml", id="one")
    write_policy(
        "rules: [{id: b, title: t, expect: allow, direction: inbound, protocol: tcp, port: '1-0'}]\n",
        "two.yaml",
        id="two",
    )
    folder = write_policy("", "three.yaml", header=False).parent
    found = problems([folder])
    codes = sorted(p.split(":")[2] for p in found)
    assert codes == ["address", "duplicate-rule", "empty", "param", "port"], found


def _set(write_policy, files: dict[str, str]) -> Path:
    path = None
    for name, text in files.items():
        path = write_policy(text, name, header=False)
    assert path is not None
    return path.parent


BASE = "id: {id}\ntitle: t\nroles: [{roles}]\ninclude: [{include}]\nrules:\n  - {{id: r-{id}, title: t, expect: allow, direction: inbound, protocol: tcp, port: {port}}}\n"


def test_includes_resolve_transitively_without_duplicates(write_policy) -> None:
    folder = _set(
        write_policy,
        {
            "a.yaml": BASE.format(id="a", roles="ra", include="b", port=1),
            "b.yaml": BASE.format(id="b", roles="rb", include="c", port=2),
            "c.yaml": BASE.format(id="c", roles="", include="", port=3),
        },
    )
    policy_set = load_policy_set([folder])
    assert [p.id for p in policy_set.policies_for(["ra"])] == ["a", "b", "c"]
    assert [p.id for p in policy_set.policies_for("rb")] == ["b", "c"]
    reqs = policy_set.requirements_for(["ra", "rb"])
    # Two roles reach b and c: each rule once, each keeping the policy that wrote it.
    assert [(r.policy_id, r.rule_id) for r in reqs] == [("a", "r-a"), ("b", "r-b"), ("c", "r-c")]
    assert policy_set.requirements_for(["nobody"]) == ()


def test_include_cycle_prints_the_chain(write_policy) -> None:
    folder = _set(
        write_policy,
        {
            "a.yaml": BASE.format(id="a", roles="ra", include="b", port=1),
            "b.yaml": BASE.format(id="b", roles="rb", include="a", port=2),
            "s.yaml": BASE.format(id="s", roles="rs", include="s", port=3),
        },
    )
    found = problems([folder])
    assert "4:11:include-cycle:include cycle: a -> b -> a" in found
    assert "4:11:include-cycle:include cycle: s -> s" in found
    assert len(found) == 2


def test_unknown_include_and_duplicate_policy(write_policy) -> None:
    folder = _set(
        write_policy,
        {
            "a.yaml": BASE.format(id="a", roles="ra", include="zzz", port=1),
            "b.yaml": BASE.format(id="a", roles="rb", include="", port=2),
        },
    )
    found = problems([folder])
    assert any(p.startswith("4:11:unknown-include:") and "'zzz'" in p for p in found), found
    assert any(p.startswith("1:1:duplicate-policy:") and "a.yaml:1:1" in p for p in found), found


def test_policy_without_rules_or_includes_is_an_error(write_policy) -> None:
    found = problems([write_policy("id: p\nroles: [r]\n", header=False)])
    assert found == [
        "1:1:empty-policy:the policy has no rules and includes nothing, so it would check nothing"
    ]


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    found = problems([tmp_path / "nope", tmp_path / "empty"])
    assert sorted(p.split(":")[2] for p in found) == ["no-files", "not-found"]


def test_recursive_anchor_is_a_problem(write_policy) -> None:
    path = write_policy("id: p\nroles: &x [*x]\n", header=False)
    # The alias inside its own anchor, at line 2 column 8.
    assert problems([path])[0] == "2:8:yaml:recursive alias"


def test_default_policy_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shipped = default_policy_paths()
    assert len(shipped) == 1 and (shipped[0] / "baseline" / "baseline.yaml").is_file()
    (tmp_path / "policies").mkdir()
    # A local folder adds to the shipped policies; it no longer hides them.
    assert default_policy_paths() == [shipped[0], Path("policies")]
    assert default_policy_paths(builtin=False) == [Path("policies")]


def test_shipped_policies_load() -> None:
    policy_set = load_policy_set([SHIPPED])
    assert isinstance(policy_set, PolicySet)
    server = policy_set.requirements_for(["onesite-patch-server"])
    assert {r.policy_id for r in server} == {"onesite-patch-server", "onesite-patch-client"}
    dmz = {
        r.rule_id: r
        for r in policy_set.requirements_for(["1e-dmz-server"], {"switch_port": "4100"})
    }
    assert dmz["in-tcp-switch"].ports == ((4100, 4100),) and dmz["in-tcp-poke"].ports == (
        (4101, 4101),
    )
    rabbit = [
        r
        for r in policy_set.requirements_for(["pads4-server"])
        if r.rule_id.startswith("local-only")
    ]
    assert len(rabbit) == 4 and all(r.expect is Expect.DENY and r.remote is None for r in rabbit)
