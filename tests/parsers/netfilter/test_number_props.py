"""Property tests (issue 11 defect 9): any number in a real export replaced by a hostile one.

Mutation fuzzing found exit-4 tracebacks wherever a number is read: Unicode digits ("²", "١")
that `str.isdigit()` accepts and `int()` refuses or misreads, and numbers past Python's
4,300-digit limit. Here every run of digits in real nft JSON, iptables-save, ipset save and
collector JSON is a candidate: replaced by such a number, the parser returns its model or raises
ParseError naming the file; no other exception, no "[internal]" problem.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ipset_save import SAVED
from test_iptables_props import FRAME, OWN_LINES

from checker.errors import ParseError
from checker.parsers.netfilter import ipset_save, iptables_save, nft_json
from checker.parsers.windows import windows_json

HERE = Path(__file__).parent
NFT = (HERE / "data" / "nft" / "inet.json").read_bytes()
IPTABLES = FRAME.format(body="\n".join(OWN_LINES)).encode()
COLLECTOR = HERE.parent / "windows" / "data" / "onesite-patch-client-noncompliant.windows.json"

LONG = st.sampled_from(["9" * 5000, "0" * 5000 + "7", "1" * 101, "-" + "9" * 4400])
UNICODE = st.sampled_from(["²", "١", "٣٤", "𝟗", "1²", "0x²", "²/24"])
_DIGITS = re.compile(rb"[0-9]+")


def _check(parser: object, data: bytes, origin: str) -> None:
    try:
        parser.parse(data, origin)  # type: ignore[attr-defined]
    except ParseError as error:
        assert error.problems, error
        for problem in error.problems:
            assert problem.file.startswith(origin), problem
            assert problem.code != "internal", problem


def _mutate(data: st.DataObject, raw: bytes, numbers: st.SearchStrategy[str]) -> bytes:
    runs = list(_DIGITS.finditer(raw))
    chosen = data.draw(st.lists(st.sampled_from(runs), min_size=1, max_size=3, unique_by=id))
    out = raw
    for match in sorted(chosen, key=lambda m: m.start(), reverse=True):
        out = out[: match.start()] + data.draw(numbers).encode() + out[match.end() :]
    return out


CASES = [
    (nft_json, NFT, "t.json"),
    (iptables_save, IPTABLES, "t.rules"),
    (ipset_save, SAVED, "t.ipset"),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_long_and_unicode_numbers_anywhere_in_linux_exports(data: st.DataObject) -> None:
    parser, raw, origin = data.draw(st.sampled_from(CASES))
    _check(parser, _mutate(data, raw, LONG | UNICODE), origin)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_long_numbers_anywhere_in_collector_json(data: st.DataObject) -> None:
    """Unicode digits in the Windows fields are issue 11's Windows part (tests/windows)."""
    _check(windows_json, _mutate(data, COLLECTOR.read_bytes(), LONG), "t.windows.json")
