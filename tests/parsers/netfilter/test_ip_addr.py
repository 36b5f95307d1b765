"""`ip -j addr` (iproute2 JSON): the host's addresses; bad input is a one-line ParseError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.errors import ParseError
from checker.parsers import detect
from checker.parsers.netfilter import ip_addr

SAMPLE = [
    {"ifindex": 1, "ifname": "lo", "addr_info": [
        {"family": "inet", "local": "127.0.0.1", "prefixlen": 8},
        {"family": "inet6", "local": "::1", "prefixlen": 128}]},
    {"ifindex": 2, "ifname": "docker0", "addr_info": [
        {"family": "inet", "local": "172.17.0.1", "prefixlen": 16},
        {"family": "inet6", "local": "fe80::1%docker0", "prefixlen": 64}]},
    {"ifindex": 3, "ifname": "eth1", "addr_info": []},
]  # fmt: skip


def test_addresses_with_prefixes_per_interface() -> None:
    data = json.dumps(SAMPLE).encode()
    assert detect(data, "x") is ip_addr
    parsed = ip_addr.parse(data, "host.ip-addr.json")
    assert [(a.interface, a.family, a.prefix) for a in parsed.addresses] == [
        ("lo", 4, 8), ("lo", 6, 128), ("docker0", 4, 16), ("docker0", 6, 64)
    ]  # fmt: skip
    assert parsed.addresses[2].address == 0xAC110001


@pytest.mark.parametrize(
    "bad",
    [
        b"[1]",
        b'[{"ifname": "x", "addr_info": [{"family": "inet", "local": "::1", "prefixlen": 8}]}]',
        b'[{"ifname": "x", "addr_info": [{"family": "inet", "local": "1.2.3.4", "prefixlen": 33}]}]',
        b'[{"ifname": "x", "addr_info": [{"family": "inet", "local": "1.2.3.4"}]}]',
        b'{"ifname": "x"}',
        b"[{",
    ],
)
def test_bad_input_is_a_parse_error(bad: bytes) -> None:
    with pytest.raises(ParseError) as raised:
        ip_addr.parse(bad, "host.ip-addr.json")
    assert "host.ip-addr.json" in str(raised.value) and "\n" not in str(raised.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["ifname", "addr_info", "x"]), json_values), max_size=3
    )
)
def test_random_documents_parse_or_fail_cleanly(document: list[dict[str, object]]) -> None:
    try:
        ip_addr.parse(json.dumps(document).encode(), "r.json")
    except ParseError:
        pass
