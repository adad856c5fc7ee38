"""The columns a channel's CSV file must have, checked once on its header.

Without this, a file whose content column was renamed (``反映内容`` where the 12345 export says
``诉求内容``) turned every line into a dead letter saying "missing content", one by one; the
file is refused once instead (:class:`adapters.channels.reading.FileRefused`), naming what was
expected and what was found, and nothing of it is stored.

Only what every record needs is required: a record may leave an optional column empty, but a
file without a required column can have no valid record at all.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from . import court, enterprise, grid, hotline, media, police, town, walkin
from .reading import ColumnCheck

# channel → (key, Chinese name) of every column a record cannot do without.
REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "hotline": (("order_no", "工单编号"), ("received_at", "来电时间"), ("content", "诉求内容")),
    "police": (
        ("incident_no", "警情编号"),
        ("received_at", "报警时间"),
        ("police_category", "警情类别"),
        ("summary", "简要警情"),
    ),
    "app": (("submission_id", "提交编号"), ("content", "诉求内容")),
    "walkin": (("station_id", "站点"), ("ticket_no", "票号"), ("content", "反映内容")),
    "grid": (
        ("report_no", "事件编号"),
        ("grid_worker_id", "网格员编号"),
        ("grid_id", "网格编号"),
        ("received_at", "上报时间"),
        ("content", "事项内容"),
    ),
    "enterprise": (
        ("request_no", "诉求编号"),
        ("received_at", "提交时间"),
        ("enterprise_name", "企业名称"),
        ("credit_code", "统一社会信用代码"),
        ("content", "诉求内容"),
    ),
    "media": (
        ("outlet", "媒体名称"),
        ("title", "报道标题"),
        ("url", "原文链接"),
        ("published_at", "发布时间"),
        ("passage", "报道摘录"),
    ),
    "court": (
        ("case_no", "案号"),
        ("received_at", "委派时间"),
        ("dispute_type", "纠纷类型"),
        ("summary", "纠纷简介"),
    ),
    "town": (
        ("request_no", "请求编号"),
        ("street", "请求单位"),
        ("received_at", "提出时间"),
        ("content", "请求事项"),
    ),
}
ALIASES: dict[str, Mapping[str, str]] = {
    "hotline": hotline.HEADERS,
    "police": police.HEADERS,
    "app": {},
    "walkin": walkin.HEADERS,
    "grid": grid.HEADERS,
    "enterprise": enterprise.HEADERS,
    "media": media.HEADERS,
    "court": court.HEADERS,
    "town": town.HEADERS,
}


def _key(cell: str, aliases: Mapping[str, str]) -> str:
    # The same spelling rules as common.normalise_keys (NFKC, case, BOM, spaces).
    key = unicodedata.normalize("NFKC", cell).strip().lstrip("\ufeff").strip()
    return aliases.get(key) or (key.lower() if key.isascii() else key)


def header_problem(channel: str, header: list[str]) -> str | None:
    """Why ``header`` cannot be a ``channel`` file, in Chinese; None when it can."""
    required = REQUIRED.get(channel, ())
    aliases = ALIASES.get(channel, {})
    present = {_key(cell, aliases) for cell in header}
    missing = [(key, zh) for key, zh in required if key not in present]
    if not missing:
        return None
    shown = [cell for cell in header if cell][:30]
    found = "、".join(shown) if shown else "（空）"
    if len(header) > 30:
        found += f" 等 {len(header)} 列"

    def spelled(key: str, zh: str) -> str:
        names = [zh, *(k for k, v in aliases.items() if v == key and k != zh), key]
        return "/".join(dict.fromkeys(names))

    return (
        f"表头缺少必需的列：{'、'.join(spelled(k, z) for k, z in missing)}；"
        f"应有：{'、'.join(spelled(k, z) for k, z in required)}；"
        f"文件中的列：{found}。整个文件未导入，请改正表头后重新导入"
    )


def column_check(channel: str) -> ColumnCheck:
    """The ``columns`` hook of :func:`adapters.channels.reading.read_path` for ``channel``."""

    def check(header: list[str]) -> str | None:
        return header_problem(channel, header)

    return check
