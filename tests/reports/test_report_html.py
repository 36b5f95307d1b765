"""HTML report: self-contained, escaped, and checked in real headless Chromium (Debian's chromium
package): the rendered DOM holds the expected counts, and a screenshot shows the inline CSS."""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_samples import finding, sample_report

from checker.findings import Evidence, Status
from checker.reports import html
from checker.reports.data import ReportOptions, RunReport

CHROMIUM = Path("/usr/bin/chromium")
EVIL = '<script>document.title="owned"</script><img src=x onerror=alert(1)>"\'&\x1b'


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside elements with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def _tags(markup: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Elements()
    parser.feed(markup)
    return parser.tags


def _chromium(tmp_path: Path, page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    if not CHROMIUM.exists():
        pytest.fail(
            "chromium is not installed: apt-get install -y chromium (the HTML test needs a real browser)"
        )
    profile = tmp_path / "profile"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *extra,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def _hostile_report() -> RunReport:
    report = sample_report()
    evil = finding(
        "web1",
        "baseline",
        "evil",
        Status.FAIL,
        message=EVIL,
        counterexample=EVIL,
        evidence=(Evidence("exports/web1.rules", 9, EVIL),),
        title=EVIL,
    )
    return replace(report, findings=report.findings + (evil,))


def _matrix(markup: str) -> dict[tuple[str, str], dict[str, int]]:
    cells: dict[tuple[str, str], dict[str, int]] = {}
    row = ""
    for tag, attrs in _tags(markup):
        if tag == "tr" and "data-target" in attrs:
            row = attrs["data-target"]
        if tag == "td" and "data-fail" in attrs:
            cells[(row, attrs["data-policy"])] = {
                k: int(attrs[f"data-{k}"])
                for k in ("pass", "fail", "indeterminate", "error", "waived")
            }
    return cells


EXPECTED = {
    ("web1", "baseline"): {"pass": 2, "fail": 1, "indeterminate": 1, "error": 0, "waived": 1},
    ("web1", "ssh"): {"pass": 0, "fail": 1, "indeterminate": 0, "error": 0, "waived": 0},
    ("db1", "baseline"): {"pass": 1, "fail": 1, "indeterminate": 0, "error": 0, "waived": 0},
    ("broken", "fwcheck"): {"pass": 0, "fail": 0, "indeterminate": 0, "error": 1, "waived": 0},
}


def test_page_is_self_contained_and_escaped() -> None:
    markup = html.render(_hostile_report())
    tags = _tags(markup)
    names = {tag for tag, _ in tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base", "form"}
    assert "url(" not in markup and "@import" not in markup
    for _, attrs in tags:
        assert not any(k.startswith("on") for k in attrs)
        assert not attrs.get("src")
        assert not attrs.get("href", "https://").startswith(("javascript:", "file:", "data:"))
    csp = [
        a["content"]
        for t, a in tags
        if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp and csp[0].startswith("default-src 'none'")
    assert "&lt;script&gt;document.title=&quot;owned&quot;&lt;/script&gt;" in markup
    assert "\x1b" not in markup and "\\x1b" in markup


def test_matrix_counts_in_markup() -> None:
    matrix = _matrix(html.render(sample_report()))
    assert {k: v for k, v in matrix.items() if k in EXPECTED} == EXPECTED
    assert set(matrix) == set(EXPECTED)


def test_chromium_renders_expected_counts(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    html.write(_hostile_report(), page, options=ReportOptions(repo_root=tmp_path))
    dom = _chromium(tmp_path, page, "--dump-dom").stdout
    tags = _tags(dom)
    # The hostile title did not become markup: no script ran, no image was created.
    assert not {t for t, _ in tags} & {"script", "img"}
    assert "<title>fwcheck report</title>" in dom
    matrix = _matrix(dom)
    expected = dict(EXPECTED)
    expected[("web1", "baseline")] = dict(EXPECTED[("web1", "baseline")], fail=2)
    assert matrix == expected
    summary = next(a for t, a in tags if a.get("id") == "summary")
    assert (
        summary["data-pass"],
        summary["data-fail"],
        summary["data-indeterminate"],
        summary["data-error"],
        summary["data-waived"],
    ) == ("3", "4", "1", "1", "1")
    assert "3 passed, 4 failed, 1 indeterminate, 1 errors, 1 waived" in dom
    blocks = [a for t, a in tags if t == "div" and "data-status" in a]
    # One section per target, its results policy by policy.
    assert [(a["data-status"], a["data-target"], a["data-rule"]) for a in blocks] == [
        ("fail", "web1", "baseline/no-telnet"),
        ("indeterminate", "web1", "baseline/no-smb"),
        ("waived", "web1", "baseline/no-x11"),
        ("fail", "web1", "baseline/evil"),
        ("fail", "web1", "ssh/admin-only"),
        ("fail", "db1", "baseline/no-rdp"),
        ("error", "broken", "fwcheck/read-target"),
    ]
    assert "tcp 203.0.113.7:40000 -&gt; :23 ipv4" in dom
    assert "exports/web1.rules:12" in dom
    assert "CIS Debian Linux 12 Benchmark v1.0.0, 4.2.1" in dom


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes], int]:
    """Decode an 8-bit, non-interlaced RGB/RGBA PNG (what Chromium writes): unfiltered rows (RFC 2083 section 6)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and interlace == 0 and color_type in (2, 6)
    bpp = 3 if color_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows, bpp


def test_chromium_screenshot_shows_the_inline_css(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    html.write(sample_report(), page, options=ReportOptions(repo_root=tmp_path))
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1000,700", "--hide-scrollbars")
    width, height, rows, bpp = _png_pixels(shot.read_bytes())
    assert (width, height) == (1000, 700)
    colours: set[bytes] = set()
    for row in rows[::2]:
        for x in range(0, width * bpp, bpp * 2):
            colours.add(row[x : x + 3])
    # The fail badge (#ffd7d5), the pass badge (#dafbe1) and the failure border (#cf222e) are
    # painted: the stylesheet inside the page was applied, with nothing fetched.
    for hex_colour in ("ffd7d5", "dafbe1", "cf222e"):
        assert bytes.fromhex(hex_colour) in colours, hex_colour
    assert len(colours) > 20  # text was rendered, not a blank page


def test_empty_report_renders(tmp_path: Path) -> None:
    markup = html.render(RunReport("0.1.0", "2024-05-01T00:00:00Z", (), (), ()))
    assert "0 passed, 0 failed, 0 indeterminate, 0 errors, 0 waived" in markup
    assert re.search(
        r"Failures, indeterminate results and errors \(0\)</h2>\s*<p>None.</p>", markup
    )
