from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sshlab
from needs_root import require_root


@pytest.fixture(scope="session")
def ssh_lab() -> Iterator[sshlab.SshLab]:
    require_root("the SSH lab (network namespaces, useradd, sshd)")
    for tool in ("sshd", "sudo", "nft", "iptables-legacy-restore", "ipset", "ssh-keygen"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.fail(
                f"{tool} is missing: apt-get install openssh-server sudo nftables iptables ipset"
            )
    lab = sshlab.start()
    try:
        yield lab
    finally:
        sshlab.stop(lab)
