"""Reading a ufw tree (checker/parsers/netfilter/ufw_tree.py) without ufw installed: the example tree
examples/ufw (written for fwcheck) and variations of it. The kernel test
tests/kernel/test_ufw_tree.py compares the assembly with what the real ufw loads."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.engine.netfilter.engine import classify_flow
from checker.errors import ParseError
from checker.model.netfilter import Ruleset, Verdict
from checker.parsers import FOLDERS, folder_parser, tree_of
from checker.parsers.netfilter import ufw_tree

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "ufw" / "etc"
TCP = 6


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "etc")
    return tmp_path / "etc" / "ufw"


def _chain(ruleset: Ruleset, family: str, name: str):
    for table in ruleset.tables:
        if table.family == family and table.name == "filter":
            chain = table.chain(name)
            if chain is not None:
                return chain
    raise AssertionError(f"no chain {name}")


def _inbound(ruleset: Ruleset, src: str, dport: int, family: int = 4) -> str:
    dst = "192.0.2.10" if family == 4 else "2001:db8::10"
    return classify_flow(
        [ruleset],
        family=family,
        proto=TCP,
        src=src,
        dst=dst,
        sport=40000,
        dport=dport,
        direction="inbound",
    )


def test_example_tree_is_assembled_as_ufw_loads_it(tree: Path) -> None:
    ruleset = ufw_tree.parse_folder(tree, {})
    assert ruleset.families == frozenset({4, 6})
    defaults = str(tree.parent / "default" / "ufw")
    inp = _chain(ruleset, "ip", "INPUT")
    assert inp.policy is Verdict.DROP and inp.policy_origin.file == defaults
    assert [r.target.chain for r in inp.rules] == [
        f"ufw-{part}-input"
        for part in ("before-logging", "before", "after", "after-logging", "reject", "track")
    ]
    # DEFAULT_FORWARD_POLICY=REJECT: the policy is DROP, the reject chain rejects first.
    assert _chain(ruleset, "ip", "FORWARD").policy is Verdict.DROP
    assert [r.target.verdict for r in _chain(ruleset, "ip", "ufw-reject-forward").rules] == [
        Verdict.REJECT
    ]
    # The user chains hang off the end of ufw-before-*, after before.rules' own rules.
    before = _chain(ruleset, "ip", "ufw-before-input").rules
    assert before[-1].target.chain == "ufw-user-input"
    assert before[0].origin.file == str(tree / "before.rules")
    ssh = _chain(ruleset, "ip", "ufw-user-input").rules[0]
    assert (ssh.origin.file, ssh.origin.line) == (str(tree / "user.rules"), 21)
    assert ssh.text.startswith("ufw allow from 10.20.0.0/16 to any port 22 proto tcp")
    routed = _chain(ruleset, "ip", "ufw-user-forward").rules[0]
    assert routed.text.startswith(
        "ufw route allow in on eth0 out on eth1 to 192.168.10.0/24 port 8080 proto tcp"
        " comment 'backend'"
    )
    assert ruleset.warnings == ()


def test_verdicts_and_limit(tree: Path) -> None:
    ruleset = ufw_tree.parse_folder(tree, {})
    assert _inbound(ruleset, "10.20.1.1", 22) == "accept"
    assert _inbound(ruleset, "198.51.100.7", 22) == "drop"
    assert _inbound(ruleset, "2001:db8:20::1", 22, family=6) == "accept"
    # `ufw limit 2222/tcp`: the outcome depends on the connection history.
    assert _inbound(ruleset, "198.51.100.7", 2222) == "indeterminate"
    assert _inbound(ruleset, "198.51.100.7", 2223) == "drop"


def test_restore_noflush_semantics(tree: Path) -> None:
    """ufw-init restores each file with `iptables-restore -n`: declaring a chain that exists
    flushes it; the primary chains exist before before.rules is read."""
    before = (tree / "before.rules").read_text()
    (tree / "before.rules").write_text(
        before.replace("COMMIT", "-A ufw-after-input -p tcp --dport 9 -j ACCEPT\nCOMMIT", 1)
    )
    after = (tree / "after.rules").read_text()
    assert _chain(ufw_tree.parse_folder(tree, {}), "ip", "ufw-after-input").rules == ()
    (tree / "after.rules").write_text(after.replace(":ufw-after-input - [0:0]\n", ""))
    kept = _chain(ufw_tree.parse_folder(tree, {}), "ip", "ufw-after-input").rules
    assert [r.origin.file for r in kept] == [str(tree / "before.rules")]
    assert _inbound(ufw_tree.parse_folder(tree, {}), "198.51.100.7", 9) == "accept"


def test_defaults_beside_the_tree_or_given(tree: Path, tmp_path: Path) -> None:
    moved = tmp_path / "defaults-elsewhere"
    (tree.parent / "default" / "ufw").rename(moved)
    with pytest.raises(ParseError) as error:
        ufw_tree.parse_folder(tree, {})
    assert "--ufw-defaults" in str(error.value) and str(tree) in str(error.value)
    ruleset = ufw_tree.parse_folder(tree, {"ufw_defaults": str(moved)})
    assert _chain(ruleset, "ip", "INPUT").policy_origin.file == str(moved)


@pytest.mark.parametrize(
    ("edit", "where", "text"),
    [
        (
            ("default/ufw", 'DEFAULT_INPUT_POLICY="DROP"', 'DEFAULT_INPUT_POLICY="DENY"'),
            "default/ufw:3",
            "DEFAULT_INPUT_POLICY",
        ),
        (
            ("ufw/before.rules", "-A ufw-before-input -i lo", "-A ufw-before-input --bogus -i lo"),
            "ufw/before.rules:7",
            "bogus",
        ),
        (("ufw/user.rules", "COMMIT", ""), "ufw/user.rules:1", "COMMIT"),
        (("ufw/after.rules", "*filter", "*filtre"), "ufw/after.rules:2", "unknown table"),
        (("default/ufw", "MANAGE_BUILTINS=no", "if true; then"), "default/ufw:7", "KEY=VALUE"),
    ],
)
def test_errors_name_file_and_line(tree: Path, edit, where: str, text: str) -> None:
    name, old, new = edit
    path = tree.parent / name
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ParseError) as error:
        ufw_tree.parse_folder(tree, {})
    problem = error.value.problems[0]
    assert f"{problem.file}:{problem.line}".endswith(where) and text in problem.message


def test_missing_fragment_is_an_error(tree: Path) -> None:
    (tree / "after6.rules").unlink()
    with pytest.raises(ParseError, match="after6.rules"):
        ufw_tree.parse_folder(tree, {})


def test_ipv6_no_and_disabled(tree: Path) -> None:
    defaults = tree.parent / "default" / "ufw"
    defaults.write_text(defaults.read_text().replace("IPV6=yes", "IPV6=no"))
    ruleset = ufw_tree.parse_folder(tree, {})
    inp6 = _chain(ruleset, "ip6", "INPUT")
    assert inp6.policy is Verdict.DROP and [r.text for r in inp6.rules] == [
        "-A INPUT -i lo -j ACCEPT"
    ]
    assert _inbound(ruleset, "2001:db8:20::1", 22, family=6) == "drop"
    conf = tree / "ufw.conf"
    conf.write_text(conf.read_text().replace("ENABLED=yes", "ENABLED=no"))
    ruleset = ufw_tree.parse_folder(tree, {})
    assert _inbound(ruleset, "198.51.100.7", 23) == "accept"
    assert any("ENABLED=no" in w for w in ruleset.warnings)


def test_folder_registry_and_tree_of(tree: Path) -> None:
    assert FOLDERS["ufw"] is ufw_tree and folder_parser(tree) is ufw_tree
    assert tree_of(tree / "user6.rules") == tree
    assert tree_of(tree.parent / "default" / "ufw") == tree
    assert tree_of(tree / "applications.d") is None
    with pytest.raises(ParseError, match="no configuration tree"):
        folder_parser(tree.parent)


def _fwcheck(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[3]
    return subprocess.run(
        [sys.executable, "-m", "checker", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )


def test_cli_reads_the_tree_from_the_folder_or_a_file_of_it(tree: Path) -> None:
    root = tree.parent.parent
    by_folder = _fwcheck("check", "--role", "baseline", "etc/ufw", cwd=root)
    by_file = _fwcheck("check", "--role", "baseline", "etc/ufw/user.rules", cwd=root)
    assert by_folder.returncode == by_file.returncode == 1, by_folder.stdout + by_folder.stderr
    assert (
        "etc/ufw/user6.rules:21: ufw allow from 2001:db8:20::/48 to any port 22 proto tcp"
        in by_folder.stdout
    )
    assert by_folder.stdout == by_file.stdout
    (root / "etc" / "default" / "ufw").rename(root / "ufw-defaults")
    given = _fwcheck(
        "check", "--role", "baseline", "--ufw-defaults", "ufw-defaults", "etc/ufw", cwd=root
    )
    assert given.returncode == 1 and "passed" in given.stdout


def test_target_config_selects_the_tree_on_a_change(tree: Path) -> None:
    root = tree.parent.parent
    (root / "fwcheck.yaml").write_text(
        "version: 1\ntargets:\n  - name: gw\n    files: [etc/ufw]\n    roles: [baseline]\n"
        "    params: {mgmt_networks: '10.20.0.0/16, 2001:db8:20::/48'}\n"
    )
    for changed in ("etc/ufw/before.rules", "etc/default/ufw"):
        result = _fwcheck("check", changed, cwd=root)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "gw (etc/ufw)" in result.stdout and "belongs to no target" not in result.stdout


_FILES = (
    "ufw/user.rules",
    "ufw/user6.rules",
    "ufw/before.rules",
    "ufw/after.rules",
    "ufw/ufw.conf",
    "default/ufw",
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(_FILES),
    cut=st.integers(0, 4000),
    length=st.integers(0, 40),
    insert=st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
)
def test_mutated_trees_give_located_errors_never_tracebacks(
    name: str, cut: int, length: int, insert: str
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        etc = Path(scratch) / "etc"
        shutil.copytree(EXAMPLE, etc)
        path = etc / name
        data = path.read_text()
        cut %= len(data) + 1
        path.write_text(data[:cut] + insert + data[cut + length :])
        try:
            ruleset = ufw_tree.parse_folder(etc / "ufw", {})
        except ParseError as error:
            for problem in error.problems:
                assert problem.file.startswith(str(etc)) and problem.message
        else:
            assert isinstance(ruleset, Ruleset)


def test_target_config_ufw_defaults_key(tree: Path) -> None:
    root = tree.parent.parent
    (root / "etc" / "default" / "ufw").rename(root / "gw-defaults")
    (root / "fwcheck.yaml").write_text(
        "version: 1\ntargets:\n  - name: gw\n    files: [etc/ufw]\n    roles: [baseline]\n"
        "    ufw_defaults: gw-defaults\n"
        "    params: {mgmt_networks: '10.20.0.0/16, 2001:db8:20::/48'}\n"
    )
    result = _fwcheck("check", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    (root / "fwcheck.yaml").write_text(
        (root / "fwcheck.yaml").read_text().replace("    ufw_defaults: gw-defaults\n", "")
    )
    missing = _fwcheck("check", cwd=root)
    assert missing.returncode == 3 and "--ufw-defaults" in missing.stdout + missing.stderr


@pytest.mark.parametrize("level", ["off", "low", "medium", "high", "full", "verbose"])
def test_logging_chains_follow_loglevel(tree: Path, level: str) -> None:
    """`ufw enable` refills the logging chains from ufw.conf's LOGLEVEL whatever user.rules
    holds (ufw(8), LOGGING); an unknown level is `low`. The LOG rules decide nothing."""
    conf = tree / "ufw.conf"
    conf.write_text(conf.read_text().replace("LOGLEVEL=low", f"LOGLEVEL={level}"))
    ruleset = ufw_tree.parse_folder(tree, {})
    audit = [r.text for r in _chain(ruleset, "ip", "ufw-before-logging-input").rules]
    blocked = [r.text for r in _chain(ruleset, "ip", "ufw-after-logging-input").rules]
    user = [r.text for r in _chain(ruleset, "ip", "ufw-user-logging-input").rules]
    if level == "off":
        assert audit == blocked == [] and user == ["-I ufw-user-logging-input -j RETURN"]
    else:
        assert len(blocked) == 1 and "[UFW BLOCK]" in blocked[0] and user == []
        assert len(audit) == (level in ("medium", "high", "full"))
        if level == "full":
            assert "limit" not in audit[0]
    assert _inbound(ruleset, "10.20.1.1", 22) == "accept"
    assert _inbound(ruleset, "198.51.100.7", 22) == "drop"
