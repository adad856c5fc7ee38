"""The real-texts corpus (tests/data/real_texts/corpus.jsonl) has the shape the routing bench
and future training read: every field, categories the districts define, no identifiers in the
texts, unique ids and the recorded train/heldout split equal to the one the rule computes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.routing.real_texts import (
    CHANNEL_OF,
    CORPUS,
    FIELDS,
    SECOND_LABELS,
    read_corpus,
    split_of,
)
from engine.config import load_config
from engine.identifiers import ALL_KINDS, find

DATA = Path(__file__).parent.parent / "data"
DEMO = Path(__file__).parents[2] / "engine" / "data" / "haicheng.yaml"


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return read_corpus(CORPUS)


def test_every_row_has_the_fields_with_their_types(rows: list[dict]) -> None:
    assert len(rows) >= 300
    for r in rows:
        assert set(FIELDS) <= set(r), r.get("id")
        assert set(r) <= {*FIELDS, "note", "leaf_code"}, r["id"]
        for key in ("id", "text", "category", "leaf", "channel_kind", "source", "source_title"):
            assert isinstance(r[key], str) and r[key].strip(), (r["id"], key)
        assert isinstance(r["is_consultation"], bool) and isinstance(r["personal"], bool)
        assert r["channel_kind"] in CHANNEL_OF, r["id"]
        assert r["split"] in ("train", "heldout")
        assert 8 <= len(r["text"]) <= 200, r["id"]


def test_leaf_codes_are_items_of_the_demo_catalogue_under_their_category(rows: list[dict]) -> None:
    """A row's ``leaf_code`` maps its free-text ``leaf`` to an item of the demo district's category
    tree, under the row's own top-level category (the leaf accuracy of the routing bench)."""
    config = load_config(DEMO)
    coded = [r for r in rows if "leaf_code" in r]
    assert len(coded) >= 300
    for r in coded:
        config.catalogue_item(r["leaf_code"])  # KeyError: not an item
        assert r["leaf_code"].split(".")[0] == r["category"], r["id"]


def test_categories_exist_in_both_district_configs(rows: list[dict]) -> None:
    demo = set(load_config(DEMO).category_codes())
    second = set(load_config(DATA / "second_district.yaml").category_codes())
    used = Counter(r["category"] for r in rows)
    assert set(used) <= demo & second, set(used) - (demo & second)
    assert set(used) == demo, demo - set(used)  # every top-level code has real texts


def test_no_phone_id_or_card_numbers_in_the_texts(rows: list[dict]) -> None:
    leaks = {r["id"]: find(r["text"], ALL_KINDS) for r in rows}
    assert {k: v for k, v in leaks.items() if v} == {}


def test_ids_and_texts_are_unique(rows: list[dict]) -> None:
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    texts = [r["text"] for r in rows]
    assert len(texts) == len(set(texts))


def test_split_is_the_rule_and_about_thirty_percent_per_category(rows: list[dict]) -> None:
    assert {r["id"]: r["split"] for r in rows} == split_of(rows)
    assert split_of(list(reversed(rows))) == split_of(rows)  # order of the file does not matter
    heldout = sum(r["split"] == "heldout" for r in rows) / len(rows)
    assert 0.25 <= heldout <= 0.35
    for category in {r["category"] for r in rows}:
        members = [r for r in rows if r["category"] == category]
        assert any(r["split"] == "heldout" for r in members), category


def test_the_second_labelling_covers_exactly_the_held_out_texts_with_known_codes(rows: list[dict]) -> None:
    import json

    split = split_of(rows)
    held = {r["id"] for r in rows if split[r["id"]] == "heldout"}
    second = [json.loads(line) for line in SECOND_LABELS.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in second) == sorted(held)
    codes = {c.code for c in load_config(DEMO).categories}
    for r in second:
        assert r["category"] in codes and r["alt"] in codes | {None} and r["alt"] != r["category"], r
