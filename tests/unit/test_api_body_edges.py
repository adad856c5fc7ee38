"""Every field of every write route's JSON body, given the values at the edges of its type, with
the route's own caller and a target that exists: a clear 4xx or an answer, never a 5xx; and
after all of it the views follow the log, nothing is set aside, a rebuild equals them, and the
reads still answer.

The routes come from /openapi.json: a new route is probed without being listed here. Each gets
a base body that really succeeds, built from its request schema (every field, enums, formats,
bounds) and, where the schema cannot say it (a unit that exists, a case in the state the
command needs, an extension's date after the deadline, whose token), the table ``ROUTES``. The
test fails when a base body is refused, so it cannot silently probe only the 422 path.

Then each field (a list's first item and its fields too) is given each value of
``tests.support.edges.EDGES`` (the last and first dates, a week, a day that does not exist,
integers past 64 bits, 1e309, NUL, 5,000 characters, full-width digits); the edges of what
the field's own type takes (``_typed_edges``: the first and last business day and instant and
one past them, an integer's bounds and one past them, a text exactly as long as allowed or one
that NFC makes twice as long, a lone surrogate, ids of things of another kind); values of
another type (null, [], {}, a list nested 50 deep, -1, 0, a number where text is expected and
text where a number is, a JSON number past a double, NaN, a list of 10,000 items, an integer
of 5,000 digits); or it is left out. A request that is accepted has used its target up (a case
claimed, a project completed): the next gets a fresh one, so an absurd value a route accepts
is really written, and the views must take it. Where an accepted request costs, the text edges
are sampled deterministically (``_values``), never a route or a field.

tests/unit/test_api_edge_values.py does this for the GET routes' query parameters;
tests/faults/whole_path.py sends sequences of hostile commands through every door.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.bootstrap import Runtime
from engine.admin import ADMIN_ID, AdminService, effective_config
from engine.application import now_shanghai
from engine.knowledge import KnowledgeService
from tests.support.api import (
    ADMIN,
    ASSIGNED,
    ASSIGNED_UNIT,
    HELPER,
    HELPER_UNIT,
    LEADER,
    OPERATOR,
    OTHER_UNIT,
    api_client,
    auth,
    intake,
)
from tests.support.edges import EDGES

ASSISTING_UNIT = "chengguan"  # OTHER_UNIT's unit: assists on the assigned unit's cases
PASSWORD = "correct horse battery"


class Raw(str):
    """JSON text sent as it is (what json.dumps cannot write: 1e309, NaN, a 5,000-digit int)."""


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


ABSENT = object()  # the field left out of the body
HUGE_LIST = 10_000

# The edges of what a field's own type accepts: the first and last business day and instant
# (engine.contract: 2000-01-01 … 2099-12-31) and one past them, a naive and a far-west time;
# ids that exist, of every kind (a case where a knowledge entry is wanted ...) and the nil id;
# an integer's bounds and one past them, and past 32 and 64 bits; a text exactly as long as
# allowed, and one that Unicode normalisation (NFC) makes twice as long; a lone surrogate and
# the characters that change how text is shown.
DAY_EDGES = ("2000-01-01", "2099-12-31", "1999-12-31", "2100-01-01")
TIME_EDGES = ("2099-12-31T23:59:59.999999+08:00", "2000-01-01T00:00:00+08:00", "2099-12-31 23:59:59",
              "2099-12-31T23:59:59-12:00", "2100-01-01T00:00:00+08:00")
TEXT_EDGES = (Raw('"\\ud800"'), "\u202e\u2028\ufeff😀e\u0301")


# ---- the routes' targets and base bodies -------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """How a route is called: whose token, what its path points to (``target``, a method of
    :class:`Targets`), and the body's values where the schema's are not enough. A value
    ``"{name}"`` is the target's, ``{n}`` a number new for each request."""

    token: str
    target: str = "nothing"
    body: dict[str, Any] = field(default_factory=dict)
    costly: bool = False  # an accepted request costs ~0.1 s or more (routing, the admin's overlay)


_CASE = "/api/cases/{case_id}"

