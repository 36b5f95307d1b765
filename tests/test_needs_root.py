"""require_root(): a clear skip for another user, a failure in CI (FWCHECK_REQUIRE_KERNEL_ORACLE=1),
nothing for root."""

from __future__ import annotations

import os

import pytest
from _pytest.outcomes import Failed, Skipped
from needs_root import REQUIRE, require_root


def test_root_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv(REQUIRE, "1")
    require_root("a network namespace")


def test_another_user_is_told_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv(REQUIRE, raising=False)
    with pytest.raises(Skipped, match="needs root: a network namespace"):
        require_root("a network namespace")


def test_ci_fails_instead_of_skipping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv(REQUIRE, "1")
    with pytest.raises(Failed, match=f"{REQUIRE}=1 but this test needs root: an sshd"):
        require_root("an sshd")
