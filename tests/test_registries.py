"""Each registry covers its folder: a parser or reporter module that is not registered would be
silently unreachable from the command line (STYLE.md §2)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import checker
import checker.parsers
import checker.reports
from checker import formats_doc, hooks_catalog
from checker.cli import main
from checker.collectors import COLLECTORS, transport_module
from checker.engine.registry import ENGINES
from checker.errors import ExitCode
from checker.inventory.model import Transport
from checker.parsers import FOLDERS, PARSERS, all_options, detect
from checker.parsers.netfilter import ipset_save, iptables_save
from checker.parsers.options import ParseOptions, ParserOption
from checker.parsers.windows import windows_pol
from checker.reports import REPORTERS, ReportFlag, ReportOptions, RunReport


def _modules_with_name(package: object) -> dict[str, object]:
    found = {}
    prefix = f"{package.__name__}."  # type: ignore[attr-defined]
    # Platform subpackages (parsers/netfilter, parsers/windows) included.
    for info in pkgutil.walk_packages(package.__path__, prefix):  # type: ignore[attr-defined]
        module = importlib.import_module(info.name)
        if isinstance(getattr(module, "NAME", None), str):
            found[module.NAME] = module
    return found


def test_every_parser_module_is_registered() -> None:
    modules = _modules_with_name(checker.parsers)
    assert modules == {**PARSERS, **FOLDERS}
    for module in PARSERS.values():
        assert callable(module.sniff) and callable(module.parse) and module.PATTERNS
    for module in FOLDERS.values():
        assert callable(module.claims) and callable(module.parse_folder) and module.HOOK_PATTERNS


def test_every_report_module_is_registered() -> None:
    assert _modules_with_name(checker.reports) == REPORTERS


def test_detect_picks_each_format_from_its_own_content() -> None:
    samples = {
        "iptables-save": b"*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n",
        "nft-json": b'{"nftables": [{"metainfo": {"json_schema_version": 1}}]}',
        "windows-reg": "Windows Registry Editor Version 5.00\r\n".encode("utf-16"),
        "windows-pol": b"PReg\x01\x00\x00\x00",
        "windows-wfw": b"regf" + b"\x00" * 60,
        "ipset-save": b"create admins hash:ip family inet hashsize 1024 maxelem 65536\n",
        "windows-gpreport": '<?xml version="1.0" encoding="utf-16"?>\r\n<GPO xmlns:xsd="x"'
        ' xmlns="http://www.microsoft.com/GroupPolicy/Settings">'.encode("utf-16"),
    }
    for name, head in samples.items():
        assert detect(head, "sample").NAME == name


# --- The registries are the one source of the command line's choices (issue 12) -------------

RULES = b"*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"


def _toy_reporter(written: list[str]) -> ModuleType:
    """A reporter as a module would be: NAME, FLAG, encode, write (the Reporter protocol)."""
    module = ModuleType("toy_report")
    module.NAME = "toy"  # type: ignore[attr-defined]
    module.FLAG = ReportFlag("--toy", "write a toy report (- : stdout)", "fwcheck.toy")  # type: ignore[attr-defined]

    def encode(report: RunReport, options: ReportOptions, baseline: object) -> bytes:
        written.append(report.tool_version)
        return f"toy: {len(report.findings)} results\n".encode()

    module.encode = encode  # type: ignore[attr-defined]
    module.write = lambda report, path, *, options: None  # type: ignore[attr-defined]
    return module


def test_a_new_reporter_needs_no_edit_to_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One registry line (here monkeypatched) gives the reporter its flag in `check --help`,
    a field in Outputs and its file in the published set."""
    written: list[str] = []
    monkeypatch.setattr(checker.reports, "REPORTERS", {**REPORTERS, "toy": _toy_reporter(written)})
    assert main(["check", "--help"]) == ExitCode.OK
    help_text = capsys.readouterr().out
    assert "--toy FILE" in help_text and "write a toy report" in help_text
    export = tmp_path / "host.rules"
    export.write_bytes(RULES)
    out = tmp_path / "out.toy"
    code = main(["check", "--role", "baseline", "--quiet", "--toy", str(out), str(export)])
    assert code in (ExitCode.OK, ExitCode.VIOLATIONS), capsys.readouterr().err
    assert out.read_text().startswith("toy: ") and written
    assert "gate --fail-on" in capsys.readouterr().out  # the console summary, on stdout
    # `-` goes to standard output as for the shipped reports, and one stdout report only.
    assert main(["check", "--role", "baseline", "--toy", "-", str(export)]) != ExitCode.USAGE
    ran = capsys.readouterr()
    assert ran.out.startswith("toy: ") and "gate --fail-on" in ran.err
    code = main(["check", "--role", "baseline", "--toy", "-", "--json", "-", str(export)])
    assert code == ExitCode.USAGE
    assert "only one report" in capsys.readouterr().err