ROUTES: dict[tuple[str, str], Spec] = {
    # intake (受理): the channels' records
    ("POST", "/api/cases"): Spec(OPERATOR, costly=True, body={
        "order_no": "EDGE-H{n}", "received_at": "2026-11-02 09:30:00", "content": "茶亭路{n}号门口的路灯不亮了",
        "caller_phone": "13912340000", "caller_name": "张伟", "address": "海城区茶亭路{n}号",
        "urgency": "一般", "category": "municipal", "appeal_type": "求助"}),
    ("POST", "/api/intake/app"): Spec(OPERATOR, costly=True, body={
        "submission_id": "edge-app-{n}", "content": "小区电梯经常困人，物业不管（{n}）", "address": "海城区四川路",
        "phone": "13912340000", "user_id": "u{n}", "lat": 21.47, "lng": 109.12,
        "photos": ["https://img.example.cn/{n}.jpg"], "received_at": "2026-11-02T09:00:00+08:00"}),
    ("POST", "/api/intake/walkin"): Spec(OPERATOR, costly=True, body={
        "station_id": "jy-edge", "ticket_no": "W{n}", "content": "低保申请材料不知道怎么准备（{n}）",
        "staff_id": "s1", "resident_name": "李娜", "phone": "13912340000", "address": "海城区中街",
        "on_behalf": False, "received_at": "2026-11-02T09:00:00+08:00"}),
    ("POST", "/api/intake/media"): Spec(OPERATOR, costly=True, body={
        "outlet": "北海日报", "title": "路灯不亮", "url": "https://news.example.cn/edge/{n}",
        "published_at": "2026-11-02T08:00:00+08:00", "passage": "茶亭路幸福里小区路灯坏了一个月（{n}）",
        "received_at": "2026-11-02T09:00:00+08:00", "address": "海城区茶亭路", "category": "municipal",
        "urgency": "一般"}),
    ("POST", "/api/intake/town"): Spec(OPERATOR, costly=True, body={
        "street": "zhongjie", "request_no": "edge-{n}", "received_at": "2026-11-02T09:00:00+08:00",
        "content": "珠海路积水严重，请求住建局改造雨水管网（{n}）", "department": "zhujian",
        "address": "海城区珠海路", "category": "municipal", "urgency": "一般"}),
    # the centre's commands on a case
    ("POST", f"{_CASE}/dispatch"): Spec(OPERATOR, "received", {"unit": "zhujian", "assisting": [ASSISTING_UNIT]}),
    ("POST", f"{_CASE}/reclassify"): Spec(OPERATOR, "received", {"category": "housing"}),
    ("POST", f"{_CASE}/answer"): Spec(OPERATOR, "received"),
    ("POST", f"{_CASE}/reject"): Spec(OPERATOR, "received"),
    ("POST", f"{_CASE}/urge"): Spec(OPERATOR, "dispatched"),
    ("POST", f"{_CASE}/extension/decide"): Spec(OPERATOR, "extension"),
    ("POST", f"{_CASE}/followup"): Spec(OPERATOR, "resolved", {"rating": "satisfied"}),
    ("POST", f"{_CASE}/hold/decide"): Spec(OPERATOR, "hold_request"),
    ("POST", f"{_CASE}/assist"): Spec(OPERATOR, "claimed", {"units": ["zhujian"]}),
    ("POST", f"{_CASE}/parts/{{number}}/close"): Spec(OPERATOR, "part"),
    ("POST", f"{_CASE}/shelf"): Spec(OPERATOR, "received", {"service": "repair"}),
    ("POST", f"{_CASE}/shelf/withdraw"): Spec(OPERATOR, "shelved"),
    ("POST", f"{_CASE}/claims/{{number}}/decide"): Spec(OPERATOR, "claim_pending"),
    ("POST", f"{_CASE}/merge"): Spec(OPERATOR, "received_pair", {"into": "{other_case}"}),
    ("POST", f"{_CASE}/unmerge"): Spec(OPERATOR, "merged"),
    ("POST", f"{_CASE}/return/review"): Spec(OPERATOR, "return_review", {"unit": "zhongjie"}),
    ("POST", f"{_CASE}/transfer"): Spec(OPERATOR, "claimed", {"unit": "zhongjie"}),
    ("POST", f"{_CASE}/callback/unanswered"): Spec(OPERATOR, "resolved"),
    ("POST", f"{_CASE}/close/unreachable"): Spec(OPERATOR, "unreachable"),
    ("POST", f"{_CASE}/attachments/{{digest}}/public"): Spec(OPERATOR, "attachment"),
    ("POST", f"{_CASE}/answer-from-knowledge"): Spec(OPERATOR, "received_and_entry", {"entry_id": "{entry_id}"}),
    # the unit's
    ("POST", f"{_CASE}/return"): Spec(ASSIGNED, "claimed", {"suggested_unit": "zhongjie"}),
    ("POST", f"{_CASE}/extend"): Spec(ASSIGNED, "claimed", {"until": "{until}"}),
    ("POST", f"{_CASE}/mediation/conclude"): Spec(ASSIGNED, "mediating"),
    ("POST", f"{_CASE}/resolve"): Spec(ASSIGNED, "claimed"),
    ("POST", f"{_CASE}/hold"): Spec(ASSIGNED, "claimed", {"expected_resume": "{resume}"}),
    ("POST", f"{_CASE}/instruction/reply"): Spec(ASSIGNED, "instruction"),
    ("POST", f"{_CASE}/whistle"): Spec(ASSIGNED, "claimed", {"departments": ["zhujian"]}),
    ("POST", f"{_CASE}/part/report"): Spec(OTHER_UNIT, "part_claimed"),
    ("POST", f"{_CASE}/part/return"): Spec(OTHER_UNIT, "part"),
    ("POST", f"{_CASE}/claims"): Spec(HELPER, "shelved"),
    # 领导批示
    ("POST", f"{_CASE}/instruct"): Spec(LEADER, "claimed"),
    # 一表通, 通报/追责
    ("POST", "/api/forms"): Spec(OPERATOR, costly=True, body={
        "ref": "EDGE-FORM-{n}", "kind": "inspection", "title": "网格巡查",
        "items": [{"content": "茶亭路{n}号路灯不亮（网格巡查，灯杆编号 F{n}）", "address": "海城区茶亭路{n}号"}]}),
    ("POST", "/api/censures"): Spec(OPERATOR, "dispatched", {"unit": ASSIGNED_UNIT, "case_id": "{case_id}"}),
    # 人员账号
    ("POST", "/api/session"): Spec(OPERATOR, "person", {"login": "{login}", "password": PASSWORD}),
    ("POST", "/api/people"): Spec(ADMIN, body={
        "login": "edge-{n}", "name": "测试人员", "role": "unit", "unit": ASSIGNED_UNIT, "password": PASSWORD}),
    ("POST", "/api/people/{account_id}/role"): Spec(ADMIN, "person", {"role": "unit", "unit": ASSISTING_UNIT}),
    ("POST", "/api/people/{account_id}/password"): Spec(ADMIN, "person", {"password": "another horse battery"}),
    # 知识库
    ("POST", "/api/knowledge"): Spec(OPERATOR, body={
        "question": "办理居住证需要什么材料？（{n}）", "answer": "带身份证和居住证明", "category": "",
        "unit": "", "valid_from": "2026-01-01", "valid_until": "2099-12-31"}),
    ("POST", "/api/knowledge/{entry_id}/edit"): Spec(OPERATOR, "entry", {
        "category": "", "unit": "", "valid_from": "2026-01-01", "valid_until": "2099-12-31"}),
    ("POST", "/api/knowledge/{entry_id}/retire"): Spec(OPERATOR, "entry"),
    ("POST", "/api/knowledge/{entry_id}/propose"): Spec(ASSIGNED, "entry", {
        "category": "", "unit": "", "valid_from": "2026-01-01", "valid_until": "2099-12-31"}),
    ("POST", "/api/knowledge/{entry_id}/proposals/{number}/decide"): Spec(OPERATOR, "entry"),
    # 实事项目
    ("POST", "/api/projects"): Spec(LEADER, "fresh_case", {
        "owner_unit": ASSIGNED_UNIT, "deadline": "2099-12-31", "budget": "区财政 20 万元",
        "milestones": [{"title": "施工", "due": "2099-12-01"}], "case_ids": ["{fresh_case}"]}),
    ("POST", "/api/projects/{project_id}/cases"): Spec(OPERATOR, "project", {"case_ids": ["{fresh_case}"]}),
    ("POST", "/api/projects/{project_id}/progress"): Spec(ASSIGNED, "project", {"milestone": 1}),
    ("POST", "/api/projects/{project_id}/complete"): Spec(ASSIGNED, "project"),
    # 管理设置
    ("POST", "/api/admin/units"): Spec(ADMIN, costly=True, body={
        "id": "edge-unit-{n}", "name": "边界单位{n}", "kind": "department", "parent": ""}),
    ("POST", "/api/admin/units/{admin_unit}/rename"): Spec(ADMIN, "admin_unit", {"name": "改名单位{n}"}, costly=True),
    ("POST", "/api/admin/units/{admin_unit}/deactivate"): Spec(ADMIN, "admin_unit", costly=True),
    ("POST", "/api/admin/categories"): Spec(ADMIN, costly=True, body={
        "parent": "environment", "code": "edge_{n}", "name": "边界分类{n}", "keywords": ["边界词{n}"],
        "unit": "huanjing", "handle_workdays": 5}),
    ("POST", "/api/admin/categories/{admin_code}/relabel"): Spec(ADMIN, "admin_code", {"name": "改名分类{n}"}, costly=True),
    ("POST", "/api/admin/categories/{admin_code}/retire"): Spec(ADMIN, "admin_code", costly=True),
    ("POST", "/api/admin/rules"): Spec(ADMIN, costly=True, body={
        "category": "environment", "keywords": ["边界词{n}"], "to": "huanjing", "priority": 100}),
    ("POST", "/api/admin/rules/{admin_rule}"): Spec(ADMIN, "admin_rule", costly=True, body={
        "category": "environment", "keywords": ["改后词{n}"], "to": "huanjing", "priority": 300}),
}

