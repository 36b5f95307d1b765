"""The pre-commit hook on an nftables config repository (nftables.conf with an include folder and
defines): a commit that opens telnet in an included file is blocked with the deciding rule at the
included file's line; a define used by the main file is followed; a syntax error blocks the
commit with file:line:col. Same machinery as test_gates_pre_commit (a real pre-commit, a real
git repository, fwcheck pip-installed from a snapshot of this checkout).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gates_support import WEB_POLICY, HookRepo, commit, head, hooked_repo, write

TARGET_CONFIG = """version: 1
policies: [policies]
targets:
  - name: web-1
    files: [nftables.conf, nftables.d/*.conf]
    roles: [web]
"""

MAIN = """#!/usr/sbin/nft -f
flush ruleset
define web_ports = { 443 }

table inet filter {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept
\t\ttcp dport $web_ports accept
\t}
}

include "nftables.d/*.conf"
"""

ADMIN = "# rules added by the admin team\nadd rule inet filter input tcp dport 22 accept\n"
TELNET = ADMIN + "add rule inet filter input tcp dport 23 accept\n"


@pytest.fixture
def nft_repo(tmp_path: Path, hook_repo: HookRepo) -> Path:
    repo = tmp_path / "nft-firewalls"
    files = {
        "fwcheck.yaml": TARGET_CONFIG,
        "policies/web.yaml": WEB_POLICY,
        "nftables.conf": MAIN,
        "nftables.d/10-admin.conf": ADMIN,
    }
    first = hooked_repo(repo, hook_repo, files)
    assert first.returncode == 0, first.output
    return repo


def test_telnet_in_an_included_file_is_blocked_at_its_line(
    nft_repo: Path, hook_repo: HookRepo
) -> None:
    before = head(nft_repo, hook_repo.env)
    write(nft_repo, {"nftables.d/10-admin.conf": TELNET})
    result = commit(nft_repo, hook_repo, "open telnet", "nftables.d/10-admin.conf")
    assert result.returncode != 0, result.output
    assert head(nft_repo, hook_repo.env) == before, "the commit went through"
    failing = [line for line in result.output.splitlines() if "web/no-telnet" in line]
    assert len(failing) == 1, result.output
    assert failing[0].startswith("web-1: FAIL [critical] web/no-telnet:"), failing[0]
    assert "deciding rule: nftables.d/10-admin.conf:3:" in failing[0], failing[0]


def test_define_in_the_main_file_is_followed(nft_repo: Path, hook_repo: HookRepo) -> None:
    # Dropping 443 from the define closes HTTPS, which the policy requires open.
    write(nft_repo, {"nftables.conf": MAIN.replace("{ 443 }", "{ 8443 }")})
    result = commit(nft_repo, hook_repo, "move https", "nftables.conf")
    assert result.returncode != 0, result.output
    assert "web-1: FAIL [high] web/https-open:" in result.output, result.output
    write(nft_repo, {"nftables.conf": MAIN.replace("{ 443 }", "{ 443, 8443 }")})
    result = commit(nft_repo, hook_repo, "add 8443", "nftables.conf")
    assert result.returncode == 0, result.output


def test_syntax_error_blocks_with_its_location(nft_repo: Path, hook_repo: HookRepo) -> None:
    write(
        nft_repo,
        {"nftables.d/10-admin.conf": ADMIN + "add rule inet filter input tcp dport 80 acept\n"},
    )
    result = commit(nft_repo, hook_repo, "typo", "nftables.d/10-admin.conf")
    assert result.returncode != 0, result.output
    assert "exit code: 3" in result.output, result.output
    assert "nftables.d/10-admin.conf:3:" in result.output, result.output