def _toy_parser(seen: list[ParseOptions]) -> ModuleType:
    """A parser as a module would be, with one option of its own (the Parser protocol)."""
    module = ModuleType("toy_parser")
    module.NAME = "toy-format"  # type: ignore[attr-defined]
    module.PATTERNS = ("*.toy",)  # type: ignore[attr-defined]
    module.OPTIONS = (  # type: ignore[attr-defined]
        ParserOption("toy_mode", "--toy-mode", "MODE", "how the toy format is read"),
        ParserOption("toy_path", "--toy-path", "DIR", "toy folders", kind="texts"),
    )
    module.sniff = lambda head: head.startswith(b"#toy")  # type: ignore[attr-defined]

    def parse(data: bytes, origin: str, options: ParseOptions) -> object:
        seen.append(dict(options))
        return iptables_save.parse(RULES, origin)

    module.parse = parse  # type: ignore[attr-defined]
    return module


def test_a_new_parser_and_its_options_need_no_edit_to_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A parser registered with options: `--format` offers it, `check --help` shows its
    options, and their values reach its parse() as one mapping with the shared ones."""
    seen: list[ParseOptions] = []
    monkeypatch.setattr(checker.parsers, "PARSERS", {"toy-format": _toy_parser(seen), **PARSERS})
    assert main(["check", "--help"]) == ExitCode.OK
    help_text = capsys.readouterr().out
    assert "--toy-mode MODE" in help_text and "--toy-path DIR" in help_text
    assert "toy-format" in help_text  # a --format choice
    # scan offers only the options declared for it.
    assert main(["scan", "--help"]) == ExitCode.OK
    scan_help = capsys.readouterr().out
    assert "--toy-mode" not in scan_help and "--max-input-mib" in scan_help
    export = tmp_path / "host.toy"
    export.write_bytes(b"#toy\n")
    argv = ["check", "--role", "baseline", "--quiet", str(export), "--toy-mode", "strict"]
    code = main([*argv, "--toy-path", "a", "--toy-path", "b", "--max-input-mib", "2"])
    assert code in (ExitCode.OK, ExitCode.VIOLATIONS), capsys.readouterr().err
    assert seen == [{"toy_mode": "strict", "toy_path": ("a", "b"), "max_input_bytes": 2 * 2**20}]
    # Options not given are absent (a target config's own value would hold).
    seen.clear()
    main(["check", "--role", "baseline", "--quiet", "--format", "toy-format", str(export)])
    assert seen == [{}]


def test_every_transport_and_platform_has_its_registry_line() -> None:
    assert set(COLLECTORS) == set(Transport)
    for transport in Transport:
        assert callable(transport_module(transport).collect)
    # Every model type a parser returns belongs to exactly one engine.
    models = [
        iptables_save.parse(RULES, "x.rules"),
        ipset_save.parse(b"create a hash:ip family inet\n", "x.ipset"),
        windows_pol.parse(b"PReg\x01\x00\x00\x00", "Registry.pol"),
    ]
    for model in models:
        owners = [p for p, spec in ENGINES.items() if isinstance(model, spec.models)]
        assert len(owners) == 1, (model, owners)
    for platform, spec in ENGINES.items():
        assert callable(spec.load().check), platform
        assert set(spec.companions) <= set(spec.models)


MYPY_SNIPPET = """
from checker.parsers import _folders, _parsers
from checker.parsers.netfilter import ipset_save, ufw_tree
from checker.reports import _reporters, junit
import bad_parser

_parsers(ipset_save)
_reporters(junit)
_folders(ufw_tree)
_parsers(ufw_tree)
_reporters(ipset_save)
_parsers(bad_parser)
"""

BAD_PARSER = """
from checker.parsers.options import ParseOptions, ParserOption

NAME = "bad"
PATTERNS = ("*.bad",)
OPTIONS: tuple[ParserOption, ...] = ()


def sniff(head: str) -> bool:  # str: the protocol says bytes
    return head.startswith("bad")


def parse(data: bytes, origin: str) -> object:  # no options parameter
    return None
"""


def test_mypy_checks_each_registered_module_against_its_protocol(tmp_path: Path) -> None:
    """The registries are typed: registering a module that lacks a protocol member or has a
    mistyped function is a type error at the registry line (mypy, a CI gate)."""
    pytest.importorskip("mypy")
    (tmp_path / "bad_parser.py").write_text(BAD_PARSER)
    (tmp_path / "snippet.py").write_text(MYPY_SNIPPET)
    root = Path(checker.__file__).resolve().parents[1]
    ran = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--no-error-summary", "snippet.py"],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": f"{root}{os.pathsep}{tmp_path}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in ran.stdout.splitlines() if ": error:" in line]
    lines = sorted(int(line.split(":")[1]) for line in errors)
    # Lines 10, 11 and 12 of the snippet; the good registrations (7-9) pass.
    assert lines == [10, 11, 12], ran.stdout
    assert 'expected "Parser"' in errors[0] and 'expected "Reporter"' in errors[1]
    assert "def sniff(head: str)" in ran.stdout and "parse" in ran.stdout


def test_generated_files_match_the_registries() -> None:
    """docs/formats.md and .pre-commit-hooks.yaml are rendered from the registries."""
    assert formats_doc.main(["--check"]) == ExitCode.OK
    assert hooks_catalog.main(["--check"]) == ExitCode.OK
    doc = (Path(checker.__file__).resolve().parents[1] / "docs" / "formats.md").read_text()
    for name in [*PARSERS, *FOLDERS]:
        assert f"`{name}`" in doc
    for option in all_options():
        assert option.flag in doc
    for module in REPORTERS.values():
        assert module.FLAG is None or module.FLAG.flag in doc
