"""District configuration: the bundled demo loads; a bad file is reported by line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import ConfigError, UnitKind, load_config, parse_config

DEMO = Path(__file__).resolve().parents[2] / "engine" / "data" / "haicheng.yaml"


def test_bundled_demo_district_is_haicheng() -> None:
    config = load_config()
    assert config.district.name == "海城区"
    streets = config.units_of_kind(UnitKind.STREET)
    assert {"中街街道", "东街街道", "西街街道", "海角街道", "地角街道", "驿马街道", "高德街道", "咸田街道"} <= {
        s.name for s in streets
    }
    for street in streets:
        kinds = [c.kind for c in config.children(street.id)]
        assert kinds.count(UnitKind.JUDICIAL_OFFICE) == 1, street.name
        assert kinds.count(UnitKind.COMMUNITY) >= 2, street.name
    assert len(config.units_of_kind(UnitKind.DEPARTMENT)) >= 8
    assert config.centre.name == "海城区社会治理中心"


def test_sanshi_config_env_points_at_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "d.yaml"
    other.write_text(
        "district: {id: t, name: 测试区}\nunits:\n  - {id: centre, name: 测试中心, kind: centre}\n",
        "utf-8",
    )
    monkeypatch.setenv("SANSHI_CONFIG", str(other))
    assert load_config().district.name == "测试区"


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "district.yaml")
    return exc.value


def test_wrong_kind_is_reported_with_its_line_and_field() -> None:
    text = DEMO.read_text("utf-8")
    lines = text.splitlines()
    line_no = next(i for i, line in enumerate(lines, 1) if "kind: department" in line)
    err = _error(text.replace("kind: department", "kind: departmnt", 1))
    assert any(p.startswith(f"district.yaml:{line_no}: units.") and ".kind:" in p for p in err.problems), err.problems


def test_missing_required_field_names_the_field() -> None:
    err = _error("district: {id: x}\nunits:\n  - {id: centre, name: 中心, kind: centre}\n")
    assert any("district.name" in p and p.startswith("district.yaml:1:") for p in err.problems), err.problems


def test_unknown_reference_is_reported() -> None:
    err = _error(
        "district: {id: x, name: 区}\nunits:\n  - {id: centre, name: 中心, kind: centre}\n"
        "routing:\n  - {category: labour, to: renshe}\n"
    )
    assert any("renshe" in p for p in err.problems)


def test_yaml_syntax_error_has_a_line() -> None:
    err = _error("district: {id: x, name: 区\nunits: [\n")
    assert err.problems[0].startswith("district.yaml:") and "YAML" in err.problems[0]


def test_unit_token_needs_its_unit() -> None:
    err = _error(
        "district: {id: x, name: 区}\nunits:\n  - {id: centre, name: 中心, kind: centre}\n"
        "tokens:\n  - {token: abcdefgh123, role: unit}\n"
    )
    assert any(p.startswith("district.yaml:5: tokens.0") for p in err.problems), err.problems


def test_the_former_channel_routing_is_refused_at_its_line_with_the_rule_to_write() -> None:
    # 渠道牵头单位 became routing's channel rules (docs/configuration.md, "Rules for a channel").
    err = _error(
        "district: {id: x, name: 区}\nunits:\n  - {id: centre, name: 中心, kind: centre}\n"
        "  - {id: yingshang, name: 营商环境办公室, kind: department}\n"
        "channel_routing:\n  - {channel: enterprise, to: yingshang}\n"
    )
    assert err.problems == [
        "district.yaml:5: channel_routing 已并入 routing（渠道规则）：请删除 channel_routing，"
        "在 routing 中改写为 {channels: [enterprise], to: yingshang}"
    ]


def test_the_demo_district_routes_two_channels_by_channel_rules() -> None:
    config = load_config()
    assert {c for r in config.routing for c in r.channels} == {"court", "enterprise"}
    assert "channel_routing" not in type(config).model_fields


# ---- what an officer writing a district file gets wrong (an outsider's first district) -------

_HEAD = "district: {id: x, name: 临江区}\n"


def test_every_wrong_name_is_reported_at_once_at_its_own_line_in_chinese() -> None:
    err = _error(
        _HEAD
        + "units:\n"  # 2
        "  - {id: centre, name: 中心, kind: centre}\n"  # 3
        "  - {id: zhujian, name: 区住建局, kind: department, categories: [housing]}\n"  # 4
        "  - {id: zhujian, name: 区住建局二, kind: department}\n"  # 5: a second 'zhujian'
        "categories:\n"  # 6
        "  - {code: housing, name: 住房, keywords: [物业]}\n"  # 7
        "  - {code: labour, name: 劳动, keywords: [欠薪, '']}\n"  # 8: an empty keyword
        "  - {code: labour, name: 劳动二}\n"  # 9: the code again
        "routing:\n"  # 10
        "  - {category: labour, to: renshe}\n"  # 11: no such unit
        "  - {category: wenlv, to: zhujian}\n"  # 12: no such category
        "tokens:\n"  # 13
        "  - {token: abcdefgh123, role: unit, unit: nobody}\n"  # 14
    )
    where = {p.split(": ", 2)[0]: p for p in err.problems}
    for line in (5, 8, 9, 11, 12, 14):
        assert f"district.yaml:{line}" in where, (line, err.problems)
    assert "重复" in where["district.yaml:5"] and "重复" in where["district.yaml:9"]
    assert "「renshe」" in where["district.yaml:11"] and "「wenlv」未定义" in where["district.yaml:12"]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in p) for p in err.problems), err.problems


def test_bounds_and_misspelled_keys_are_said_in_chinese_with_the_bound() -> None:
    err = _error(_HEAD + "units:\n  - {id: centre, name: 中心, kind: centre}\ncatagories: []\n"
                 "deadlines:\n  default: {normal: {claim_workdays: 0}}\n")
    text = "\n".join(err.problems)
    assert "district.yaml:4: catagories: 不认识的字段" in text, text
    assert "须大于 0" in text or "须不小于" in text, text


@pytest.mark.parametrize("encoding", ["gbk", "utf-16"])
def test_a_district_file_not_in_utf8_is_one_clear_line(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "linjiang.yaml"
    path.write_bytes((_HEAD + "units:\n  - {id: centre, name: 临江区中心, kind: centre}\n").encode(encoding))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.problems == [f"{path}: 不是 UTF-8 编码的文本；请用 UTF-8 另存（GBK、UTF-16 等编码不能读取）"]
    # Notepad's UTF-8 with a BOM is UTF-8.
    path.write_bytes(b"\xef\xbb\xbf" + (_HEAD + "units:\n  - {id: centre, name: 中心, kind: centre}\n").encode())
    assert load_config(path).district.name == "临江区"


def test_a_date_that_does_not_exist_is_reported_at_its_line() -> None:
    err = _error(_HEAD + "units:\n  - {id: centre, name: 中心, kind: centre}\n"
                 "calendar:\n  2027:\n    holidays: [2027-02-10, 2027-02-30]\n")
    assert err.problems[0].startswith("district.yaml:6: 值无法读取"), err.problems
