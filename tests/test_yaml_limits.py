"""Issue 11 defect 9 and issue 13: limits on the YAML files users write.

- Nested 600 deep, a waiver file, target config or inventory ended in RecursionError (exit 4)
  while `validate` reported the same file: every reader now stops at MAX_DEPTH with file:line.
- A plain 20,000-rule policy was refused as "alias expansion": only nodes built again through
  aliases count toward the alias budget; the size of a file has its own, named limit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import yamlfile
from checker.cli import main
from checker.errors import ExitCode, PolicyError
from checker.yamlfile import parse_yaml

EXPORT = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
BLOCK = "version: 1\nwaivers:\n" + "".join("  " * (i + 1) + "-\n" for i in range(600)) + "x\n"
FLOW = "version: 1\nwaivers: " + "[" * 600 + "]" * 600 + "\n"


def _commands(path: Path, export: Path) -> list[list[str]]:
    return [
        ["check", "--role", "baseline", "--waivers", str(path), str(export)],
        ["check", "--config", str(path)],
        ["scan", "--inventory", str(path)],
        ["collect", "--inventory", str(path), "--evidence", str(path.parent / "ev")],
        ["validate", str(path)],
    ]


@pytest.mark.parametrize("text", [BLOCK, FLOW], ids=["block", "flow"])
def test_deep_yaml_is_a_clear_error_for_every_file_kind(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    export = tmp_path / "host.rules"
    export.write_text(EXPORT)
    for argv in _commands(path, export):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == ExitCode.USAGE, (argv, err)
        assert "RecursionError" not in err and "Traceback" not in err, (argv, err)
        assert f"{path}:" in err and "nested more than" in err, (argv, err)


def test_deep_yaml_names_the_line_where_it_crosses_the_limit() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_yaml(BLOCK, "deep.yaml")
    (problem,) = caught.value.problems
    # Line 1 is `version`, line 2 `waivers:`; its sequence is the second level.
    assert problem.line == yamlfile.MAX_DEPTH + 2, problem


def test_nesting_up_to_the_limit_loads() -> None:
    depth = yamlfile.MAX_DEPTH - 2  # the root mapping and the scalar are levels too
    doc = parse_yaml("a: " + "[" * depth + "1" + "]" * depth + "\n", "ok.yaml")
    value = doc.data["a"]
    for _ in range(depth):
        value = value[0]
    assert value == 1


def test_aliases_cannot_nest_past_the_limit() -> None:
    levels = ["l0: &l0 " + "[" * 60 + "1" + "]" * 60]
    levels += [f"l{i}: &l{i} " + "[" * 60 + f"*l{i - 1}" + "]" * 60 for i in range(1, 4)]
    with pytest.raises(PolicyError) as caught:
        parse_yaml("\n".join(levels) + "\n", "alias-deep.yaml")
    assert "nested more than" in caught.value.problems[0].message


def test_a_plain_policy_larger_than_the_old_node_budget_is_not_an_alias_bomb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """16,000 rules are 208,000 nodes, over the 200,000 that were once counted for aliases."""
    lines = ["id: big", "title: Big", "roles: [big]", "rules:"]
    for i in range(16_000):
        lines += [f"  - id: r{i}", "    title: t", "    expect: allow", "    direction: inbound"]
        lines += ["    protocol: tcp", f"    port: {i + 1}"]
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "big.yaml").write_text("\n".join(lines) + "\n")
    code = main(["validate", str(tmp_path / "policies")])
    captured = capsys.readouterr()
    assert code == ExitCode.OK, captured.err
    assert "alias" not in captured.err


def test_alias_bombs_are_still_refused() -> None:
    text = 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
    for name, previous in zip("bcdefgh", "abcdefg", strict=True):
        text += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 10) + "]\n"
    with pytest.raises(PolicyError) as caught:
        parse_yaml(text, "bomb.yaml")
    (problem,) = caught.value.problems
    assert "aliases expand to more than" in problem.message and problem.line >= 1


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policies" / "huge.yaml"
    path.parent.mkdir()
    with path.open("wb") as out:
        out.truncate(yamlfile.MAX_FILE_BYTES + 1)  # sparse: no time spent writing it
    code = main(["validate", str(path.parent)])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert "[too-large]" in err and f"at most {yamlfile.MAX_FILE_BYTES // 2**20} MiB" in err, err


def test_node_limit_names_where_it_was_crossed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlfile, "MAX_NODES", 50)
    with pytest.raises(PolicyError) as caught:
        parse_yaml("a:\n" + "".join(f"  - {i}\n" for i in range(100)), "many.yaml")
    (problem,) = caught.value.problems
    # Nodes 1-3 are the root mapping, `a` and its sequence: the 51st is item 47, on line 49.
    assert problem.code == "too-large" and problem.line == 49, problem


pieces = st.sampled_from(["[", "]", "{", "}", "- ", "a: ", "&x ", "*x", ",", "\n", "  ", "1"])


@settings(max_examples=100, deadline=None)
@given(st.lists(pieces, max_size=200), st.integers(0, 700))
def test_random_nesting_never_escapes_as_a_traceback(parts: list[str], depth: int) -> None:
    text = "[" * depth + "".join(parts) + "]" * depth
    try:
        parse_yaml(text, "fuzz.yaml")
    except PolicyError as error:
        assert error.problems[0].file == "fuzz.yaml" and error.problems[0].line >= 1
