"""`sanshi explain CASE_ID`: why a case went where it went, from its own events.

Reads the case's events through the application (a plain read, nothing is written) and prints
each decision in Chinese: the category and the evidence behind it (keywords, the model's top
three, the nearest example), the path in the category tree with the evidence and confidence of
each level and the dispatch catalogue item (派单目录) that chose the unit, the locality and the exact place, why it is urgent, the candidate
units, duplicates with their similarity, dispatches with their deadlines, returns, escalations,
merges and the manual queue. ``--format json`` prints the same events as JSON.

CASE_ID is the case id (UUID) or ``channel:source_ref`` (e.g. ``hotline:BH20210716000123``).
The caller's name and phone are never printed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from uuid import UUID

import click

from engine.domain import LEGACY_CENTRE
from engine.vocabulary import CHANNELS, CONCERNS, DEADLINE_KINDS, EVENT_KINDS, RATINGS, Concern
from projections.search import order_no_shaped

PLACE_ZH = {"exact": "同一地点", "area": "同一道路/小区", "unknown": "地点不明"}
DUP_RULE_ZH = {
    "retyped": "内容几乎相同（重复录入）",
    "same_issue_same_place": "同一地点、同一问题",
    "similar": "内容相近，待人工判断",
    "same_caller": "同一来电人、同一问题",
}
# Why the same problem was only suggested, not merged (engine.routing.learning.duplicates.merge_held).
DUP_HELD_ZH = {
    "personal": "个人事项，来电人不同，不合并",
    "place_uncertain": "地点不够具体，不合并",
    "different_issue": "问题不同，不合并",
}
HIDDEN = {"caller_name", "caller_phone", "originator_id", "originator_version", "timestamp"}


def case_id_of(text: str, district_key: bytes | None = None) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        pass
    if ":" in text:
        from adapters.channels import source_ref_for
        from engine.domain import case_id_for

        # police:JQ… — the case keeps only the keyed hash of the incident number
        channel, ref = text.split(":", 1)
        return case_id_for(channel, source_ref_for(channel, ref, district_key))
    raise click.BadParameter(
        f"「{text}」不是工单编号（如 HC20261201002444）、工单 ID（UUID）或 渠道:来源编号", param_hint="CASE_REF"
    )


class Namer:
    """Chinese names for unit ids and category codes from the district config."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def unit(self, unit_id: str | None) -> str:
        if not unit_id:
            return "中心"
        if self.config.has_unit(unit_id):
            return f"{self.config.unit(unit_id).name}（{unit_id}）"
        return unit_id

    def category(self, code: str | None) -> str:
        if not code:
            return "未分类"
        try:
            return f"{self.config.category(code).name}（{code}）"
        except KeyError:
            return code

    def category_short(self, code: str) -> str:
        try:
            return str(self.config.category(code).name)
        except KeyError:
            return code

    def item(self, code: str | None) -> str:
        """A category or catalogue item by its code, with the names of its path:
        市政设施 › 井盖（municipal.manhole）."""
        if not code:
            return "未分类"
        names = []
        for part in self.config.catalogue_path(code):
            try:
                names.append(self.config.item_name(part))
            except KeyError:
                names.append(part)
        return f"{' › '.join(names)}（{code}）"


