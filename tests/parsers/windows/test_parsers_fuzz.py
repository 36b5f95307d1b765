"""Property tests: every Windows parser turns random or mutated input into a model or a
ParseError, never another exception; the engine decides every rule a parser accepts.

Mutations include characters that fooled the parsers (issue 11, defect 9): digits `int()`
refuses or reads from another script ("²", "١", "٦"), and the characters `str.splitlines()`
breaks at besides CR/LF (U+2028, U+2029, U+0085, \\x0b, \\x0c, \\x1c).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from windows_builders import requirement

from checker.engine.windows.engine import check
from checker.errors import Location, ParseError
from checker.model.windows import WindowsRuleset
from checker.parsers.windows import netsh_text, windows_json, windows_pol, windows_reg, windows_wfw
from checker.parsers.windows.windows_rule_string import parse_rule_string

DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "windows"
FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def parses_or_raises(parser, data: bytes) -> None:  # type: ignore[no-untyped-def]
    try:
        result = parser.parse(data, "fuzz")
    except ParseError as error:
        assert error.problems and all(p.file.startswith("fuzz") for p in error.problems)
        return
    assert isinstance(result, WindowsRuleset)
    # What a parser accepts, the engine decides without crashing (a "²" reached int() there).
    for direction in ("inbound", "outbound"):
        check(result, requirement(direction=direction, protocol="any"))


@st.composite
def mutated(draw, seed: bytes):  # type: ignore[no-untyped-def]
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 64))]
    return bytes(data)


# Characters that are digits or line breaks to Python but not to Windows.
TRICKY = [
    "\u00b2",
    "\u0661",
    "\u0666",
    "\uff11",
    "\u2028",
    "\u2029",
    "\u0085",
    "\x0b",
    "\x0c",
    "\x1c",
]


@st.composite
def mutated_text(draw, seed: bytes, encoding: str):  # type: ignore[no-untyped-def]
    """The seed decoded, with TRICKY characters inserted or written over others at random
    places, and encoded again (so the input stays valid text in the seed's encoding)."""
    text = list(seed.decode(encoding))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, max(len(text) - 1, 0)))
        char = draw(st.sampled_from(TRICKY))
        if draw(st.booleans()) and text:
            text[position] = char
        else:
            text.insert(position, char)
    return "".join(text).encode(encoding)


RULE_TOKENS = st.sampled_from(
    [
        "LPort=\u0661",
        "RPort=8\u0660",
        "Protocol=\u0666",
        "ICMP4=\u00b2:*",
        "Platform=2:\u00b2:0",
        "Platform=2:\u0661\u0660:0",
        "Platform=2:6:2",
        "Platform2=GTEQ",
        "v\u0662.\u0663\u0660",
        "Name=a\u2028b",
        "v2.30",
        "v2.10",
        "Action=Allow",
        "Action=Block",
        "Action=ByPass",
        "Active=TRUE",
        "Active=false",
        "Dir=In",
        "Dir=Out",
        "Profile=Domain",
        "Profile=Public",
        "Protocol=6",
        "Protocol=17",
        "Protocol=999",
        "LPort=80",
        "LPort=RPC",
        "LPort=1-2",
        "LPort=70000",
        "RPort=443,444",
        "RA4=LocalSubnet",
        "RA4=10.0.0.0/8",
        "RA6=fe80::/64",
        "RA4=fe80::1",
        "ICMP4=8:*",
        "ICMP6=300:1",
        "App=C:\\x.exe",
        "Svc=*",
        "Security=Authenticate",
        "Edge=TRUE",
        "Defer=App",
        "IFType=Lan",
        "Foo=bar",
        "Name=x",
        "=",
        "",
        "Action",
        "|",
    ]
)


# A valid head, so that the tokens after it are what decides (or a random start).
RULE_HEADS = st.sampled_from(
    ["", "v2.30|Action=Allow|Active=TRUE|Dir=In|", "v2.30|Action=Block|Active=TRUE|Dir=Out|"]
)


@given(RULE_HEADS, st.lists(RULE_TOKENS, max_size=14), st.text(max_size=30))
@settings(max_examples=400, deadline=None)
def test_rule_string(head: str, tokens: list[str], noise: str) -> None:
    text = head + "|".join(tokens) + "|" + noise
    try:
        rule, _ = parse_rule_string("id", text, Location("fuzz", 1), "local")
    except ParseError as error:
        assert error.problems[0].file == "fuzz"
        return
    assert rule.action in ("allow", "block", "bypass") and rule.direction in ("in", "out")
    # Whatever a parser accepts, the engine decides without crashing.
    direction = "inbound" if rule.direction == "in" else "outbound"
    verdict = check(
        WindowsRuleset((rule,), {}, None, "fuzz", (), "test"),
        requirement(direction=direction, protocol="any"),
    )
    assert verdict.status.value in ("pass", "fail", "indeterminate")


