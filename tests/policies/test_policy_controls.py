"""Policy format v1.1 `controls:` and `setting:` (docs/controls.md): schema, loader, inheritance,
and the --control patterns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checker import resources
from checker.errors import PolicyError
from checker.policies import controls
from checker.policies.loader import load_policy_set

GOOD = [
    "cis:3.5.1.7",
    "cis-ubuntu-22.04:3.5.1.7",
    "cis-rhel-9:3.4.2.1",
    "disa-stig:WNFWA-000004",
    "disa-stig:V-241992",
    "disa-stig:SV-241992r922934_rule",
    "nist-800-53:SC-7",
    "nist-800-53:SC-7(5)",
    "nist-800-53:AC-17 (1)",
    "nist-800-53:AU-5 b",
    "pci-dss:1.3.1",
    "pci-dss:A1.1.1",
    "custom:site firewall review #4",
]
BAD = [
    "SC-7",  # no framework
    "nist:SC-7",  # unknown framework
    "cis:3.5.x",
    "cis-Ubuntu:3.5",  # benchmark names are lower case
    "disa-stig:wnfwa-000004",
    "disa-stig:WNFWA-4",
    "nist-800-53:sc-7",
    "nist-800-53:SC-7(5",
    "pci-dss:req 1",
    "custom:",
    "custom: leading space",
    "custom:" + "x" * 200,
]


def _schema_control() -> dict[str, object]:
    schema = json.loads(resources.schema_path("policy.schema.json").read_text())
    return schema["$defs"]["control"]  # type: ignore[no-any-return]


def _schema_accepts(text: str) -> bool:
    forms = _schema_control()["anyOf"]
    return any(
        len(text) <= form["maxLength"] and re.search(form["pattern"], text)  # type: ignore[index]
        for form in forms  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize("text", GOOD)
def test_documented_forms_parse_and_the_schema_agrees(text: str) -> None:
    control = controls.parse(text)
    assert str(control) == text
    assert _schema_accepts(text)


@pytest.mark.parametrize("text", BAD)
def test_malformed_ids_are_refused_by_parser_and_schema(text: str) -> None:
    with pytest.raises(ValueError):
        controls.parse(text)
    assert not _schema_accepts(text)


@given(st.text(alphabet=st.sampled_from("cisdat-:0123456789.WNFAVSCrule_ ()bx"), max_size=30))
def test_parser_and_schema_agree_on_any_text(text: str) -> None:
    """One definition in two places (Python and the JSON Schema): they must not drift."""
    try:
        controls.parse(text)
        parsed = True
    except ValueError:
        parsed = False
    assert parsed == bool(_schema_accepts(text))


def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_rules_inherit_the_policy_controls_then_their_own(tmp_path: Path) -> None:
    path = _policy(
        tmp_path,
        "id: p\nroles: [r]\ncontrols: [nist-800-53:SC-7, custom:site-7]\nrules:\n"
        "  - {id: a, title: A, expect: deny, direction: inbound, protocol: tcp, port: 23,"
        " controls: [cis-debian-12:4.2.1, nist-800-53:SC-7]}\n"
        "  - {id: b, title: B, expect: deny, direction: inbound, protocol: tcp, port: 21}\n",
    )
    a, b = load_policy_set([path]).requirements_for(["r"])
    assert a.controls == ("nist-800-53:SC-7", "custom:site-7", "cis-debian-12:4.2.1")
    assert b.controls == ("nist-800-53:SC-7", "custom:site-7")


def test_a_bad_control_names_file_line_and_the_expected_form(tmp_path: Path) -> None:
    path = _policy(
        tmp_path,
        "id: p\nroles: [r]\nrules:\n"
        "  - {id: a, title: A, expect: deny, direction: inbound, protocol: tcp,\n"
        "     controls: [nist:SC-7]}\n",
    )
    with pytest.raises(PolicyError) as caught:
        load_policy_set([path])
    (problem,) = caught.value.problems
    assert problem.line == 5 and "FRAMEWORK:ID" in problem.message


def test_version_1_may_not_use_controls_or_settings(tmp_path: Path) -> None:
    path = _policy(
        tmp_path,
        "version: 1\nid: p\nroles: [r]\ncontrols: [custom:x]\nrules:\n"
        "  - {id: a, title: A, expect: deny, direction: inbound, protocol: tcp,"
        " controls: [cis:1.1]}\n"
        "  - {id: b, title: B, setting: {windows_profile: public, enabled: true}}\n",
    )
    with pytest.raises(PolicyError) as caught:
        load_policy_set([path])
    messages = [p.message for p in caught.value.problems]
    assert len(messages) == 3 and all("v1.1" in m for m in messages)


def test_a_setting_rule_resolves_and_carries_its_setting(tmp_path: Path) -> None:
    path = _policy(
        tmp_path,
        "id: p\nroles: [r]\nrules:\n"
        "  - {id: a, title: A, setting: {windows_profile: public, local_rule_merge: false},"
        " severity: high, controls: [disa-stig:WNFWA-000024]}\n"
        "  - {id: b, title: B, setting: {netfilter_hook: input, family: ipv6, default: deny}}\n",
    )
    a, b = load_policy_set([path]).requirements_for(["r"])
    assert a.setting is not None and (a.setting.kind, a.setting.scope) == ("windows", "public")
    assert (a.setting.name, a.setting.value) == ("local_rule_merge", False)
    assert a.controls == ("disa-stig:WNFWA-000024",) and a.severity.value == "high"
    assert b.setting is not None and b.setting.families == (6,) and b.setting.scope == "input"


@pytest.mark.parametrize(
    "setting",
    [
        "{windows_profile: public}",  # no setting to check
        "{windows_profile: public, enabled: true, shields_up: false}",  # two at once
        "{windows_profile: work, enabled: true}",
        "{windows_profile: public, enabled: 1}",
        "{windows_profile: public, log_size_at_least_kb: 0}",
        "{netfilter_hook: input}",
        "{netfilter_hook: prerouting, default: deny}",
        "{netfilter_hook: input, default: allow}",
    ],
)
def test_malformed_settings_are_schema_errors(tmp_path: Path, setting: str) -> None:
    path = _policy(
        tmp_path, f"id: p\nroles: [r]\nrules:\n  - {{id: a, title: A, setting: {setting}}}\n"
    )
    with pytest.raises(PolicyError):
        load_policy_set([path])


def test_a_setting_rule_may_not_also_describe_a_flow(tmp_path: Path) -> None:
    path = _policy(
        tmp_path,
        "id: p\nroles: [r]\nrules:\n  - {id: a, title: A, expect: deny, direction: inbound,"
        " protocol: tcp, setting: {windows_profile: public, enabled: true}}\n",
    )
    with pytest.raises(PolicyError):
        load_policy_set([path])


def test_a_flow_rule_still_needs_expect_direction_protocol(tmp_path: Path) -> None:
    path = _policy(tmp_path, "id: p\nroles: [r]\nrules:\n  - {id: a, title: A, port: 22}\n")
    with pytest.raises(PolicyError):
        load_policy_set([path])


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["disa-stig:WNFWA-*"], True),
        (["DISA-STIG:wnfwa-000004"], True),
        (["disa-stig"], True),
        (["nist-800-53:SC-7*"], True),
        (["nist-800-53:AC-*"], False),
        (["cis"], False),
        (["cis-*"], False),
        ([], False),
    ],
)
def test_control_patterns(patterns: list[str], expected: bool) -> None:
    assert controls.matches(patterns, ["disa-stig:WNFWA-000004", "nist-800-53:SC-7(5)"]) is expected
