"""Issue 11, defect 9: Unicode digits and numbers past Python's 4,300-digit limit.

`str.isdigit()` accepts "²" but `int()` refuses it, and `int()`/`str()` refuse more than 4,300
digits: each of these once ended fwcheck with a traceback (exit 4) or an "[internal] … please
report it" problem without a line. Each must be a one-line ParseError naming file and line.
"""

from __future__ import annotations

import json

import pytest

from checker.errors import ParseError
from checker.model.netfilter import Ruleset, Unknown
from checker.parsers.netfilter import ipset_save, iptables_save, nft_json
from checker.parsers.windows import windows_json

LONG = "9" * 5000


def _nft(prio: object = 0, right: object = 22, flags: object = None) -> str:
    expr: list[object] = [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                   "right": right}},
        {"accept": None},
    ]  # fmt: skip
    if flags is not None:
        expr.insert(0, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp",
                                                                   "field": "flags"}},
                                  "right": flags}})  # fmt: skip
    return json.dumps(
        {
            "nftables": [
                {"table": {"family": "inet", "name": "f"}},
                {"chain": {"family": "inet", "table": "f", "name": "in", "type": "filter",
                           "hook": "input", "prio": prio, "policy": "drop"}},
                {"rule": {"family": "inet", "table": "f", "chain": "in", "expr": expr}},
            ]
        },
        indent=1,
    )  # fmt: skip


def _error(parse: object, text: str, origin: str = "t.in") -> str:
    with pytest.raises(ParseError) as caught:
        parse(text.encode(), origin)  # type: ignore[operator]
    (problem,) = caught.value.problems
    assert problem.file == origin and problem.line >= 1, problem
    assert problem.code != "internal", problem
    return problem.message


@pytest.mark.parametrize("prio", ["²", "-²", "filter + ²", "filter - ١"])
def test_nft_prio_with_unicode_digits_is_a_parse_error(prio: str) -> None:
    assert "prio" in _error(nft_json.parse, _nft(prio=prio))


@pytest.mark.parametrize("kind", ["right", "flags"])
def test_nft_value_with_unicode_digits_is_an_unknown_name_not_a_number(kind: str) -> None:
    """ "²" is no number to nft; as an unknown symbol the rule's match becomes Unknown."""
    text = _nft(right="²") if kind == "right" else _nft(flags="²")
    ruleset = nft_json.parse(text.encode(), "t.json")
    assert isinstance(ruleset, Ruleset)
    (rule,) = ruleset.tables[0].chains[0].rules
    assert any(isinstance(m, Unknown) and "²" in m.reason for m in rule.matches), rule.matches


def test_nft_named_priorities_and_numbers_still_read() -> None:
    for prio, expected in [("-150", -150), ("filter + 10", 10), ("dstnat - 5", -105), (7, 7)]:
        ruleset = nft_json.parse(_nft(prio=prio).encode(), "t.json")
        assert ruleset.tables[0].chains[0].priority == expected


@pytest.mark.parametrize(
    "text",
    [
        _nft().replace('"right": 22', '"right": ' + LONG),
        _nft().replace('"prio": 0', '"prio": -' + LONG),
        _nft(right=LONG),
        _nft(right="0x" + "f" * 5000),
        _nft(flags=LONG),
        _nft(prio="filter + " + LONG),
    ],
    ids=["json-int", "json-negative-int", "string", "hex-string", "flags", "prio-offset"],
)
def test_nft_numbers_past_the_int_limit_are_parse_errors(text: str) -> None:
    message = _error(nft_json.parse, text, "t.json")
    assert "5000 digits" in message


def test_nft_long_json_number_points_at_its_line() -> None:
    text = _nft().replace('"right": 22', '"right": ' + LONG)
    with pytest.raises(ParseError) as caught:
        nft_json.parse(text.encode(), "t.json")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if LONG in t)
    assert caught.value.problems[0].line == line


def test_collector_json_with_a_huge_integer_is_a_parse_error() -> None:
    text = '{\n "format": "fwcheck-windows-collect",\n "version": ' + LONG + ',\n "rules": []\n}'
    message = _error(windows_json.parse, text, "host.windows.json")
    assert "5000 digits" in message


@pytest.mark.parametrize(
    "line",
    [
        f"-A INPUT -s 10.0.0.0/{LONG} -j ACCEPT",
        f"-A INPUT -p tcp --dport {LONG} -j ACCEPT",
        f"-A INPUT -p icmp --icmp-type {LONG}/0 -j ACCEPT",
        f"-I INPUT {LONG} -j ACCEPT",
        "-I INPUT ² -j ACCEPT",
    ],
    ids=["prefix", "port", "icmp", "insert-index", "insert-unicode"],
)
def test_iptables_long_and_unicode_numbers_are_errors_at_their_line(line: str) -> None:
    text = f"*filter\n:INPUT DROP [0:0]\n{line}\nCOMMIT\n"
    with pytest.raises(ParseError) as caught:
        iptables_save.parse(text.encode(), "t.rules")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == ("t.rules", 3), problem
    assert problem.code != "internal", problem


def test_iptables_insert_index_reads_like_strtoul() -> None:
    text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -j DROP\n-I INPUT 2 -j ACCEPT\nCOMMIT\n"
    chains = iptables_save.parse(text.encode(), "t.rules").tables[0].chains
    chain = next(c for c in chains if c.name == "INPUT")
    assert [r.target.name for r in chain.rules] == ["DROP", "ACCEPT"]


@pytest.mark.parametrize(
    "text",
    [
        f"create s hash:net family inet\nadd s 10.0.0.0/{LONG}\n",
        f"create s hash:ip,port family inet\nadd s 10.0.0.1,tcp:{LONG}\n",
        f"create s hash:ip family inet hashsize {LONG}\n",
        f"create s hash:ip family inet timeout {LONG}\n",
        f"create s hash:ip family inet timeout 5\nadd s 10.0.0.1 timeout {LONG}\n",
        "create s hash:ip family inet timeout ²\n",
        "create s hash:ip,port family inet\nadd s 10.0.0.1,tcp:²\n",
    ],
    ids=["prefix", "port", "hashsize", "timeout", "element-timeout", "unicode", "unicode-port"],
)
def test_ipset_long_and_unicode_numbers_are_errors_at_their_line(text: str) -> None:
    _error(ipset_save.parse, text, "t.ipset")
