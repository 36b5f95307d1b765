"""`fwcheck scan` on a fleet, end to end against the real sshd lab (tests/collectors/sshlab.py):
history and drift between two nightly runs, SARIF baselineState, the HTML "changed since last
run" section, console counts, `fwcheck history`, and shards merged back into one run.

Real: sshd, the lab namespace's iptables-nft/legacy/nft rules (changed between runs with the
real iptables-nft), the whole pipeline, SQLite. Several inventory names point at the one lab
sshd (one SSH connection each), which is what a fleet looks like to fwcheck.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import jsonschema
import pytest
import sshlab
from fleet_support import results, write_inventory, write_policy

from checker.cli import main

FLEET = [f"web{i}" for i in range(1, 7)]


def scan(tmp: Path, inventory: Path, policy: Path, *extra: str) -> int:
    return main(
        [
            "scan",
            "--inventory",
            str(inventory),
            "--policies",
            str(policy),
            "--no-user-known-hosts",
            "--history",
            str(tmp / "history.sqlite"),
            "--concurrency",
            "3",
            *extra,
        ]
    )


def test_two_nightly_runs_show_what_changed(
    fleet_lab: sshlab.SshLab, tmp_path: Path, capsys: pytest.CaptureFixture[str], shared_dir: Path
) -> None:
    policy = write_policy(tmp_path)
    inventory = write_inventory(tmp_path, fleet_lab, FLEET, strangers=("gone1",))
    first = tmp_path / "first"
    assert scan(tmp_path, inventory, policy, "--json", str(first / "r.json"), "-q") == 3
    before = results(first / "r.json")
    assert before[("web1", "lab", "no-8081")][0] == "fail"
    assert before[("web1", "lab", "no-telnet")][0] == "pass"
    assert {s for (t, _, _), (s, _) in before.items() if t == "gone1"} == {"error"}
    capsys.readouterr()

    # Overnight: telnet opens up, 8081 gets closed, and gone1 leaves the inventory.
    fleet_lab.hand(
        "iptables-nft", "-D", "INPUT", "-p", "tcp", "-m", "tcp", "--dport", "23", "-j", "DROP"
    )
    fleet_lab.hand("iptables-nft", "-I", "INPUT", "-p", "tcp", "--dport", "8081", "-j", "DROP")
    try:
        inventory = write_inventory(tmp_path, fleet_lab, FLEET)
        second = tmp_path / "second"
        code = scan(
            tmp_path,
            inventory,
            policy,
            "--json", str(second / "r.json"),
            "--sarif", str(second / "r.sarif"),
            "--html", str(second / "r.html"),
        )  # fmt: skip
    finally:
        fleet_lab.hand("iptables-nft", "-D", "INPUT", "-p", "tcp", "--dport", "8081", "-j", "DROP")
        fleet_lab.hand(
            "iptables-nft",
            "-I",
            "INPUT",
            "3",
            "-p",
            "tcp",
            "-m",
            "tcp",
            "--dport",
            "23",
            "-j",
            "DROP",
        )
    assert code == 1
    console = capsys.readouterr().out
    # 6 hosts: telnet newly open on each; 8081 fixed on each; web-8080 still failing (IPv6
    # drops it) on each; gone1's 5 errors are absent.
    assert "since run 1 of " in console
    # Each host's sshd (2222-2224) is reachable and undeclared: open exposure results, the
    # same in both runs (docs/policy-format.md, "Exposure").
    exposed = sum(
        r["policy"] == "exposure" and r["status"] == "fail"
        for r in json.loads((second / "r.json").read_text())["results"]
    )
    assert exposed == 3 * len(FLEET)
    assert f"6 new, 6 fixed, 5 absent, {6 + exposed} unchanged" in console

    sarif = json.loads((second / "r.sarif").read_text())
    schema = json.loads((shared_dir / "schemas" / "sarif-2.1.0.json").read_text())
    jsonschema.validate(sarif, schema)
    states = {
        (r["properties"]["fwcheck/target"], r["ruleId"]): r["baselineState"]
        for r in sarif["runs"][0]["results"]
        if r["ruleId"].startswith("lab/")
    }
    assert states == {(host, "lab/no-telnet"): "new" for host in FLEET} | {
        (host, "lab/web-8080"): "unchanged" for host in FLEET
    }

    page = (second / "r.html").read_text()
    assert page.index('id="changes"') < page.index('id="matrix"')
    drift = re.search(
        r'<p class="drift" data-new="(\d+)" data-fixed="(\d+)" data-absent="(\d+)"', page
    )
    assert drift is not None and drift.groups() == ("6", "6", "5")
    assert page.count('data-state="absent" data-target="gone1"') == 5
    assert 'data-state="fixed" data-target="web3" data-rule="lab/no-8081"' in page

    # The history lists both runs, the trend, and the second run's changes.
    assert main(["history", "--history", str(tmp_path / "history.sqlite")]) == 0
    listing = capsys.readouterr().out
    opened = (17 + exposed, 12 + exposed)
    assert re.search(
        rf"open results: {opened[0]} -> {opened[1]} \(-5 since the run before\)", listing
    ), listing
    assert main(["history", "--history", str(tmp_path / "history.sqlite"), "--show", "2"]) == 0
    shown = capsys.readouterr().out
    assert (
        shown.count("NEW    ") == 6 and shown.count("FIXED  ") == 6 and shown.count("ABSENT ") == 5
    )
    assert main(["history", "--history", str(tmp_path / "history.sqlite"), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in runs] == [2, 1] and runs[0]["new"] == 6
    assert (
        main(["history", "--history", str(tmp_path / "history.sqlite"), "--prune-keep", "1"]) == 0
    )
    db = sqlite3.connect(tmp_path / "history.sqlite")
    assert db.execute("SELECT id FROM runs").fetchall() == [(2,)]
    assert db.execute("SELECT count(*) FROM results WHERE run_id = 1").fetchone() == (0,)
    db.close()


def test_shards_merge_into_the_whole_fleet_s_run(
    fleet_lab: sshlab.SshLab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = write_policy(tmp_path)
    names = [f"node{i:02d}" for i in range(10)]
    inventory = write_inventory(tmp_path, fleet_lab, names, strangers=("stranger",))
    history = tmp_path / "history.sqlite"
    whole = tmp_path / "whole.json"
    assert scan(tmp_path, inventory, policy, "--json", str(whole), "-q") == 3
    shards = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard-{k}.json"
        main(
            [
                "scan", "--inventory", str(inventory), "--policies", str(policy),
                "--no-user-known-hosts", "--no-history", "--shard", f"{k}/3",
                "--json", str(out), "-q",
            ]
        )  # fmt: skip
        shards.append(out)
    hosts_per_shard = [{t["name"] for t in json.loads(s.read_text())["targets"]} for s in shards]
    assert sorted(h for hs in hosts_per_shard for h in hs) == sorted([*names, "stranger"])
    capsys.readouterr()
    merged = tmp_path / "merged"
    code = main(
        [
            "merge", *map(str, shards), "--history", str(history),
            "--json", str(merged / "m.json"), "--junit", str(merged / "m.xml"),
            "--sarif", str(merged / "m.sarif"), "--html", str(merged / "m.html"),
        ]
    )  # fmt: skip
    assert code == 3  # the stranger's error, as in the whole scan
    assert results(merged / "m.json") == results(whole)
    whole_doc = json.loads(whole.read_text())
    merged_doc = json.loads((merged / "m.json").read_text())
    assert merged_doc["rules"] == whole_doc["rules"]  # descriptions read back exactly
    assert merged_doc["summary"] == whole_doc["summary"]
    # Each host's sshd is an open exposure result too (as in the whole scan).
    exposed = sum(r["policy"] == "exposure" and r["status"] == "fail" for r in whole_doc["results"])
    assert f"0 new, 0 fixed, 0 absent, {25 + exposed} unchanged" in capsys.readouterr().out
    for suffix in ("xml", "sarif", "html"):
        assert (merged / f"m.{suffix}").stat().st_size > 0
    db = sqlite3.connect(history)
    scopes = db.execute("SELECT scope, source FROM runs ORDER BY id").fetchall()
    db.close()
    assert scopes == [(os.path.realpath(inventory), "scan")] * 1 + [
        (os.path.realpath(inventory), "merge")
    ]

    # A missing shard is said, and not recorded (its hosts would look "absent").
    partial = main(["merge", str(shards[0]), str(shards[2]), "--history", str(history)])
    assert partial == (1 if "stranger" in hosts_per_shard[1] else 3)
    captured = capsys.readouterr()
    assert "shard(s) 2 of 3 missing" in captured.out
    assert "not recording this merge" in captured.err
    # Overlapping shards are a usage error.
    assert main(["merge", str(shards[0]), str(shards[0]), "--no-history"]) == 2
    assert "the shards overlap" in capsys.readouterr().err
