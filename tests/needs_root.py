"""One rule for tests that need root (network namespaces, useradd, an sshd, switching users):
as another user they are skipped, saying what they need; in CI (FWCHECK_REQUIRE_KERNEL_ORACLE=1,
set by .ci/run, which runs as root) the same condition is a failure, so they can never be
skipped there unnoticed. README.md lists these tests."""

from __future__ import annotations

import os

import pytest

REQUIRE = "FWCHECK_REQUIRE_KERNEL_ORACLE"


def require_root(what: str) -> None:
    """Return when running as root; else skip (or, in CI, fail) naming `what` needs root."""
    if os.geteuid() == 0:
        return
    reason = f"needs root: {what}; run as root to include it (CI does)"
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{REQUIRE}=1 but this test {reason}")
    pytest.skip(reason)
