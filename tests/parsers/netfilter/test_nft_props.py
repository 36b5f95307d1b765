"""Property tests: whatever the bytes, nft_json.parse returns a Ruleset or raises ParseError.

Inputs: random JSON values, random documents built from nft-like pieces, and mutations of the
real fixtures (a key deleted, a value replaced by one of another type, the text truncated or a
byte changed).
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.errors import ParseError
from checker.model.netfilter import Ruleset
from checker.parsers.netfilter import nft_json

DATA = Path(__file__).parent / "data" / "nft"
FIXTURES = {path.name: path.read_bytes() for path in sorted(DATA.glob("*.json"))}
DOCUMENTS = {name: json.loads(data) for name, data in FIXTURES.items()}

scalars = st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.text(max_size=12)
words = st.sampled_from([
    "ip", "ip6", "inet", "netdev", "tcp", "udp", "saddr", "dport", "flags", "state", "@svc",
    "@portmap", "accept", "drop", "jump", "helper", "input", "filter", "10.0.0.0", "::1", "syn",
    "match", "==", "!=", "in", "<", "payload", "meta", "ct", "set", "range", "prefix", "concat",
    "vmap", "elem", "val", "len", "addr", "key", "op", "left", "right", "expr", "rule", "chain",
    "table", "family", "name", "hook", "prio", "policy", "type", "verdict", "map", "&", "|",
    "!", "exthdr", "ip option", "frag-off", "field", "rt", "frag", "exists", "missing",
])  # fmt: skip
json_values = st.recursive(
    scalars | words,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(words | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=30,
)


def _check(data: bytes) -> None:
    try:
        result = nft_json.parse(data, "fuzz.json")
    except ParseError as error:
        assert error.problems and error.problems[0].file == "fuzz.json"
        assert error.problems[0].line >= 1
        return
    assert isinstance(result, Ruleset)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json(value: object) -> None:
    _check(json.dumps(value).encode())
    _check(json.dumps({"nftables": [value]}).encode())


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


PATHS = {name: _paths(document)[1:] for name, document in DOCUMENTS.items()}


def _mutate(document: object, path: tuple[object, ...], action: str, replacement: object) -> object:
    copy = json.loads(json.dumps(document))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]  # type: ignore[index]
    last = path[-1]
    if action == "delete":
        del parent[last]  # type: ignore[attr-defined]
    else:
        parent[last] = replacement  # type: ignore[index]
    return copy


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_fixtures(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(DOCUMENTS)))
    path = data.draw(st.sampled_from(PATHS[name]))
    action = data.draw(st.sampled_from(["delete", "replace"]))
    replacement = data.draw(json_values)
    _check(json.dumps(_mutate(DOCUMENTS[name], path, action, replacement), indent=1).encode())


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_truncated_and_flipped_bytes(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(FIXTURES)))
    raw = FIXTURES[name]
    cut = data.draw(st.integers(0, len(raw)))
    _check(raw[:cut])
    where = data.draw(st.integers(0, len(raw) - 1))
    byte = data.draw(st.integers(0, 255))
    _check(raw[:where] + bytes([byte]) + raw[where + 1 :])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_rules_with_random_statements(data: st.DataObject) -> None:
    """Real rules whose statements are swapped for pieces of other rules or random values."""
    document = json.loads(json.dumps(DOCUMENTS["inet.json"]))
    items = document["nftables"]
    rules = [item["rule"] for item in items if "rule" in item]
    pieces = [stmt for rule in rules for stmt in rule["expr"]]
    for rule in data.draw(st.lists(st.sampled_from(rules), max_size=5)):
        rule["expr"] = data.draw(st.lists(st.sampled_from(pieces) | json_values, max_size=4))
    _check(json.dumps(document).encode())


def test_deep_nesting_is_a_parse_error() -> None:
    deep = b'{"nftables": [' + b"[" * 100000 + b"]" * 100000 + b"]}"
    _check(deep)
    rule = '{"rule": {"family": "inet", "table": "filter", "chain": "input", "expr": [%s]}}'
    nested = (
        '{"match": {"op": "==", "left": ' + '{"&": [' * 900 + "1" + ", 1]}" * 900 + ', "right": 1}}'
    )
    document = json.loads(FIXTURES["inet.json"])
    text = json.dumps(document)[:-2] + ", " + rule % nested + "]}"
    _check(text.encode())


def test_every_field_of_the_fixtures_given_a_value_of_another_type() -> None:
    """Not random: every field of every fixture replaced in turn by a list, an object and null.
    Hypothesis found `"protocol": []` in a mangle statement's payload (a TypeError from a dict
    lookup of a list); this sweep asks the same of every field, each run."""
    for name, paths in PATHS.items():
        for path in paths:
            for value in ([], {}, None):
                _check(json.dumps(_mutate(DOCUMENTS[name], path, "replace", value)).encode())
