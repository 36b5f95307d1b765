from __future__ import annotations

import time

import pytest
from gates_support import (
    HookRepo,
    clean_env,
    git_init,
    hook_config,
    must,
    pre_commit,
    snapshot_checkout,
)


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> HookRepo:
    base = tmp_path_factory.mktemp("pre-commit")
    env = clean_env({"PRE_COMMIT_HOME": str(base / "home")})
    path = base / "fwcheck-snapshot"
    rev = snapshot_checkout(path, env)
    # Build the one hook environment now, so a slow install shows up here, timed, and not as a
    # failing commit in whichever test happens to run first.
    warm = base / "warm-up"
    git_init(warm, env)
    (warm / ".pre-commit-config.yaml").write_text(
        hook_config(path, rev, ["fwcheck", "fwcheck-validate"]), encoding="utf-8"
    )
    started = time.monotonic()
    must(pre_commit("install-hooks"), warm, env)
    return HookRepo(path, rev, env, time.monotonic() - started)
