"""fwcheck's own policies are read by libyaml and skip the JSON Schema check on each run
(checker.policies.loader.load_policy_set, for the pre-commit hook's start-up, issue 16): this
file is what stands in for that check. Every shipped policy passes the full schema, the libyaml
reader gives the very YamlDoc (data and positions) of the bounded pure-Python one, and a shipped
file broken in a checkout is still a problem at file:line, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker import resources
from checker.errors import PolicyError
from checker.policies.discovery import yaml_files
from checker.policies.document import SCHEMA
from checker.policies.loader import load_policy_set
from checker.yamlfile import read_shipped_yaml, read_yaml, schema_problems

SHIPPED, _ = yaml_files([resources.shipped_policies_dir()])


def _name(path: Path) -> str:
    return str(path.relative_to(resources.shipped_policies_dir()))


def test_there_are_shipped_policies() -> None:
    assert len(SHIPPED) >= 10


@pytest.mark.parametrize("path", SHIPPED, ids=_name)
def test_shipped_policy_passes_the_schema(path: Path) -> None:
    assert list(schema_problems(read_yaml(path), SCHEMA)) == []


@pytest.mark.parametrize("path", SHIPPED, ids=_name)
def test_libyaml_reader_gives_the_same_document(path: Path) -> None:
    fast, bounded = read_shipped_yaml(path), read_yaml(path)
    assert fast.data == bounded.data
    assert fast.positions == bounded.positions
    assert fast.file == bounded.file


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the shipped policies folder (as in a checkout being edited)."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    monkeypatch.setattr(resources, "shipped_policies_dir", lambda: folder)
    return folder


def _problems(folder: Path) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy_set([folder])
    return [f"{p.file}:{p.line}:{p.code}:{p.message}" for p in caught.value.problems]


def test_shipped_policy_breaking_the_schema_is_a_problem_not_a_traceback(shipped: Path) -> None:
    (shipped / "broken.yaml").write_text(
        "id: broken\ntitle: no roles\nrules:\n  - id: a\n    expect: allow\n", encoding="utf-8"
    )
    problems = _problems(shipped)
    assert any(":schema:" in p and "roles" in p for p in problems), problems


def test_shipped_policy_with_a_yaml_error_is_a_problem(shipped: Path) -> None:
    (shipped / "broken.yaml").write_text("id: broken\nroles: [a\n", encoding="utf-8")
    problems = _problems(shipped)
    assert any(":yaml:" in p and "broken.yaml" in p for p in problems), problems


def test_shipped_policy_with_a_duplicate_key_is_a_problem(shipped: Path) -> None:
    (shipped / "dup.yaml").write_text("id: a\nid: b\nroles: [r]\n", encoding="utf-8")
    problems = _problems(shipped)
    assert any("dup.yaml:2:duplicate-key" in p for p in problems), problems
