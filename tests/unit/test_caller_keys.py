"""A caller's keys are the same however the number or the name was typed (the spellings hotline
exports and app forms use), and differ for another caller or another district secret."""

from __future__ import annotations

import pytest

from engine.routing.callers import CallerKeys
from engine.settings import district_key

KEYS = CallerKeys.default()


@pytest.mark.parametrize(
    "spelling",
    ["13877912345", "138 7791 2345", "138-7791-2345", "+86 138 7791 2345", "0086-13877912345",
     "１３８７７９１２３４５", "１３８－７７９１－２３４５", "(+86)13877912345", "\t13877912345\n"],
)
def test_one_number_however_written(spelling: str) -> None:
    assert KEYS.phone(spelling) == KEYS.phone("13877912345") != ""


def test_no_key_for_no_usable_number() -> None:
    assert KEYS.phone("") == KEYS.phone("138****2345") == KEYS.phone("１３８＊＊＊＊２３４５") == ""
    assert KEYS.phone("12345") == ""


def test_names_ignore_spaces_and_width() -> None:
    assert KEYS.name("庞 女士") == KEYS.name("庞女士") == KEYS.name("庞\u3000女士") != ""
    assert KEYS.name("Li Ming") == KEYS.name("Ｌｉ Ｍｉｎｇ")
    assert KEYS.name("庞女士") != KEYS.name("黄女士")


def test_keys_differ_between_callers_and_secrets() -> None:
    assert KEYS.phone("13877912345") != KEYS.phone("13877912346")
    other = CallerKeys(district_key("another district's secret", None))
    assert other.phone("13877912345") != KEYS.phone("13877912345")
    assert "13877912345" not in KEYS.phone("13877912345")
