"""The authorisation matrix: every route × every kind of caller, and the status each gets.

Callers: operator, leader, admin, the unit the case is dispatched to, ANOTHER unit, a helper
outside government (志愿服务队, 认领大厅), no token, a bad token. A refused write must leave the case exactly as it was.

Each caller with a role is tried twice: with the shared token of its role or unit, and as a
named person (人员账号) of the same role and unit with a personal token: the matrix is one
table, the caller's kind a second dimension (``KINDS``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import Runtime
from engine.admin import AdminService
from engine.domain import Status
from engine.knowledge import KnowledgeService
from tests.support.api import (
    ADMIN,
    ASSIGNED,
    ASSIGNED_UNIT,
    BAD,
    HELPER,
    HELPER_UNIT,
    LEADER,
    OPERATOR,
    OTHER_UNIT,
    api_client,
    auth,
    case_in,
    case_unreachable,
    case_with_extension_request,
    case_with_hold_request,
    case_with_instruction,
    case_with_part,
    case_with_return_review,
    open_project,
    shelved_case,
)
from tests.support.people import new_person, person_version, person_with_token

CALLERS: dict[str, str | None] = {
    "operator": OPERATOR,
    "leader": LEADER,
    "admin": ADMIN,
    "assigned_unit": ASSIGNED,
    "other_unit": OTHER_UNIT,
    "helper_unit": HELPER,
    "no_token": None,
    "bad_token": BAD,
}
_ANON = {"no_token": 401, "bad_token": 401}
# Who a named caller is: role and unit (tests.support.people makes them through the API).
PEOPLE_OF_CALLERS: dict[str, tuple[str, str | None]] = {
    "operator": ("operator", None),
    "leader": ("leader", None),
    "admin": ("admin", None),
    "assigned_unit": ("unit", ASSIGNED_UNIT),
    "other_unit": ("unit", "chengguan"),
    "helper_unit": ("unit", HELPER_UNIT),
}
KINDS = ("shared", "person")


def only(ok_role: str | set[str], ok: int = 200) -> dict[str, int]:
    roles = {ok_role} if isinstance(ok_role, str) else ok_role
    out = {c: (ok if c in roles else 403) for c in CALLERS}
    out.update(_ANON)
    return out


EVERYONE = {c: 200 for c in CALLERS} | _ANON
# Another unit's case answers as if it did not exist (404, like an absent id; issue 14):
# ids derive from channel:source_ref, so a 403 would confirm that the case is in the log.
UNSEEN = {"other_unit": 404, "helper_unit": 404}
CASE_READERS = only({"operator", "leader", "admin", "assigned_unit"})
CASE_READERS_BY_ID = CASE_READERS | UNSEEN
ASSIGNED_ONLY = only("assigned_unit") | UNSEEN
STATS_READERS = only({"operator", "leader", "admin"})
PUBLIC = {c: 200 for c in CALLERS}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {id} → a fresh case in `state`; {unit} → the assigned unit
    expect: dict[str, int]
    state: Status | str | None = None
    body: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    files: dict[str, Any] | None = None  # multipart upload (附件)

    @property
    def writes_case(self) -> bool:
        return self.method == "POST" and "{id}" in self.path

    @property
    def writes_person(self) -> bool:
        return self.method == "POST" and "{account_id}" in self.path


ROUTES: list[Route] = [
    Route("POST", "/api/cases", only("operator", 201), body={
        "order_no": "AUTH-{n}", "received_at": "2026-11-02 09:30:00",
        "content": "珠海路菜市场门口占道经营严重", "address": "海城区珠海路",
    }),
    Route("GET", "/api/cases", EVERYONE),
    Route("GET", "/api/cases/{id}", CASE_READERS_BY_ID, Status.DISPATCHED),
    Route("GET", "/api/cases/{id}/events", CASE_READERS_BY_ID, Status.DISPATCHED),
    Route("GET", "/api/cases/{id}/print", CASE_READERS_BY_ID, Status.DISPATCHED),  # 工单打印
    Route("GET", "/api/units/{unit}/inbox", CASE_READERS),
    Route("GET", "/api/queue/manual", STATS_READERS),
    Route("GET", "/api/queue/followup", STATS_READERS),
    Route("GET", "/api/queue/holds", STATS_READERS),
    Route("GET", "/api/queue/extensions", STATS_READERS),
    Route("GET", "/api/queue/instructions", STATS_READERS),
    Route("GET", "/api/stats?by=unit", STATS_READERS),
    Route("GET", "/api/ranking", STATS_READERS),
    Route("GET", "/api/ranking?kind=street&from=2026-11-01&to=2026-12-01", STATS_READERS),
    # 本单位考核: a unit its own figures and place only (another unit's: 403)
    Route("GET", "/api/units/{unit}/figures", CASE_READERS),
    Route("GET", "/api/units/{unit}/figures?from=2026-11-01&to=2026-12-01", CASE_READERS),
    Route("GET", "/api/reports?period=2026-11&format=xlsx", STATS_READERS),  # 报表
    Route("GET", "/api/overdue", STATS_READERS),
    # 领导驾驶舱 (issue 19): the cases behind a table's number, trends; as the stats
    Route("GET", "/api/stats/cases?field=resolved&by=street&key=zhongjie", STATS_READERS),
    Route("GET", "/api/stats/trend?granularity=week", STATS_READERS),
    # 主动治理 and 诉源治理 (issue 20): as the stats
    Route("GET", "/api/proactive/surges?window=week", STATS_READERS),
    Route("GET", "/api/proactive/repeated?day=2026-11-20", STATS_READERS),
    Route("GET", "/api/stats/source-governance?by=street", STATS_READERS),
    Route("GET", "/api/routing/suggest?text=茶亭路路灯坏了", only("operator")),
    # 查找: units only by order number or text, and only their cases; 来电弹屏: operators
    Route("GET", "/api/search?q=路灯", EVERYONE),
    Route("GET", "/api/callers/history?phone=13812345678", only("operator")),
    Route("GET", "/api/meta", EVERYONE),
    Route("GET", "/api/audit", only("admin")),
    Route("GET", "/api/admin/quarantine", only("admin")),
    Route("POST", "/api/intake/app", only("operator", 201), body={
        "submission_id": "auth-app-{n}", "content": "小区电梯经常困人，物业不管", "address": "海城区四川路",
    }),
    Route("POST", "/api/intake/walkin", only("operator", 201), body={
        "station_id": "jy-auth", "ticket_no": "{n}", "content": "低保申请材料不知道怎么准备",
        "received_at": "2026-11-02T09:00:00+08:00",
    }),
    Route("POST", "/api/intake/media", only("operator", 201), body={
        "outlet": "北海日报", "title": "路灯不亮", "url": "https://news.example.cn/auth/{n}",
        "published_at": "2026-11-02T08:00:00+08:00", "passage": "茶亭路幸福里小区路灯坏了一个月",
    }),
    Route("POST", "/api/intake/town", only("operator", 201), body={
        "street": "zhongjie", "request_no": "auth-{n}", "received_at": "2026-11-02T09:00:00+08:00",
        "content": "珠海路积水严重，请求住建局改造雨水管网", "department": "zhujian",
    }),
    # centre (operator) commands
    Route("POST", "/api/cases/{id}/dispatch", only("operator"), Status.RECEIVED, {"unit": "zhujian"}),
    Route("POST", "/api/cases/{id}/reclassify", only("operator"), Status.RECEIVED, {"category": "housing"}),
    Route("POST", "/api/cases/{id}/answer", only("operator"), Status.RECEIVED, {"answer": "已当场解答"}),
    Route("POST", "/api/cases/{id}/reject", only("operator"), Status.RECEIVED, {"reason": "属110警情"}),
    # 知识库: the centre edits and decides, a unit proposes, everyone reads.
    Route("POST", "/api/cases/{id}/answer-from-knowledge", only("operator"), Status.RECEIVED,
          {"entry_id": "{entry}"}),
    Route("GET", "/api/knowledge", EVERYONE),
    Route("GET", "/api/knowledge/suggest?q=办理居住证需要什么材料", EVERYONE),
    Route("GET", "/api/knowledge/proposals", EVERYONE),
    Route("GET", "/api/knowledge/{entry_id}", EVERYONE),
    Route("POST", "/api/knowledge", only({"operator", "admin"}, 201),
          body={"question": "问题{n}", "answer": "答复{n}"}),
    Route("POST", "/api/knowledge/{entry_id}/edit", only({"operator", "admin"}),
          body={"answer": "新的答复{n}"}),
    Route("POST", "/api/knowledge/{entry_id}/retire", only({"operator", "admin"}),
          body={"reason": "政策调整"}),
    Route("POST", "/api/knowledge/{entry_id}/propose", only({"assigned_unit", "other_unit", "helper_unit"}, 201),
          body={"source": "单位提供{n}", "note": "补充来源"}),
    Route("POST", "/api/knowledge/{entry_id}/proposals/{number}/decide", only({"operator", "admin"}),
          body={"accept": True}),
    Route("POST", "/api/cases/{id}/extension/decide", only("operator"), "extension", {"granted": True}),
    Route("POST", "/api/cases/{id}/followup", only("operator"), Status.RESOLVED,
          {"solved": True, "rating": "satisfied"}),
    Route("POST", "/api/cases/{id}/urge", only("operator"), Status.DISPATCHED, {"note": "请尽快处理"}),
    # unit commands: only the unit the case is dispatched to
    Route("POST", "/api/cases/{id}/claim", ASSIGNED_ONLY, Status.DISPATCHED),
    Route("POST", "/api/cases/{id}/return", ASSIGNED_ONLY, Status.CLAIMED, {"reason": "不属于本社区"}),
    Route("POST", "/api/cases/{id}/extend", ASSIGNED_ONLY, Status.CLAIMED,
          {"until": "{until}", "reason": "需协调"}),
    Route("POST", "/api/cases/{id}/mediation/start", ASSIGNED_ONLY, Status.CLAIMED),
    Route("POST", "/api/cases/{id}/mediation/conclude", ASSIGNED_ONLY, Status.MEDIATING,
          {"agreement": True, "summary": "双方和解"}),
    Route("POST", "/api/cases/{id}/resolve", ASSIGNED_ONLY, Status.CLAIMED, {"result": "已修复"}),
    # 查看联系方式: the unit that has claimed the case, audited
    Route("POST", "/api/cases/{id}/contact", ASSIGNED_ONLY, Status.CLAIMED),
    # 挂起: the unit asks; the centre decides (the unit cannot approve its own request: 403);
    # the unit holding it or the centre resumes
    Route("POST", "/api/cases/{id}/hold", ASSIGNED_ONLY, Status.CLAIMED, {"reason": "等待法院开庭"}),
    Route("POST", "/api/cases/{id}/hold/decide", only("operator"), "hold_request", {"granted": True}),
    Route("POST", "/api/cases/{id}/resume", only({"operator", "assigned_unit"}) | UNSEEN, Status.ON_HOLD),
    # 领导批示: a leader writes it, the unit holding the case answers it
    Route("POST", "/api/cases/{id}/instruct", only("leader"), Status.CLAIMED, {"text": "请尽快办理"}),
    Route("POST", "/api/cases/{id}/instruction/reply", ASSIGNED_ONLY, "instruction", {"reply": "已落实"}),
    # 主办/协办 (the other unit, 城管, assists): the centre adds and closes parts; the assisting
    # unit reads the case and acts on its own part only; it cannot resolve the case (403), and
    # the lead resolves once the part is in. 吹哨: the lead (a community) calls departments in.
    Route("POST", "/api/cases/{id}/assist", only("operator"), Status.CLAIMED, {"units": ["zhujian"]}),
    Route("POST", "/api/cases/{id}/parts/{number}/close", only("operator"), "part", {"note": "中心协调"}),
    Route("POST", "/api/cases/{id}/whistle", ASSIGNED_ONLY, Status.CLAIMED,
          {"departments": ["zhujian"], "reason": "多部门到场"}),
    Route("POST", "/api/cases/{id}/part/claim", only("other_unit") | {"helper_unit": 404}, "part"),
    Route("POST", "/api/cases/{id}/part/report", only("other_unit") | {"helper_unit": 404}, "part_claimed",
          {"feedback": "已排查"}),
    Route("POST", "/api/cases/{id}/part/return", only("other_unit") | {"helper_unit": 404}, "part",
          {"reason": "不属本部门"}),
    Route("GET", "/api/cases/{id}", CASE_READERS_BY_ID | {"other_unit": 200}, "part"),
    Route("GET", "/api/cases/{id}/events", CASE_READERS_BY_ID | {"other_unit": 200}, "part"),
    Route("POST", "/api/cases/{id}/resolve", ASSIGNED_ONLY | {"other_unit": 403}, "part_reported",
          {"result": "已修复"}),
    Route("GET", "/api/units/{unit}/assists", CASE_READERS),
    # 承办单位工作队列 (counts, and one page of a queue): a unit only its own
    Route("GET", "/api/units/{unit}/queues", CASE_READERS),
    Route("GET", "/api/units/{unit}/queues/due_today", CASE_READERS),
    Route("GET", "/api/units/{unit}/queues/overdue", CASE_READERS),
    Route("GET", "/api/stats/coop", STATS_READERS),
    # Merges under the centre's hand: the operator merges (into an open original) and unmerges
    Route("POST", "/api/cases/{id}/merge", only("operator"), Status.RECEIVED,
          {"into": "{target}", "note": "同一件事"}),
    Route("POST", "/api/cases/{id}/unmerge", only("operator"), "merged", {"note": "不是同一件事"}),
    # 一表通: the operator submits; a unit reads the form of an item it holds (another: 404)
    Route("POST", "/api/forms", only("operator", 201), body={
        "ref": "AUTH-FORM-{n}", "kind": "inspection", "title": "网格巡查",
        "items": [{"content": "茶亭路{n}号路灯不亮（网格巡查，灯杆编号 F{n}）", "address": "海城区茶亭路{n}号"}],
    }),
    Route("GET", "/api/forms/{form_id}", CASE_READERS_BY_ID),
    # 通报 / 追责: the centre's
    Route("POST", "/api/censures", only("operator", 201),
          body={"kind": "notice", "unit": ASSIGNED_UNIT, "reason": "超期未签收"}),
    # 退单审核 and 转办 are the centre's: the unit that returned a case cannot approve its own
    # return (403); 回访未接通 and 未接通结案 are the operator's
    Route("POST", "/api/cases/{id}/return/review", only("operator"), "return_review", {"approved": True}),
    Route("POST", "/api/cases/{id}/transfer", only("operator"), Status.CLAIMED,
          {"unit": "zhongjie", "note": "属街道职责"}),
    Route("POST", "/api/cases/{id}/callback/unanswered", only("operator"), Status.RESOLVED, {"note": "无人接听"}),
    Route("POST", "/api/cases/{id}/close/unreachable", only("operator"), "unreachable", {}),
    Route("GET", "/api/queue/returns", STATS_READERS),
    # 认领大厅: the centre lists, takes off and decides; a unit applies for an item of the
    # services it offers (the helper, 志愿服务队, offers 助老; a unit listing no services sees
    # every item); an item outside its services, or a case not on the shelf and not its own,
    # is 404 to a unit; the figures are the stats readers'.
    Route("GET", "/api/shelf", EVERYONE),
    Route("GET", "/api/units/{unit}/claims", CASE_READERS),
    Route("GET", "/api/stats/helpers", STATS_READERS),
    Route("POST", "/api/cases/{id}/shelf", only("operator"), Status.RECEIVED,
          {"service": "repair", "summary": "独居老人家中水管漏水，需上门维修"}),
    Route("POST", "/api/cases/{id}/shelf/withdraw", only("operator"), "shelved", {"note": "改为派单"}),
    Route("POST", "/api/cases/{id}/claims", only({"assigned_unit", "other_unit", "helper_unit"}, 201),
          "shelved", {"note": "周三上午上门"}),
    Route("POST", "/api/cases/{id}/claims", only({"assigned_unit", "other_unit"}, 201) | {"helper_unit": 404},
          "shelved_legal", {"note": "周三上午上门"}),
    Route("POST", "/api/cases/{id}/claims", only("assigned_unit", 409) | UNSEEN, Status.DISPATCHED,
          {"note": "周三上午上门"}),
    Route("POST", "/api/cases/{id}/claims/{number}/decide", only("operator"), "claim_pending", {"accepted": True}),
    Route("GET", "/api/stats/returns", STATS_READERS),
    # 人员账号: login answers on the credentials alone (a wrong password is 401 whoever asks);
    # the people screen is the admin's; a refused change writes nothing to the account.
    Route("POST", "/api/session", {c: 401 for c in CALLERS}, body={"login": "nobody-{n}", "password": "wrong password"}),
    Route("GET", "/api/session", EVERYONE),
    Route("DELETE", "/api/session", PUBLIC),
    Route("GET", "/api/auth/options", PUBLIC),
    Route("GET", "/api/people", only("admin")),
    Route("POST", "/api/people", only("admin", 201), body={
        "login": "auth-{n}", "name": "测试人员", "role": "unit", "unit": ASSIGNED_UNIT,
    }),
    Route("GET", "/api/people/{account_id}", only("admin"), "person"),
    Route("POST", "/api/people/{account_id}/role", only("admin"), "person", {"role": "operator"}),
    Route("POST", "/api/people/{account_id}/password", only("admin"), "person", {}),
    Route("POST", "/api/people/{account_id}/disable", only("admin"), "person"),
    Route("POST", "/api/people/{account_id}/enable", only("admin"), "person_disabled"),
    Route("POST", "/api/people/{account_id}/tokens", only("admin", 201), "person"),
    Route("POST", "/api/people/{account_id}/tokens/{token_id}/revoke", only("admin"), "person_token"),
    # 管理设置 (adapters/http/routes_admin.py): the admin's alone; a refused change writes nothing
    # to the admin log. {admin_unit} / {admin_code} / {admin_rule}: fresh ones per call.
    Route("GET", "/api/admin/settings", only("admin")),
    Route("GET", "/api/admin/history", only("admin")),
    Route("POST", "/api/admin/units", only("admin", 201), body={"id": "auth-unit-{n}", "name": "授权测试单位{n}", "kind": "department"}),
    Route("POST", "/api/admin/units/{admin_unit}/rename", only("admin"), body={"name": "改名单位{n}"}),
    Route("POST", "/api/admin/units/{admin_unit}/deactivate", only("admin"), body={"reason": "撤并"}),
    Route("POST", "/api/admin/categories", only("admin", 201), body={"parent": "environment", "code": "auth_{n}", "name": "授权测试分类{n}"}),
    Route("POST", "/api/admin/categories/{admin_code}/relabel", only("admin"), body={"name": "改名分类{n}"}),
    Route("POST", "/api/admin/categories/{admin_code}/retire", only("admin"), body={"reason": "合并"}),
    Route("POST", "/api/admin/rules", only("admin", 201), body={"category": "environment", "keywords": ["授权词{n}"], "to": "huanjing"}),
    Route("POST", "/api/admin/rules/{admin_rule}", only("admin"), body={"priority": 300}),
    Route("POST", "/api/admin/rules/{admin_rule}/remove", only("admin")),
    # operations and documents: no token needed
    Route("GET", "/healthz", PUBLIC),  # the public answer is ok / unavailable, nothing more
    # Prometheus metrics count police hand-overs: leaders and admins (or the metrics token).
    Route("GET", "/metrics", only({"leader", "admin"})),
    Route("GET", "/openapi.json", PUBLIC),
    Route("GET", "/", PUBLIC),
    Route("GET", "/open311/v2/services.json", PUBLIC),
    Route("GET", "/open311/v2/requests.json", PUBLIC),
    Route("GET", "/open311/v2/requests/{id}.json", PUBLIC, Status.DISPATCHED),
    # Open311 POST authenticates with api_key (an operator token); GeoReport says 403.
    Route("POST", "/open311/v2/requests.json", {**only("operator", 201), "no_token": 403, "bad_token": 403},
          form={"service_code": "municipal", "description": "茶亭路{n}号井盖缺失", "address_string": "茶亭路{n}号"}),
    # 附件 and 属地 (adapters/http/routes_attachments.py): {digest} is a photo on the case.
    Route("POST", "/api/cases/{id}/attachments", {**CASE_READERS_BY_ID, "operator": 201, "assigned_unit": 201,
          "leader": 403, "admin": 403}, Status.CLAIMED, files={"file": ("现场.png", "PNG")}),
    Route("GET", "/api/cases/{id}/attachments", CASE_READERS_BY_ID, Status.DISPATCHED),
    Route("GET", "/api/cases/{id}/attachments/{digest}", CASE_READERS_BY_ID, Status.DISPATCHED),
    Route("GET", "/api/cases/{id}/attachments/{digest}/preview", CASE_READERS_BY_ID, Status.DISPATCHED),
    Route("POST", "/api/cases/{id}/attachments/{digest}/public", only("operator"), Status.DISPATCHED, {"public": True}),
    Route("POST", "/api/cases/{id}/attachments/fetch", only("operator"), Status.DISPATCHED),
    Route("GET", "/api/cases/{id}/photo-fetches", only("operator"), Status.DISPATCHED),
    Route("GET", "/api/cases/{id}/place", CASE_READERS_BY_ID, Status.DISPATCHED),
    Route("GET", "/api/places/areas", EVERYONE),
    Route("GET", "/api/places/counts", STATS_READERS),
    # 实事项目: the centre or a leader opens a project and links cases; its owner unit (the
    # assigned unit here) reports progress and completes it, or the centre completes it; a unit
    # reads only the projects it carries out (another's: 404).
    Route("GET", "/api/projects", EVERYONE),
    Route("POST", "/api/projects", only({"operator", "leader"}, 201), body={
        "title": "路灯改造{n}", "owner_unit": ASSIGNED_UNIT, "deadline": "2099-12-31",
        "milestones": [{"title": "施工", "due": "2099-12-01"}],
    }),
    Route("GET", "/api/projects/{project_id}", EVERYONE | UNSEEN),
    Route("POST", "/api/projects/{project_id}/cases", only({"operator", "leader"}), body={"case_ids": ["{fresh_case}"]}),
    Route("POST", "/api/projects/{project_id}/progress", only("assigned_unit") | UNSEEN,
          body={"milestone": 1, "note": "已勘察"}),
    Route("POST", "/api/projects/{project_id}/complete", only({"operator", "assigned_unit"}) | UNSEEN,
          body={"result": "路灯已全部更换"}),
    # Not public until the centre marks it: 404 for everyone, key or none.
    Route("GET", "/open311/v2/media/{id}/{digest}.jpg", {c: 404 for c in CALLERS}, Status.DISPATCHED),
]


def _png(seed: int) -> bytes:
    import io

    from PIL import Image

    img = Image.new("RGB", (16, 16), (seed % 256, (seed * 7) % 256, 90))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[Any, Runtime]]:
    with api_client() as pair:
        yield pair


@pytest.fixture(scope="module")
def named(env: tuple[Any, Runtime]) -> dict[str, str]:
    """A named person per caller with a role, each with a personal token (made by the admin
    through the API, as an admin would)."""
    client, _ = env
    return {
        caller: person_with_token(client, f"matrix-{caller.replace('_', '-')}", role, unit)[1]
        for caller, (role, unit) in PEOPLE_OF_CALLERS.items()
    }


_counter = iter(range(1, 1_000_000))


def knowledge_entry(runtime: Runtime) -> UUID:
    entry, _ = KnowledgeService(runtime.app, runtime.config).create(
        {"question": f"办理居住证需要什么材料？（{next(_counter)}）", "answer": "带身份证和居住证明"},
        "operator:test",
    )
    return entry.id


def _fill(value: Any, n: int) -> Any:
    if isinstance(value, str):
        return value.replace("{n}", str(n))
    if isinstance(value, dict):
        return {k: _fill(v, n) for k, v in value.items()}
    return value


def _prepare(client: Any, runtime: Runtime, route: Route) -> tuple[str, UUID | None]:
    cid: UUID | None = None
    path = route.path.replace("{unit}", ASSIGNED_UNIT)
    if "{account_id}" in path:
        n = next(_counter)
        account, token_id = new_person(client, f"subject-{n}", disabled=route.state == "person_disabled",
                                       with_token=route.state == "person_token")
        path = path.replace("{account_id}", account).replace("{token_id}", token_id or "")
    if "{id}" in path:
        if route.state == "extension":
            cid = case_with_extension_request(runtime)
        elif route.state == "hold_request":
            cid = case_with_hold_request(runtime)
        elif route.state == "instruction":
            cid = case_with_instruction(runtime)
        elif route.state in ("part", "part_claimed", "part_reported"):
            stage = {"part": "added", "part_claimed": "claimed", "part_reported": "reported"}
            cid = case_with_part(runtime, stage[route.state])
        elif route.state == "merged":
            cid = case_in(runtime, Status.RECEIVED)
            runtime.app.merge(cid, case_in(runtime, Status.DISPATCHED), "operator:test")
        elif route.state == "return_review":
            cid = case_with_return_review(runtime)
        elif route.state == "unreachable":
            cid = case_unreachable(runtime)
        elif route.state in ("shelved", "shelved_legal", "claim_pending"):
            needed = "legal_aid" if route.state == "shelved_legal" else "elderly_care"
            cid = shelved_case(runtime, needed, claimed_by=HELPER_UNIT if route.state == "claim_pending" else None)
        else:
            assert isinstance(route.state, Status)
            cid = case_in(runtime, route.state)
        path = path.replace("{id}", str(cid)).replace("{number}", "1")
        if "{digest}" in path:
            _, found = runtime.attachments.add(cid, _png(next(_counter)), "现场.png", "operator:test")
            path = path.replace("{digest}", str(found["digest"]))
    if "{entry_id}" in path:  # a fresh entry, with a unit's proposal (number 1) pending
        entry = knowledge_entry(runtime)
        KnowledgeService(runtime.app, runtime.config).propose(
            entry, ASSIGNED_UNIT, {"source": "单位建议"}, "", "unit:test"
        )
        path = path.replace("{entry_id}", str(entry)).replace("{number}", "1")
    if "{admin_" in path:  # 管理设置: a fresh unit, category leaf and rule, made by an admin
        n = next(_counter)
        service = AdminService(runtime.app, runtime.admin)
        unit = service.add_unit({"id": f"auth-subject-{n}", "name": f"授权对象{n}", "kind": "department"}, "admin:test")
        code = service.add_category({"parent": "environment", "code": f"subject_{n}", "name": f"对象分类{n}"}, "admin:test")
        rule = service.add_rule({"category": "environment", "keywords": [f"对象词{n}"], "to": "huanjing"}, "admin:test")
        path = path.replace("{admin_unit}", unit).replace("{admin_code}", code).replace("{admin_rule}", rule)
    if "{project_id}" in path:  # a fresh project of the assigned unit, one dispatched case in it
        project = open_project(runtime, [case_in(runtime, Status.DISPATCHED)])
        path = path.replace("{project_id}", str(project))
    if "{form_id}" in path:  # a form whose one item is with the assigned unit (a lamp)
        n = next(_counter)
        item = {"content": f"茶亭路{n}号门口的路灯不亮了（灯杆编号 F{n}）", "address": f"海城区茶亭路{n}号"}
        form, _ = runtime.app.submit_form(f"AUTH-F-{n}", "inspection", "巡查", [item], "operator:t")
        path = path.replace("{form_id}", str(form.id))
    return path, cid


CASES = [
    pytest.param(route, caller, kind, id=f"{route.method} {route.path} as {caller} ({kind})")
    for route in ROUTES
    for caller in CALLERS
    for kind in KINDS
    # no token and a bad token are nobody, named or not
    if kind == "shared" or caller in PEOPLE_OF_CALLERS
]


@pytest.mark.parametrize(("route", "caller", "kind"), CASES)
def test_route_answers_each_caller_as_the_policy_says(
    env: tuple[Any, Runtime], named: dict[str, str], route: Route, caller: str, kind: str
) -> None:
    client, runtime = env
    path, cid = _prepare(client, runtime, route)
    before = runtime.app.get_case(cid).version if cid else None
    person_before = person_version(client, path) if route.writes_person else None
    admin_before = runtime.admin.version if runtime.admin and "/api/admin/" in path else None
    n = next(_counter)
    token = named[caller] if kind == "person" else CALLERS[caller]
    if route.files is not None:
        files = {k: (name, _png(n)) for k, (name, _) in route.files.items()}
        resp = client.post(path, files=files, headers=auth(token))
    elif route.form is not None:
        form = _fill(route.form, n)
        if token:
            form["api_key"] = token
        resp = client.post(path, data=form)
    else:
        payload = _fill(route.body, n)
        if isinstance(payload, dict) and payload.get("until") == "{until}" and cid is not None:
            # Within the deadline policy's cap (延期上限): a few days past the case's deadline.
            dispatch = runtime.app.get_case(cid).dispatch
            assert dispatch is not None
            payload["until"] = (dispatch.handle_deadline + dt.timedelta(days=5)).isoformat()
        if isinstance(payload, dict) and payload.get("entry_id") == "{entry}":
            payload["entry_id"] = str(knowledge_entry(runtime))
        if isinstance(payload, dict) and payload.get("case_ids") == ["{fresh_case}"]:
            payload["case_ids"] = [str(case_in(runtime, Status.DISPATCHED))]
        if isinstance(payload, dict) and payload.get("into") == "{target}":
            payload["into"] = str(case_in(runtime, Status.DISPATCHED))
        resp = client.request(route.method, path, headers=auth(token), json=payload)
    expected = route.expect[caller]
    assert resp.status_code == expected, (caller, route.path, resp.status_code, resp.text[:300])
    if resp.status_code >= 400 and not path.startswith("/open311"):
        body = resp.json()
        assert set(body) == {"error", "message"} and body["message"], body
    if cid is not None and route.writes_case and resp.status_code >= 400:
        assert runtime.app.get_case(cid).version == before, "a refused command wrote something"
    if admin_before is not None and resp.status_code >= 400:
        assert runtime.admin is not None and runtime.admin.version == admin_before, "a refused change wrote something"
    if route.writes_person and resp.status_code >= 400:
        assert person_version(client, path) == person_before, "a refused change wrote something"


def test_every_api_route_is_in_the_matrix(env: tuple[Any, Runtime]) -> None:
    """A new route must be added to the matrix, or this fails."""
    client, _ = env
    spec = client.get("/openapi.json").json()
    listed = {(r.method, r.path.split("?")[0]) for r in ROUTES}
    missing = []
    for path, ops in spec["paths"].items():
        norm = (
            path.replace("{case_id}", "{id}")
            .replace("{service_request_id}", "{id}")
            .replace(".{fmt}", ".json")
            .replace("/media/{id}/{name}", "/media/{id}/{digest}.jpg")
            .replace("/queues/{queue}", "/queues/overdue")
        )
        for method in ops:
            key = (method.upper(), norm)
            generic = key[1].startswith(("/open311/v2/discovery", "/open311/v2/services"))
            if key not in listed and not generic:
                missing.append(key)
    assert not missing, f"routes missing from the authorisation matrix: {missing}"


def test_a_unit_sees_the_caller_masked_and_the_read_is_audited(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    cid = case_in(runtime, Status.DISPATCHED)
    as_unit = client.get(f"/api/cases/{cid}", headers=auth(ASSIGNED)).json()
    assert (as_unit["caller_phone"], as_unit["caller_name"]) == ("138****5678", "张某")
    events = client.get(f"/api/cases/{cid}/events", headers=auth(ASSIGNED)).json()
    received = next(e for e in events if e["type"] == "Received")
    assert received["data"]["caller_phone"] == "138****5678"
    assert "13812345678" not in str(events)
    as_operator = client.get(f"/api/cases/{cid}", headers=auth(OPERATOR)).json()
    assert as_operator["caller_phone"] == "13812345678"

    trail = client.get(f"/api/audit?case_id={cid}", headers=auth(ADMIN)).json()
    seen = {(e["role"], e["what"], e["masked"]) for e in trail}
    assert {("unit", "case", True), ("unit", "events", True), ("operator", "case", False)} <= seen
    assert all(e["at"] and e["principal"] for e in trail)


def test_a_unit_keeps_seeing_a_case_it_returned_but_another_unit_never_does(
    env: tuple[Any, Runtime],
) -> None:
    client, runtime = env
    cid = case_in(runtime, Status.CLAIMED)
    r = client.post(f"/api/cases/{cid}/return", headers=auth(ASSIGNED), json={"reason": "不属于本社区"})
    assert r.status_code == 200, r.text
    assert r.json()["assigned_unit"] != ASSIGNED_UNIT
    assert client.get(f"/api/cases/{cid}", headers=auth(ASSIGNED)).status_code == 200
    # ...but it can no longer act on it.
    again = client.post(f"/api/cases/{cid}/claim", headers=auth(ASSIGNED))
    assert again.status_code in (403, 409), again.text
    listed = client.get("/api/cases?limit=500", headers=auth(OTHER_UNIT)).json()
    assert str(cid) not in {row["case_id"] for row in listed}


def test_an_issued_token_is_stored_as_a_hash_and_works(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    store = runtime.api_store
    token = store.create_token("leader", None, "测试领导")
    assert client.get("/api/stats", headers=auth(token)).status_code == 200
    assert client.post("/api/cases/x/claim", headers=auth(token)).status_code == 403
    with store.engine.connect() as conn:
        from sqlalchemy import text

        stored = [tuple(r) for r in conn.execute(text("SELECT * FROM api_tokens"))]
    assert token not in str(stored)


