"""checker.numbers: ASCII digits only, a bounded number of them, never the interpreter's limit."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checker import numbers


@pytest.mark.parametrize("text", ["²", "١", "٣٤", "", " 1", "1 ", "+1", "-1", "1_000", "0x1"])
def test_is_decimal_refuses_everything_but_ascii_digits(text: str) -> None:
    assert not numbers.is_decimal(text)


def test_leading_zeros_do_not_count_toward_the_limit() -> None:
    assert numbers.to_int("0" * 10_000 + "42") == 42
    assert numbers.to_int("0" * 10_000, 8) == 0


def test_long_numbers_raise_number_too_long_whatever_the_interpreter_limit() -> None:
    assert numbers.MAX_DIGITS < sys.get_int_max_str_digits() or sys.get_int_max_str_digits() == 0
    with pytest.raises(numbers.NumberTooLong):
        numbers.to_int("1" * (numbers.MAX_DIGITS + 1))
    with pytest.raises(numbers.NumberTooLong):
        numbers.json_loads('{"a": [-' + "7" * 5000 + "]}")


@given(st.integers(-(10**60), 10**60))
def test_json_integers_within_the_limit_read_as_json_does(value: int) -> None:
    assert numbers.json_loads(f"[{value}, 1.5]") == [value, 1.5]


@given(st.text(max_size=20))
def test_decimal_agrees_with_int_on_ascii_digits(text: str) -> None:
    result = numbers.decimal(text)
    if result is None:
        assert not (text.isascii() and text.isdigit())
    else:
        assert result == int(text)