# Write routes with a JSON body whose base is not expected to succeed, and why (none now).
NOT_ACCEPTED: dict[tuple[str, str], str] = {}


_png_seq = itertools.count(1)


def _png() -> bytes:
    from PIL import Image

    n = next(_png_seq)
    img = Image.new("RGB", (16, 16), (n % 256, (n * 7) % 256, 90))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


class Targets:
    """What a route's path (and some body values) point to, made fresh through the application
    service: cases in a given state (not routed, dispatched by hand: cheap), a knowledge entry
    with a proposal, a project, a person, the admin's own unit, category and rule."""

    def __init__(self, client: Any, rt: Runtime) -> None:
        self.client, self.rt, self.app = client, rt, rt.app
        self.pool: list[UUID] = []
        self.seq = itertools.count(1)
        self._others: tuple[str, ...] = ()

    def others(self) -> tuple[str, ...]:
        """Ids that exist but may name another kind of thing than the field wants: a case, a
        project, a knowledge entry, a form, the admin's settings, a person; and the nil id."""
        if not self._others:
            form, _ = self.app.submit_form(
                "EDGE-IDS", "inspection", "巡查", [{"content": "茶亭路1号路灯不亮（编号 IDS）", "address": ""}],
                "operator:test",
            )
            self._others = tuple(str(x) for x in (
                UUID(int=0), self._dispatched(), self.project()["project_id"], self._entry(), form.id,
                ADMIN_ID, self.person()["account_id"],
            ))
        return self._others

    def make(self, name: str) -> dict[str, str]:
        out: dict[str, Any] = getattr(self, name)()
        return {k: str(v) for k, v in out.items()}

    # ---- cases ----

    def _received(self) -> UUID:
        if not self.pool:
            cmds = [intake(f"我想反映一个情况，麻烦记一下（{uuid4().hex}）") for _ in range(50)]
            self.pool = [r.case_id for r in self.app.receive_batch(cmds, route=False)]
        return self.pool.pop()

    def _dispatched(self) -> UUID:
        cid = self._received()
        self.app.dispatch(cid, ASSIGNED_UNIT, "operator:test")
        return cid

    def _claimed(self) -> UUID:
        cid = self._dispatched()
        self.app.claim(cid, ASSIGNED_UNIT, "unit:test")
        return cid

    def _resolved(self) -> UUID:
        cid = self._claimed()
        self.app.resolve(cid, ASSIGNED_UNIT, "已更换灯泡", "unit:test")
        return cid

    def _part(self) -> UUID:
        cid = self._claimed()
        self.app.add_assist(cid, [ASSISTING_UNIT], "operator:test", note="请排查线路")
        return cid

    def _shelved(self) -> UUID:
        cid = self._received()
        self.app.shelve(cid, "elderly_care", "独居老人需要每周上门探访", "operator:test")
        return cid

    def nothing(self) -> dict[str, Any]:
        return {}

    def received(self) -> dict[str, Any]:
        return {"case_id": self._received()}

    def received_pair(self) -> dict[str, Any]:
        """One waiting at the centre, and an open one to merge it into."""
        return {"case_id": self._received(), "other_case": self._dispatched()}

    def dispatched(self) -> dict[str, Any]:
        return {"case_id": self._dispatched()}

    def fresh_case(self) -> dict[str, Any]:
        return {"fresh_case": self._dispatched()}

    def claimed(self) -> dict[str, Any]:
        cid = self._claimed()
        deadline = self.app.get_case(cid).dispatch.handle_deadline  # type: ignore[union-attr]
        return {"case_id": cid, "until": (deadline + dt.timedelta(days=5)).isoformat(),
                "resume": (now_shanghai() + dt.timedelta(days=10)).isoformat()}

    def mediating(self) -> dict[str, Any]:
        cid = self._claimed()
        self.app.start_mediation(cid, ASSIGNED_UNIT, "unit:test")
        return {"case_id": cid}

    def resolved(self) -> dict[str, Any]:
        return {"case_id": self._resolved()}

    def extension(self) -> dict[str, Any]:
        cid = self._claimed()
        deadline = self.app.get_case(cid).dispatch.handle_deadline  # type: ignore[union-attr]
        self.app.request_extension(cid, ASSIGNED_UNIT, deadline + dt.timedelta(days=5), "需要协调", "unit:test")
        return {"case_id": cid}

    def hold_request(self) -> dict[str, Any]:
        cid = self._claimed()
        self.app.request_hold(cid, ASSIGNED_UNIT, "当事人外出务工，下月返回", "unit:test")
        return {"case_id": cid}

    def instruction(self) -> dict[str, Any]:
        cid = self._claimed()
        self.app.instruct(cid, "请核实情况，三日内回复", "leader:test")
        return {"case_id": cid}

    def part(self) -> dict[str, Any]:
        return {"case_id": self._part(), "number": 1}

    def part_claimed(self) -> dict[str, Any]:
        cid = self._part()
        self.app.claim_part(cid, ASSISTING_UNIT, "unit:assist")
        return {"case_id": cid}

    def merged(self) -> dict[str, Any]:
        cid = self._received()
        self.app.merge(cid, self._dispatched(), "operator:test")
        return {"case_id": cid}

    def return_review(self) -> dict[str, Any]:
        cid = self._claimed()
        self.app.return_case(cid, ASSIGNED_UNIT, "路灯属街道管理的主干道", "unit:test", suggested_unit="zhongjie")
        return {"case_id": cid}

    def unreachable(self) -> dict[str, Any]:
        cid = self._resolved()
        for _ in range(self.rt.config.callback.max_unanswered):
            self.app.callback_unanswered(cid, "operator:test", note="无人接听")
        return {"case_id": cid}

    def shelved(self) -> dict[str, Any]:
        return {"case_id": self._shelved()}

    def claim_pending(self) -> dict[str, Any]:
        cid = self._shelved()
        self.app.apply_claim(cid, HELPER_UNIT, "周三上午上门", "unit:test")
        return {"case_id": cid, "number": 1}

    def attachment(self) -> dict[str, Any]:
        cid = self._dispatched()
        assert self.rt.attachments is not None
        _, found = self.rt.attachments.add(cid, _png(), "现场.png", "operator:test")
        return {"case_id": cid, "digest": found["digest"]}

    # ---- the rest ----

    def _entry(self) -> UUID:
        entry, _ = KnowledgeService(self.app, self.rt.config).create(
            {"question": f"办理居住证需要什么材料？（{next(self.seq)}）", "answer": "带身份证和居住证明"},
            "operator:test",
        )
        return entry.id

    def entry(self) -> dict[str, Any]:
        """An entry with a unit's proposal (number 1) waiting for the centre."""
        eid = self._entry()
        KnowledgeService(self.app, self.rt.config).propose(
            eid, ASSIGNED_UNIT, {"source": "单位建议"}, "", "unit:test"
        )
        return {"entry_id": eid, "number": 1}

    def received_and_entry(self) -> dict[str, Any]:
        return {"case_id": self._received(), "entry_id": self._entry()}

    def project(self) -> dict[str, Any]:
        project = self.app.open_project(
            f"茶亭路路灯改造{next(self.seq)}", ASSIGNED_UNIT, dt.date(2099, 12, 31), "区财政 20 万元",
            [{"title": "勘察", "due": dt.date(2099, 6, 1)}, {"title": "施工", "due": dt.date(2099, 12, 1)}],
            "operator:test", case_ids=[self._dispatched()],
        )
        return {"project_id": project.id, "fresh_case": self._dispatched()}

    def person(self) -> dict[str, Any]:
        login = f"edge-person-{next(self.seq)}"
        r = self.client.post("/api/people", headers=auth(ADMIN), json={
            "login": login, "name": "测试人员", "role": "unit", "unit": ASSIGNED_UNIT, "password": PASSWORD})
        assert r.status_code == 201, r.text
        return {"account_id": r.json()["id"], "login": login}

    def _admin(self) -> AdminService:
        assert self.rt.admin is not None
        return AdminService(self.app, self.rt.admin)

    def admin_unit(self) -> dict[str, Any]:
        n = next(self.seq)
        return {"admin_unit": self._admin().add_unit(
            {"id": f"edge-subject-{n}", "name": f"边界对象{n}", "kind": "department"}, "admin:test")}

    def admin_code(self) -> dict[str, Any]:
        n = next(self.seq)
        return {"admin_code": self._admin().add_category(
            {"parent": "environment", "code": f"edge_subject_{n}", "name": f"边界对象分类{n}"}, "admin:test")}

    def admin_rule(self) -> dict[str, Any]:
        n = next(self.seq)
        return {"admin_rule": self._admin().add_rule(
            {"category": "environment", "keywords": [f"边界对象词{n}"], "to": "huanjing"}, "admin:test")}


