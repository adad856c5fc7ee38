"""通知 (issue 19) with the in-memory senders behind the port: who is told what, decided from the
log on fixed instants (no test reads today's date), each outcome recorded in the log once; a
rebuild sends nothing again; a receiver that never answers ends in the dead letters.

The real adapters (SMTP, webhook, SMS gateway) against real local servers:
tests/integration/test_notify_servers.py."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.bootstrap import Runtime
from adapters.notify.fake import MemorySender
from adapters.notify.outbox import DEAD, SENT, WITHHELD, Notifier
from engine.config import ConfigError, SanshiConfig, load_config
from engine.deadlines import SHANGHAI
from engine.intake import Channel, IntakeCommand
from engine.notices import Contact, Leader, NotificationSettings
from tests.support.fold_oracle import demo_config, make_runtime

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # a Monday
LAMP = "茶亭路{n}号的路灯不亮，晚上很黑"  # → 茶亭路社区 (chatinglu)


def config_with(**notify: Any) -> SanshiConfig:
    settings = NotificationSettings(
        units={"chatinglu": Contact(email=["ctl@example.gov.cn"], sms=["13800000001"], webhook=True)},
        leaders=[Leader(name="区长", email=["leader@example.gov.cn"])],
        digest_hour=20,  # after the day's steps at T0 (09:00): only the digest test meets it
        retry_seconds=[1.0, 2.0],
        max_attempts=3,
        **notify,
    )
    return demo_config().model_copy(update={"notifications": settings})


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


@pytest.fixture
def world() -> Iterator[tuple[Runtime, Notifier, dict[str, MemorySender], Clock]]:
    rt = make_runtime(config=config_with())
    clock = Clock(T0)
    senders = {c: MemorySender(c) for c in ("email", "sms", "webhook")}
    notifier = Notifier(
        rt.app, rt.views_engine, senders, dead_letters=rt.dead_letter_store, now=clock, from_start=True
    )
    try:
        yield rt, notifier, senders, clock
    finally:
        rt.close()


_n = iter(range(1, 10**6))


def receive(rt: Runtime, *, channel: Channel = Channel.HOTLINE, phone: str = "13912345678",
            confidential: bool = False, extra: dict[str, Any] | None = None) -> Any:
    n = next(_n)
    cmd = IntakeCommand(
        channel=channel, source_ref=f"N{n:07d}", received_at=T0, content=LAMP.format(n=n),
        caller_phone=phone, confidential=confidential, extra=extra or {},
    )
    result = rt.app.receive(cmd)
    return rt.app.get_case(result.case_id)


def bodies(sender: MemorySender, kind: str) -> list[str]:
    return [n.body for n in sender.sent if n.kind == kind]


def test_a_case_tells_its_unit_on_every_channel_and_the_caller_gets_the_order_number(world: Any) -> None:
    rt, notifier, senders, _ = world
    case = receive(rt)
    assert case.dispatch is not None and case.dispatch.unit == "chatinglu"
    stats = notifier.step()
    assert stats.sent == 4 and stats.failed == 0
    # The unit: e-mail, SMS and the webhook, each saying which case and by when.
    for channel in ("email", "sms", "webhook"):
        (body,) = bodies(senders[channel], "case_arrived")
        assert case.order_no in body and "茶亭路" in body and "前签收" in body
    assert senders["email"].sent[0].address == "ctl@example.gov.cn"
    assert senders["email"].sent[0].subject == f"【新工单】{case.order_no}"
    # The caller: an SMS receipt with the order number, to the number they called from.
    (receipt,) = [n for n in senders["sms"].sent if n.kind == "receipt"]
    assert receipt.address == "13912345678"
    assert f"工单编号 {case.order_no}" in receipt.body and receipt.body.startswith("【海城区】")
    # The log says who was told what, when: one NoticeSent per notice.
    for row in notifier.rows(case_id=case.id):
        assert row.status == SENT
        outcome = rt.app.notice_outcome(row.key)
        assert type(outcome).__name__ == "SentNotice"
        assert outcome.channel == row.channel and outcome.case_id == case.id
    # Nothing more to send: a second step sends nothing.
    assert notifier.step().sent == 0
    assert sum(len(s.sent) for s in senders.values()) == 4


def test_no_sms_to_a_confidential_caller_one_who_declined_or_a_110_caller(world: Any) -> None:
    rt, notifier, senders, _ = world
    secret = receive(rt, confidential=True, phone="13900000001")
    declined = receive(rt, phone="13900000002", extra={"notify_consent": False})
    police = receive(rt, channel=Channel.POLICE, phone="13900000003")
    notifier.step()
    told = {n.address for n in senders["sms"].sent if n.audience == "resident"}
    assert told == set()
    reasons = {
        c.id: next(r.reason for r in notifier.rows(case_id=c.id) if r.audience == "resident")
        for c in (secret, declined, police)
    }
    assert reasons[secret.id] == "保密件，不向来电人发送短信"
    assert reasons[declined.id] == "来电人不同意接收短信"
    assert "police" in reasons[police.id]
    assert all(
        r.status == WITHHELD for c in (secret, declined, police) for r in notifier.rows(case_id=c.id)
        if r.audience == "resident"
    )
    # Their units are told all the same (a 保密件 hides the caller, not the case).
    assert len(bodies(senders["email"], "case_arrived")) == 3


def test_the_unit_is_told_the_deadline_is_near_once_when_the_clock_passes_the_warning(world: Any) -> None:
    rt, notifier, senders, clock = world
    case = receive(rt)
    notifier.step()
    deadline = case.dispatch.handle_deadline
    warning = dt.timedelta(hours=24)
    clock.at = deadline - warning - dt.timedelta(minutes=1)
    notifier.step()
    assert bodies(senders["email"], "deadline_near") == []
    clock.at = deadline - warning + dt.timedelta(minutes=1)
    notifier.step()
    (body,) = bodies(senders["email"], "deadline_near")
    assert "即将到期" in body and case.order_no in body
    assert deadline.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") in body
    clock.at += dt.timedelta(hours=2)
    notifier.step()  # scanned again: the same deadline is not warned twice
    assert len(bodies(senders["email"], "deadline_near")) == 1


def test_overdue_and_instruction_reach_the_unit(world: Any) -> None:
    rt, notifier, senders, clock = world
    case = receive(rt)
    later = case.dispatch.claim_deadline + dt.timedelta(minutes=5)
    rt.app.tick([case.id], later)  # 督办: the claim deadline passed
    clock.at = later
    notifier.step()
    (overdue,) = bodies(senders["email"], "overdue")
    assert "已超过签收时限" in overdue
    rt.app.claim(case.id, "chatinglu", "unit:chatinglu", at=later)
    rt.app.instruct(case.id, "请尽快修复并回复", "leader:1", at=later)
    notifier.step()
    (instructed,) = bodies(senders["email"], "instructed")
    assert "请尽快修复并回复" in instructed and "领导批示" in instructed


def test_the_caller_is_told_the_result(world: Any) -> None:
    rt, notifier, senders, _ = world
    case = receive(rt)
    rt.app.claim(case.id, "chatinglu", "unit:chatinglu", at=T0)
    rt.app.resolve(case.id, "chatinglu", "路灯已更换，恢复照明。", "unit:chatinglu", at=T0 + dt.timedelta(hours=3))
    notifier.step()
    (result,) = [n for n in senders["sms"].sent if n.kind == "result"]
    assert result.address == "13912345678"
    assert "已办结：路灯已更换，恢复照明。" in result.body and case.order_no in result.body


def test_leaders_get_one_daily_digest_from_the_configured_hour(world: Any) -> None:
    rt, notifier, senders, clock = world
    for _ in range(3):
        receive(rt)
    clock.at = dt.datetime(2026, 3, 3, 19, 59, tzinfo=SHANGHAI)
    notifier.step()
    assert bodies(senders["email"], "digest") == []
    clock.at = dt.datetime(2026, 3, 3, 20, 1, tzinfo=SHANGHAI)
    notifier.step()
    clock.at += dt.timedelta(hours=3)
    notifier.step()
    (digest,) = [n for n in senders["email"].sent if n.kind == "digest"]
    assert digest.address == "leader@example.gov.cn"
    assert "2026-03-02" in digest.body and "新受理 3 件" in digest.body and "在办 3 件" in digest.body


def test_rebuilding_views_and_outbox_sends_nothing_again(world: Any) -> None:
    rt, notifier, senders, _ = world
    for _ in range(5):
        receive(rt)
    first = notifier.step()
    assert first.sent == 20
    rt.projector.rebuild()
    assert rt.projector.quarantined_count() == 0  # the views know the notices' events
    notifier.reset()  # the outbox forgotten too: decided again from the log's beginning
    again = notifier.step(limit=100)
    assert again.sent == 0 and again.already == 0  # the log's NoticeSent closed every row
    assert notifier.counts() == {SENT: 20}
    assert sum(len(s.sent) for s in senders.values()) == 20


def test_a_notice_recorded_by_another_sender_is_not_sent_again(world: Any) -> None:
    rt, notifier, senders, clock = world
    receive(rt)
    notifier.follow()
    (row, *_) = notifier.due()
    # Another process delivered and recorded it between our follow and our delivery.
    rt.app.record_notice_sent(
        key=row.key, kind=row.kind, channel=row.channel, audience=row.audience, target=row.target,
        case_id=row.case_id, text="…", receipt="elsewhere", attempts=1, at=clock.at,
    )
    stats = notifier.deliver()
    assert stats.already == 1 and stats.sent == 3
    assert row.key not in {n.key for s in senders.values() for n in s.sent}


def test_a_receiver_that_keeps_failing_is_abandoned_after_n_tries_and_dead_lettered(world: Any) -> None:
    rt, notifier, senders, clock = world
    senders["webhook"].fail_times = -1
    receive(rt)
    for _ in range(5):
        notifier.step()
        clock.at += dt.timedelta(seconds=5)
    (dead,) = notifier.rows(status=DEAD)
    assert dead.channel == "webhook" and dead.attempts == 3
    assert senders["webhook"].tries == 3
    outcome = rt.app.notice_outcome(dead.key)
    assert type(outcome).__name__ == "AbandonedNotice" and "第 3 次尝试后放弃" in outcome.reason
    letters = [d for d in rt.dead_letter_store.list() if d["channel"] == "notice:webhook"]
    assert len(letters) == 1 and "模拟发送失败" in letters[0]["reason"]
    # The other channels were delivered.
    assert notifier.counts() == {SENT: 3, DEAD: 1}


def test_a_transient_failure_is_retried_after_the_backoff(world: Any) -> None:
    rt, notifier, senders, clock = world
    senders["email"].fail_times = 1
    receive(rt)
    notifier.step()
    assert senders["email"].sent == []
    notifier.step()  # not yet due: the backoff is 1 s
    assert senders["email"].sent == []
    clock.at += dt.timedelta(seconds=2)
    notifier.step()
    (sent,) = senders["email"].sent
    assert rt.app.notice_outcome(sent.key).attempts == 2


def test_a_template_naming_an_unknown_field_is_refused_at_load(tmp_path: Any) -> None:
    base = (load_config(None).source_dir or tmp_path) / "haicheng.yaml"
    text = base.read_text(encoding="utf-8") + (
        "\nnotifications:\n  templates:\n    receipt:\n      body: \"您的工单 ${order_number} 已受理\"\n"
    )
    path = tmp_path / "district.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    message = str(e.value)
    assert "未知字段 ${order_number}" in message and "order_no" in message


def test_contacts_for_a_unit_that_does_not_exist_are_refused() -> None:
    with pytest.raises(ValueError, match=r"notifications\.units\.0\n\s+单位「nosuch」不存在"):
        SanshiConfig.model_validate(
            {**demo_config().model_dump(), "notifications": {"units": {"nosuch": {"email": ["a@b.c"]}}}}
        )


def test_the_case_timeline_says_who_was_told_by_which_channel(world: Any) -> None:
    from fastapi.testclient import TestClient

    from adapters.http import create_app
    from tests.support.api import OPERATOR, auth

    rt, notifier, _, _ = world
    case = receive(rt)
    notifier.step()
    rt.__dict__["notifier"] = notifier  # the runtime's own, as SANSHI_SMS_URL etc. would build
    with TestClient(create_app(rt)) as client:
        events = client.get(f"/api/cases/{case.id}/events", headers=auth(OPERATOR)).json()
        unit_view = client.get(f"/api/cases/{case.id}/events", headers=auth("demo-unit-chatinglu")).json()
    told = [(e["type_name"], e["unit_name"]) for e in events if e["type"] == "NoticeSent"]
    assert sorted(told) == sorted([
        ("已通知", "茶亭路社区（邮件）"), ("已通知", "茶亭路社区（短信）"),
        ("已通知", "茶亭路社区（推送接口）"), ("已通知", "来电人（短信）"),
    ])
    # After the dispatch that called for them, in the order they were recorded.
    names = [e["type"] for e in events]
    assert names.index("Dispatched") < names.index("NoticeSent")
    receipt = next(e for e in events if e["unit_name"] == "来电人（短信）")
    assert case.order_no in receipt["data"]["text"] and "13912345678" not in str(receipt)
    # A unit sees that the caller was told, not what: the data of a notice is not on its list.
    seen = [e for e in unit_view if e["type"] == "NoticeSent"]
    assert len(seen) == 4 and all(e["data"] == {} for e in seen)


def test_the_workers_notify_step_delivers_between_polls(world: Any) -> None:
    from adapters.transport.worker import Notify, WorkerStats

    rt, notifier, senders, _ = world
    receive(rt)
    rt.__dict__["notifier"] = notifier
    stats = WorkerStats()
    step = Notify(rt, stats, interval=60.0)
    step()
    assert stats.counts["notices_sent"] == 4 and len(senders["sms"].sent) == 2
    receive(rt)
    step()  # within its interval: the next turn does it
    assert stats.counts["notices_sent"] == 4


def test_no_channel_configured_means_no_notifier() -> None:
    rt = make_runtime(config=config_with())
    try:
        assert rt.notifier is None
    finally:
        rt.close()


def test_the_environment_chooses_the_channels() -> None:
    from adapters.bootstrap import bootstrap
    from engine.routing.keyword import KeywordRouter
    from engine.settings import Settings

    config = config_with()
    env = {
        "SANSHI_DB": "memory://",
        "SANSHI_SMTP_URL": "smtp://127.0.0.1:2525?from=notice@haicheng.gov.cn",
        "SANSHI_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        "SANSHI_WEBHOOK_SECRET": "whsec",
    }
    rt = bootstrap(Settings.from_env(env), config=config, router=KeywordRouter(config))
    try:
        assert rt.notifier is not None and set(rt.notifier.senders) == {"email", "webhook"}
    finally:
        rt.close()
    unsigned = Settings.from_env({**env, "SANSHI_WEBHOOK_SECRET": ""})
    rt = bootstrap(unsigned, config=config, router=KeywordRouter(config))
    try:
        with pytest.raises(ValueError, match="SANSHI_WEBHOOK_SECRET 未设置"):
            _ = rt.notifier
    finally:
        rt.close()


def test_a_warning_decided_before_the_case_was_resolved_is_not_sent(world: Any) -> None:
    rt, notifier, senders, clock = world
    case = receive(rt)
    notifier.step()
    clock.at = case.dispatch.handle_deadline - dt.timedelta(hours=1)
    senders["email"].fail_times = senders["email"].tries + 1  # the mail server away for a while
    notifier.step()
    rt.app.claim(case.id, "chatinglu", "unit:chatinglu", at=clock.at)
    rt.app.resolve(case.id, "chatinglu", "已修复", "unit:chatinglu", at=clock.at)
    clock.at += dt.timedelta(seconds=5)
    notifier.step()
    assert bodies(senders["email"], "deadline_near") == []
    (row,) = [r for r in notifier.rows(case_id=case.id) if r.kind == "deadline_near" and r.channel == "email"]
    assert row.status == WITHHELD and "已办结" in row.reason


def test_with_the_cipher_key_the_outbox_keeps_no_text_in_clear() -> None:
    import base64

    from sqlalchemy import text

    from adapters.bootstrap import bootstrap
    from adapters.transport.sealing import sealer_for
    from engine.routing.keyword import KeywordRouter
    from engine.settings import Settings

    key = base64.b64encode(bytes(range(100, 132))).decode()
    config = config_with()
    rt = bootstrap(Settings(db="memory://", kafka=None, config_path=None, cipher_key=key),
                   config=config, router=KeywordRouter(config))
    try:
        sms = MemorySender("sms")
        notifier = Notifier(rt.app, rt.views_engine, {"sms": sms}, sealer=sealer_for(key),
                            now=Clock(T0), from_start=True)
        case = receive(rt)
        rt.app.claim(case.id, "chatinglu", "unit:chatinglu", at=T0)
        rt.app.resolve(case.id, "chatinglu", "路灯已更换，恢复照明。", "unit:chatinglu", at=T0)
        notifier.step()
        assert any("路灯已更换" in n.body for n in sms.sent)
        with rt.views_engine.connect() as conn:
            stored = " ".join(r[0] for r in conn.execute(text("SELECT fields FROM notice_outbox")))
        assert "路灯已更换" not in stored and "13912345678" not in stored
    finally:
        rt.close()


def test_sanshi_notices_lists_the_outbox(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from adapters.cli import main

    monkeypatch.setenv("SANSHI_DB", f"sqlite:///{tmp_path / 'cli.db'}")
    for name in ("SANSHI_SMTP_URL", "SANSHI_WEBHOOK_URL", "SANSHI_SMS_URL", "SANSHI_KAFKA"):
        monkeypatch.delenv(name, raising=False)
    quiet = CliRunner().invoke(main, ["notices"])
    assert quiet.exit_code == 0 and "未配置通知渠道" in quiet.output
    monkeypatch.setenv("SANSHI_SMS_URL", "http://127.0.0.1:9/sms")
    listed = CliRunner().invoke(main, ["notices", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output) == {"counts": {}, "notices": []}


def test_a_fault_of_the_notifier_itself_waits_for_the_backoff(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rt, notifier, _, clock = world
    receive(rt)
    notifier.follow()

    def broken(case_id: Any) -> Any:
        raise RuntimeError("the log is away")

    monkeypatch.setattr(rt.app, "get_case", broken)
    notifier.deliver()
    assert {r.reason for r in notifier.rows()} == {"内部错误 (RuntimeError)"}
    assert notifier.due() == []  # not tried again at once
    monkeypatch.undo()
    clock.at += dt.timedelta(seconds=2)
    assert notifier.deliver().sent == 4
