"""District administration (管理设置): units, categories and routing rules changed at run time.

The district file (SANSHI_CONFIG, engine/config.py) is the base. The centre's administrators
change it through events of one aggregate, ``DistrictAdmin`` (a fixed id: one per log), each
recording who (``principal``), when (``at``) and what (``change``: field → [before, after]):

- 单位 (unit): added (``UnitAdded``), renamed (``UnitRenamed``), deactivated
  (``UnitDeactivated``): a deactivated unit gets no new dispatches (the router skips it, an
  operator's 派单 to it is refused) but keeps its cases, its people and its name.
- 分类 (category leaf of the 诉求分类目录): added under a top-level category or a level-2 item
  with its code, Chinese label and optionally its keywords, owner unit and handling days (a
  dispatch catalogue entry, 派单目录), relabelled, retired (it and its children leave the
  catalogue; cases already filed keep their code).
- 派单规则 (routing rule): added, changed, removed: keywords of a category → a unit (or
  ``locality`` / ``judicial_office``), with a priority. Admin rules apply before the file's
  rules, the higher priority first (ties: the older first).

The effective configuration is the overlay: the file, then the admin events in log order
(``overlay``). ``AdminOverlay`` applies it to the running process's configuration and router
in place, and reads the events another process wrote on a poll before routing decisions, so no
restart is needed anywhere (docs/configuration.md, "Admin changes").

Pure domain code: the aggregate, its rules and the fold; the store is the application's.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event

from engine.config import (
    CatalogueItem,
    DeadlinePolicy,
    DispatchItem,
    NormalClock,
    RoutingRule,
    SanshiConfig,
    Unit,
)
from engine.domain import DomainError, InvalidCommand
from engine.routing.rules import BY_PLACE
from engine.vocabulary import UnitKind

ADMIN_ID = uuid5(UUID("0e6d1c3a-52f4-5b8e-a7c9-3d2f1e0b9a88"), "sanshi:district-admin")
ADMIN_EVENTS = frozenset(
    {
        "DistrictAdminStarted",
        "UnitAdded",
        "UnitRenamed",
        "UnitDeactivated",
        "CategoryAdded",
        "CategoryRelabelled",
        "CategoryRetired",
        "RoutingRuleAdded",
        "RoutingRuleChanged",
        "RoutingRuleRemoved",
    }
)
UNIT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
LEAF_PART = re.compile(r"^[a-z0-9_]{1,40}$")
MAX_NAME = 60
MAX_KEYWORDS = 30
MAX_KEYWORD = 20
DEFAULT_PRIORITY = 100


class AdminNotFound(DomainError):
    """An unknown unit, category or rule id (404)."""

    code = "not_found"


class AdminConflict(DomainError):
    """A change the district's current state forbids (409, nothing written)."""

    code = "conflict"


# ---- checks of a command's values (422) ------------------------------------------------------


