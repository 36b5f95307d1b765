"""checker.quick_schema judges JSON Schema validity without jsonschema, for a pre-commit run's
start-up (issue 16). Where it answers (True or False) it must agree with jsonschema's
Draft202012Validator exactly; it may say None (not sure) anywhere, which runs jsonschema. It is
compared with jsonschema on every shipped schema: the real documents of the repository, and
documents hypothesis mutates from them (values swapped for other types, keys added and removed,
list items repeated) or draws at random."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import quick_schema, resources
from checker.policies.discovery import yaml_files
from checker.yamlfile import load_schema, read_yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = sorted(path.name for path in resources.schemas_dir().glob("*.schema.json"))

BENCH_CONFIG = """version: 1
targets:
  - name: web-1
    files: [firewall/web-1.iptables-save]
    roles: [baseline]
"""
WAIVERS = """waivers:
  - rule: baseline/no-telnet
    target: web-1
    reason: migrating
    owner: ops@example.com
    expires: "2030-01-01"
"""


def _yaml(path: Path) -> Any:
    return read_yaml(path).data


def _seeds() -> dict[str, list[Any]]:
    """Real documents of each kind: the shipped policies, the examples, the bench's config."""
    policies, _ = yaml_files(
        [resources.shipped_policies_dir(), REPO / "examples" / "policies", REPO / "examples" / "cis-linux" / "policies"]
    )  # fmt: skip
    configs = [
        _yaml(REPO / "examples" / "fwcheck.yaml"),
        _yaml(REPO / "examples" / "cis-linux" / "fwcheck.yaml"),
    ]
    import yaml

    return {
        "policy.schema.json": [_yaml(path) for path in policies],
        "target-config.schema.json": [*configs, yaml.safe_load(BENCH_CONFIG)],
        "waivers.schema.json": [yaml.safe_load(WAIVERS)],
        "inventory.schema.json": [_yaml(REPO / "examples" / "inventory" / "hosts.yaml")],
    }


SEEDS = _seeds()


def _strings(node: Any, found: set[str]) -> set[str]:
    """Every string in a schema or document: property names, enum values, constants."""
    if isinstance(node, str):
        found.add(node)
    elif isinstance(node, dict):
        for key, value in node.items():
            _strings(key, found)
            _strings(value, found)
    elif isinstance(node, list):
        for value in node:
            _strings(value, found)
    return found


WORDS = sorted(
    _strings([load_schema(name) for name in SCHEMAS], set()) | _strings(list(SEEDS.values()), set())
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 70_000)
    | st.sampled_from([0.0, 1.0, 443.0, 1.5, -1.0])
    | st.text(max_size=6)
    | st.sampled_from(WORDS)
)
JSONISH = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


def _agree(schema: dict[str, Any], document: Any) -> bool | None:
    quick = quick_schema.verdict(schema, document)
    if quick is not None:
        valid = jsonschema.Draft202012Validator(schema).is_valid(document)
        assert quick == valid, (quick, valid, json.dumps(document, default=str)[:500])
    return quick


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, path + (key,)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, path + (index,)))
    return found


def _mutate(document: Any, data: st.DataObject) -> Any:
    document = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(document)))
        if not path:
            continue
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        action = data.draw(st.sampled_from(["replace", "delete", "add", "repeat"]))
        if action == "replace":
            parent[last] = data.draw(JSONISH)
        elif action == "delete":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.sampled_from(WORDS))] = data.draw(JSONISH)
        elif action == "repeat" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
    return document


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_real_documents_are_judged_valid_without_jsonschema(name: str) -> None:
    # The point of the module: the documents a run validates are valid, and said so quickly.
    assert SEEDS[name]
    for document in SEEDS[name]:
        assert _agree(load_schema(name), document) is True


@pytest.mark.parametrize("name", sorted(SEEDS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_documents_agree_with_jsonschema(name: str, data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS[name]))
    _agree(load_schema(name), _mutate(seed, data))


@pytest.mark.parametrize("name", SCHEMAS)
@settings(max_examples=200, deadline=None)
@given(document=JSONISH)
def test_random_documents_agree_with_jsonschema(name: str, document: Any) -> None:
    _agree(load_schema(name), document)


@pytest.mark.parametrize(
    ("schema", "document", "expected"),
    [
        ({"type": "integer"}, 1.0, True),  # jsonschema: a float with no fraction is an integer
        ({"type": "integer"}, 1.5, False),
        ({"type": "number"}, True, False),  # a bool is no number
        ({"minimum": 5}, True, True),  # ... so a number's bounds do not apply to it
        ({"enum": [1]}, True, None),  # jsonschema tells True from 1; Python's == does not
        ({"enum": [1]}, 2, False),
        ({"const": "a"}, "a", True),
        ({"uniqueItems": True}, [1, True], None),
        ({"uniqueItems": True}, ["a", "a"], None),
        ({"uniqueItems": True}, ["a", "b"], True),
        ({"pattern": "b"}, "abc", True),  # re.search: a pattern is not anchored
        ({"oneOf": [{"type": "string"}, {"minLength": 1}]}, "x", False),
        ({"properties": {"a": {"$id": "x", "type": "string"}}}, {"a": "s"}, None),
        ({"contains": {"type": "string"}}, ["s"], None),  # a keyword it does not judge
        ({"type": "decimal"}, 1, None),  # a type name it does not know
        ({"patternProperties": {"^a": True}, "additionalProperties": False}, {"ab": 1}, None),
        ({"$ref": "#/$defs/p", "$defs": {"p": {"type": "string"}}}, "s", True),
        ({"additionalProperties": False, "properties": {"a": True}}, {"a": 1, "b": 2}, False),
        ({"type": "string"}, __import__("datetime").date(2030, 1, 1), None),  # YAML's dates
    ],
)
def test_edge_cases(schema: dict[str, Any], document: Any, expected: bool | None) -> None:
    assert quick_schema.verdict(schema, document) is expected
    if expected is not None:
        assert jsonschema.Draft202012Validator(schema).is_valid(document) is expected
