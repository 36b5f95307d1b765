"""`.pre-commit-hooks.yaml` is generated from the parsers' PATTERNS (checker.hooks_catalog) and
stays in sync: the checked-in file equals what the registry renders now (check-jsonschema's
regenerate-and-`git diff --exit-code`), the regex means what the globs mean, and pre-commit itself
accepts the manifest and this repo's own `.pre-commit-config.yaml`."""

from __future__ import annotations

import re
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

import pytest
import yaml
from gates_support import REPO, clean_env, must, run
from hypothesis import given
from hypothesis import strategies as st

from checker import hooks_catalog
from checker.parsers import PARSERS

MANIFEST = REPO / ".pre-commit-hooks.yaml"
CONFIG = REPO / ".pre-commit-config.yaml"


def manifest_hooks() -> dict[str, dict[str, object]]:
    hooks = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return {hook["id"]: hook for hook in hooks}


def test_manifest_is_what_the_registry_generates() -> None:
    assert MANIFEST.read_text(encoding="utf-8") == hooks_catalog.render_manifest(), (
        f"{MANIFEST.name} is stale: run `{hooks_catalog.GENERATOR}` and commit the result"
    )
    assert hooks_catalog.main(["--check"]) == 0


def test_fwcheck_hook_settings() -> None:
    hook = manifest_hooks()["fwcheck"]
    assert hook["language"] == "python"
    assert str(hook["entry"]).startswith("fwcheck check")
    assert "--quiet" in str(hook["entry"]).split()
    assert hook["require_serial"] is True
    assert hook["pass_filenames"] is True
    # A commit that only deletes an export passes no file name (pre-commit leaves deletions
    # out), so the hook must run without one and then check every target.
    assert hook["always_run"] is True
    assert hook["files"] == hooks_catalog.hook_files_regex()


def test_validate_hook_settings() -> None:
    hook = manifest_hooks()["fwcheck-validate"]
    assert hook["language"] == "python"
    assert hook["entry"] == "fwcheck validate"
    # The policy set is validated whole (includes span files), on any YAML change.
    assert hook["pass_filenames"] is False
    files = re.compile(str(hook["files"]))
    assert files.search("policies/web.yaml") and files.search("team/extra.yml")
    assert not files.search("policies/notes.md") and not files.search("yaml.txt")


@pytest.mark.parametrize(
    "path",
    [
        "host.iptables-save",
        "sites/berlin/host.ip6tables-save",
        "etc/iptables/rules.v4",
        "rules.v6",
        "ruleset.nft.json",
        "linux/app-1.nft.json",
        "FirewallRules.reg",
        "windows/firewall.wfw",
        "gpo/Machine/Registry.pol",
        "exports/host-windows-collect.json",
        "etc/ufw/user.rules",
        "hosts/gw/etc/ufw/user6.rules",
        "etc/ufw/before6.rules",
        "etc/ufw/after.rules",
        "etc/ufw/ufw.conf",
        "etc/default/ufw",
    ],
)
def test_export_names_match(path: str) -> None:
    files = re.compile(str(manifest_hooks()["fwcheck"]["files"]))
    assert files.search(path), path


@pytest.mark.parametrize(
    "path",
    [
        "README.md",
        "host.iptables-save.bak",
        "rules.v4.orig",
        "docs/rules.v4/index.md",  # a folder named like an export is not an export
        "package.json",
        "registry.polish",
        "etc/ufw/applications.d/openssh-server",
        "etc/ufw/user.rules.bak",
        "etc/default/ufw.dpkg-old",
        "etc/ufw/foo.rules",
    ],
)
def test_other_names_do_not_match(path: str) -> None:
    files = re.compile(str(manifest_hooks()["fwcheck"]["files"]))
    assert not files.search(path), path


@pytest.mark.parametrize(
    "path", ["fwcheck.yaml", "fwcheck.yml", "policies/web.yaml", "waivers.yml", "site/fwcheck.yaml"]
)
def test_configuration_names_match(path: str) -> None:
    """fwcheck.yaml, policies and waiver files change what targets are checked against."""
    files = re.compile(str(manifest_hooks()["fwcheck"]["files"]))
    assert files.search(path), path


@pytest.mark.parametrize(
    "path", ["docs/iptables-notes.md", "etc/udev/99-net.rules", "netsh-howto.md"]
)
def test_notes_named_after_firewall_tools_do_not_match(path: str) -> None:
    files = re.compile(str(manifest_hooks()["fwcheck"]["files"]))
    assert not files.search(path)


def test_every_parser_declares_patterns_and_every_pattern_is_in_the_regex() -> None:
    regex = hooks_catalog.files_regex()
    for name, module in PARSERS.items():
        assert module.PATTERNS, f"parser {name} has no PATTERNS: the hook would skip its files"
        for glob in module.PATTERNS:
            assert f"# {name}: {glob}\n" in regex


# File-name alphabet with the characters globs and regexes treat specially.
NAME_CHARS = st.sampled_from(list("ab.-_ #+()^$|{}\\") + ["rules", "v4", "nft", "json", "pol"])
NAMES = st.lists(NAME_CHARS, max_size=8).map("".join)
GLOB_PARTS = st.one_of(
    NAME_CHARS,
    st.just("*"),
    st.just("?"),
    st.sampled_from(["[ab]", "[!a]", "[a-c]", "[.#]", "[!-]", "[]a]", "[^b]", "[\\]"]),
)
GLOBS = st.lists(GLOB_PARTS, min_size=1, max_size=6).map("".join)


