"""``simplified`` (engine/routing/learning/text.py) skips zhconv for a text its zh-cn table
cannot change, read from the table itself: these tests hold it to exactly what zhconv gives, for
every entry of the table that changes something, real residents' texts, the same texts in
traditional characters, and drawn strings made of the table's own characters."""

from __future__ import annotations

import json
import unicodedata
from importlib.metadata import version
from pathlib import Path

import zhconv
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.routing.learning.text import _CJK, _may_change, simplified

DATA = Path(__file__).resolve().parents[1] / "data"
TABLE = zhconv.zhconv.getdict("zh-cn")
CHANGING = sorted(k for k, v in TABLE.items() if k != v)


def zhconv_itself(text: str) -> str:
    """What ``simplified`` gave before the shortcut: zhconv for every text with a CJK character
    (punctuation alone, 「」, is left as it is)."""
    text = unicodedata.normalize("NFKC", text)
    return str(zhconv.convert(text, "zh-cn")) if _CJK.search(text) else text


def test_the_table_read_is_the_pinned_zhconvs() -> None:
    # The shortcut reads zhconv's table (``zhconv.zhconv.getdict``) and relies on how
    # ``convert`` uses it (the longest key at each position, replaced by its value). Another
    # version may keep them otherwise: check this file's tests again before moving the pin.
    assert version("zhconv") == "1.4.3"
    assert len(CHANGING) > 7000


def test_every_entry_that_changes_a_text_is_converted_within_a_sentence() -> None:
    for key in CHANGING:
        for text in (key, f"我家楼下{key}，麻烦处理", f"{key}{key}"):
            assert simplified.__wrapped__(text) == zhconv_itself(text), text


def test_real_texts_and_the_same_in_traditional_characters_come_out_as_zhconv_gives() -> None:
    texts = [json.loads(line)["text"] for line in (DATA / "real_texts" / "corpus.jsonl").open()]
    texts += [zhconv.convert(t, "zh-tw") for t in texts] + [zhconv.convert(t, "zh-hk") for t in texts]
    skipped = 0
    for text in texts:
        assert simplified.__wrapped__(text) == zhconv_itself(text), text
        skipped += not _may_change(unicodedata.normalize("NFKC", text))
    # Most simplified texts skip the conversion; that is the point of the shortcut.
    assert skipped > len(texts) // 3 * 0.9


# Characters that the table's keys are made of, and ordinary ones around them.
ALPHABET = sorted({c for k in CHANGING for c in k} | set("我的了在路号楼小区门口灯坏一二三１２３ ，。"))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(CHANGING), st.text(alphabet=ALPHABET, max_size=6)),
                max_size=8))
def test_drawn_strings_of_table_characters_come_out_as_zhconv_gives(parts: list[str]) -> None:
    text = "".join(parts)
    assert simplified.__wrapped__(text) == zhconv_itself(text)
