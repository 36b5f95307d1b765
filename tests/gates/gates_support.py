"""Helpers for the gate tests: a committed snapshot of this checkout, and throwaway git repos.

pre-commit installs a hook repository from committed content only, so the snapshot commits the
working tree as it is now (tracked files with their edits, plus untracked files git does not
ignore): uncommitted work is what gets tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Every subprocess is bounded; the first hook run builds a virtualenv and pip-installs fwcheck.
COMMAND_TIMEOUT_S = 300


@dataclass(frozen=True, slots=True)
class Result:
    returncode: int
    output: str


@dataclass(frozen=True, slots=True)
class HookRepo:
    """The committed snapshot of this checkout that pre-commit installs hooks from."""

    path: Path
    rev: str
    # PRE_COMMIT_HOME and a clean git environment, shared by every test of the session so that
    # the hook virtualenv (pip install of fwcheck) is built once.
    env: dict[str, str]
    install_s: float


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without GIT_* (a test run from inside a git hook inherits
    GIT_DIR/GIT_INDEX_FILE, which would point every git call at the outer repo)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["PRE_COMMIT_COLOR"] = "never"
    env.update(extra)
    return env


def run(args: Sequence[str | Path], cwd: Path, env: Mapping[str, str]) -> Result:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    return Result(done.returncode, done.stdout)


def must(args: Sequence[str | Path], cwd: Path, env: Mapping[str, str]) -> str:
    result = run(args, cwd, env)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.output}"
    return result.output


def pre_commit(*args: str | Path) -> list[str | Path]:
    # The interpreter running the tests has pre-commit (a test dependency); no PATH lookup.
    return [sys.executable, "-m", "pre_commit", *args]


def git_init(path: Path, env: Mapping[str, str]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    must(["git", "init", "-q", "-b", "main", path], path, env)
    must(["git", "config", "user.name", "fwcheck gate test"], path, env)
    must(["git", "config", "user.email", "gates@fwcheck.invalid"], path, env)
    must(["git", "config", "commit.gpgsign", "false"], path, env)


def head(path: Path, env: Mapping[str, str]) -> str:
    return must(["git", "rev-parse", "HEAD"], path, env).strip()


def snapshot_checkout(dest: Path, env: Mapping[str, str], source: Path = REPO) -> str:
    """Copy the checkout's working tree (what git would see, minus ignored files) into a new
    repo at `dest`, commit it, and return the commit id."""
    listing = must(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], source, env)
    git_init(dest, env)
    for name in sorted(set(filter(None, listing.split("\0")))):
        origin = source / name
        if not origin.is_file():  # deleted in the working tree, or a submodule
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target)
    must(["git", "add", "-A"], dest, env)
    must(
        ["git", "commit", "-q", "--no-verify", "-m", "snapshot of the fwcheck checkout"], dest, env
    )
    return head(dest, env)


def write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def hook_config(hook_repo: Path, rev: str, hook_ids: Sequence[str]) -> str:
    """A .pre-commit-config.yaml using this checkout's hooks: what `pre-commit try-repo`
    generates, but with a fixed repo and rev so one hook environment serves every test."""
    hooks = "\n".join(f"      - id: {hook_id}" for hook_id in hook_ids)
    return f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n    hooks:\n{hooks}\n"


# The web policy the hook tests commit (IPv4 only: the iptables exports hold no ip6tables half).
WEB_POLICY = """id: web
title: Web server exposure
roles: [web]
rules:
  - id: no-telnet
    title: No inbound Telnet
    expect: deny
    direction: inbound
    protocol: tcp
    port: 23
    family: ipv4
    severity: critical
  - id: https-open
    title: HTTPS is reachable
    expect: allow
    direction: inbound
    protocol: tcp
    port: 443
    family: ipv4
    severity: high
"""


def commit(repo: Path, hook_repo: HookRepo, message: str, *paths: str) -> Result:
    """Stage `paths` and run a plain `git commit` (the installed hooks run)."""
    must(["git", "add", "--", *paths], repo, hook_repo.env)
    return run(["git", "commit", "-m", message], repo, hook_repo.env)


def hooked_repo(
    repo: Path,
    hook_repo: HookRepo,
    files: Mapping[str, str],
    hook_ids: Sequence[str] = ("fwcheck",),
) -> Result:
    """A new git repo at `repo` holding `files` and a .pre-commit-config.yaml with this
    checkout's `hook_ids`, the hooks installed, everything committed through them. Returns the
    first commit's result (the caller asserts on it). `repo` may already hold files."""
    git_init(repo, hook_repo.env)
    write(
        repo,
        {**files, ".pre-commit-config.yaml": hook_config(hook_repo.path, hook_repo.rev, hook_ids)},
    )
    must(pre_commit("install"), repo, hook_repo.env)
    return commit(repo, hook_repo, "initial", ".")