def _name(value: Any, what: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise InvalidCommand(f"{what}不能为空")
    if len(text) > MAX_NAME:
        raise InvalidCommand(f"{what}最多 {MAX_NAME} 字")
    return text


def _keywords(value: Any, *, required: bool) -> list[str]:
    if value is None:
        value = []
    if isinstance(value, str):
        value = re.split(r"[,，、\s]+", value)
    words = list(dict.fromkeys(str(w).strip() for w in value if str(w).strip()))
    if required and not words:
        raise InvalidCommand("派单规则须至少有一个关键词")
    if len(words) > MAX_KEYWORDS:
        raise InvalidCommand(f"关键词最多 {MAX_KEYWORDS} 个")
    for w in words:
        if len(w) > MAX_KEYWORD:
            raise InvalidCommand(f"关键词「{w[:MAX_KEYWORD]}…」过长（最多 {MAX_KEYWORD} 字）")
    return words


def _priority(value: Any) -> int:
    if value is None or value == "":
        return DEFAULT_PRIORITY
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidCommand("优先级须是 1 到 1000 的整数")
    try:
        number = int(value)
    except ValueError:
        raise InvalidCommand("优先级须是 1 到 1000 的整数") from None
    if not 1 <= number <= 1000:
        raise InvalidCommand("优先级须是 1 到 1000 的整数")
    return number


def _days(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidCommand("办理时限须是 1 到 60 个工作日") from None
    if isinstance(value, bool) or not 1 <= number <= 60:
        raise InvalidCommand("办理时限须是 1 到 60 个工作日")
    return number


# ---- the aggregate -----------------------------------------------------------------------------


class DistrictAdmin(Aggregate):
    """The district's admin changes, in order. State is what the overlay needs."""

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return ADMIN_ID

    @event("DistrictAdminStarted")
    def __init__(self, *, principal: str, at: dt.datetime) -> None:
        self.units_added: dict[str, dict[str, Any]] = {}
        self.unit_names: dict[str, str] = {}
        self.inactive: dict[str, str] = {}  # unit → reason
        self.categories_added: dict[str, dict[str, Any]] = {}
        self.category_names: dict[str, str] = {}
        self.retired: dict[str, str] = {}  # code → reason
        self.rules: dict[str, dict[str, Any]] = {}
        self.rule_count = 0

    @event("UnitAdded")
    def unit_added(
        self, *, unit: str, change: dict[str, list[Any]], principal: str, at: dt.datetime
    ) -> None:
        self.units_added[unit] = {k: v[1] for k, v in change.items()}

    @event("UnitRenamed")
    def unit_renamed(
        self, *, unit: str, change: dict[str, list[Any]], principal: str, at: dt.datetime
    ) -> None:
        self.unit_names[unit] = change["name"][1]

    @event("UnitDeactivated")
    def unit_deactivated(
        self, *, unit: str, change: dict[str, list[Any]], principal: str, at: dt.datetime
    ) -> None:
        self.inactive[unit] = str(change.get("reason", ["", ""])[1])

    @event("CategoryAdded")
    def category_added(
        self, *, code: str, change: dict[str, list[Any]], principal: str, at: dt.datetime
    ) -> None:
        self.categories_added[code] = {k: v[1] for k, v in change.items()}

    @event("CategoryRelabelled")
    def category_relabelled(
        self, *, code: str, change: dict[str, list[Any]], principal: str, at: dt.datetime
    ) -> None:
        self.category_names[code] = change["name"][1]

    @event("CategoryRetired")
    def category_retired(
        self, *, code: str, change: dict[str, list[Any]], principal: str, at: dt.datetime
    ) -> None:
        self.retired[code] = str(change.get("reason", ["", ""])[1])

    @event("RoutingRuleAdded")
    def rule_added(
        self, *, rule: str, change: dict[str, list[Any]], principal: str, at: dt.datetime
    ) -> None:
        self.rule_count += 1
        self.rules[rule] = {**{k: v[1] for k, v in change.items()}, "seq": self.rule_count}

    @event("RoutingRuleChanged")
    def rule_changed(
        self, *, rule: str, change: dict[str, list[Any]], principal: str, at: dt.datetime
    ) -> None:
        for name, (_, after) in change.items():
            self.rules[rule][name] = after

    @event("RoutingRuleRemoved")
    def rule_removed(
        self, *, rule: str, change: dict[str, list[Any]], principal: str, at: dt.datetime
    ) -> None:
        self.rules.pop(rule, None)


# ---- the overlay: the file, then the admin events ----------------------------------------------


def _items_overlay(
    items: Iterable[CatalogueItem], parent: str, admin: DistrictAdmin
) -> list[CatalogueItem]:
    out: list[CatalogueItem] = []
    for item in items:
        if item.code in admin.retired:
            continue
        out.append(
            item.model_copy(
                update={
                    "name": admin.category_names.get(item.code, item.name),
                    "items": _items_overlay(item.items, item.code, admin),
                }
            )
        )
    for code, added in admin.categories_added.items():
        if added["parent"] == parent and code not in admin.retired:
            out.append(
                CatalogueItem(
                    code=code,
                    name=admin.category_names.get(code, added["name"]),
                    description=added.get("description") or "",
                    keywords=list(added.get("keywords") or []),
                    items=_items_overlay([], code, admin),
                )
            )
    return out


def overlay(base: SanshiConfig, admin: DistrictAdmin | None) -> dict[str, Any]:
    """The effective units, catalogue, dispatch catalogue and routing rules: the file's, with
    the admin changes applied (each a field of ``SanshiConfig``)."""
    if admin is None:
        return {
            "units": list(base.units),
            "catalogue": dict(base.catalogue),
            "dispatch_catalogue": list(base.dispatch_catalogue),
            "routing": list(base.routing),
        }
    units: list[Unit] = []
    for u in base.units:
        units.append(
            u.model_copy(
                update={
                    "name": admin.unit_names.get(u.id, u.name),
                    "active": u.active and u.id not in admin.inactive,
                }
            )
        )
    for uid, added in admin.units_added.items():
        units.append(
            Unit(
                id=uid,
                name=admin.unit_names.get(uid, added["name"]),
                kind=UnitKind(added["kind"]),
                parent=added.get("parent") or None,
                active=uid not in admin.inactive,
            )
        )
    tops = {c.code for c in base.categories}
    catalogue = {
        top: _items_overlay(base.catalogue.get(top, []), top, admin)
        for top in [*base.catalogue, *sorted({a["parent"] for a in admin.categories_added.values()} & tops - set(base.catalogue))]
    }
    catalogue = {top: items for top, items in catalogue.items() if items}
    present = {code for code in _codes(catalogue)} | tops
    dispatch = [e for e in base.dispatch_catalogue if e.item in present]
    for code, added in admin.categories_added.items():
        if code not in present or (not added.get("unit") and not added.get("handle_workdays")):
            continue
        days = added.get("handle_workdays")
        dispatch.append(
            DispatchItem(
                item=code,
                to=added.get("unit") or None,
                deadlines=DeadlinePolicy(normal=NormalClock(handle_workdays=days)) if days else None,
                basis="管理设置",
            )
        )
    ranked = sorted(admin.rules.values(), key=lambda r: (-int(r["priority"]), int(r["seq"])))
    routing = [
        RoutingRule(category=r["category"], keywords=list(r["keywords"]), to=r["to"]) for r in ranked
    ]
    return {
        "units": units,
        "catalogue": catalogue,
        "dispatch_catalogue": dispatch,
        "routing": [*routing, *base.routing],
    }


def _codes(catalogue: Mapping[str, list[CatalogueItem]]) -> Iterable[str]:
    stack = [item for items in catalogue.values() for item in items]
    while stack:
        item = stack.pop()
        yield item.code
        stack.extend(item.items)


def effective_config(base: SanshiConfig, admin: DistrictAdmin | None) -> SanshiConfig:
    """A new, validated config: the file's with the overlay (every reference resolved again)."""
    data = {name: getattr(base, name) for name in type(base).model_fields}
    config = SanshiConfig.model_validate({**data, **overlay(base, admin)})
    config._source_dir = base.source_dir
    return config


def apply_in_place(live: SanshiConfig, effective: SanshiConfig) -> None:
    """The running process's config object takes the overlay's fields. In place because the
    application, the routers, the people and token registries and /api/meta all hold this one
    object: each sees the change at its next read, without a restart."""
    for name in ("units", "catalogue", "dispatch_catalogue", "routing"):
        # The model is frozen against accidental writes; this is the one deliberate one.
        object.__setattr__(live, name, getattr(effective, name))
    live.model_post_init(None)


# ---- the commands --------------------------------------------------------------------------------


class _App(Protocol):
    @property
    def repository(self) -> Any: ...

    clock: Callable[[], dt.datetime]

    def _save_any(self, *aggregates: Any) -> None: ...


class AdminService:
    """The admin commands, through the application's store (one write path; a refused command
    writes nothing). After a save the overlay is applied to this process at once."""

    def __init__(self, app: _App, overlay: AdminOverlay) -> None:
        self.app = app
        self.overlay = overlay

    # -- reading

    def current(self) -> DistrictAdmin | None:
        try:
            admin: Any = self.app.repository.get(ADMIN_ID)
        except AggregateNotFoundError:
            return None
        return admin if isinstance(admin, DistrictAdmin) else None

    def _start(self, principal: str, at: dt.datetime) -> tuple[DistrictAdmin, SanshiConfig]:
        admin = self.current() or DistrictAdmin(principal=principal, at=at)
        return admin, effective_config(self.overlay.base, admin)

    def _save(self, admin: DistrictAdmin) -> None:
        # The result must still be a valid district (references resolve): else nothing is saved.
        try:
            effective = effective_config(self.overlay.base, admin)
        except ValueError as exc:
            raise AdminConflict(f"修改后配置无效：{exc}") from None
        try:
            self.app._save_any(admin)
        except DomainError as exc:
            if exc.code != "conflict":  # the application's ConcurrencyConflict names a case
                raise
            raise AdminConflict("管理设置刚被其他管理员修改，请刷新后重试") from None
        self.overlay.apply(admin, effective)

    # -- units

    def add_unit(self, values: Mapping[str, Any], principal: str, at: dt.datetime | None = None) -> str:
        at = at or self.app.clock()
        admin, config = self._start(principal, at)
        uid = str(values.get("id") or "").strip()
        if not UNIT_ID.match(uid):
            raise InvalidCommand("单位代码须为小写字母、数字、- 或 _（最多 40 位）")
        name = _name(values.get("name"), "单位名称")
        try:
            kind = UnitKind(str(values.get("kind") or ""))
        except ValueError:
            raise InvalidCommand(f"单位类型「{values.get('kind')}」无效") from None
        if kind == UnitKind.CENTRE:
            raise AdminConflict("一个区只有一个中心，不能再增加中心")
        if config.has_unit(uid):
            raise AdminConflict(f"单位代码「{uid}」已存在")
        if any(u.name == name for u in config.units):
            raise AdminConflict(f"单位名称「{name}」已存在")
        parent = str(values.get("parent") or "").strip() or None
        if parent is not None:
            if not config.has_unit(parent):
                raise AdminNotFound(f"上级单位「{parent}」不存在")
            if not config.unit(parent).active:
                raise AdminConflict(f"上级单位「{config.unit(parent).name}」已停用")
        change = {"name": [None, name], "kind": [None, kind.value], "parent": [None, parent]}
        admin.unit_added(unit=uid, change=change, principal=principal, at=at)
        self._save(admin)
        return uid

    def _unit(self, config: SanshiConfig, uid: str) -> Unit:
        if not config.has_unit(uid):
            raise AdminNotFound(f"单位「{uid}」不存在")
        return config.unit(uid)

    def rename_unit(self, uid: str, name: Any, principal: str, at: dt.datetime | None = None) -> None:
        at = at or self.app.clock()
        admin, config = self._start(principal, at)
        unit = self._unit(config, uid)
        new = _name(name, "单位名称")
        if new == unit.name:
            raise InvalidCommand("名称没有变化")
        if any(u.name == new and u.id != uid for u in config.units):
            raise AdminConflict(f"单位名称「{new}」已存在")
        admin.unit_renamed(unit=uid, change={"name": [unit.name, new]}, principal=principal, at=at)
        self._save(admin)

    def deactivate_unit(self, uid: str, reason: Any, principal: str, at: dt.datetime | None = None) -> None:
        at = at or self.app.clock()
        admin, config = self._start(principal, at)
        unit = self._unit(config, uid)
        if unit.kind == UnitKind.CENTRE:
            raise AdminConflict("不能停用中心")
        if not unit.active:
            raise AdminConflict(f"单位「{unit.name}」已停用")
        pointing = sorted(r for r, rule in admin.rules.items() if rule["to"] == uid)
        if pointing:
            raise AdminConflict(
                f"仍有派单规则指向「{unit.name}」（{'、'.join(pointing)}），请先修改或删除这些规则"
            )
        leaves = sorted(c for c, a in admin.categories_added.items() if a.get("unit") == uid and c not in admin.retired)
        if leaves:
            raise AdminConflict(f"分类「{'、'.join(leaves)}」的责任单位是「{unit.name}」，请先停用或调整这些分类")
        children = [u.name for u in config.children(uid) if u.active]
        if children:
            raise AdminConflict(f"「{unit.name}」下仍有在用单位：{'、'.join(children)}")
        why = str(reason or "").strip()
        admin.unit_deactivated(
            unit=uid, change={"active": [True, False], "reason": ["", why]}, principal=principal, at=at
        )
        self._save(admin)

    # -- categories

    def add_category(self, values: Mapping[str, Any], principal: str, at: dt.datetime | None = None) -> str:
        at = at or self.app.clock()
        admin, config = self._start(principal, at)
        parent = str(values.get("parent") or "").strip()
        tops = set(config.category_codes())
        if parent not in tops and not (config.has_catalogue() and parent in set(_codes(config.catalogue))):
            raise AdminNotFound(f"上级分类「{parent}」不存在")
        if parent.count(".") >= 2:
            raise AdminConflict("分类目录最多三级，不能在三级分类下再加分类")
        code = str(values.get("code") or "").strip()
        if code.startswith(parent + "."):
            code = code[len(parent) + 1 :]
        if not LEAF_PART.match(code):
            raise InvalidCommand("分类代码须为小写字母、数字或 _（填写末段即可，如 noise）")
        code = f"{parent}.{code}"
        if code in set(_codes(config.catalogue)) or code in admin.categories_added or code in admin.retired:
            raise AdminConflict(f"分类代码「{code}」已存在或曾经使用")
        name = _name(values.get("name"), "分类名称")
        unit = str(values.get("unit") or "").strip() or None
        if unit is not None and unit not in BY_PLACE:
            if not config.has_unit(unit):
                raise AdminNotFound(f"单位「{unit}」不存在")
            if not config.unit(unit).active:
                raise AdminConflict(f"单位「{config.unit(unit).name}」已停用，不能作为责任单位")
        change: dict[str, list[Any]] = {
            "parent": [None, parent],
            "name": [None, name],
            "description": [None, str(values.get("description") or "").strip()],
            "keywords": [None, _keywords(values.get("keywords"), required=False)],
            "unit": [None, unit],
            "handle_workdays": [None, _days(values.get("handle_workdays"))],
        }
        admin.category_added(code=code, change=change, principal=principal, at=at)
        self._save(admin)
        return code

    def _category(self, config: SanshiConfig, code: str) -> CatalogueItem:
        if code in config.category_codes():
            raise AdminConflict("一级分类由配置文件定义，不能在此修改或停用")
        try:
            return config.catalogue_item(code)
        except KeyError:
            raise AdminNotFound(f"分类「{code}」不存在或已停用") from None

    def relabel_category(self, code: str, name: Any, principal: str, at: dt.datetime | None = None) -> None:
        at = at or self.app.clock()
        admin, config = self._start(principal, at)
        item = self._category(config, code)
        new = _name(name, "分类名称")
        if new == item.name:
            raise InvalidCommand("名称没有变化")
        admin.category_relabelled(code=code, change={"name": [item.name, new]}, principal=principal, at=at)
        self._save(admin)

    def retire_category(self, code: str, reason: Any, principal: str, at: dt.datetime | None = None) -> None:
        at = at or self.app.clock()
        admin, config = self._start(principal, at)
        self._category(config, code)
        why = str(reason or "").strip()
        if not why:
            raise InvalidCommand("停用分类须说明理由")
        admin.category_retired(code=code, change={"retired": [False, True], "reason": ["", why]}, principal=principal, at=at)
        self._save(admin)

    # -- routing rules

    def _rule_values(self, config: SanshiConfig, values: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(base)
        if "category" in values or not base:
            category = str(values.get("category") or "").strip()
            if category not in config.category_codes():
                raise InvalidCommand(f"分类「{category}」不存在（规则按一级分类匹配）")
            out["category"] = category
        if "keywords" in values or not base:
            out["keywords"] = _keywords(values.get("keywords"), required=True)
        if "priority" in values or not base:
            out["priority"] = _priority(values.get("priority"))
        if "to" in values or not base:
            to = str(values.get("to") or "").strip()
            if not to:
                raise InvalidCommand("派单规则须指定承办单位")
            if to not in BY_PLACE:
                if not config.has_unit(to):
                    raise AdminNotFound(f"单位「{to}」不存在")
                unit = config.unit(to)
                if not unit.active:
                    raise AdminConflict(f"单位「{unit.name}」已停用，规则不能指向它")
                if unit.kind == UnitKind.CENTRE:
                    raise AdminConflict("规则不能指向中心：中心人工派单不需要规则")
            out["to"] = to
        return out

    def add_rule(self, values: Mapping[str, Any], principal: str, at: dt.datetime | None = None) -> str:
        at = at or self.app.clock()
        admin, config = self._start(principal, at)
        rule = self._rule_values(config, values, {})
        rid = f"r{admin.rule_count + 1}"
        change = {k: [None, rule[k]] for k in ("category", "keywords", "to", "priority")}
        admin.rule_added(rule=rid, change=change, principal=principal, at=at)
        self._save(admin)
        return rid

    def _rule(self, admin: DistrictAdmin, rid: str) -> dict[str, Any]:
        if rid not in admin.rules:
            raise AdminNotFound(f"派单规则「{rid}」不存在")
        return admin.rules[rid]

    def change_rule(self, rid: str, values: Mapping[str, Any], principal: str, at: dt.datetime | None = None) -> None:
        at = at or self.app.clock()
        admin, config = self._start(principal, at)
        before = {k: v for k, v in self._rule(admin, rid).items() if k != "seq"}
        after = self._rule_values(config, values, before)
        change = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        if not change:
            raise InvalidCommand("没有修改任何内容")
        admin.rule_changed(rule=rid, change=change, principal=principal, at=at)
        self._save(admin)

    def remove_rule(self, rid: str, principal: str, at: dt.datetime | None = None) -> None:
        at = at or self.app.clock()
        admin, _ = self._start(principal, at)
        before = {k: v for k, v in self._rule(admin, rid).items() if k != "seq"}
        change = {k: [v, None] for k, v in before.items()}
        admin.rule_removed(rule=rid, change=change, principal=principal, at=at)
        self._save(admin)

    # -- history

    def history(self) -> list[dict[str, Any]]:
        """Every admin change, newest first: who, when, what (field → [before, after])."""
        out: list[dict[str, Any]] = []
        for e in self.app.repository.event_store.get(ADMIN_ID):
            name = type(e).__name__
            if name == "DistrictAdminStarted" or name == "Created":
                continue
            target = getattr(e, "unit", None) or getattr(e, "code", None) or getattr(e, "rule", None)
            out.append(
                {
                    "version": e.originator_version,
                    "event": name,  # its Chinese label: the admin_changes vocabulary
                    "target": target,
                    "change": getattr(e, "change", {}),
                    "principal": getattr(e, "principal", ""),
                    "at": getattr(e, "at", None),
                }
            )
        return list(reversed(out))




# ---- the overlay in a running process --------------------------------------------------------------


class AdminOverlay:
    """Keeps a process's config and router on the overlay. ``apply`` after this process's own
    change; ``refresh`` reads the admin events another process wrote since the last one seen
    (at most every ``interval`` seconds, before routing decisions: one indexed read of the
    aggregate's events after the known version)."""

    def __init__(
        self,
        app: Any,
        config: SanshiConfig,
        routers: Iterable[Any] = (),
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.live = config
        # The file as loaded: the overlay is always recomputed from it (never stacked).
        self.base = config.model_copy(deep=True)
        self.base._source_dir = config.source_dir
        self.routers = list(routers)
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._admin: DistrictAdmin | None = None
        self._checked = float("-inf")
        self.version = 0

    def apply(self, admin: DistrictAdmin | None, effective: SanshiConfig | None = None) -> None:
        with self._lock:
            self._apply(admin, effective)

    def _apply(self, admin: DistrictAdmin | None, effective: SanshiConfig | None = None) -> None:
        if admin is not None and admin.version < self.version:
            return  # an older state than the one applied (a poll raced a save)
        effective = effective or effective_config(self.base, admin)
        apply_in_place(self.live, effective)
        from engine.routing.catalogue import PathReader

        for router in self.routers:
            if hasattr(router, "paths"):
                router.paths = PathReader(self.live)
        self._admin = admin
        self.version = admin.version if admin is not None else 0

    def refresh(self, force: bool = False) -> bool:
        """Catch up with admin events written elsewhere; True when something changed."""
        now = self._clock()
        if not force and now - self._checked < self.interval:
            return False
        with self._lock:
            self._checked = now
            new = list(self.app.repository.event_store.get(ADMIN_ID, gt=self.version))
            if not new:
                return False
            admin = self._admin
            if admin is not None:
                import copy

                admin = copy.deepcopy(admin)
            for e in new:
                admin = e.mutate(admin)
            self._apply(admin)
            return True


class AdminRouter:
    """Decorates a router: before each decision the overlay catches up with the log (so a worker
    in another process routes by the admin's latest rules); anything else is the router's."""

    def __init__(self, inner: Any, overlay: AdminOverlay) -> None:
        self._inner = inner
        self.admin_overlay = overlay

    @property
    def inner(self) -> Any:
        """The router that decides (what benches and explain name)."""
        return self._inner

    def _fresh(self) -> None:
        try:
            self.admin_overlay.refresh()
        except Exception:  # a log read failing must not stop intake: the last overlay stands
            import logging

            logging.getLogger(__name__).warning("admin overlay not refreshed", exc_info=True)

    def prepare(self, batch: Any) -> None:
        self._fresh()
        self._inner.prepare(batch)

    def decide(self, facts: Any) -> Any:
        self._fresh()
        return self._inner.decide(facts)

    def next_unit(self, facts: Any) -> Any:
        self._fresh()
        return self._inner.next_unit(facts)

    def case_opened(self, facts: Any, category: str, locality: str | None) -> None:
        self._inner.case_opened(facts, category, locality)

    def case_closed(self, case_id: UUID) -> None:
        self._inner.case_closed(case_id)

    def learn(self, text: str, category: str) -> None:
        self._inner.learn(text, category)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def attach(app: Any, config: SanshiConfig, router: Any, interval: float = 2.0) -> tuple[AdminOverlay, AdminRouter]:
    """The overlay for a process: the admin events already in the log applied now, the
    application's router decorated to follow later ones."""
    overlay = AdminOverlay(app, config, [router], interval=interval)
    overlay.refresh(force=True)
    wrapped = AdminRouter(router, overlay)
    app.router = wrapped
    return overlay, wrapped
