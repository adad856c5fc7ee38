"""The city file (docs/city.md): checked with its districts' own files at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.city import load_city
from engine.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
HAICHENG = REPO / "engine/data/haicheng.yaml"
YINHAI = REPO / "deploy/city/yinhai.yaml"


def _write(tmp_path: Path, districts: str, tokens: str = "") -> Path:
    file = tmp_path / "city.yaml"
    file.write_text(f"city: {{id: beihai, name: 北海市}}\ndistricts:\n{districts}{tokens}", "utf-8")
    return file


def test_the_sample_city_loads_two_districts_with_their_own_tokens() -> None:
    city, configs = load_city(REPO / "deploy/city/city.yaml")
    assert [d.id for d in city.districts] == ["haicheng", "yinhai"]
    assert {d: c.district.name for d, c in configs.items()} == {"haicheng": "海城区", "yinhai": "银海区"}
    hc = {t.token for t in configs["haicheng"].tokens}
    yh = {t.token for t in configs["yinhai"].tokens}
    assert hc and yh and not hc & yh
    assert configs["yinhai"].district.order_prefix != configs["haicheng"].district.order_prefix


def test_a_district_whose_file_names_another_district_is_refused(tmp_path: Path) -> None:
    file = _write(tmp_path, f"- {{id: yinhai, name: 银海区, config: {HAICHENG}, database: 'memory://'}}\n")
    with pytest.raises(ConfigError, match=r"district\.id: haicheng"):
        load_city(file)


def test_a_token_given_twice_in_the_city_is_refused(tmp_path: Path) -> None:
    file = _write(
        tmp_path,
        f"- {{id: haicheng, name: 海城区, config: {HAICHENG}, database: 'sqlite:///a.db'}}\n"
        f"- {{id: yinhai, name: 银海区, config: {YINHAI}, database: 'sqlite:///b.db'}}\n",
        "tokens:\n- {token: demo-operator-token, role: leader, name: 市领导}\n",
    )
    with pytest.raises(ConfigError, match="重复"):
        load_city(file)


def test_two_districts_on_one_database_are_refused(tmp_path: Path) -> None:
    file = _write(
        tmp_path,
        f"- {{id: haicheng, name: 海城区, config: {HAICHENG}, database: 'sqlite:///a.db'}}\n"
        f"- {{id: yinhai, name: 银海区, config: {YINHAI}, database: 'sqlite:///a.db'}}\n",
    )
    with pytest.raises(ConfigError, match="自己的数据库"):
        load_city(file)
