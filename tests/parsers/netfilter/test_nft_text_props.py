"""Property tests of nft_text.

- Round trip: random rules, each drawn as the nft text a user writes and the libnftables JSON
  `nft -j` prints for it, give the same model (matches, verdicts, chains) through nft_text and
  through nft_json.
- Mutations of real scripts (the fixtures, Debian's examples when installed): the parser returns a
  Ruleset or raises ParseError with a file and a line, never anything else.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.errors import ParseError
from checker.model.netfilter import Ruleset
from checker.parsers.netfilter import nft_json, nft_text

DATA = Path(__file__).parent / "data" / "nft"
EXAMPLES = Path("/usr/share/doc/nftables/examples")
SCRIPTS = [p.read_text() for p in sorted(DATA.glob("*.nft"))] + [
    p.read_text() for p in sorted(EXAMPLES.glob("*.nft")) if EXAMPLES.is_dir()
]

Piece = tuple[str, dict[str, object]]

ports = st.integers(0, 65535)
v4 = st.integers(0, (1 << 32) - 1).map(
    lambda n: ".".join(str(n >> s & 255) for s in (24, 16, 8, 0))
)


@st.composite
def port_values(draw: st.DrawFn) -> tuple[str, object]:
    kind = draw(st.sampled_from(["one", "range", "set"]))
    if kind == "one":
        port = draw(ports)
        return str(port), port
    if kind == "range":
        low, high = sorted((draw(ports), draw(ports)))
        return f"{low}-{high}", {"range": [low, high]}
    items = draw(st.lists(ports, min_size=1, max_size=4, unique=True))
    return "{ " + ", ".join(map(str, items)) + " }", {"set": items}


@st.composite
def addr_values(draw: st.DrawFn) -> tuple[str, object]:
    addr = draw(v4)
    if draw(st.booleans()):
        length = draw(st.integers(0, 32))
        return f"{addr}/{length}", {"prefix": {"addr": addr, "len": length}}
    return addr, addr


def payload(protocol: str, field: str) -> dict[str, object]:
    return {"payload": {"protocol": protocol, "field": field}}


@st.composite
def matches(draw: st.DrawFn) -> Piece:
    kind = draw(st.sampled_from(["port", "addr", "ctstate", "iface", "l4proto", "mark", "cmp"]))
    negate = draw(st.booleans())
    op_text, op = ("!= ", "!=") if negate else ("", "==")
    if kind == "port":
        proto, field = (
            draw(st.sampled_from(["tcp", "udp"])),
            draw(st.sampled_from(["sport", "dport"])),
        )
        text, value = draw(port_values())
        return f"{proto} {field} {op_text}{text}", {
            "match": {"op": op, "left": payload(proto, field), "right": value}
        }
    if kind == "addr":
        field = draw(st.sampled_from(["saddr", "daddr"]))
        text, value = draw(addr_values())
        return f"ip {field} {op_text}{text}", {
            "match": {"op": op, "left": payload("ip", field), "right": value}
        }
    if kind == "ctstate":
        states = draw(st.lists(st.sampled_from(["new", "established", "related", "invalid"]),
                               min_size=1, max_size=3, unique=True))  # fmt: skip
        left = {"ct": {"key": "state"}}
        return f"ct state {','.join(states)}", {
            "match": {"op": "in", "left": left, "right": states}
        }
    if kind == "iface":
        name = draw(st.sampled_from(["eth0", "eth*", "lo", "wg0"]))
        key = draw(st.sampled_from(["iifname", "oifname"]))
        return f'{key} {op_text}"{name}"', {
            "match": {"op": op, "left": {"meta": {"key": key}}, "right": name}
        }
    if kind == "l4proto":
        proto = draw(st.sampled_from(["tcp", "udp", "icmp", "17"]))
        right: object = int(proto) if proto.isdigit() else proto
        return f"meta l4proto {op_text}{proto}", {
            "match": {"op": op, "left": {"meta": {"key": "l4proto"}}, "right": right}
        }
    if kind == "mark":
        mark = draw(st.integers(0, 255))
        return f"meta mark {op_text}{mark}", {
            "match": {"op": op, "left": {"meta": {"key": "mark"}}, "right": mark}
        }
    symbol, op = draw(st.sampled_from([("<", "<"), (">=", ">="), ("lt", "<"), ("ge", ">=")]))
    port = draw(ports)
    return f"tcp dport {symbol} {port}", {
        "match": {"op": op, "left": payload("tcp", "dport"), "right": port}
    }


verdicts: st.SearchStrategy[Piece] = st.sampled_from([
    ("accept", {"accept": None}), ("drop", {"drop": None}), ("return", {"return": None}),
    ("jump other", {"jump": {"target": "other"}}), ("counter", {"counter": None}),
    ("reject with tcp reset", {"reject": {"type": "tcp reset"}}),
    ("limit rate 5/second accept", {"limit": {"rate": 5, "per": "second"}}),
])  # fmt: skip


def model(ruleset: Ruleset) -> list[object]:
    return [
        (
            t.family,
            t.name,
            c.name,
            c.hook,
            c.priority,
            c.policy,
            [(r.matches, r.target.verdict, r.target.chain) for r in c.rules],
        )  # fmt: skip
        for t in ruleset.tables
        for c in t.chains
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.lists(matches(), max_size=3), verdicts), min_size=1, max_size=6),
       st.sampled_from(["ip", "inet"]), st.sampled_from(["accept", "drop"]))  # fmt: skip
def test_text_and_json_give_the_same_model(
    rules: list[tuple[list[Piece], Piece]], family: str, policy: str
) -> None:
    lines, items = [], []
    for conds, (verdict_text, verdict_json) in rules:
        exprs = [c[1] for c in conds]
        if verdict_text.startswith("limit"):
            exprs.append(verdict_json)
            exprs.append({"accept": None})
        else:
            exprs.append(verdict_json)
        lines.append("\t\t" + " ".join([*(c[0] for c in conds), verdict_text]))
        items.append({"rule": {"family": family, "table": "t", "chain": "input", "expr": exprs}})
    text = (
        f"table {family} t {{\n\tchain input {{\n\t\ttype filter hook input priority 0; "
        f"policy {policy};\n" + "\n".join(lines) + "\n\t}\n\tchain other {\n\t}\n}\n"
    )
    document = {"nftables": [
        {"table": {"family": family, "name": "t"}},
        {"chain": {"family": family, "table": "t", "name": "input", "type": "filter",
                   "hook": "input", "prio": 0, "policy": policy}},
        {"chain": {"family": family, "table": "t", "name": "other"}},
        *items,
    ]}  # fmt: skip
    from_text = nft_text.parse(text.encode(), "nftables.conf")
    from_json = nft_json.parse(json.dumps(document).encode(), "nft.json")
    assert model(from_text) == model(from_json), text
    # Every rule points at its own line of the text.
    lines_seen = [r.origin.line for t in from_text.tables for c in t.chains for r in c.rules]
    assert lines_seen == list(range(4, 4 + len(rules)))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SCRIPTS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "truncate", "duplicate"]))
        if action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        elif action == "insert":
            piece = draw(st.sampled_from(['"', "{", "}", ";", "\\\n", "$x", "@s", " . ", ",", "-",
                                          "/", "!=", "&", "\u0663", "\x00", "include", "define y =",
                                          "9" * 40, "(", "|", ":"]))  # fmt: skip
            text = text[:at] + piece + text[at:]
        elif action == "truncate":
            text = text[:at]
        else:
            end = min(len(text), at + draw(st.integers(1, 80)))
            text = text[:end] + text[at:end] + text[end:]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_scripts_give_a_ruleset_or_a_located_error(text: str) -> None:
    try:
        result = nft_text.parse(text.encode(), "/nonexistent-dir/nftables.conf")
    except ParseError as error:
        problem = error.problems[0]
        assert problem.file and problem.line >= 1, problem
        return
    assert isinstance(result, Ruleset)
