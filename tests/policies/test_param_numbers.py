"""Issue 11, defect 9: `--param NAME=²` and numbers past Python's int limit in params and ports.

`coerce_override` took "²" for a number (str.isdigit) and crashed in int() (exit 4); a value of
5,000 digits crashed as_int(). Both must be policy problems (exit 2) naming the rule's line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.cli import main
from checker.errors import ExitCode
from checker.policies.params import ParamError, as_int, coerce_override, parse_ref

RULESET = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
POLICY = """id: sw
title: Switch
roles: [sw]
params:
  switch_port: 4000
rules:
  - id: in-switch
    title: Switch port
    expect: deny
    direction: inbound
    protocol: tcp
    port: "${switch_port}"
"""


@pytest.mark.parametrize(
    ("value", "expected"), [("4001", 4001), (" 7 ", 7), ("²", "²"), ("١", "١"), ("x", "x")]
)
def test_coerce_override_takes_ascii_digits_only(value: str, expected: object) -> None:
    assert coerce_override(value, 4000) == expected


@pytest.mark.parametrize("value", ["²", "١٢", pytest.param("9" * 5000, id="long"), "-1"])
def test_as_int_refuses_what_int_would_misread_or_crash_on(value: str) -> None:
    with pytest.raises(ParamError):
        as_int(coerce_override(value, 4000), "switch_port")


def test_long_offset_in_a_reference_is_a_param_error() -> None:
    with pytest.raises(ParamError):
        parse_ref("${switch_port+" + "9" * 5000 + "}")


@pytest.mark.parametrize("value", ["²", pytest.param("9" * 5000, id="long")])
def test_param_on_the_command_line_is_a_policy_error(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "sw.yaml").write_text(POLICY)
    (tmp_path / "host.rules").write_text(RULESET)
    code = main(
        [
            "check",
            "--policies",
            str(tmp_path / "policies"),
            "--role",
            "sw",
            "--param",
            f"switch_port={value}",
            str(tmp_path / "host.rules"),
        ]
    )
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    assert "sw.yaml:12" in err and "switch_port" in err, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("port", ['"²"', '"1-²"', pytest.param('"' + "9" * 5000 + '"', id="long")])
def test_port_text_with_unicode_or_long_digits_is_a_policy_error(
    port: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "policies").mkdir()
    policy = POLICY.replace('"${switch_port}"', port)
    (tmp_path / "policies" / "sw.yaml").write_text(policy)
    (tmp_path / "host.rules").write_text(RULESET)
    code = main(
        ["check", "--policies", str(tmp_path / "policies"), "--role", "sw",
         str(tmp_path / "host.rules")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    assert "sw.yaml:12" in err, err
    assert "int()" not in err and "sys.set_int_max_str_digits" not in err, err
