"""Issue 11 defect 9: memory per target input is bounded (a 600 MB export took 1.8 GB).

An input file larger than pipeline.MAX_INPUT_BYTES is an error for its target (exit 3, naming
the file), read no further than the limit; the other targets are still checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checker import pipeline
from checker.cli import main
from checker.errors import ExitCode, ParseError

RULES = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"


def test_a_file_over_the_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "big.rules"
    path.write_text(RULES + "# padding\n" * 100)
    with pytest.raises(ParseError) as caught:
        pipeline.read_source(str(path), max_bytes=len(RULES))
    (problem,) = caught.value.problems
    assert (problem.file, problem.code) == (str(path), "too-large")
    assert pipeline.read_source(str(path), max_bytes=path.stat().st_size) == path.read_bytes()


def test_collected_sources_over_the_limit_are_refused_too() -> None:
    with pytest.raises(ParseError, match="too-large"):
        pipeline.parse_sources(
            [("host:iptables-save", RULES.encode())], options={"max_input_bytes": 10}
        )


def test_check_reports_the_oversized_target_and_checks_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    small = tmp_path / "small.rules"
    small.write_text(RULES)
    big = tmp_path / "big.rules"
    big.write_text(RULES + "-A INPUT -p tcp --dport 22 -j ACCEPT\n" * 50)
    config = tmp_path / "fwcheck.yaml"
    config.write_text(
        "version: 1\ntargets:\n"
        "  - {name: small, files: [small.rules], roles: [baseline]}\n"
        "  - {name: big, files: [big.rules], roles: [baseline]}\n"
    )
    monkeypatch.setattr(pipeline, "MAX_INPUT_BYTES", len(RULES) + 10)
    code = main(["check", "--config", str(config), "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr()
    assert code == ExitCode.TARGET_ERROR, out.err
    text = out.out + out.err
    assert "big.rules" in text and "too-large" in text, text
    report = (tmp_path / "r.json").read_text()
    assert '"small"' in report and f"larger than {len(RULES) + 10} bytes" in report


def test_max_input_mib_raises_the_limit_for_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--max-input-mib N sets the limit: the same file is refused at 1 MiB and read at 2."""
    big = tmp_path / "big.rules"
    padding = "# " + "x" * 1000 + "\n"
    big.write_text(RULES.replace("COMMIT\n", padding * 1100 + "COMMIT\n"))  # ~1.1 MB
    argv = ["check", "--role", "baseline", str(big)]
    assert main([*argv, "--max-input-mib", "1"]) == ExitCode.TARGET_ERROR
    assert "larger than 1 MiB" in capsys.readouterr().out
    assert main([*argv, "--max-input-mib", "2"]) != ExitCode.TARGET_ERROR
    assert "too-large" not in capsys.readouterr().out


def test_scan_checks_collected_outputs_against_the_same_limit() -> None:
    from checker.collectors.result import CollectResult, Output
    from checker.commands.scan import check_host
    from checker.inventory.model import HostSpec, Transport

    output = Output("iptables-save", "iptables-save", 0, RULES.encode(), "t", 0.0)
    result = CollectResult("h", (output,), None)
    host = HostSpec("h", "h", Transport.LOCAL)
    info, _ = check_host(
        host, result, (), None, None, parse_options={"max_input_bytes": len(RULES) - 1}
    )
    assert info.error is not None and "too-large" in info.error
    info, _ = check_host(
        host, result, (), None, None, parse_options={"max_input_bytes": len(RULES)}
    )
    assert info.error is None
