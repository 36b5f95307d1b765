"""The schema of the netfilter settings (docs/controls.md): `loopback` at input or output,
`spoofed_loopback` and `open_ports` at input only, exactly one setting per rule, and loopback
still refused as a flow rule's only `remote`."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.errors import PolicyError
from checker.policies.loader import load_policy_set

POLICY = """version: 1.1
id: p
title: t
roles: [r]
rules:
  - id: s
    title: s
    {rule}
"""


def _load(tmp_path: Path, rule: str) -> object:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY.format(rule=rule))
    return load_policy_set([path])


@pytest.mark.parametrize(
    "setting",
    [
        "{netfilter_hook: input, spoofed_loopback: drop}",
        "{netfilter_hook: input, loopback: accept, family: ipv6}",
        "{netfilter_hook: output, loopback: accept}",
        "{netfilter_hook: input, open_ports: accepted_by_rule}",
    ],
)
def test_valid_settings_load(tmp_path: Path, setting: str) -> None:
    policy_set = _load(tmp_path, f"setting: {setting}")
    (requirement,) = policy_set.requirements_for(["r"])  # type: ignore[attr-defined]
    assert requirement.setting is not None and requirement.setting.kind == "netfilter"


@pytest.mark.parametrize(
    "setting",
    [
        "{netfilter_hook: output, spoofed_loopback: drop}",
        "{netfilter_hook: forward, loopback: accept}",
        "{netfilter_hook: forward, open_ports: accepted_by_rule}",
        "{netfilter_hook: input, spoofed_loopback: drop, default: deny}",
        "{netfilter_hook: input, spoofed_loopback: accept}",
        "{netfilter_hook: input}",
    ],
)
def test_invalid_settings_are_refused(tmp_path: Path, setting: str) -> None:
    with pytest.raises(PolicyError):
        _load(tmp_path, f"setting: {setting}")


def test_a_loopback_only_remote_is_still_refused_for_flow_rules(tmp_path: Path) -> None:
    rule = "expect: deny\n    direction: inbound\n    protocol: tcp\n    remote: 127.0.0.0/8"
    with pytest.raises(PolicyError, match="loopback"):
        _load(tmp_path, rule)
