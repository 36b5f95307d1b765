"""Counterexamples name a concrete interface for "any interface the rules do not list": that name
must not be one the rules list (the kernel oracle's host interface is fwc0, and ufw's
`allow in on fwc0` made fwcheck print "in fwc0" for a flow arriving elsewhere)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from checker.engine.symbols import InterfaceSymbols


def phantoms(symbols: InterfaceSymbols) -> list[int]:
    return [i for i, (kind, _) in enumerate(symbols.symbols) if kind == "phantom"]


def test_root_phantom_is_not_a_listed_interface() -> None:
    symbols = InterfaceSymbols.build(["fwc0", "fwc1", "eth0"])
    root = symbols.symbols.index(("phantom", ""))
    name = symbols.describe(root)
    assert name not in {"fwc0", "fwc1", "eth0", "lo"}
    assert symbols.index_of(name) == root


def test_root_phantom_avoids_a_listed_prefix() -> None:
    symbols = InterfaceSymbols.build(["fwc+", "fwc0"])
    root = symbols.symbols.index(("phantom", ""))
    name = symbols.describe(root)
    assert not name.startswith("fwc")
    assert symbols.index_of(name) == root


NAMES = st.lists(
    st.text(alphabet="fwcix0129+", min_size=1, max_size=5).filter(lambda n: n != "+"),
    max_size=12,
)


@given(NAMES)
def test_every_phantom_names_an_interface_it_stands_for(names: list[str]) -> None:
    symbols = InterfaceSymbols.build(names)
    for index in phantoms(symbols):
        name = symbols.describe(index)
        if name.endswith("*"):
            continue  # every concrete name is taken: the prefix is shown as a pattern
        assert symbols.index_of(name) == index, (names, name)
