from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from needs_root import require_root

# Reuse issue 6's real-sshd lab (tests/collectors/sshlab.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collectors"))
import sshlab  # noqa: E402


class _OsWithOtherPid(SimpleNamespace):
    """`os` for sshlab.start() with another pid, so this lab's namespace, veth, users and
    addresses never collide with tests/collectors' lab when one pytest session runs both."""

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)


@pytest.fixture(scope="session")
def fleet_lab() -> Iterator[sshlab.SshLab]:
    require_root("the SSH lab (network namespaces, useradd, sshd)")
    for tool in ("sshd", "sudo", "nft", "iptables-legacy-restore", "ipset", "ssh-keygen"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.fail(
                f"{tool} is missing: apt-get install openssh-server sudo nftables iptables ipset"
            )
    real_os = sshlab.os
    sshlab.os = _OsWithOtherPid(getpid=lambda: os.getpid() + 97)  # type: ignore[assignment]
    try:
        lab = sshlab.start()
    finally:
        sshlab.os = real_os
    try:
        yield lab
    finally:
        sshlab.stop(lab)
