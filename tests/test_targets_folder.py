"""A target whose file is a folder (an etc/firewalld tree): pre-commit passes the staged files
under it, and each of them selects that target (none is reported as belonging to no target)."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.targets import load_target_config, select_targets


def test_a_file_under_a_target_folder_selects_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zones = tmp_path / "hosts" / "web" / "etc" / "firewalld" / "zones"
    zones.mkdir(parents=True)
    (zones / "public.xml").write_text("<zone/>\n")
    (tmp_path / "other.iptables-save").write_text("*filter\nCOMMIT\n")
    (tmp_path / "fwcheck.yaml").write_text(
        "targets:\n"
        "  - {name: web, files: [hosts/web/etc/firewalld], roles: [baseline]}\n"
        "  - {name: other, files: [other.iptables-save], roles: [baseline]}\n"
    )
    monkeypatch.chdir(tmp_path)
    config = load_target_config("fwcheck.yaml")
    selection = select_targets(config, ["hosts/web/etc/firewalld/zones/public.xml"])
    assert [t.name for t in selection.targets] == ["web"]
    assert selection.unmatched == []
    assert selection.targets[0].files == ("hosts/web/etc/firewalld",)
    assert select_targets(config, ["hosts/unrelated.xml"]).unmatched == ["hosts/unrelated.xml"]


def test_absolute_file_patterns_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`files:` may name absolute paths and absolute globs (a traceback before: Path.glob refuses
    non-relative patterns)."""
    elsewhere = tmp_path / "exports"
    elsewhere.mkdir()
    for name in ("a.iptables-save", "b.iptables-save"):
        (elsewhere / name).write_text("*filter\nCOMMIT\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "fwcheck.yaml").write_text(
        "targets:\n"
        f"  - {{name: one, files: ['{elsewhere}/a.iptables-save'], roles: [baseline]}}\n"
        f"  - {{name: all, files: ['{elsewhere}/*.iptables-save'], roles: [baseline]}}\n"
    )
    monkeypatch.chdir(repo)
    selection = select_targets(load_target_config("fwcheck.yaml"), [])
    files = {t.name: t.files for t in selection.targets}
    assert [Path(f).name for f in files["one"]] == ["a.iptables-save"]
    assert [Path(f).name for f in files["all"]] == ["a.iptables-save", "b.iptables-save"]
