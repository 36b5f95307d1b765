"""Each registry covers its folder: a parser or reporter module that is not registered would be
silently unreachable from the command line (STYLE.md §2)."""

from __future__ import annotations

import importlib
import pkgutil

import checker.parsers
import checker.reports
from checker.parsers import FOLDERS, PARSERS, detect
from checker.reports import REPORTERS


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
