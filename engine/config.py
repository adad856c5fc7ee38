"""District configuration (SANSHI_CONFIG): units, categories, routing rules, deadlines, tokens.

Loaded from one YAML file and validated with pydantic. A bad file is reported as
``file:line: field: message`` for every problem, never as a traceback: the YAML is composed
into nodes first so that each pydantic error location can be mapped back to a line.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from engine.attachments import AttachmentSettings
from engine.notices import NotificationSettings
from engine.places import PlacesSettings

# Roles and unit kinds, with their Chinese labels, are in the one vocabulary.
from engine.vocabulary import RATES, Channel
from engine.vocabulary import Role as Role
from engine.vocabulary import UnitKind as UnitKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class District(_Strict):
    id: str
    name: str
    city: str = ""
    # 工单编号的前缀 (HC20261201002444): letters; empty: the first two letters of ``id``.
    order_prefix: str = Field("", pattern=r"^[A-Za-z]{0,8}$")


class Unit(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    kind: UnitKind
    parent: str | None = None
    categories: list[str] = []
    # Place names (roads, 小区, villages) that this community/street covers.
    areas: list[str] = []
    # 停用: gets no new dispatches (router and operators), keeps its cases (engine/admin.py).
    active: bool = True
    # 服务清单: the services (codes of ``services:``) this unit offers on the open shelf
    # (认领大厅); it sees the shelf's items of these services. Empty: every item (a department).
    services: list[str] = []


class Service(_Strict):
    """An entry of the district's service menu (服务菜单, ``services:``): what helpers offer and
    what an item on the open shelf needs."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str


class Category(_Strict):
    code: str
    name: str
    description: str = ""
    keywords: list[str] = []
    mediation: bool = False
    # 个人事项: the matter is the caller's own (an application, a dispute between named people,
    # a wage claim), so two callers' cases are never merged, however alike; at most linked.
    # Unset: the default for the code (PERSONAL_CATEGORIES).
    personal: bool | None = None


# Categories whose cases are the caller's own business unless the district says otherwise:
# 劳动社保 (wages, insurance), 民政 (低保, 救助, 补贴), 矛盾纠纷, 教育 (入学), 医疗卫生 (医保,
# one patient's treatment), 公安 (户籍, one victim's fraud), 市场监管 (one buyer's refund).
PERSONAL_CATEGORIES: frozenset[str] = frozenset(
    {"labour", "civil_affairs", "dispute", "education", "health", "public_security", "market"}
)
# Words that make any case a personal matter, whatever its category: applications and
# benefits, wages, disputes between people, one person's papers or money.
PERSONAL_WORDS: tuple[str, ...] = (
    "低保", "救助", "补贴", "补助", "社保", "医保", "养老金", "退休金", "公积金", "抚恤",
    "欠薪", "工资", "讨薪", "工钱", "工伤", "劳动合同", "赔偿", "纠纷", "吵架", "矛盾",
    "离婚", "赡养", "抚养", "继承", "户口", "户籍", "身份证", "退款", "退费", "被骗",
    "诈骗", "申请",
)


class RoutingRule(_Strict):
    # "" (only with ``channels``): any category.
    category: str = ""
    # When given, the rule applies only if one of these words is in the text (e.g. 停电 → 供电局).
    keywords: list[str] = []
    # "locality" | "judicial_office" | a unit id
    to: str
    # 渠道规则: when given, the rule applies only to cases that came in by one of these channels,
    # before the place lessons and the dispatch catalogue: the district's standing decision for
    # the channel, whose unit leads (诉前调解 court referrals → the street's judicial office,
    # 企呼市应 → 营商环境办公室); the unit the category gives is recorded beside it. Without a
    # category it applies however unsure the router is of the category, and to a 咨询.
    channels: list[str] = []


class UrgentClock(_Strict):
    claim_minutes: int = Field(30, gt=0)
    handle_hours: int = Field(24, gt=0)


class NormalClock(_Strict):
    claim_workdays: int = Field(1, gt=0)
    handle_workdays: int = Field(5, gt=0)


class DeadlinePolicy(_Strict):
    urgent: UrgentClock = UrgentClock()
    normal: NormalClock = NormalClock()
    # 延期上限: an extension's new handling deadline is at most this many natural days after
    # the current one (natural days: the working-day calendar may not know a far year).
    max_extension_days: int = Field(30, gt=0, le=366)


