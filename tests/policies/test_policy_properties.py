"""Property tests: whatever text or structure reaches the policy loader, the outcome is a
PolicySet or a PolicyError whose every problem names file:line (never another exception)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_testing import SHIPPED

from checker.errors import PolicyError
from checker.policies.loader import PolicySet, load_policy_set

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHIPPED_TEXTS = sorted(path.read_text(encoding="utf-8") for path in SHIPPED.rglob("*.yaml"))


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def check_outcome(path: Path, params: dict[str, str] | None = None) -> None:
    try:
        policy_set = load_policy_set([path])
    except PolicyError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file == str(path)
            assert problem.line >= 1 and problem.col >= 1, problem
            assert problem.message and "\n" not in problem.code
        return
    assert isinstance(policy_set, PolicySet)
    # A set that loads must also resolve for every role with its defaults.
    for role in policy_set.roles():
        policy_set.requirements_for([role])


def load_text(folder: Path, text: str) -> None:
    path = folder / "p.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    check_outcome(path)


@SETTINGS
@given(st.text(max_size=400))
def test_random_text(scratch: Path, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return
    load_text(scratch, text)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes(scratch: Path, data: bytes) -> None:
    path = scratch / "p.yaml"
    path.write_bytes(data)
    check_outcome(path)


@st.composite
def mutated_policy(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SHIPPED_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "duplicate-line", "swap-token"]))
        if action == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 40)) :]
        elif action == "insert":
            fragment = draw(
                st.sampled_from(
                    [
                        ":",
                        "- ",
                        "  ",
                        "\n",
                        "[",
                        "]",
                        "{",
                        "&a ",
                        "*a",
                        "${",
                        "${x}",
                        "-1",
                        "70000",
                        "any",
                        "\t",
                        "'",
                        '"',
                        "#",
                        "!!python/object:os.system ",
                        "<<: *a\n",
                        "0x1F",
                    ]
                )
                | st.text(max_size=6)
            )
            text = text[:position] + fragment + text[position:]
        elif action == "duplicate-line":
            lines = text.splitlines(keepends=True)
            if lines:
                index = draw(st.integers(0, len(lines) - 1))
                lines.insert(index, lines[index])
                text = "".join(lines)
        else:
            swaps = [
                ("tcp", "udp"),
                ("allow", "deny"),
                ("inbound", "sideways"),
                ("port", "prot"),
                ("4000", "65536"),
                ("id:", "ids:"),
                ("rules:", "rules: 5\nx:"),
                ("[", ""),
            ]
            old, new = draw(st.sampled_from(swaps))
            text = text.replace(old, new, 1)
    return text


@SETTINGS
@given(mutated_policy())
def test_mutated_shipped_policies(scratch: Path, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return
    load_text(scratch, text)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.floats(allow_nan=True),
    st.sampled_from(
        [
            "any",
            "tcp",
            "udp",
            "icmp",
            "icmpv6",
            "inbound",
            "outbound",
            "allow",
            "deny",
            "ipv4",
            "ipv6",
            "80",
            "1-2",
            "9-1",
            "${p}",
            "${p+1}",
            "${q}",
            "${p",
            "10.0.0.0/8",
            "10.0.0.1/8",
            "::/0",
            "0.0.0.0/0",
            "1.2.3.4-1.2.3.1",
            "fe80::1-10.0.0.1",
            "domain",
            "high",
            "x",
        ]
    ),
    st.text(max_size=8),
)
RULE_KEYS = [
    "id",
    "title",
    "expect",
    "direction",
    "protocol",
    "port",
    "remote",
    "except_remote",
    "local",
    "program",
    "service",
    "profiles",
    "icmp_type",
    "family",
    "severity",
    "bogus",
]
values = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def policy_structure(draw: st.DrawFn) -> object:
    rules = draw(
        st.lists(
            st.dictionaries(st.sampled_from(RULE_KEYS), values, max_size=len(RULE_KEYS)),
            max_size=4,
        )
    )
    policy = {
        "id": draw(st.sampled_from(["p", "P", "", "p-1"]) | values),
        "roles": draw(st.sampled_from([["r"], [], "r"]) | values),
        "rules": rules,
    }
    if draw(st.booleans()):
        policy["params"] = draw(
            st.dictionaries(st.sampled_from(["p", "q", "1x"]), values, max_size=2)
        )
    if draw(st.booleans()):
        policy["include"] = draw(st.sampled_from([["p"], ["other"], "p"]) | values)
    return draw(
        st.sampled_from([policy, [policy], rules])
        if draw(st.integers(0, 9)) == 0
        else st.just(policy)
    )


@SETTINGS
@given(policy_structure())
def test_random_structures(scratch: Path, data: object) -> None:
    load_text(scratch, yaml.safe_dump(data, allow_unicode=True))


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["switch_port", "pads4_port", "mgmt_networks", "nope"]),
        st.sampled_from(
            ["4001", "x", "", "-1", "65535", "10.0.0.0/8", "10.0.0.1/8, ::1", "${switch_port}"]
        )
        | st.text(max_size=10),
        max_size=3,
    ),
    st.lists(
        st.sampled_from(["1e-dmz-server", "pads4-server", "baseline", "1e-client"]), max_size=3
    ),
)
def test_random_params_on_shipped_policies(params: dict[str, str], roles: list[str]) -> None:
    policy_set = SHIPPED_SET
    try:
        policy_set.requirements_for(roles, params)
    except PolicyError as exc:
        assert exc.problems and all(p.file for p in exc.problems)


SHIPPED_SET = load_policy_set([SHIPPED])
