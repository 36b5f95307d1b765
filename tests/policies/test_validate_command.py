"""`fwcheck validate` through the real CLI entry point (checker.cli.main): exit codes and the
`file:line:col: [code] message` lines of issue 2's "Done when" list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from policy_testing import SHIPPED

from checker.cli import main

GOOD_RULE = """\
  - id: r1
    title: t
    expect: allow
    direction: inbound
    protocol: tcp
    port: 80
"""

# name -> (file text, expected line, expected col, code, text in the message)
CASES = {
    "unknown-key": (
        "id: p\nroles: [r]\nrules:\n" + GOOD_RULE + "    remtoe: any\n",
        10,
        5,
        "schema",
        "unknown key 'remtoe'",
    ),
    "wrong-type": (
        "id: p\nroles: r\nrules:\n" + GOOD_RULE,
        2,
        1,
        "schema",
        "'r' is not of type 'array'",
    ),
    "bad-port": (
        "id: p\nroles: [r]\nrules:\n" + GOOD_RULE.replace("port: 80", 'port: "80-70000"'),
        9,
        5,
        "port",
        "outside 0-65535",
    ),
    "unknown-param": (
        "id: p\nroles: [r]\nparams:\n  a: 1\nrules:\n"
        + GOOD_RULE.replace("port: 80", 'port: "${b+1}"'),
        11,
        5,
        "param",
        "unknown param 'b'",
    ),
    "duplicate-rule-id": (
        "id: p\nroles: [r]\nrules:\n" + GOOD_RULE + GOOD_RULE,
        10,
        5,
        "duplicate-rule",
        "duplicate rule id 'r1' (first defined at line 4)",
    ),
    "yaml-syntax": (
        "id: p\nroles: [r\nrules: []\n",
        3,
        6,
        "yaml",
        "YAML syntax error",
    ),
    "duplicate-key": (
        "id: p\nroles: [r]\nid: q\nrules:\n" + GOOD_RULE,
        3,
        1,
        "duplicate-key",
        "duplicate key 'id'",
    ),
    "empty-file": ("", 1, 1, "empty", "the file is empty"),
    "comments-only": ("# nothing here\n\n", 1, 1, "empty", "the file is empty"),
}

LINE = re.compile(
    r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): \[(?P<code>[a-z-]+)\] (?P<message>.+)$"
)


def run_validate(
    capsys: pytest.CaptureFixture[str], *paths: Path | str
) -> tuple[int, list[str], str]:
    code = main(["validate", *map(str, paths)])
    out, err = capsys.readouterr()
    return code, err.splitlines(), out


@pytest.mark.parametrize("case", sorted(CASES))
def test_error_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    text, line, col, code, message = CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text, encoding="utf-8")
    exit_code, lines, out = run_validate(capsys, path)
    assert exit_code == 2
    assert out == ""
    assert len(lines) == 1, lines
    match = LINE.match(lines[0])
    assert match, lines[0]
    assert match["file"] == str(path)
    assert (int(match["line"]), int(match["col"]), match["code"]) == (line, col, code), lines[0]
    assert message in match["message"], lines[0]


def test_binary_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "blob.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    exit_code, lines, _ = run_validate(capsys, path)
    assert exit_code == 2
    assert lines == [f"{path}:1:1: [binary] not a YAML file: it contains NUL bytes (binary data)"]


def test_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"id: p\nroles: [r]\ntitle: caf\xe9\n")
    exit_code, lines, _ = run_validate(capsys, path)
    assert exit_code == 2 and lines == [f"{path}:3:1: [encoding] not UTF-8 text"]


def test_include_cycle_across_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, target in (("a", "b"), ("b", "c"), ("c", "a")):
        (tmp_path / f"{name}.yaml").write_text(
            f"id: {name}\nroles: [{name}]\ninclude: [{target}]\n", encoding="utf-8"
        )
    exit_code, lines, _ = run_validate(capsys, tmp_path)
    assert exit_code == 2
    assert lines == [f"{tmp_path / 'c.yaml'}:3:11: [include-cycle] include cycle: a -> b -> c -> a"]


def test_every_problem_of_a_set_is_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One bad file does not stop the others being checked (STYLE.md section 6)."""
    for name, (text, *_rest) in CASES.items():
        (tmp_path / f"{name}.yaml").write_text(
            text.replace("id: p", f"id: {name}"), encoding="utf-8"
        )
    (tmp_path / "good.yml").write_text(
        "id: good\nroles: [r]\nrules:\n" + GOOD_RULE, encoding="utf-8"
    )
    exit_code, lines, _ = run_validate(capsys, tmp_path)
    assert exit_code == 2
    files = {Path(LINE.match(line)["file"]).stem for line in lines}
    assert files == set(CASES)


def test_shipped_policies_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, lines, out = run_validate(capsys, SHIPPED)
    assert exit_code == 0, lines
    assert lines == []
    count = len(list(SHIPPED.rglob("*.yaml")))
    assert out.strip() == f"fwcheck validate: {count} policy files: valid"


def test_default_path_is_policies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # No ./policies and nothing else of fwcheck's here: nothing to validate, and it says so.
    exit_code, lines, out = run_validate(capsys)
    assert (exit_code, lines) == (0, [])
    assert "no ./policies folder" in out and "nothing to validate" in out
    (tmp_path / "policies" / "sub").mkdir(parents=True)
    (tmp_path / "policies" / "sub" / "p.yml").write_text(
        "id: p\nroles: [r]\nrules:\n" + GOOD_RULE, encoding="utf-8"
    )
    # Hidden folders and other suffixes are not policies.
    (tmp_path / "policies" / ".git").mkdir()
    (tmp_path / "policies" / ".git" / "x.yaml").write_text("garbage: [", encoding="utf-8")
    (tmp_path / "policies" / "notes.txt").write_text("garbage: [", encoding="utf-8")
    exit_code, lines, out = run_validate(capsys)
    assert (exit_code, lines) == (0, [])
    assert "1 policy file: valid" in out


def test_folder_without_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, lines, _ = run_validate(capsys, tmp_path)
    assert exit_code == 2 and lines == [
        f"{tmp_path}: [no-files] no *.yaml or *.yml files in this folder"
    ]