# ---- bodies from the schema ------------------------------------------------------------------


Field = tuple[tuple[Any, ...], dict[str, Any], bool]  # where in the body, its schema, required


class Schemas:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.components = spec["components"]["schemas"]

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The schema behind a $ref, and the non-null branch of ``X | None``."""
        while True:
            if "$ref" in schema:
                schema = self.components[schema["$ref"].split("/")[-1]]
            elif "anyOf" in schema:
                branches = [s for s in schema["anyOf"] if s.get("type") != "null"]
                schema = branches[0]
            elif "allOf" in schema and len(schema["allOf"]) == 1:
                schema = schema["allOf"][0]
            else:
                return schema

    def value(self, schema: dict[str, Any]) -> Any:
        """A plausible value of the schema: enums' first item, formats, within the bounds."""
        s = self.resolve(schema)
        if "enum" in s:
            return next((v for v in s["enum"] if v != ""), s["enum"][0])
        kind = s.get("type")
        if kind == "object" or "properties" in s:
            return {name: self.value(p) for name, p in s.get("properties", {}).items()}
        if kind == "array":
            return [self.value(s.get("items", {"type": "string"}))]
        if kind == "boolean":
            return True
        if kind in ("integer", "number"):
            low = s.get("minimum", 1)
            return int(low) if kind == "integer" else float(low)
        fmt = s.get("format")
        if fmt == "date":
            return "2026-12-01"
        if fmt == "date-time":
            return "2026-11-02T09:30:00+08:00"
        if fmt == "uuid":
            return str(uuid4())  # no such thing: the table names a real one
        text = "边界测试说明"
        return text[: s.get("maxLength", len(text))].ljust(s.get("minLength", 0), "字")

    def fields(self, schema: dict[str, Any], base: dict[str, Any]) -> list[Field]:
        """Every place in the body to probe, with its schema and whether it is required: each
        property, the first item of a list the base has one of, and that item's properties."""
        out: list[Field] = []
        top = self.resolve(schema)
        for name, prop in top.get("properties", {}).items():
            out.append(((name,), prop, name in top.get("required", [])))
            p = self.resolve(prop)
            if p.get("type") == "array" and isinstance(base.get(name), list) and base[name]:
                item = self.resolve(p.get("items", {}))
                out.append(((name, 0), item, True))
                for sub, sp in item.get("properties", {}).items():
                    out.append(((name, 0, sub), sp, sub in item.get("required", [])))
        return out