NUMBER_CHARS = "0123456789:-*" + "\u00b2\u0661\u0666\uff11"


@given(
    st.sampled_from(["LPort", "RPort", "Protocol", "ICMP4", "Platform"]),
    st.text(alphabet=NUMBER_CHARS, min_size=1, max_size=7),
)
@settings(max_examples=400, deadline=None)
def test_numeric_fields_read_ascii_digits_only(field: str, value: str) -> None:
    """A number is read from ASCII digits only; anything else is a ParseError or (Platform, a
    runtime condition) kept as written, and the engine never crashes on it."""
    text = f"v2.30|Action=Allow|Active=TRUE|Dir=In|{field}={value}|Platform2=GTEQ|"
    try:
        rule, _ = parse_rule_string("id", text, Location("fuzz", 1), "local")
    except ParseError as error:
        assert error.problems[0].file == "fuzz"
        return
    if field != "Platform":
        assert value.isascii(), f"{field}={value!r} was read as a number"
    else:
        assert ("Platform", value) in rule.conditions
    verdict = check(
        WindowsRuleset((rule,), {}, None, "fuzz", (), "test"),
        requirement(protocol="any"),
    )
    if field == "Platform" and not value.isascii():
        assert verdict.status.value == "indeterminate"


@given(st.binary(max_size=2000))
@settings(max_examples=200, deadline=None)
def test_random_bytes_every_parser(data: bytes) -> None:
    for parser in (windows_reg, windows_pol, windows_wfw, netsh_text, windows_json):
        parses_or_raises(parser, data)
        parses_or_raises(parser, b"regf" + data if parser is windows_wfw else data)


@given(mutated((EXAMPLES / "onesite-patch-client-noncompliant.reg").read_bytes()))
@FAST
def test_mutated_reg(data: bytes) -> None:
    parses_or_raises(windows_reg, data)


@given(mutated((EXAMPLES / "pads4-server-compliant.reg").read_bytes()))
@FAST
def test_mutated_utf8_reg(data: bytes) -> None:
    parses_or_raises(windows_reg, data)


@given(mutated((DATA / "pads4-server.netsh.txt").read_bytes()))
@FAST
def test_mutated_netsh(data: bytes) -> None:
    parses_or_raises(netsh_text, data)


@given(mutated((DATA / "onesite-patch-client-noncompliant.windows.json").read_bytes()))
@FAST
def test_mutated_json(data: bytes) -> None:
    parses_or_raises(windows_json, data)


@given(
    mutated_text(
        (EXAMPLES / "onesite-patch-client-noncompliant.reg").read_bytes()[2:], "utf-16-le"
    ).map(lambda data: b"\xff\xfe" + data)
)
@FAST
def test_reg_with_tricky_characters(data: bytes) -> None:
    parses_or_raises(windows_reg, data)


@given(mutated_text((EXAMPLES / "pads4-server-compliant.reg").read_bytes(), "utf-8"))
@FAST
def test_utf8_reg_with_tricky_characters(data: bytes) -> None:
    parses_or_raises(windows_reg, data)


@given(mutated_text((DATA / "pads4-server.netsh.txt").read_bytes(), "utf-8"))
@FAST
def test_netsh_with_tricky_characters(data: bytes) -> None:
    parses_or_raises(netsh_text, data)


@given(
    mutated_text((DATA / "onesite-patch-client-noncompliant.windows.json").read_bytes(), "utf-8")
)
@FAST
def test_json_with_tricky_characters(data: bytes) -> None:
    parses_or_raises(windows_json, data)


@given(data=st.data())
@FAST
def test_mutated_pol(shared_dir: Path, data: st.DataObject) -> None:
    seed = (
        shared_dir / "corpus" / "windows" / "dod-firewall-stig-gpo" / "registry.pol"
    ).read_bytes()
    parses_or_raises(windows_pol, data.draw(mutated(seed)))


@given(data=st.data())
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_mutated_wfw(shared_dir: Path, data: st.DataObject) -> None:
    seed = (shared_dir / "corpus" / "windows" / "firewall.wfw").read_bytes()
    parses_or_raises(windows_wfw, data.draw(mutated(seed)))