class Deadlines(_Strict):
    default: DeadlinePolicy = DeadlinePolicy()
    per_category: dict[str, DeadlinePolicy] = {}
    # 批示回复时限: a leader's instruction (领导批示) is answered by the end of this working day
    # after the day it was written.
    instruction_reply_workdays: int = Field(3, gt=0, le=30)
    # 吹哨报到: a department called in by a street or community reports in (报到) within these
    # natural minutes on an urgent case, else by the end of this working day after the whistle.
    whistle_report_minutes_urgent: int = Field(30, gt=0, le=24 * 60)
    whistle_report_workdays: int = Field(1, gt=0, le=30)

    def for_category(self, category: str | None) -> DeadlinePolicy:
        if category and category in self.per_category:
            return self.per_category[category]
        return self.default


class CatalogueItem(_Strict):
    """An item of the category tree (诉求分类目录) below a top-level category: level 2, or level 3
    inside a level-2 item (the levels of the 12345 classification standards, e.g. DB44/T
    2479-2024, DB1501/T 0032-2023). Its code extends its parent's with a dot
    (``municipal.streetlight``, ``municipal.streetlight.out``), so a code names its own path.
    The router reads the name, description and keywords to choose the item within the top level
    it chose first."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){1,2}$")
    name: str
    description: str = ""
    keywords: list[str] = []
    items: list[CatalogueItem] = []


class DispatchItem(_Strict):
    """One entry of the dispatch catalogue (派单目录): for a catalogue item (a top-level code, a
    level-2 or level-3 code), the unit or unit kind responsible and, optionally, its own
    deadlines. Entries are data, adjusted as duties change (Beijing keeps such a 派单目录 and
    adjusts it with the streets' lists of duties, 履职事项清单)."""

    item: str
    # "locality" | "judicial_office" | a unit id | a unit kind (community, street, department…)
    to: str | None = None
    deadlines: DeadlinePolicy | None = None
    # The basis of the duty (职责依据: 三定, 履职事项清单, an agreement), for the people who adjust it.
    basis: str = ""

    @model_validator(mode="after")
    def _says_something(self) -> DispatchItem:
        if self.to is None and self.deadlines is None:
            raise ValueError("派单目录条目须有 to（承办单位）或 deadlines（时限）")
        return self


class HolidayNotice(_Strict):
    """One year's State Council holiday notice, for years the calendar package lags on."""

    holidays: list[dt.date] = []
    workdays: list[dt.date] = []  # 调休上班 (make-up working days on weekends)


class DispatchRule(_Strict):
    """自动派单规则: when a case goes out to a unit without an operator looking. The defaults
    were chosen on 5-fold cross-validation of the real-texts corpus's train split
    (``python -m bench.routing.real_texts --cv``, the "dispatch rule" table of
    bench/routing/RESULTS_real_texts.md): the lowest confidence at which the one-sided 95 %
    Clopper–Pearson upper bound of the error of what goes out is at most 3 %, the stricter of
    the demo and second districts. Every check that fails is named in the decision's
    ``manual_reason`` (置信度低于阈值 / 读法不一致 / 该类别需人工)."""

    # Calibrated confidence of the top-level category needed to dispatch without a person.
    confidence: float = Field(0.96, ge=0, le=1)
    # The readers consulted (the linear text model, the keywords found, the sentence model when
    # it was read) must all name the category (读法一致). Off by default: at the confidence above
    # it bought no measurable precision on cross-validation and cost coverage.
    readers_agree: bool = False
    # Categories that never go out alone (该类别需人工), e.g. one whose measured precision is weak.
    manual_categories: list[str] = []


class RouterSettings(_Strict):
    # The keyword router's threshold; the learning router applies the stricter of it and
    # ``dispatch.confidence``.
    confidence_threshold: float = Field(0.35, ge=0, le=1)
    dispatch: DispatchRule = DispatchRule()
    duplicate_window_days: int = Field(30, gt=0)
    # Open cases the duplicate check keeps in memory, the most recently received (older open
    # cases are no longer merge targets). Bounds a worker's memory: ~2 KB a case with its
    # sentence vector. A district (a few hundred cases a day) never reaches it inside the
    # window; at a Beijing peak (210,000 a day) it holds the last ~11 hours.
    duplicate_index_size: int = Field(100_000, gt=0)
    merge_similarity: float = Field(0.8, ge=0, le=1)
    possible_duplicate_similarity: float = Field(0.6, ge=0, le=1)
    urgent_words: list[str] = []
    # A case whose text has one of these is a personal matter (see Category.personal).
    personal_words: list[str] = list(PERSONAL_WORDS)
    # 诉求类型 that are always personal: a question is answered to the one who asked.
    personal_appeal_types: list[str] = ["咨询"]


class Returns(_Strict):
    """退单 (docs/lifecycle.md, Returns): whether a unit's return waits for the centre's review
    (退单审核, the default) or the router dispatches the case again by itself."""

    auto_reroute: bool = False


class Callback(_Strict):
    """回访: after this many unanswered follow-up calls the operator may close the case as
    未接通结案 (counted apart, docs/rates.md)."""

    max_unanswered: int = Field(3, gt=0, le=20)


# 承办单位排名's weights when the district sets none: the weights the ranking always had
# (docs/rates.md#the-ranking-承办单位排名). Relative: only their shares matter.
DEFAULT_RANKING_WEIGHTS: dict[str, float] = {
    "handling_rate": 25,
    "on_time_rate": 20,
    "satisfaction_rate": 20,
    "response_rate": 15,
    "solved_rate": 10,
    "return_rate": 10,
}


class Ranking(_Strict):
    """``ranking:`` 承办单位排名 (projections/ranking.py): each kind of unit is ranked apart by a
    weighted sum of its rates, weights published with the table. ``weights``: rate code →
    weight, any non-negative numbers (their shares are what counts: 25/20/… or .25/.20/…);
    a rate not named weighs 0. ``min_volume``: a unit dispatched fewer cases than this in the
    period is listed as 样本不足, not ranked."""

    weights: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=lambda: dict(DEFAULT_RANKING_WEIGHTS)
    )
    min_volume: int = Field(20, ge=1, le=1_000_000)

    @field_validator("weights")
    @classmethod
    def _known_rates_weighing_something(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = [code for code in weights if code not in RATES]
        if unknown:
            raise ValueError(
                f"不认识的指标代码 {', '.join(unknown)}；可用的指标：{', '.join(RATES.codes)}"
            )
        if sum(weights.values()) <= 0:
            raise ValueError("权重之和须大于 0")
        return weights


class Surges(_Strict):
    """``surges:`` 主动治理 (projections/surges.py, docs/proactive.md): how a place × category
    cell's count in a day or a week is judged against its usual level (a Poisson baseline from
    the trailing ``history_weeks``, smoothed toward the category's district-wide rate by
    ``prior_days`` days of it, never below ``floor_per_day``), flagged when
    P(X ≥ count | baseline) < ``alpha`` ÷ the number of cells tested and count ≥ ``min_count``;
    and places (the same normalised address) that ``repeat_min_callers`` distinct callers
    reported within ``repeat_days``."""

    place: Literal["street", "community"] = "street"
    history_weeks: int = Field(4, ge=1, le=52)
    # Fewer days of history than this before a window: no baseline, the window is not tested.
    min_history_days: int = Field(7, ge=1, le=366)
    alpha: float = Field(0.001, gt=0, lt=1)  # family-wise, per window (Bonferroni over cells)
    min_count: int = Field(5, ge=1, le=100_000)
    floor_per_day: float = Field(0.05, gt=0, le=1000)
    prior_days: float = Field(14.0, ge=0, le=3650)
    weekday_adjust: bool = True
    repeat_days: int = Field(7, ge=1, le=90)
    repeat_min_callers: int = Field(3, ge=2, le=1000)


class Token(_Strict):
    token: str = Field(min_length=8)
    role: Role
    unit: str | None = None
    name: str = ""

    @model_validator(mode="after")
    def _unit_role_needs_unit(self) -> Token:
        if self.role == Role.UNIT and not self.unit:
            raise ValueError("role 为 unit 的令牌须填写 unit（所属单位）")
        return self


class Auth(_Strict):
    """``auth:`` how people log in (adapters/http/people.py)."""

    # The config's ``tokens:`` and ``sanshi token create`` tokens (one per unit or role,
    # shared by everyone holding it). false: only named accounts (人员账号) work.
    shared_tokens: bool = True
    # A login session lasts this long from login (then log in again).
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    # Secure cookie even over plain http (behind a TLS proxy that does not say so). Without
    # it, the cookie is Secure when the request came over https.
    secure_cookie: bool = False


DEFAULT_CATEGORIES: list[Category] = [
    Category(code="municipal", name="市政设施", keywords=["路灯", "道路", "井盖", "下水道", "排水", "管网", "人行道", "窨井"]),
    Category(code="city_management", name="城市管理", keywords=["占道", "违建", "违章搭建", "乱堆", "环卫", "垃圾", "摊贩", "广告牌"]),
    Category(code="environment", name="生态环境", keywords=["油烟", "噪声", "噪音", "排污", "异味", "污染", "施工扰民", "野生动物"]),
    Category(code="housing", name="住房物业", keywords=["物业", "电梯", "房屋维修", "维修基金", "房产证", "二次供水"]),
    Category(code="utilities", name="公共服务", keywords=["停水", "供水", "停电", "供电", "燃气", "煤气", "供热", "信号", "宽带"]),
    Category(code="transport", name="交通运输", keywords=["公交", "出租车", "网约车", "拒载", "红绿灯", "信号灯", "停车"]),
    Category(code="market", name="市场监管", keywords=["消费", "预付卡", "退款", "食品", "药品", "假货", "价格", "跑路"]),
    Category(code="labour", name="劳动社保", keywords=["欠薪", "工资", "工伤", "社保", "就业", "创业补贴", "劳动合同"]),
    Category(code="education", name="教育", keywords=["入学", "学位", "学校", "老师", "培训", "校车"]),
    Category(code="health", name="医疗卫生", keywords=["医院", "医保", "疫苗", "诊所", "看病", "医生"]),
    Category(code="civil_affairs", name="民政", keywords=["低保", "养老", "特困", "救助", "残疾", "高龄补贴", "殡葬"]),
    Category(code="public_security", name="公安", keywords=["治安", "户籍", "户口", "身份证", "诈骗", "打架", "盗窃"]),
    Category(code="dispute", name="矛盾纠纷", keywords=["纠纷", "邻里", "吵架", "调解", "宅基地", "土地"], mediation=True),
    Category(code="other", name="其他", keywords=[]),
]

# 服务菜单 of 解忧超市: what the open shelf's items need and the helpers offer.
DEFAULT_SERVICES: list[Service] = [
    Service(code="elderly_care", name="助老"),
    Service(code="repair", name="维修"),
    Service(code="counselling", name="心理疏导"),
    Service(code="legal_aid", name="法律咨询"),
    Service(code="childcare", name="托幼助学"),
    Service(code="cleaning", name="环境清洁"),
]


class SanshiConfig(_Strict):
    district: District
    units: list[Unit]
    categories: list[Category] = DEFAULT_CATEGORIES
    # 诉求分类目录: top-level code → its level-2 items (each with optional level-3 items).
    # Optional: a district without it routes on the top level alone.
    catalogue: dict[str, list[CatalogueItem]] = {}
    # 派单目录: catalogue item → unit (or unit kind) and deadlines; the most specific entry on a
    # case's path chooses the unit before the routing rules.
    dispatch_catalogue: list[DispatchItem] = []
    routing: list[RoutingRule] = []
    deadlines: Deadlines = Deadlines()
    calendar: dict[int, HolidayNotice] = {}
    router: RouterSettings = RouterSettings()
    returns: Returns = Returns()
    callback: Callback = Callback()
    tokens: list[Token] = []
    auth: Auth = Auth()
    # 承办单位排名: weights and the minimum volume (Ranking).
    ranking: Ranking = Ranking()
    # 服务菜单 (认领大厅): the services helpers offer (Unit.services) and shelf items need.
    services: list[Service] = DEFAULT_SERVICES
    # 主动治理: surge detection and repeated places (Surges).
    surges: Surges = Surges()
    # 警情类别 that leave the police for the centre (110 警司联动), each an exact item; empty: the
    # police adapter's own list (纠纷/求助/咨询 and the named 纠纷 kinds). A district that takes
    # fewer (or more) kinds lists them here.
    police_categories: list[str] = []
    # 附件 (engine/attachments.py) and 属地 by coordinates (engine/places.py).
    attachments: AttachmentSettings = AttachmentSettings()
    places: PlacesSettings | None = None
    # 通知 (engine.notices, docs/notifications.md): recipients and templates.
    notifications: NotificationSettings = NotificationSettings()
    _items: dict[str, CatalogueItem] = PrivateAttr(default_factory=dict)
    _dispatch: dict[str, DispatchItem] = PrivateAttr(default_factory=dict)
    # Where files the config names (places.geojson) are read from: the config file's folder.
    _source_dir: Path | None = PrivateAttr(default=None)

    @property
    def source_dir(self) -> Path | None:
        return self._source_dir

    @model_validator(mode="before")
    @classmethod
    def _no_retired_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "channel_routing" in data:
            raise ValueError(retired_channel_routing(data["channel_routing"]))
        return data

    def _reference_problems(self) -> list[InitErrorDetails]:
        """Every name the file uses resolves (units, categories, services, channels), each
        problem at its own place in the file; reported with the catalogue's, all at once: an
        officer fixing a district file wants the whole list, not one line per try."""
        problems: list[InitErrorDetails] = []

        def problem(loc: tuple[int | str, ...], message: str, value: Any) -> None:
            problems.append(
                InitErrorDetails(type=PydanticCustomError("reference", message), loc=loc, input=value)
            )

        first_unit: dict[str, int] = {}
        for i, u in enumerate(self.units):
            if u.id in first_unit:
                problem(("units", i, "id"), f"单位编号「{u.id}」重复（第 {first_unit[u.id] + 1} 个单位已用）", u.id)
            first_unit.setdefault(u.id, i)
        if not any(u.kind == UnitKind.CENTRE for u in self.units):
            problem(("units",), "须有一个 kind 为 centre 的单位（受理中心）", None)
        first_code: dict[str, int] = {}
        for i, c in enumerate(self.categories):
            if c.code in first_code:
                problem(("categories", i, "code"), f"类别代码「{c.code}」重复（第 {first_code[c.code] + 1} 个类别已用）", c.code)
            first_code.setdefault(c.code, i)
            for j, word in enumerate(c.keywords):
                if not word.strip():
                    problem(("categories", i, "keywords", j), "关键词不能为空", word)
        ids = set(first_unit)
        codes = set(first_code)
        # A unit may own a catalogue item rather than a whole category (供电局: utilities.power).
        items = {code for code, _ in _walk(self.catalogue)}
        services = {s.code for s in self.services}
        if len(services) != len(self.services):
            problem(("services",), "同一个服务代码列了两次", None)
        for i, u in enumerate(self.units):
            if u.parent is not None and u.parent not in ids:
                problem(("units", i, "parent"), f"上级单位「{u.parent}」不存在", u.parent)
            for j, code in enumerate(u.categories):
                if code not in codes and code not in items:
                    problem(("units", i, "categories", j), f"类别「{code}」未定义（categories 或 catalogue 中没有）", code)
            for j, code in enumerate(u.services):
                if code not in services:
                    problem(("units", i, "services", j), f"服务「{code}」不在 services 中", code)
            if u.services and u.kind == UnitKind.CENTRE:
                problem(("units", i, "services"), "受理中心不在认领大厅提供服务", u.id)
        channels = {c.value for c in Channel}
        for i, r in enumerate(self.routing):
            if r.category not in codes and not (r.category == "" and r.channels):
                problem(("routing", i, "category"), f"类别「{r.category}」未定义", r.category)
            for j, channel in enumerate(r.channels):
                if channel not in channels:
                    problem(("routing", i, "channels", j), f"渠道「{channel}」不存在（可用：{'、'.join(sorted(channels))}）", channel)
            if r.to not in ("locality", "judicial_office") and r.to not in ids:
                problem(("routing", i, "to"), f"「{r.to}」既不是单位编号，也不是 locality / judicial_office", r.to)
        for i, t in enumerate(self.tokens):
            if t.unit is not None and t.unit not in ids:
                problem(("tokens", i, "unit"), f"单位「{t.unit}」不存在", t.unit)
        for cat in self.deadlines.per_category:
            if cat not in codes:
                problem(("deadlines", "per_category", cat), f"类别「{cat}」未定义", cat)
        for j, cat in enumerate(self.router.dispatch.manual_categories):
            if cat not in codes:
                problem(("router", "dispatch", "manual_categories", j), f"类别「{cat}」未定义", cat)
        for j, unit in enumerate(self.notifications.units):
            if unit not in ids:
                problem(("notifications", "units", j), f"单位「{unit}」不存在", unit)
        return problems

    @model_validator(mode="after")
    def _catalogue_resolves(self) -> SanshiConfig:
        """The category tree and the dispatch catalogue, each problem at its own place in the
        file (a ValidationError raised here keeps the locations given), with every other name
        that does not resolve (:meth:`_reference_problems`)."""
        problems: list[InitErrorDetails] = self._reference_problems()

        def problem(loc: tuple[int | str, ...], message: str, value: Any) -> None:
            problems.append(
                InitErrorDetails(
                    type=PydanticCustomError("catalogue", message), loc=loc, input=value
                )
            )

        tops = {c.code for c in self.categories}
        seen: dict[str, tuple[int | str, ...]] = {}

        def check(items: list[CatalogueItem], parent: str, loc: tuple[int | str, ...]) -> None:
            for i, item in enumerate(items):
                here = (*loc, i)
                if not item.code.startswith(parent + "."):
                    problem(
                        (*here, "code"),
                        f"目录项「{item.code}」在「{parent}」之下，代码须以「{parent}.」开头",
                        item.code,
                    )
                if item.code in seen:
                    first = ".".join(str(p) for p in seen[item.code])
                    problem((*here, "code"), f"目录代码「{item.code}」重复（{first} 已用）", item.code)
                else:
                    seen[item.code] = (*here, "code")
                if item.items and item.code.count(".") >= 2:
                    problem((*here, "items"), "目录最多三级", item.code)
                check(item.items, item.code, (*here, "items"))

        for top, items in self.catalogue.items():
            if top not in tops:
                problem(
                    ("catalogue", top),
                    f"一级类别「{top}」未定义（目录须挂在这些类别之下：{'、'.join(sorted(tops))}）",
                    top,
                )
                continue
            check(items, top, ("catalogue", top))

        ids = {u.id for u in self.units}
        kinds = {k.value for k in UnitKind}
        entries: dict[str, int] = {}
        for i, entry in enumerate(self.dispatch_catalogue):
            if entry.item not in tops and entry.item not in seen:
                problem(
                    ("dispatch_catalogue", i, "item"),
                    f"派单目录：「{entry.item}」既不是类别，也不是目录项",
                    entry.item,
                )
            if entry.item in entries:
                problem(
                    ("dispatch_catalogue", i, "item"),
                    f"派单目录：「{entry.item}」列了两次（第 {entries[entry.item]} 条已有）",
                    entry.item,
                )
            entries.setdefault(entry.item, i)
            to = entry.to
            if to is not None and to not in ("locality", "judicial_office") and to not in ids and to not in kinds:
                problem(
                    ("dispatch_catalogue", i, "to"),
                    f"派单目录：「{to}」既不是单位、单位类型，也不是 locality / judicial_office",
                    to,
                )
        if problems:
            raise ValidationError.from_exception_data("SanshiConfig", problems)
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._items = dict(_walk(self.catalogue))
        self._dispatch = {e.item: e for e in self.dispatch_catalogue}

    # ---- lookups -------------------------------------------------------------------------

    def catalogue_item(self, code: str) -> CatalogueItem:
        """A level-2 or level-3 item of the category tree by its code."""
        return self._items[code]

    def has_catalogue(self) -> bool:
        return bool(self._items)

    def catalogue_path(self, code: str | None) -> list[str]:
        """The codes from the top level down to ``code``: ``municipal.streetlight.out`` →
        ``municipal``, ``municipal.streetlight``, ``municipal.streetlight.out`` (a code names its
        path). Empty for no code."""
        if not code:
            return []
        parts = code.split(".")
        return [".".join(parts[: n + 1]) for n in range(len(parts))]

    def item_name(self, code: str) -> str:
        if code in self._items:
            return self._items[code].name
        return self.category(code).name

    def dispatch_entry(self, code: str) -> DispatchItem | None:
        """The dispatch catalogue's entry for exactly this item, if any."""
        return self._dispatch.get(code)

    def deadline_policy(self, category: str | None, leaf: str | None = None) -> DeadlinePolicy:
        """The clocks of a case: the most specific dispatch catalogue entry on its path that
        sets deadlines, else the category's (``deadlines.per_category``), else the default."""
        path = self.catalogue_path(leaf) if leaf and category and leaf.split(".")[0] == category else [category or ""]
        for code in reversed(path):
            entry = self._dispatch.get(code)
            if entry is not None and entry.deadlines is not None:
                return entry.deadlines
        return self.deadlines.for_category(category)

    def unit(self, unit_id: str) -> Unit:
        for u in self.units:
            if u.id == unit_id:
                return u
        raise KeyError(unit_id)

    def has_unit(self, unit_id: str) -> bool:
        return any(u.id == unit_id for u in self.units)

    def inactive_units(self) -> frozenset[str]:
        """Units deactivated (停用): the routers never choose them."""
        return frozenset(u.id for u in self.units if not u.active)

    @property
    def centre(self) -> Unit:
        return next(u for u in self.units if u.kind == UnitKind.CENTRE)

    def service_name(self, code: str) -> str:
        """服务菜单: the name of a service code (the code itself if the menu lost it)."""
        return next((s.name for s in self.services if s.code == code), code)

    def units_of_kind(self, kind: UnitKind) -> list[Unit]:
        return [u for u in self.units if u.kind == kind]

    def children(self, unit_id: str) -> list[Unit]:
        return [u for u in self.units if u.parent == unit_id]

    def street_of(self, unit_id: str) -> Unit | None:
        """The street (街道) a community or judicial office belongs to, or the street itself."""
        u = self.unit(unit_id)
        while u is not None:
            if u.kind == UnitKind.STREET:
                return u
            u = self.unit(u.parent) if u.parent else None  # type: ignore[assignment]
        return None

    def supervisor_of(self, unit_id: str) -> str:
        """小事不出格、大事不出区: community → street → district centre."""
        u = self.unit(unit_id)
        if u.parent is not None:
            return u.parent
        return self.centre.id

    def category(self, code: str) -> Category:
        for c in self.categories:
            if c.code == code:
                return c
        raise KeyError(code)

    def category_codes(self) -> list[str]:
        return [c.code for c in self.categories]

    def is_personal(self, code: str) -> bool:
        """个人事项 by category: the flag when the district sets it, else the default."""
        for c in self.categories:
            if c.code == code:
                return c.personal if c.personal is not None else code in PERSONAL_CATEGORIES
        return code in PERSONAL_CATEGORIES


def _walk(catalogue: dict[str, list[CatalogueItem]]) -> Iterable[tuple[str, CatalogueItem]]:
    """Every item of the tree, parents before their children."""
    stack = [item for items in catalogue.values() for item in reversed(items)]
    while stack:
        item = stack.pop()
        yield item.code, item
        stack.extend(reversed(item.items))


class ConfigError(Exception):
    """A configuration file that cannot be used; ``problems`` name line and field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"配置文件有误 {source}:\n" + "\n".join(f"  - {p}" for p in problems))


def _node_at(node: yaml.Node, loc: Iterable[int | str]) -> yaml.Node:
    """Walk a composed YAML node along a pydantic error location, as far as it goes."""
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if str(k.value) == str(key):
                    nxt = v
                    break
            if nxt is None:
                return node
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                return node
            node = node.value[key]
        else:
            return node
    return node


def retired_channel_routing(rules: Any) -> str:
    """The load error of a config that still has ``channel_routing`` (渠道牵头单位, merged into
    ``routing``'s channel rules), naming the rules to write instead."""
    rewritten = [
        f"{{channels: [{r.get('channel')}], to: {r.get('to')}}}"
        for r in (rules if isinstance(rules, list) else [])
        if isinstance(r, dict)
    ]
    return (
        "channel_routing 已并入 routing（渠道规则）：请删除 channel_routing，"
        "在 routing 中改写为 " + ("、".join(rewritten) or "{channels: [渠道], to: 单位}")
    )


# libyaml's parser where PyYAML was built with it (the wheels are), else the pure-Python one
# (same documents, same errors with their lines): a district file is read at every start, and
# the Python parser was most of the time a config load took (bench/RESULTS.md, "CI time").
YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str) -> Any:
    """A YAML document as plain data (safe: no Python objects), with libyaml's parser."""
    return yaml.load(text, Loader=YAML_LOADER)  # a safe loader: plain data only


def _not_a_mapping(source: str) -> ConfigError:
    return ConfigError(source, [f"{source}:1: 配置文件必须是一个映射 (mapping)"])


def _tree(text: str, source: str) -> yaml.Node:
    """The document's node tree, whose nodes know their lines. Only called on a text that
    parse_config has read as a mapping; an empty document is still a clear error, not a crash."""
    root = yaml.compose(text, Loader=YAML_LOADER)
    if root is None:
        raise _not_a_mapping(source)
    return root


def _config_problem_zh(err: Any) -> str:
    """One of pydantic's errors in Chinese for the person fixing the file, with the bound it
    broke (``problem_zh`` is the API's; a district file also needs the numbers)."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    bounds = {"greater_than": ("gt", "须大于"), "greater_than_equal": ("ge", "须不小于"),
              "less_than": ("lt", "须小于"), "less_than_equal": ("le", "须不大于")}
    if kind in bounds and bounds[kind][0] in ctx:
        key, words = bounds[kind]
        return f"{words} {ctx[key]}"
    if kind == "extra_forbidden":
        return "不认识的字段（拼写有误，或放错了位置）"
    if kind == "missing":
        return "缺少此项"
    if kind == "value_error":
        return str(ctx.get("error", err.get("msg", "")))
    from engine.contract import problem_zh  # here: engine.contract imports this module's users

    return problem_zh(err)


def _bad_value_line(text: str) -> int | None:
    """The line of the first scalar libyaml cannot construct (a date like 2027-02-30)."""
    loader = YAML_LOADER(text)
    try:
        stack = [loader.get_single_node()]
        while stack:
            node = stack.pop()
            if isinstance(node, yaml.ScalarNode):
                try:
                    loader.construct_object(node, deep=True)
                except ValueError:
                    return int(node.start_mark.line) + 1
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(reversed(node.value))
            elif isinstance(node, yaml.MappingNode):
                stack.extend(v for pair in reversed(node.value) for v in reversed(pair))
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None


def parse_config(text: str, source: str = "<config>") -> SanshiConfig:
    try:
        data: Any = read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError(source, [f"{where}: YAML 语法错误: {getattr(exc, 'problem', exc)}"]) from None
    except ValueError as exc:  # a scalar that looks like a date but is none (2027-02-30)
        line = _bad_value_line(text)
        where = f"{source}:{line}" if line else source
        raise ConfigError(source, [f"{where}: 值无法读取（{exc}），如不存在的日期 2027-02-30"]) from None
    if not isinstance(data, dict):
        raise _not_a_mapping(source)
    if "channel_routing" in data:  # at its own line, not the file's first
        line = next((k.start_mark.line for k, _ in _tree(text, source).value if k.value == "channel_routing"), 0) + 1
        raise ConfigError(source, [f"{source}:{line}: {retired_channel_routing(data['channel_routing'])}"])
    try:
        return SanshiConfig.model_validate(data)
    except ValidationError as exc:
        # The node tree (for each problem's line) only when there is a problem to place.
        root = _tree(text, source)
        problems = []
        for err in exc.errors():
            loc = [p for p in err["loc"] if not isinstance(p, str) or not p.startswith("function-")]
            node = _node_at(root, loc)
            field = ".".join(str(p) for p in loc) or "(root)"
            problems.append(f"{source}:{node.start_mark.line + 1}: {field}: {_config_problem_zh(err)}")
        raise ConfigError(source, problems) from None


def load_config(path: str | os.PathLike[str] | None = None) -> SanshiConfig:
    """Load SANSHI_CONFIG, or the bundled demo district when it is unset."""
    if path is None:
        path = os.environ.get("SANSHI_CONFIG") or None
    if path is None:
        bundled = resources.files("engine").joinpath("data/haicheng.yaml")
        config = parse_config(bundled.read_text("utf-8"), "engine/data/haicheng.yaml")
        config._source_dir = Path(str(bundled)).parent
        return _with_places_checked(config, "engine/data/haicheng.yaml")
    p = Path(path)
    try:
        text = p.read_text("utf-8-sig")  # Notepad's UTF-8 starts with a BOM
    except OSError as exc:
        raise ConfigError(str(p), [f"{p}: 无法读取: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError(
            str(p), [f"{p}: 不是 UTF-8 编码的文本；请用 UTF-8 另存（GBK、UTF-16 等编码不能读取）"]
        ) from None
    config = parse_config(text, str(p))
    config._source_dir = p.resolve().parent
    return _with_places_checked(config, str(p))


def _with_places_checked(config: SanshiConfig, source: str) -> SanshiConfig:
    """The polygons a config names are read and checked at load, like every other part of it:
    a bad GeoJSON is a bad district file (exit 2), not a surprise at the first coordinates."""
    from engine.places import PlaceFinder, PlacesError

    try:
        PlaceFinder.from_config(config)
    except PlacesError as exc:
        raise ConfigError(source, [f"{source}: {exc}"]) from None
    return config
