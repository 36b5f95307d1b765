"""A target file whose name is not UTF-8 (Linux file names are bytes): `fwcheck check` with
every report and the verdict cache, run as a user runs it. Before, the SARIF writer
(percent-encoding the URI) and the cache key (hashing the name) raised UnicodeEncodeError:
exit 4, an internal error, and no SARIF written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RULES = b"""*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 23 -j ACCEPT
COMMIT
"""


def test_a_file_name_that_is_not_utf8_is_checked_reported_and_cached(tmp_path: Path) -> None:
    name = b"web\xff.iptables-save"
    (Path(os.fsdecode(tmp_path)) / os.fsdecode(name)).write_bytes(RULES)
    argv = [
        *(sys.executable, "-m", "checker", "check", "--role", "baseline"),
        *("--cache", "cache.sqlite", "--sarif", "out.sarif", "--json", "out.json"),
        *("--junit", "out.xml", "--html", "out.html"),
        os.fsdecode(name),
    ]
    runs = [subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=120) for _ in range(2)]
    for run in runs:
        assert run.returncode == 1, run.stderr.decode(errors="replace")[-2000:]
        assert b"Traceback" not in run.stderr
    assert b"verdict cache: 1 of 1 targets unchanged" in runs[1].stdout + runs[1].stderr
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    uris = {
        location["physicalLocation"]["artifactLocation"]["uri"]
        for result in sarif["runs"][0]["results"]
        for location in result.get("locations", ())
    }
    assert "web%FF.iptables-save" in uris
    telnet = [
        r
        for r in json.loads((tmp_path / "out.json").read_text())["results"]
        if r["rule"] == "no-telnet"
    ]
    assert telnet[0]["status"] == "fail"
    assert telnet[0]["evidence"][0]["line"] == 5
