"""Form fields to analysis options: numbers are plain ASCII decimals, values are verbatim."""

from __future__ import annotations

import pytest

from api.errors import BadRequest
from api.options import parse_options
from queues.settings import Settings


@pytest.mark.parametrize(("field", "raw", "value"), [
    ("max_highlights", "12", 12), ("max_highlights", "007", 7),
    ("target_duration", "12", 12.0), ("target_duration", "2.5", 2.5),
    ("target_duration", "+2.5", 2.5), ("padding", ".5", 0.5), ("padding", "0", 0.0),
])
def test_plain_decimal_numbers_are_accepted(field: str, raw: str, value: float) -> None:
    assert getattr(parse_options({field: raw}, Settings()), field) == value


@pytest.mark.parametrize("raw", [
    " 12", "12 ", "\t12", "12\n", "1_0", "١٢", "１２", "+3", "-3", "3.0", "0x10", "1e1",
    "12abc", "1" * 400, "1" * 5000,
], ids=lambda raw: repr(raw[:12]))
def test_anything_else_is_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(BadRequest, match="'max_highlights'"):
        parse_options({"max_highlights": raw}, Settings())


@pytest.mark.parametrize("raw", [
    " 2.5", "2.5 ", "2_5", "٢.٥", "1e1", "inf", "nan", "-inf", "2.", "1.2.3", "--1", "+-1",
    ".", "+", "9" * 400, "1" * 400 + ".5", "0.5" + "0" * 400,
], ids=lambda raw: repr(raw[:12]))
def test_float_fields_refuse_anything_but_one_sign_and_one_point(raw: str) -> None:
    with pytest.raises(BadRequest, match="'padding'"):
        parse_options({"padding": raw}, Settings())
