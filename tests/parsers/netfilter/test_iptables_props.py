"""Property tests: whatever the bytes, parse() returns a Ruleset or raises ParseError.

Inputs: random bytes, random text over the iptables vocabulary, and real corpus rules mutated
(tokens deleted, duplicated, swapped, quotes and `!` inserted, lines truncated).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.errors import ParseError
from checker.model.netfilter import Ruleset
from checker.parsers.netfilter import iptables_save

VOCABULARY = [
    "-A", "-I", "-N", "-P", "-F", "-X", "INPUT", "FOO", "-p", "tcp", "udp", "icmp", "all", "!",
    "-s", "-d", "10.0.0.0/8", "::1", "1.2.3.4,5.6.7.8", "-i", "eth+", "-o", "-m", "state",
    "--state", "NEW", "conntrack", "--ctstate", "multiport", "--dports", "--ports", "22,80",
    "1:2", "--dport", "--sport", "ssh", "--syn", "--tcp-flags", "SYN,ACK", "SYN", "-j", "-g",
    "ACCEPT", "DROP", "LOG", "--log-prefix", '"x y"', '"', "\\", "-f", "comment", "--comment",
    "iprange", "--src-range", "1.1.1.1-2.2.2.2", "addrtype", "--dst-type", "LOCAL", "recent",
    "--set", "icmp6", "--icmp-type", "echo-request", "8/0", "DNAT", "--to-destination", "[1:2]",
    "-c", "0", "-4", "-6", "CT", "--notrack", "0/0", "/", ":", ",", "-", "--", "",
    "rt", "--rt-type", "frag", "--fragmore", "hbh", "ipv6header", "--header", "frag,route",
    "prot", "--soft",
]  # fmt: skip

FRAME = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:FOO - [0:0]\n{body}\nCOMMIT\n"
OWN_LINES = [
    '-A INPUT -p tcp -m tcp --dport 22 -m comment --comment "ssh \\"in\\"" -j ACCEPT',
    "-A INPUT -s 10.0.0.0/8,192.168.0.0/16 -m conntrack --ctstate NEW -j FOO",
    '-A FOO -p udp -m multiport ! --ports 53,67:68 -j LOG --log-prefix "dns: "',
    "-A INPUT -m iprange --src-range 1.1.1.1-1.1.1.9 -m addrtype --dst-type LOCAL -g FOO",
    "-A INPUT -p icmp --icmp-type echo-request -m limit --limit 1/s -j ACCEPT",
]


def parse_safely(data: bytes, origin: str = "fuzz.rules") -> None:
    try:
        result = iptables_save.parse(data, origin)
    except ParseError as error:
        assert error.problems and error.problems[0].file == origin
        assert error.problems[0].code != "internal", error
        assert error.problems[0].line >= 0 and error.problems[0].message
    else:
        assert isinstance(result, Ruleset)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    parse_safely(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(VOCABULARY), max_size=12), max_size=6))
def test_random_rules_from_the_vocabulary(lines: list[list[str]]) -> None:
    body = "\n".join(" ".join(words) for words in lines)
    parse_safely(FRAME.format(body=body).encode())
    parse_safely(body.encode())


def mutate(line: str, data: st.DataObject) -> str:
    words = line.split(" ")
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(
            st.sampled_from(["delete", "duplicate", "swap", "quote", "bang", "truncate", "char"])
        )
        if not words:
            break
        at = data.draw(st.integers(0, len(words) - 1))
        if action == "delete":
            del words[at]
        elif action == "duplicate":
            words.insert(at, words[at])
        elif action == "swap":
            other = data.draw(st.integers(0, len(words) - 1))
            words[at], words[other] = words[other], words[at]
        elif action == "quote":
            words[at] = '"' + words[at]
        elif action == "bang":
            words.insert(at, "!")
        elif action == "truncate":
            words = words[:at]
        else:
            word = words[at]
            cut = data.draw(st.integers(0, len(word)))
            words[at] = (
                word[:cut] + data.draw(st.sampled_from(list(':,/!"\\-+x9\t\x00é'))) + word[cut:]
            )
    return " ".join(words)


def corpus_lines(shared: Path) -> list[str]:
    lines: list[str] = []
    for path in sorted((shared / "corpus" / "linux").glob("*tables-save")):
        lines.extend(line for line in path.read_text().split("\n") if line.startswith("-A"))
    return lines


@pytest.fixture
def rule_lines(shared_dir: Path) -> list[str]:
    return corpus_lines(shared_dir)[::7] + OWN_LINES


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_corpus_rules(rule_lines: list[str], data: st.DataObject) -> None:
    line = data.draw(st.sampled_from(rule_lines))
    mutated = mutate(line, data)
    # The rule's chain might not exist in the frame: declare it so the mutation is what is tested.
    chain = line.split()[1]
    frame = (
        FRAME.replace(":FOO - [0:0]", f":FOO - [0:0]\n:{chain} - [0:0]")
        if chain not in ("INPUT", "FOO", "FORWARD", "OUTPUT")
        else FRAME
    )
    parse_safely(frame.format(body=mutated).encode("utf-8", "surrogateescape"))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2000), st.sampled_from(OWN_LINES))
def test_truncated_files(cut: int, line: str) -> None:
    text = FRAME.format(body=line).encode()
    parse_safely(text[:cut])
