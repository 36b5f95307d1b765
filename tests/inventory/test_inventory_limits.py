"""Issue 11 defect 9: Ansible host patterns are bounded, ports are ASCII digits, big
inventories load in linear time.

`h[0:9999][0:9999]` names 10^8 hosts: it used to expand (42 s, then MemoryError); now every
range is sized first and the pattern is refused at its line. (The load-time measurement is
bench/inventory.py, not a timed test.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.errors import PolicyError
from checker.inventory import ansible, load_inventory, loader
from checker.inventory.ansible import MAX_PATTERN_HOSTS, expand_pattern


def _load(tmp_path: Path, text: str, name: str = "hosts.ini") -> object:
    path = tmp_path / name
    path.write_text(text)
    return load_inventory(path)


def _problem(tmp_path: Path, text: str, name: str = "hosts.ini") -> str:
    with pytest.raises(PolicyError) as caught:
        _load(tmp_path, text, name)
    (problem,) = caught.value.problems
    assert problem.file.endswith(name) and problem.line >= 1, problem
    return f"{problem.line}: {problem.message}"


@pytest.mark.parametrize("pattern", ["h[0:9999][0:9999]", "h[0:999][0:999]", "h[0:99999][a:z]"])
def test_patterns_naming_too_many_hosts_are_refused_before_expanding(pattern: str) -> None:
    with pytest.raises(ValueError, match="names more than"):
        expand_pattern(pattern)


def test_a_refused_pattern_names_its_line(tmp_path: Path) -> None:
    message = _problem(tmp_path, "[web]\nweb1\nh[0:9999][0:9999] ansible_user=a\n")
    assert message.startswith("3: ") and f"{MAX_PATTERN_HOSTS:,}" in message


def test_yaml_inventory_patterns_are_bounded_too(tmp_path: Path) -> None:
    text = "all:\n  children:\n    web:\n      hosts:\n        h[0:9999][0:9999]:\n"
    assert _problem(tmp_path, text, "hosts.yaml").startswith("5: ")


def test_patterns_within_the_bound_expand_in_ansible_order() -> None:
    assert expand_pattern("db-[a:b]-[01:03:2]") == ["db-a-01", "db-a-03", "db-b-01", "db-b-03"]
    assert len(expand_pattern("h[0:99][0:99]")) == 10_000
    assert expand_pattern("plain") == ["plain"]


def test_all_patterns_of_an_inventory_share_one_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ansible, "MAX_INVENTORY_HOSTS", 150)
    message = _problem(tmp_path, "[a]\na[0:99]\n[b]\nb[0:99]\n")
    assert message.startswith("4: ") and "more than 150 hosts" in message


@pytest.mark.parametrize(
    "line",
    ["h:" + "9" * 5000, "h[0:" + "9" * 5000 + "]", "h[0:9:" + "9" * 5000 + "]"],
    ids=["port", "range-end", "stride"],
)
def test_numbers_past_the_int_limit_in_host_lines_are_problems(tmp_path: Path, line: str) -> None:
    message = _problem(tmp_path, f"[web]\n{line}\n")
    assert message.startswith("2: ") and "set_int_max_str_digits" not in message, message


@pytest.mark.parametrize("value", ["١", "٢٢", "²"])
def test_unicode_digits_are_not_ports(tmp_path: Path, value: str) -> None:
    """float("١") is 1.0 and "١".isdigit() is True: port 1 would be read silently."""
    message = _problem(tmp_path, f"[web]\nweb1 ansible_port={value}\n")
    assert message.startswith("2: ") and "expected a number" in message


def test_many_hosts_in_one_group_keep_order_and_memberships(tmp_path: Path) -> None:
    lines = ["[web]"] + [f"w{i}" for i in range(3000)] + ["[db]", "w5", "w5", "[prod:children]"]
    inventory = _load(tmp_path, "\n".join(lines + ["web"]) + "\n")
    hosts = inventory.hosts  # type: ignore[attr-defined]
    assert [h.name for h in hosts[:3]] == ["w0", "w1", "w2"] and len(hosts) == 3000
    w5 = next(h for h in hosts if h.name == "w5")
    assert set(w5.groups) == {"web", "db", "prod"}


ranges = st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(1, 4))


@settings(max_examples=200, deadline=None)
@given(st.lists(ranges | st.sampled_from(["x", "-", "[", "]", ":", "[a:c]"]), max_size=6))
def test_random_patterns_expand_or_fail_cleanly(parts: list[object]) -> None:
    pattern = "".join(f"[{p[0]}:{p[1]}:{p[2]}]" if isinstance(p, tuple) else p for p in parts)
    try:
        names = expand_pattern(pattern)
    except ValueError:
        return
    assert 0 <= len(names) <= MAX_PATTERN_HOSTS
    assert all("[" not in n or not ansible._RANGE.search(n) for n in names)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_mutated_ini_inventories_never_crash(data: st.DataObject) -> None:
    base = (
        "[web]\nweb[01:03] ansible_user=a ansible_port=22\n[web:vars]\nx=1\n[all:children]\nweb\n"
    )
    where = data.draw(st.integers(0, len(base)))
    insert = data.draw(
        st.sampled_from(["²", "١", "[", "]", ":", "9" * 200, "[0:9999]", "=", "\n", '"', " "])
        | st.text(max_size=3)
    )
    text = base[:where] + insert + base[where:]
    try:
        ansible.build(ansible.parse_ini(text, "fuzz.ini"), "ansible-ini", None)
    except PolicyError as error:
        assert error.problems and all(p.file == "fuzz.ini" for p in error.problems)


def test_an_inventory_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    with path.open("wb") as out:
        out.truncate(loader.MAX_INVENTORY_BYTES + 1)  # sparse
    with pytest.raises(PolicyError, match="too-large"):
        load_inventory(path)
