"""Every rate's definition (口径, shown on hover in the web UI) is the text of docs/rates.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.vocabulary import Rate, as_json, rates

RATES_DOC = Path(__file__).resolve().parents[2] / "docs" / "rates.md"


@pytest.mark.parametrize("term", rates(), ids=lambda t: t.code)
def test_the_docs_carry_each_definition_verbatim(term: Rate) -> None:
    assert term.definition, f"{term.code} has no definition"
    # Names the rate and says what it divides by what.
    assert term.definition.startswith(f"{term.label} =") and "÷" in term.definition
    assert term.definition in RATES_DOC.read_text(encoding="utf-8")


def test_the_meta_vocabulary_serves_the_definitions() -> None:
    served = {t["code"]: t["definition"] for t in as_json()["rates"]["terms"]}
    assert served == {t.code: t.definition for t in rates()}


def test_the_dispatch_rates_say_they_divide_by_dispatches() -> None:
    by_code = {t.code: t for t in rates()}
    for code in ("response_rate", "return_rate"):
        assert "÷ 派单次数" in by_code[code].definition
    assert "÷ 有效受理件数" in by_code["handling_rate"].definition
