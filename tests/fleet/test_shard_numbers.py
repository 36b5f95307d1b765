"""Issue 11 defect 9: `--shard` reads ASCII digits only, and few enough for int().

`\\d` matched "١/٢" (read as shard 1/2) and 5,000-digit counts crashed int() (exit 4).
"""

from __future__ import annotations

import pytest

from checker.errors import UsageError
from checker.fleet.shard import parse_shard


@pytest.mark.parametrize(
    "text",
    ["١/٢", "1/٢", "９/９", pytest.param("9" * 5000 + "/1", id="long-k"),
     pytest.param("1/" + "9" * 5000, id="long-n")],
)  # fmt: skip
def test_unicode_and_overlong_shards_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_shard(text)


def test_ordinary_shards_still_parse() -> None:
    assert str(parse_shard(" 2 / 4 ")) == "2/4"
    assert str(parse_shard("1/999999999")) == "1/999999999"
