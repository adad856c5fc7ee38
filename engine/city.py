"""A city of districts (1中心 + N平台, docs/city.md): the city file and the hand-over of a case.

Pure: the city file is read and checked here (each district's own file is read by
``engine.config.load_config``); the hand-over of a case to another district is the intake
command built here from the case, so that it is the same command on every retry and the
receiving district lands it once (its id is derived from channel and source_ref).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.config import ConfigError, SanshiConfig, load_config, read_yaml
from engine.domain import Case
from engine.intake import IntakeCommand
from engine.vocabulary import Channel, Role

DISTRICT_ID = r"^[a-z][a-z0-9_-]{0,31}$"


class CityDistrict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=DISTRICT_ID)
    name: str = Field(min_length=1, max_length=40)
    config: str  # the district file (relative: to the city file's folder)
    database: str  # the district's SANSHI_DB: memory://, sqlite:///…, postgresql://…


class CityToken(BaseModel):
    """A person of the city's centre: reads the city's figures, no district's cases."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str = Field(min_length=12)
    role: Role
    name: str = ""


class CityInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=DISTRICT_ID)
    name: str = Field(min_length=1, max_length=40)


class CityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    city: CityInfo
    districts: list[CityDistrict] = Field(min_length=1)
    tokens: list[CityToken] = []

    @model_validator(mode="after")
    def _distinct(self) -> CityConfig:
        ids = [d.id for d in self.districts]
        if len(set(ids)) != len(ids):
            raise ValueError(f"districts: 区的 id 重复：{ids}")
        dbs = [d.database for d in self.districts if d.database != "memory://"]
        if len(set(dbs)) != len(dbs):
            raise ValueError("districts: 每个区须有自己的数据库（database 重复）")
        for t in self.tokens:
            if t.role not in (Role.LEADER, Role.ADMIN):
                raise ValueError(f"tokens: 市级令牌只能是 leader 或 admin，不能是 {t.role.value}")
        return self

    def district(self, district_id: str) -> CityDistrict:
        for d in self.districts:
            if d.id == district_id:
                return d
        raise KeyError(district_id)


def load_city(path: str | Path) -> tuple[CityConfig, dict[str, SanshiConfig]]:
    """The city file and each district's own file, checked together: a district's id is the
    ``district.id`` of its file, and no token is given twice in the whole city."""
    p = Path(path)
    try:
        data: Any = read_yaml(p.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(str(p), [f"{p}: 无法读取: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), [f"{p}: YAML 格式错误: {exc}"]) from None
    try:
        city = CityConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            str(p), [f"{p}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        ) from None
    configs: dict[str, SanshiConfig] = {}
    errors: list[str] = []
    seen: dict[str, str] = {t.token: "city" for t in city.tokens}
    for d in city.districts:
        file = Path(d.config)
        config = load_config(file if file.is_absolute() else p.resolve().parent / file)
        if config.district.id != d.id:
            errors.append(f"{p}: 区「{d.id}」的配置文件写的是 district.id: {config.district.id}")
        for t in config.tokens:
            if t.token in seen:
                errors.append(f"{p}: 令牌在「{seen[t.token]}」与「{d.id}」中重复")
            seen[t.token] = d.id
        configs[d.id] = config
    if errors:
        raise ConfigError(str(p), errors)
    return city, configs


def transfer_source_ref(from_district: str, case: Case) -> str:
    """The hand-over's source_ref in the receiving district: the sending district and its
    order number (工单编号), else the case id. The same on every retry."""
    return f"{from_district}:{getattr(case, 'order_no', None) or case.id}"


def transfer_intake(from_district: str, from_name: str, case: Case, reason: str) -> IntakeCommand:
    """What the receiving district receives (channel ``transfer``, 跨区转入): the case's words,
    place, caller and urgency, and where it came from."""
    return IntakeCommand(
        channel=Channel.TRANSFER,
        source_ref=transfer_source_ref(from_district, case),
        received_at=case.transferred_to["at"] if case.transferred_to else case.received_at,
        content=case.content,
        address=case.address,
        caller_name=case.caller_name,
        caller_phone=case.caller_phone,
        appeal_type=case.appeal_type,
        urgent=case.urgent,
        concern=case.concern,
        confidential=case.confidential,
        extra={
            "transferred_from": {
                "district": from_district,
                "name": from_name,
                "case_id": str(case.id),
                "order_no": str(getattr(case, "order_no", "") or ""),
                "channel": case.channel,
                "reason": reason,
            }
        },
    )
