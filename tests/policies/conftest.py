from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

HEADER = """\
id: {id}
title: Test policy
roles: [{role}]
"""


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[..., Path]:
    """Write a policy file under tmp_path/policies; `body` is YAML after the header (or the
    whole file when header=False)."""

    def write(
        body: str, name: str = "p.yaml", *, header: bool = True, id: str = "p", role: str = "r"
    ) -> Path:
        folder = tmp_path / "policies"
        folder.mkdir(exist_ok=True)
        text = textwrap.dedent(body)
        if header:
            text = HEADER.format(id=id, role=role) + text
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
