"""Policy format v1.1: `source_port`, the `version` key, and ports of every port protocol
(docs/policy-format.md, "Versions", "Ports and protocols", "Source ports")."""

from __future__ import annotations

import pytest

from checker.commands.policies import format_requirement
from checker.errors import PolicyError
from checker.fleet.requirement_text import requirement_from_rule
from checker.policies.loader import load_policy_set
from checker.reports.data import describe_requirement

RULE = """\
rules:
  - id: r1
    title: a rule
    expect: deny
    direction: inbound
    protocol: {protocol}
{extra}"""


def body(protocol: str = "udp", version: str | None = None, **fields: str) -> str:
    extra = "".join(f"    {key}: {value}\n" for key, value in fields.items())
    head = f"version: {version}\n" if version is not None else ""
    return head + RULE.format(protocol=protocol, extra=extra)


def requirement(write_policy, text: str):
    policy_set = load_policy_set([write_policy(text)])
    (found,) = policy_set.requirements_for(["r"], {})
    return found


def problems(write_policy, text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy_set([write_policy(text)])
    return [f"{p.code}:{p.message}" for p in caught.value.problems]


def test_source_port_resolves_like_port(write_policy) -> None:
    found = requirement(write_policy, body(port="68", source_port="[67, '1000-1010']"))
    assert found.ports == ((68, 68),)
    assert found.source_ports == ((67, 67), (1000, 1010))


def test_source_port_is_optional_and_none_by_default(write_policy) -> None:
    assert requirement(write_policy, body(port="68")).source_ports is None


@pytest.mark.parametrize("version", ["1.1", None])
def test_version_1_1_or_none_allows_source_port(write_policy, version) -> None:
    found = requirement(write_policy, body(version=version, port="68", source_port="67"))
    assert found.source_ports == ((67, 67),)


def test_version_1_refuses_source_port(write_policy) -> None:
    found = problems(write_policy, body(version="1", port="68", source_port="67"))
    assert found == ["version:source_port is new in format v1.1: write version: 1.1"]


def test_version_1_without_v1_1_keys_still_loads(write_policy) -> None:
    assert requirement(write_policy, body(version="1", port="68")).ports == ((68, 68),)


def test_unknown_version_is_a_schema_error(write_policy) -> None:
    assert problems(write_policy, body(version="2", port="68"))


@pytest.mark.parametrize("protocol", ["icmp", "any", "47"])
def test_source_port_needs_a_port_protocol(write_policy, protocol: str) -> None:
    found = problems(write_policy, body(protocol=protocol, source_port="67"))
    assert len(found) == 1 and found[0].startswith("port:protocol")
    assert found[0].endswith("or drop source_port")


@pytest.mark.parametrize("protocol", ["33", "132", "136"])
def test_dccp_sctp_udplite_take_ports(write_policy, protocol: str) -> None:
    found = requirement(write_policy, body(protocol=protocol, port="5004", source_port="5005"))
    assert found.protocol == int(protocol)
    assert found.ports == ((5004, 5004),) and found.source_ports == ((5005, 5005),)


def test_source_ports_are_described_and_read_back(write_policy) -> None:
    found = requirement(write_policy, body(port="68", source_port="67"))
    sentence = describe_requirement(found)
    assert "to port 68 from source port 67" in sentence
    rule = {
        "description": sentence,
        "policy": found.policy_id,
        "rule": found.rule_id,
        "title": found.title,
        "severity": found.severity.value,
        "file": found.origin.file,
        "line": found.origin.line,
    }
    back = requirement_from_rule(rule)
    assert back is not None and back.source_ports == ((67, 67),)
    assert "source-port 67" in format_requirement(found)


@pytest.mark.parametrize("remote", ["127.0.0.1", "[127.0.0.0/8, '::1']"])
def test_a_remote_of_loopback_only_describes_no_flow(write_policy, remote: str) -> None:
    """Loopback is never remote: such a rule would check nothing, and must not pass."""
    found = problems(write_policy, body(port="22", remote=remote))
    assert found == [
        "address:remote holds only loopback addresses, which are out of scope: the rule would"
        " describe no flow"
    ]


def test_loopback_beside_other_remotes_is_fine(write_policy) -> None:
    found = requirement(write_policy, body(port="22", remote="[127.0.0.1, 192.0.2.0/24]"))
    assert found.remote is not None and len(found.remote) == 2