def _fill(value: Any, subs: dict[str, str], n: int) -> Any:
    if isinstance(value, str) and not isinstance(value, Raw):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in subs:
            return subs[value[1:-1]]
        return value.replace("{n}", str(n))
    if isinstance(value, dict):
        return {k: _fill(v, subs, n) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, subs, n) for v in value]
    return value


def _put(body: dict[str, Any], where: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(body))
    holder: Any = out
    for key in where[:-1]:
        holder = holder[key]
    if value is ABSENT:
        if isinstance(holder, dict):
            holder.pop(where[-1], None)
        else:
            del holder[where[-1]]
    else:
        holder[where[-1]] = value
    return out


def _encode(body: Any) -> bytes:
    raws: dict[str, str] = {}

    def walk(v: Any) -> Any:
        if isinstance(v, Raw):
            key = f"\ue000raw{len(raws)}\ue000"
            raws[key] = str(v)
            return key
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    text = json.dumps(walk(body), ensure_ascii=False)
    for key, raw in raws.items():
        text = text.replace(json.dumps(key, ensure_ascii=False), raw)
    return text.encode("utf-8")


def _show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    text = str(value) if isinstance(value, Raw) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else f"{text[:30]}…({len(text)} chars)"


def _typed_edges(prop: dict[str, Any], name: str, ids: tuple[str, ...]) -> list[Any]:
    kind, fmt = prop.get("type"), prop.get("format")
    out: list[Any] = []
    if fmt == "uuid":
        out += ids
    if fmt == "date":
        out += DAY_EDGES
    elif fmt == "date-time" or (kind == "string" and (name.endswith("_at") or name == "until")):
        out += TIME_EDGES
    if kind in ("integer", "number"):
        for bound, step in (("minimum", -1), ("maximum", 1)):
            if bound in prop:
                edge = int(prop[bound]) if kind == "integer" else prop[bound]
                out += [edge, edge + step]
        if kind == "integer":
            out += [2**31, 2**63, -(2**63) - 1]
    if kind == "string" and not fmt and "enum" not in prop:
        out += TEXT_EDGES
        if "maxLength" in prop:
            out += ["字" * prop["maxLength"], "\u0958" * prop["maxLength"]]
    return out


