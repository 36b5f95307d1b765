"""Issue 11 defect 9: numbers in the collection script's framing never crash the scan.

A section header carries nanosecond timestamps of up to 25 digits; one past year 9999 made
`datetime.fromtimestamp` raise ValueError (exit 4). It now falls back to the scan's start time.
"""

from __future__ import annotations

import pytest

from checker.collectors import script


def _framed(t0: str, t1: str) -> bytes:
    out = f"@@fwcheck-begin {script.FRAMING_VERSION}\n".encode()
    for name in script.SECTION_NAMES:
        out += f"@@fwcheck-section {name} missing 127 0 0 {t0} {t1}\n".encode()
        out += f"\n@@fwcheck-end {name}\n".encode()
    return out + f"@@fwcheck-done {len(script.SECTION_NAMES)}\n".encode()


@pytest.mark.parametrize("t0", ["9" * 25, "1" + "0" * 24, str(2**63)])
def test_timestamps_past_year_9999_fall_back_to_the_start_time(t0: str) -> None:
    outputs = script.parse_framed(_framed(t0, "9" * 25), started_at="2026-01-01T00:00:00Z")
    assert outputs and all(o.started_at.startswith(("2026-01-01", "2262")) for o in outputs)


def test_ordinary_timestamps_are_kept() -> None:
    outputs = script.parse_framed(
        _framed("1767225600000000000", "1767225601000000000"), started_at="t"
    )
    assert outputs[0].started_at.startswith("2026-01-01T00:00:00") and outputs[0].duration_s == 1.0