def _time(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _scores(items: list[dict[str, Any]], names: Namer) -> str:
    return " / ".join(f"{names.category_short(i['category'])} {i['score']:.2f}" for i in items)


def classified_lines(e: Any, names: Namer) -> list[str]:
    reason = dict(getattr(e, "reason", {}) or {})
    lines = [f"分类：{names.category(e.category)}"]
    if reason.get("override") or getattr(e, "override", False):
        prev = reason.get("previous")
        lines[0] += f"（人工改分类，原为 {names.category(prev)}）" if prev else "（人工改分类）"
        return lines
    if "confidence" in reason:
        lines[0] += f"，置信度 {reason['confidence']:.2f}"
    cat = reason.get("category") or {}
    if isinstance(cat, dict):
        if cat.get("by") == "hint":
            lines.append(f"依据：受理时标注的分类「{cat.get('hint')}」")
        if cat.get("top"):
            lines.append(f"模型前三：{_scores(cat['top'], names)}")
        keywords = cat.get("keywords") or {}
        if keywords:
            found = "；".join(f"{names.category_short(c)}：{'、'.join(w)}" for c, w in keywords.items())
            lines.append(f"命中关键词：{found}")
        linear = cat.get("linear") or {}
        if linear.get("ngrams"):
            grams = "、".join(dict.fromkeys(g["ngram"].removeprefix("L:") for g in linear["ngrams"]))
            lines.append(f"文本模型（TF-IDF）主要依据：{grams}；其前三 {_scores(linear['top'], names)}")
        proto = cat.get("prototypes") or {}
        if proto.get("skipped"):
            lines.append(f"句向量（USE）：未计算（{proto['skipped']}）")
        if proto.get("top"):
            lines.append(f"句向量（USE）前三：{_scores(proto['top'], names)}")
        nearest = proto.get("nearest_example")
        if nearest:
            learned = "（人工纠正后学到的例子）" if nearest.get("learned") else ""
            lines.append(
                f"最相近的已知例子：{names.category_short(nearest['category'])}，"
                f"余弦 {nearest['cosine']:.2f}{learned}"
            )
    elif reason.get("category"):  # the keyword router's shape
        lines.append(f"依据：{reason['category']}")
    lines.extend(path_lines(reason.get("path") or [], names))
    loc = reason.get("locality") or {}
    if loc:
        where = names.unit(loc.get("community") or loc.get("street")) if loc.get("matched") else "未能确定"
        source = {"address": "地址", "text": "诉求内容"}.get(loc.get("from", ""), "")
        matched = f"，依据{source}中的「{loc['matched']}」" if loc.get("matched") else ""
        lines.append(f"属地：{where}{matched}")
    place = reason.get("place") or {}
    if place.get("key"):
        lines.append(f"具体地点：{_place(place)}")
    urgent = reason.get("urgent")
    if isinstance(urgent, dict):
        why = []
        if urgent.get("words"):
            why.append("紧急词：" + "、".join(urgent["words"]))
        if urgent.get("flag"):
            why.append("渠道标注为紧急")
        if urgent.get("concern"):
            why.append(CONCERNS.label(Concern.ANGUISH))
        lines.append(f"紧急：{'是' if e.urgent else '否'}" + (f"（{'；'.join(why)}）" if why else ""))
    else:
        lines.append(f"紧急：{'是' if e.urgent else '否'}")
    candidates = reason.get("candidates") or []
    if candidates:
        lines.append(
            "候选承办单位："
            + "；".join(
                f"{names.category_short(c['category'])} {c['score']:.2f} → {names.unit(c['unit']) if c.get('unit') else '无'}"
                for c in candidates
            )
        )
    unit = reason.get("unit")
    if isinstance(unit, dict):
        lines.append(f"派单规则：{_rule(unit, names)}")
    lines.extend(lesson_lines(reason.get("lessons") or [], names))
    dupes = reason.get("duplicates") or []
    for d in dupes:
        verdict = "合并" if d.get("merge") else "疑似重复（仅提示）"
        detail = DUP_RULE_ZH.get(d.get("rule", ""), "")
        if d.get("held") in DUP_HELD_ZH:
            detail = f"{detail}（{DUP_HELD_ZH[d['held']]}）" if detail else DUP_HELD_ZH[d["held"]]
        extra = []
        if d.get("place"):
            extra.append(PLACE_ZH.get(d["place"], d["place"]))
        if d.get("shared_issue_words"):
            extra.append("同一问题：" + "、".join(d["shared_issue_words"]))
        if d.get("text_ratio") is not None:
            extra.append(f"文字相似 {d['text_ratio']:.2f}")
        if d.get("cosine") is not None:
            extra.append(f"语义相似 {d['cosine']:.2f}")
        lines.append(
            f"重复件：工单 {d['case_id']} 相似度 {d['similarity']:.2f} → {verdict}"
            + (f"（{detail}；{'，'.join(extra)}）" if detail or extra else "")
        )
    return lines


LEVEL_ZH = {1: "一级", 2: "二级", 3: "三级"}


def path_lines(path: list[dict[str, Any]], names: Namer) -> list[str]:
    """The path in the category tree (诉求分类目录), a line per level: the item, how sure (given
    the level above) and the evidence."""
    if not path:
        return []
    out = ["分类路径：" + " › ".join(f"{s['name']} {s['confidence']:.2f}" for s in path)]
    for step in path:
        level = LEVEL_ZH.get(int(step["level"]), f"{step['level']}级")
        why = step.get("why") or {}
        if int(step["level"]) == 1:
            by = {"hint": "受理时标注的分类", "keywords": "关键词"}.get(str(why.get("by")), "分类模型（见上）")
            out.append(f"  {level} {step['name']}（{step['code']}）置信度 {step['confidence']:.2f}，依据{by}")
            continue
        evidence = []
        if why.get("keywords"):
            evidence.append("关键词「" + "、".join(why["keywords"]) + "」")
        if why.get("shared"):
            evidence.append("与事项描述相同的字词「" + "、".join(why["shared"]) + "」")
        runner = why.get("runner_up")
        if runner:
            evidence.append(f"其次为 {names.item(runner['code'])} 得分 {runner['score']:.2f}")
        detail = f"，依据{'；'.join(evidence)}" if evidence else ""
        out.append(
            f"  {level} {step['name']}（{step['code']}）置信度 {step['confidence']:.2f}"
            f"（得分 {why.get('score', 0):.2f}）{detail}"
        )
    if len(path) == 1:
        out.append("  以下各级：诉求内容不足以确定，止于一级")
    return out


def _place(place: dict[str, Any]) -> str:
    if place.get("crossing"):
        return "与".join(str(place["crossing"]).split("|")) + "路口"
    parts = []
    if place.get("road"):
        parts.append(str(place["road"]) + (f"{place['number']}号" if place.get("number") is not None else ""))
    if place.get("estate"):
        parts.append(str(place["estate"]) + (f"{place['building']}栋" if place.get("building") is not None else ""))
    return " ".join(parts) or str(place.get("key"))


LESSON_SOURCE_ZH = {
    "return": "退单",
    "suggested": "退单时建议",
    "dispatch": "中心人工派单",
    "review": "中心审核不同意退单",
}


def _place_key(key: Any, names: Namer) -> str:
    """A place key of the router's place parser in words: r:茶亭路#28 → 茶亭路28号."""
    text = str(key or "")
    kind, _, rest = text.partition(":")
    name, _, number = rest.partition("#")
    if kind == "r":
        return f"{name}{number}号" if number else name
    if kind == "e":
        return f"{name}{number}栋" if number else name
    if kind == "x":
        return "与".join(rest.split("|")) + "路口"
    if kind == "l":
        return names.unit(rest)
    return text


def lesson_lines(lessons: list[dict[str, Any]], names: Namer) -> list[str]:
    """The lessons that applied (适用的纠错经验): the corrections at this place that chose or
    ruled out a unit (engine.routing.learning.corrections)."""
    out = []
    for x in lessons:
        where = "同一地点" if x.get("level") == "place" else "同一道路/小区"
        source = LESSON_SOURCE_ZH.get(str(x.get("source")), str(x.get("source")))
        effect = "派给" if x.get("effect") == "prefer" else "不派给"
        note = f"，理由：{x['note']}" if x.get("note") else ""
        case = f"，工单 {x['case_id']}" if x.get("case_id") else ""
        out.append(
            f"适用的纠错经验：{where}（{_place_key(x.get('place'), names)}）的「{names.category_short(str(x.get('category')))}」"
            f"{effect} {names.unit(x.get('unit'))}（{source}{case}{note}）"
        )
    return out


def _catalogue_to(to: Any, names: Namer) -> str:
    kinds = {"community": "属地社区", "street": "属地街道", "department": "负责该事项的部门",
             "enterprise": "负责该事项的企业", "centre": "区中心"}
    special = {"locality": "按属地", "judicial_office": "属地司法所"}
    return special.get(str(to)) or kinds.get(str(to)) or names.unit(str(to))


def _rule(why: dict[str, Any], names: Namer) -> str:
    """The rule that chose the unit in words; a channel rule that applied but gave no unit
    (``channel_skipped``) after it."""
    rest = {k: v for k, v in why.items() if k != "channel_skipped"}
    parts = [_rule_text(rest, names)] if rest else []
    skipped = why.get("channel_skipped")
    if isinstance(skipped, dict):
        parts.append(_channel_skipped(skipped, names))
    return "；".join(parts)


def _channel_skipped(why: dict[str, Any], names: Namer) -> str:
    if "channel_rule" in why:  # logged before channel_routing became routing's channel rules
        state = "已退单" if why.get("skipped") == "returned" else "已停用"
        return f"渠道牵头规则第{int(why['channel_rule']) + 1}条未适用（{names.unit(why.get('unit'))} {state}）"
    tried = why.get("skipped") or []
    # A unit skipped says why; a rule with no unit at all (no street for 属地司法所) says that.
    reasons = [
        f"{names.unit(s.get('unit'))} {'已退单' if s.get('skipped') == 'returned' else '已停用'}"
        for s in tried if s.get("unit")
    ] or [f"第{int(s['rule']) + 1}条在此处无可派单位" for s in tried if s.get("no_candidate")]
    return f"渠道规则未适用（{'，'.join(reasons)}）"


def _rule_text(why: dict[str, Any], names: Namer) -> str:
    if why.get("rule") == "channel":  # logged by the former channel_routing (渠道牵头单位)
        departments = "、".join(names.unit(u) for u in why.get("departments", []))
        return (
            f"渠道牵头规则第{int(why.get('channel_rule', 0)) + 1}条："
            f"{CHANNELS.label(str(why.get('channel')))}诉求由 {names.unit(why.get('to'))} 牵头"
            + (f"；按分类应办单位 {departments}" if departments else "")
        )
    skipped_items = why.get("catalogue_skipped") or []
    if why.get("rule") == "catalogue":
        return f"派单目录事项 {names.item(why.get('item'))}（{_catalogue_to(why.get('to'), names)}）"
    if skipped_items and why.get("rule") != "catalogue":
        items = "、".join(names.item(s.get("item")) for s in skipped_items)
        return f"派单目录事项 {items} 在此处无可派单位，改按派单规则：" + _rule_text(
            {k: v for k, v in why.items() if k != "catalogue_skipped"}, names
        )
    if why.get("rule") == "lesson":
        return f"按此处的纠错经验派给 {names.unit(why.get('to'))}"
    if why.get("rule") == "suggested":
        return f"按退单单位 {names.unit(why.get('suggested_by'))} 的建议改派"
    if why.get("rule") == "climb" or why.get("escalated_from"):
        to = why.get("to")
        at_centre = to in (names.config.centre.id, LEGACY_CENTRE)
        return f"由 {names.unit(why.get('escalated_from'))} 退回后逐级上移至 {'区中心' if at_centre else names.unit(to)}"
    if why.get("rule") in ("next_category", "same_category"):
        return (
            f"退单后按分类「{names.category_short(why.get('category', ''))}」"
            f"（得分 {why.get('score', 0):.2f}）另选单位，排除已退单位 {'、'.join(why.get('returned_by', []))}"
        )
    if why.get("by_unit_categories"):
        return "无匹配规则，派给负责该分类的单位"
    if why.get("rule") is None:
        return "无可用规则"
    to = {"locality": "按属地", "judicial_office": "属地司法所"}.get(str(why.get("to")), names.unit(why.get("to")))
    keywords = f"，命中「{'、'.join(why['keywords'])}」" if why.get("keywords") else ""
    skipped = [s for s in why.get("skipped", []) if s.get("skipped") == "returned"]
    skip = f"，跳过已退单位 {'、'.join(names.unit(s['unit']) for s in skipped)}" if skipped else ""
    off = [s for s in why.get("skipped", []) if s.get("skipped") == "inactive"]  # 管理设置: 停用
    skip += f"，跳过已停用单位 {'、'.join(names.unit(s['unit']) for s in off)}" if off else ""
    if why.get("channel"):
        # 渠道规则 (docs/configuration.md): its unit leads; the category's unit is beside it.
        place = f"，{to}" if why.get("to") in ("locality", "judicial_office") else ""
        departments = "、".join(names.unit(u) for u in why.get("departments") or [])
        return (
            f"第{int(why['rule']) + 1}条（渠道「{CHANNELS.label(why['channel'])}」{place}{keywords}{skip}）："
            f"{names.unit(why['unit']) if why.get('unit') else to} 牵头"
            + (f"；按分类应办单位 {departments}，可召集协办" if departments else "")
        )
    return f"第{int(why['rule']) + 1}条（{to}{keywords}{skip}）"


def event_lines(e: Any, names: Namer) -> list[str]:
    kind = type(e).__name__
    if kind == "Classified":
        return classified_lines(e, names)
    if kind == "Received":
        return [
            f"渠道：{CHANNELS.label(e.channel)}，来源编号 {e.source_ref}",
            f"三事：{CONCERNS.label(e.concern)}" + ("，受理时标注紧急" if e.urgent else ""),
        ]
    if kind == "Dispatched":
        reason = dict(getattr(e, "reason", {}) or {})
        by = {"router": "路由自动派单", "operator": "话务员派单"}.get(reason.get("by", ""), "")
        lines = [
            f"第{e.number}次派单 → {names.unit(e.unit)}" + (f"（{by}）" if by else ""),
            f"签收时限 {_time(e.claim_deadline)}，办理时限 {_time(e.handle_deadline)}",
        ]
        if reason.get("after_return"):
            lines.append(f"退单后转派：{_rule(reason, names)}")
            lines.extend(lesson_lines(reason.get("lessons") or [], names))
        if reason.get("reopened"):
            lines.append("回访不满意重办，派回原办结单位")
        if reason.get("note"):
            lines.append(f"备注：{reason['note']}")
        return lines
    if kind == "Returned":
        suggested = getattr(e, "suggested_unit", None)
        return [
            f"{names.unit(e.unit)} 退单，理由：{e.reason}"
            + (f"；建议承办单位 {names.unit(suggested)}" if suggested else "")
            + ("（待中心审核）" if getattr(e, "review", False) else "")
        ]
    if kind in REVIEW_EVENTS:
        return review_lines(e, names)
    if kind == "Merged":
        reason = dict(getattr(e, "reason", {}) or {})
        detail = DUP_RULE_ZH.get(reason.get("rule", ""), "人工合并" if reason.get("by") == "operator" else "")
        return [f"并入工单 {e.target}，相似度 {e.similarity:.2f}" + (f"（{detail}）" if detail else "")]
    if kind == "DuplicateLinked":
        return [f"重复件 {e.duplicate} 已并入本工单"]
    if kind == "Numbered":
        predicted = getattr(e, "appeal_type_predicted", "")
        return [f"工单编号 {e.order_no}" + (f"，诉求类型（系统预测）：{predicted}" if predicted else "")]
    if kind == "SentToManual":
        return [f"原因：{e.reason}"]
    if kind == "Escalated":
        deadline = DEADLINE_KINDS.label(e.kind)
        return [f"{names.unit(e.unit)} 超过{deadline}，第{e.level}级督办，督办单位 {names.unit(e.supervisor)}"]
    if kind == "FollowedUp":
        rating = RATINGS.label(e.rating, "未评价")
        return [f"回访：{'已解决' if e.solved else '未解决'}，{rating}" + (f"，{e.comment}" if e.comment else "")]
    out = []
    for key, value in vars(e).items():
        if key in HIDDEN or key in ("at", "principal"):
            continue
        if key == "unit":
            value = names.unit(value)
        out.append(f"{key}：{_time(value)}")
    return ["，".join(out)] if out else []


REVIEW_EVENTS = frozenset({"ReturnReviewed", "Transferred", "CallbackUnanswered", "ClosedUnreachable"})


def review_lines(e: Any, names: Namer) -> list[str]:
    """退单审核, 转办, 回访未接通, 未接通结案 in words."""
    kind = type(e).__name__
    note = f"，意见：{e.note}" if getattr(e, "note", "") else ""
    if kind == "ReturnReviewed":
        if e.approved:
            return [f"退单审核：同意 {names.unit(e.unit)} 退单，转派 {names.unit(e.to_unit)}{note}"]
        return [f"退单审核：不同意 {names.unit(e.unit)} 退单，退回原单位继续办理{note}"]
    if kind == "Transferred":
        return [f"转办：{names.unit(e.unit)} → {names.unit(e.to_unit)}{note}"]
    if kind == "CallbackUnanswered":
        return [f"回访未接通（第{e.attempt}次，满{e.max_unanswered}次可未接通结案）{note}"]
    return [f"未接通结案：回访{e.attempts}次均未接通{note}"]


def event_json(e: Any) -> dict[str, Any]:
    data = {k: v for k, v in vars(e).items() if k not in HIDDEN}
    return {"type": type(e).__name__, "version": e.originator_version, **data}


@click.command("explain")
@click.argument("case_ref")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain(case_ref: str, fmt: str) -> None:
    """说明一个工单的每一次决策：分类依据、属地、紧急、候选单位、重复件、派单与退单。"""
    from adapters.bootstrap import bootstrap
    from engine.config import load_config
    from engine.routing.keyword import KeywordRouter
    from engine.settings import Settings

    settings = Settings.from_env()
    # The 工单编号 on the screens and the printed sheet (HC20261201002444) is looked up in the
    # search view; a UUID or 渠道:来源编号 is the case id itself.
    order_no = case_ref.strip() if order_no_shaped(case_ref) else None
    case_id = None if order_no else case_id_of(case_ref, settings.district_key)
    config = load_config(settings.config_path)
    # Reading the log needs no model: the cheap router keeps this command instant.
    runtime = bootstrap(settings, config, router=KeywordRouter(config))
    try:
        if order_no is not None:
            case_id = runtime.search_index().case_for_order_no(order_no)
            if case_id is None:
                raise click.ClickException(f"工单编号 {order_no} 不存在")
        assert case_id is not None
        events: list[Any] = list(runtime.app.events.get(case_id))
    finally:
        runtime.close()
    if not events:
        raise click.ClickException(f"工单 {case_ref.strip()} 不存在")
    if fmt == "json":
        payload = {"case_id": str(case_id), "events": [event_json(e) for e in events]}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
        return
    names = Namer(config)
    first = events[0]
    click.echo(f"工单 {case_id}")
    click.echo(f"受理：{_time(getattr(first, 'received_at', first.at))}  地址：{getattr(first, 'address', '') or '（未填）'}")
    click.echo(f"诉求内容：{getattr(first, 'content', '')}")
    click.echo("")
    click.echo("决策记录：")
    for n, e in enumerate(events, start=1):
        kind = type(e).__name__
        title = EVENT_KINDS.label(kind)
        if kind == "Classified" and getattr(e, "override", False):
            title = "人工改分类"
        click.echo(f"{n:>2}. {_time(e.at)}  {title}  [{e.principal}]")
        for line in event_lines(e, names):
            click.echo(f"      {line}")


def register(group: click.Group) -> None:
    group.add_command(explain)