def _timeish(prop: dict[str, Any], name: str) -> bool:
    return prop.get("format") in ("date", "date-time") or name.endswith("_at") or name == "until"


# The edges that are dates and numbers written as text: to a free text (a note, a result)
# they are text like any other.
SHAPES = tuple(v for v in EDGES if v != "\x00" and len(v) < 100)


def _free_text(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "string" and "enum" not in prop and prop.get("maxLength", 0) >= 500


def _values(prop: dict[str, Any], name: str, base_item: Any, required: bool, number: int,
            costly: bool, ids: tuple[str, ...]) -> list[Any]:
    """The values the body's ``number``-th field is given: the edges, then values of other
    types (the numeric ones to numbers: to a text they are all one "not a text"). Text where
    text is expected is only a normal value and an optional field left out only its default:
    neither is sent. An integer too long to read breaks the whole body: a route's first field
    alone gets it.

    Sampled, deterministically, where an accepted request costs (every one takes a fresh
    target): a free text that is not a time gets half of ``SHAPES``; on a route whose accepted
    requests are costly (``Spec.costly``) every text that is not a time gets half of its
    edges. A text field gets half of the values of other types (null always). The field's
    number chooses the half, so every value still reaches half the fields of each kind."""
    kind = prop.get("type")
    edges = [*EDGES, *_typed_edges(prop, name, ids)]
    if kind == "string" and not _timeish(prop, name):
        if costly:
            edges = edges[number % 2 :: 2]
        elif _free_text(prop):
            edges = [v for i, v in enumerate(edges) if v not in SHAPES or (i + number) % 2 == 0]
    others: list[Any] = [[], {}, _deep(50), -1, 0, 12345, True]
    if kind == "string":  # each is "not a text" to a text field: half of them, as above
        others = others[number % 2 :: 2]
    out: list[Any] = [*edges, None, *others]
    if kind in ("integer", "number", None):
        out += [1.5, 10**20, -(10**20), Raw("1e309"), Raw("NaN")]
    if kind != "string":
        out.append("文字")
    if required:
        out.append(ABSENT)
    if kind == "array":
        out.append([base_item if base_item is not None else "x"] * HUGE_LIST)
    if number == 0:
        out.append(Raw("9" * 5000))
    return out


# ---- the run ---------------------------------------------------------------------------------


@dataclass
class Tally:
    sent: int = 0
    accepted: int = 0
    server_errors: list[str] = field(default_factory=list)
    # A JSON true a number field took as 1 (pydantic's lax mode): a client's mistake, to be 422.
    truths: list[str] = field(default_factory=list)
    base: dict[str, str] = field(default_factory=dict)  # route → refused base: why
    routes: int = 0
    cases: set[str] = field(default_factory=set)  # the cases accepted requests wrote to
    seconds: dict[str, float] = field(default_factory=dict)  # probing, views, reads
    stale: list[tuple[str, str]] = field(default_factory=list)  # in ROUTES, not in the API


class Sender:
    def __init__(self, client: Any, tally: Tally) -> None:
        self.client, self.tally = client, tally
        self.n = itertools.count(1)

    def send(self, method: str, path: str, token: str, body: Any) -> Any:
        headers = {**auth(token), "Content-Type": "application/json"}
        resp = self.client.request(method, path, content=_encode(body), headers=headers)
        self.tally.sent += 1
        if path == "/api/session":
            self.client.cookies.clear()  # a session cookie would go on with the next requests
        if resp.status_code < 300:
            self.tally.accepted += 1
        return resp


def _path(template: str, subs: dict[str, str]) -> str:
    for name, value in subs.items():
        template = template.replace("{" + name + "}", value)
    assert "{" not in template, f"no target for {template}"
    return template


def _run_route(sender: Sender, targets: Targets, schemas: Schemas, method: str, template: str,
               schema: dict[str, Any], spec: Spec, tally: Tally) -> None:
    route = f"{method} {template}"
    base_template = {**schemas.value(schema), **spec.body}
    subs = targets.make(spec.target)
    n = next(sender.n)
    base = _fill(base_template, subs, n)
    resp = sender.send(method, _path(template, subs), spec.token, base)
    if resp.status_code >= 300:
        tally.base[route] = f"{resp.status_code}: {resp.text[:200]}"
        if resp.status_code >= 500:
            tally.server_errors.append(f"{route} base body: {resp.status_code}")
    else:
        subs = targets.make(spec.target)  # the base used its target up
    for number, (where, prop, required) in enumerate(schemas.fields(schema, base)):
        item = base.get(where[0])
        first = item[0] if isinstance(item, list) and item and len(where) == 1 else None
        resolved = schemas.resolve(prop)
        values = _values(resolved, str(where[-1]), first, required, number, spec.costly, targets.others())
        for value in values:
            n = next(sender.n)
            body = _put(_fill(base_template, subs, n), where, value)
            resp = sender.send(method, _path(template, subs), spec.token, body)
            if resp.status_code >= 500:
                tally.server_errors.append(
                    f"{route} {'.'.join(map(str, where))}={_show(value)}: {resp.status_code} {resp.text[:120]}"
                )
            elif resp.status_code < 300:
                if value is True and resolved.get("type") in ("integer", "number"):
                    tally.truths.append(f"{route} {'.'.join(map(str, where))}=true: {resp.status_code}")
                _note_cases(tally, route, subs, resp)
                subs = targets.make(spec.target)  # it used its target up


def _note_cases(tally: Tally, route: str, subs: dict[str, str], resp: Any) -> None:
    """The cases an accepted request wrote to: its target, or the ones it received."""
    answer = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    answer = answer if isinstance(answer, dict) else {}
    found = [subs.get("case_id"), answer.get("case_id")]
    if route == "POST /api/cases":
        found.append(answer.get("id"))
    found += [item.get("case_id") for item in answer.get("items", []) if isinstance(item, dict)]
    tally.cases.update(str(cid) for cid in found if cid)


def _body_routes(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method not in ("post", "put", "patch", "delete"):
                continue
            content = (op.get("requestBody") or {}).get("content", {})
            if "application/json" in content:
                out.append((method.upper(), path, content["application/json"]["schema"]))
    return out


def _cheap_passwords(client: Any) -> None:
    """argon2id at its real cost is a tenth of a second or more a hash, and every person made
    and every login tried here pays it: the hash's strength is not what this test probes."""
    from argon2 import PasswordHasher

    passwords = client.app.state.people.passwords
    passwords._argon = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    passwords._dummy = passwords._argon.hash("dummy")


def probe_everything(db: str = "memory://", rebuild: str = "sqlite://") -> Tally:
    """Every write route's body at the edges on a runtime over ``db``, then the views' check
    (a rebuild into ``rebuild``). The 5xx found are in the tally, the views' failures raise."""
    tally = Tally()
    with api_client(db) as (client, rt):
        _cheap_passwords(client)
        spec = client.get("/openapi.json").json()
        schemas = Schemas(spec)
        sender, targets = Sender(client, tally), Targets(client, rt)
        started = time.monotonic()
        routes = _body_routes(spec)
        tally.stale = sorted(set(ROUTES) - {(m, p) for m, p, _ in routes})
        for method, path, schema in routes:
            table = ROUTES.get((method, path), Spec(OPERATOR))
            _run_route(sender, targets, schemas, method, path, schema, table, tally)
            tally.routes += 1
        tally.seconds["probing"] = time.monotonic() - started
        if not tally.server_errors:
            started = time.monotonic()
            _assert_views_follow(client, rt, rebuild)
            tally.seconds["views"] = time.monotonic() - started
            started = time.monotonic()
            _assert_reads_answer(client, spec, tally)
            tally.seconds["reads"] = time.monotonic() - started
    return tally


@pytest.mark.slow
def test_no_body_value_at_the_edge_makes_a_server_error_or_stops_a_view() -> None:
    started = time.monotonic()
    tally = probe_everything()
    took = time.monotonic() - started
    print(f"\n{tally.routes} routes, {tally.sent} requests ({tally.accepted} accepted), "
          f"base bodies accepted {tally.routes - len(tally.base)}/{tally.routes}, "
          f"{len(tally.cases)} cases read back; {took:.0f}s "
          f"({', '.join(f'{k} {v:.0f}s' for k, v in tally.seconds.items())})")
    assert not tally.server_errors, "\n".join(tally.server_errors)
    assert not tally.truths, "\n".join(tally.truths)
    assert tally.routes >= 60  # the schema still lists the write routes with their bodies
    assert not tally.stale, f"routes in ROUTES that the API no longer has: {tally.stale}"
    refused = {r: why for r, why in tally.base.items() if tuple(r.split(" ", 1)) not in NOT_ACCEPTED}
    assert not refused, "base bodies refused (fix the table ROUTES):\n" + "\n".join(
        f"{r}: {why}" for r, why in refused.items())
    assert tally.routes - len(tally.base) >= 0.9 * tally.routes


# ---- the views after it ----------------------------------------------------------------------


def _assert_views_follow(client: Any, rt: Runtime, rebuild: str) -> None:
    from tests.faults.whole_path import accounts_differences, lag, quarantined, rebuild_differences

    assert lag(rt) == 0, f"views {lag(rt)} events behind the log"
    assert quarantined(rt) == []
    assert rebuild_differences(rt, rebuild) == []
    people = client.app.state.people
    assert accounts_differences(people.engine, people) == []
    # The admin's settings folded afresh from the log are the ones the router uses.
    assert rt.admin is not None
    admin = AdminService(rt.app, rt.admin).current()
    assert effective_config(rt.admin.base, admin).model_dump() == rt.admin.live.model_dump()
    month = now_shanghai().strftime("%Y-%m")
    reads = {
        LEADER: ["/api/stats", "/api/stats?by=unit", "/api/stats/coop", "/api/stats/helpers",
                 "/api/stats/returns", "/api/stats/trend?granularity=week",
                 "/api/stats/source-governance?by=street", "/api/ranking", "/api/overdue",
                 f"/api/reports?period={month}", "/api/proactive/surges?window=week",
                 "/api/queue/instructions", "/api/queue/followup", "/api/queue/holds",
                 "/api/projects", "/api/knowledge?include_retired=true", "/api/knowledge/proposals",
                 "/api/shelf", "/api/cases?limit=500", "/api/search?q=路灯"],
        ADMIN: ["/api/admin/settings", "/api/admin/history", "/api/people", "/api/meta"],
        ASSIGNED: ["/api/units/chatinglu/queues", "/api/units/chatinglu/figures", "/api/projects"],
    }
    for token, paths in reads.items():
        for path in paths:
            r = client.get(path, headers=auth(token))
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
    # The projects and knowledge entries open, whatever was accepted into them (one in two).
    projects = client.get("/api/projects", headers=auth(LEADER)).json()["rows"]
    entries = client.get("/api/knowledge?include_retired=true&limit=500", headers=auth(OPERATOR)).json()["items"]
    assert len(projects) > 20 and len(entries) > 20, (len(projects), len(entries))
    for row in projects[::2]:
        r = client.get(f"/api/projects/{row['project_id']}", headers=auth(LEADER))
        assert r.status_code == 200, (row["project_id"], r.status_code, r.text[:300])
    for row in entries[::2]:
        r = client.get(f"/api/knowledge/{row['id']}", headers=auth(OPERATOR))
        assert r.status_code == 200, (row["id"], r.status_code, r.text[:300])
    # And a new complaint is still received and routed.
    r = client.post("/api/cases", headers=auth(OPERATOR), json={
        "order_no": "EDGE-AFTER", "received_at": "2026-11-02 09:30:00",
        "content": "茶亭路99号门口的路灯不亮了", "caller_phone": "13912340000"})
    assert r.status_code == 201, r.text


# Path values of the GET routes that are not ids.
READ_PATHS = {"fmt": "json", "unit": ASSIGNED_UNIT, "queue": "overdue", "service_code": "municipal"}


def _assert_reads_answer(client: Any, spec: dict[str, Any], tally: Tally) -> None:
    """Every GET route without an id, as the leader and as the unit, over what was accepted
    (no 5xx; a role may be refused); and of the cases accepted requests wrote to, one in two
    opens and one in eight also prints and lists its events."""
    failures = []
    for path, ops in spec["paths"].items():
        op = ops.get("get")
        names = [p["name"] for p in (op or {}).get("parameters", []) if p["in"] == "path"]
        if op is None or not set(names) <= set(READ_PATHS):
            continue
        url = path
        for name in names:
            url = url.replace("{" + name + "}", READ_PATHS[name])
        for token in (LEADER, ASSIGNED):
            r = client.get(url, headers=auth(token))
            if r.status_code >= 500:
                failures.append(f"GET {url} as {token}: {r.status_code} {r.text[:200]}")
    assert tally.cases
    for n, cid in enumerate(sorted(tally.cases)):
        tails = ("", "/print", "/events") if n % 8 == 0 else ("",) if n % 2 == 0 else ()
        for tail in tails:
            r = client.get(f"/api/cases/{cid}{tail}", headers=auth(OPERATOR))
            if r.status_code != 200:
                failures.append(f"GET /api/cases/{cid}{tail}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)