@given(glob=GLOBS, name=NAMES)
def test_glob_regex_agrees_with_fnmatch(glob: str, name: str) -> None:
    regex = re.compile(hooks_catalog.glob_to_regex(glob), re.VERBOSE)
    assert bool(regex.fullmatch(name)) == fnmatchcase(name, glob), (glob, name)


def instantiate(glob: str, fill: str) -> str:
    """A file name the glob matches (classes left out of the strategy for this one)."""
    return glob.replace("*", fill).replace("?", fill[:1] or "x")


@given(
    index=st.integers(min_value=0),
    fill=st.text(alphabet="abc.-_", max_size=5),
    folders=st.lists(st.sampled_from(["site", "a.b", "rules.v4", "x y"]), max_size=3),
)
def test_files_regex_is_the_registered_globs_on_the_file_name(
    index: int, fill: str, folders: list[str]
) -> None:
    pairs = hooks_catalog.parser_patterns()
    _, glob = pairs[index % len(pairs)]
    path = "/".join([*folders, instantiate(glob, fill)])
    files = re.compile(hooks_catalog.files_regex())
    assert files.search(path), path
    # And a name matching no glob does not match, whatever its folders.
    name = PurePosixPath(path).name + "~"
    expected = any(fnmatchcase(name, g) for _, g in pairs)
    assert bool(files.search("/".join([*folders, name]))) == expected, name


def test_stale_manifest_is_reported_and_regenerated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / ".pre-commit-hooks.yaml"
    stale.write_text(
        MANIFEST.read_text(encoding="utf-8").replace("rules\\.v4", "rules\\.v5"), encoding="utf-8"
    )
    assert hooks_catalog.main(["--check", "--output", str(stale)]) == 1
    captured = capsys.readouterr()
    assert "-      | rules\\.v5" in captured.out and "+      | rules\\.v4" in captured.out
    assert "is stale" in captured.err
    assert hooks_catalog.main(["--output", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == hooks_catalog.render_manifest()


def test_pre_commit_accepts_manifest_and_config(tmp_path: Path) -> None:
    env = clean_env({"PRE_COMMIT_HOME": str(tmp_path / "home")})
    pc = [sys.executable, "-m", "pre_commit"]
    must([*pc, "validate-manifest", MANIFEST], REPO, env)
    must([*pc, "validate-config", CONFIG], REPO, env)
    # The validators can fail: a hook without an entry is rejected.
    broken = tmp_path / "broken-hooks.yaml"
    broken.write_text("- id: fwcheck\n  name: x\n  language: python\n", encoding="utf-8")
    assert run([*pc, "validate-manifest", broken], REPO, env).returncode != 0


def test_repo_config_runs_ruff_and_the_local_hooks() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    by_repo = {repo["repo"]: repo for repo in config["repos"]}
    ruff_ids = {
        hook["id"] for hook in by_repo["https://github.com/astral-sh/ruff-pre-commit"]["hooks"]
    }
    assert ruff_ids == {"ruff-check", "ruff-format"}
    format_hook = next(
        h
        for h in by_repo["https://github.com/astral-sh/ruff-pre-commit"]["hooks"]
        if h["id"] == "ruff-format"
    )
    assert format_hook["args"] == ["--check"]
    local = {hook["id"]: hook for hook in by_repo["local"]["hooks"]}
    assert set(local) == {"fwcheck-validate-policies", "hooks-catalog", "formats-doc", "mypy"}
    # The type check covers the whole package whatever file changed (pyproject [tool.mypy]).
    assert local["mypy"]["entry"] == "python3 -m mypy checker"
    assert local["mypy"]["pass_filenames"] is False


def test_local_hooks_pass_on_this_checkout(tmp_path: Path) -> None:
    """The repo's own `repo: local` hooks, run by pre-commit on every file of a snapshot of this
    checkout (the ruff hooks are left out: they clone from GitHub)."""
    from gates_support import snapshot_checkout

    env = clean_env({"PRE_COMMIT_HOME": str(tmp_path / "home")})
    snapshot = tmp_path / "snapshot"
    snapshot_checkout(snapshot, env)
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    local_only = tmp_path / "local-hooks.yaml"
    local_only.write_text(
        yaml.safe_dump({"repos": [r for r in config["repos"] if r["repo"] == "local"]}),
        encoding="utf-8",
    )
    result = run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--config", local_only],
        snapshot,
        env,
    )
    assert result.returncode == 0, result.output
    assert re.search(r"fwcheck validate policies/\.+Passed", result.output), result.output
    assert re.search(r"generated from the parsers\.+Passed", result.output), result.output
    # A broken shipped policy fails the local hook.
    policy = next((snapshot / "policies").rglob("*.yaml"))
    policy.write_text(policy.read_text(encoding="utf-8") + "\nunknown_key: 1\n", encoding="utf-8")
    subprocess.run(["git", "add", "-A"], cwd=snapshot, env=env, check=True)
    result = run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--config", local_only],
        snapshot,
        env,
    )
    assert result.returncode != 0
    assert "unknown key 'unknown_key'" in result.output, result.output
