"""通知 (issue 19) against real receivers the tests start: an SMTP server (aiosmtpd), the district's
webhook consumer and an SMS gateway (``tests/support/notice_receiver.py``, each a process of its
own that stores notices by their Idempotency-Key in a SQLite file).

- one contract, four adapters: the in-memory fake, SMTP, the signed webhook and the SMS gateway
  deliver a notice with its key and text, and report a receiver that is away as a failure to
  retry (a refusal for good as such);
- a few hundred cases end to end: every notice delivered exactly once, the residents' receipts
  carry their order numbers, no SMS to a confidential caller; the views and the outbox rebuilt
  from the log, nothing is sent again;
- the webhook consumer killed (SIGKILL) mid-stream, after storing a notice and before answering,
  then restarted, then killed again from outside and restarted: none lost, each stored once,
  the one it never answered delivered again and dropped by its key, and the sender retried;
- a consumer that answers 503 for good and an SMTP server that is not there: each notice given
  up after its tries, dead-lettered with the reason, and recorded so in the log.

The kill test runs on SQLite and on PostgreSQL. The clock the notifier reads is fixed (2026-03-02) and moves with real elapsed time, so that
the backoff waits pass; no outcome depends on today's date.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from adapters.bootstrap import Runtime, bootstrap
from adapters.notify.fake import MemorySender
from adapters.notify.http_senders import SmsGatewaySender, WebhookSender
from adapters.notify.outbox import DEAD, PENDING, SENT
from adapters.notify.port import DeliveryFailed, NoticeSender, OutgoingNotice
from adapters.notify.smtp import SmtpSender
from engine.deadlines import SHANGHAI
from engine.intake import Channel, IntakeCommand
from engine.notices import Contact, NotificationSettings
from engine.routing.keyword import KeywordRouter
from engine.settings import Settings
from tests.support.fold_oracle import demo_config
from tests.support.notice_receiver import API_KEY, SECRET, Receiver
from tests.support.processes import stop_process

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # a Monday
TEXTS = (
    "茶亭路{n}号的路灯不亮，晚上很黑",
    "东一巷菜场门口占道经营第{n}摊，堵住了路",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- the receivers ----------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd's handler: every message the server accepted."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            self.messages.append(parsed)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[str, Mailbox]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}?from=notice@haicheng.gov.cn", box
    finally:
        controller.stop()


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[Callable[[str], Receiver]]:
    made: list[Receiver] = []

    def make(mode: str) -> Receiver:
        r = Receiver(mode, free_port(), tmp_path / f"{mode}-{len(made)}.sqlite")
        made.append(r)
        return r

    yield make
    for r in made:
        r.stop()


# ---- one contract, four adapters -----------------------------------------------------------------


def notice(channel: str, address: str, n: int = 1) -> OutgoingNotice:
    return OutgoingNotice(
        key=f"{n:064x}", kind="case_arrived", channel=channel, audience="unit", target="chatinglu",
        address=address, subject="【新工单】HC20260302000001",
        body="茶亭路社区：您单位有新派工单 HC20260302000001（市政设施），请于 2026-03-03 17:30 前签收。",
        at=T0,
    )


@dataclass
class Contract:
    sender: NoticeSender
    # What the receiving side holds: [(key, text)].
    delivered: Callable[[], list[tuple[str, str]]]
    # A sender of the same kind whose receiver is not there.
    away: Callable[[], NoticeSender]


@pytest.fixture(params=["fake", "smtp", "webhook", "sms"])
def contract(request: pytest.FixtureRequest, smtp: tuple[str, Mailbox],
             receivers: Callable[[str], Receiver]) -> Iterator[Contract]:
    kind = request.param
    closed = f"127.0.0.1:{free_port()}"
    if kind == "fake":
        fake = MemorySender("webhook")
        yield Contract(fake, lambda: [(n.key, n.body) for n in fake.sent],
                       lambda: MemorySender("webhook", fail_times=-1))
    elif kind == "smtp":
        url, box = smtp
        yield Contract(
            SmtpSender(url),
            lambda: [(str(m["X-Sanshi-Notice-Key"]), str(m.get_content()).strip())
                     for m in box.messages],
            lambda: SmtpSender(f"smtp://{closed}", timeout=2),
        )
    else:
        r = receivers(kind)
        r.start()
        sender: NoticeSender
        if kind == "webhook":
            sender = WebhookSender(r.url, SECRET)

            def away() -> NoticeSender:
                return WebhookSender(f"http://{closed}/", SECRET)
        else:
            sender = SmsGatewaySender(r.url, API_KEY)

            def away() -> NoticeSender:
                return SmsGatewaySender(f"http://{closed}/", API_KEY)

        def delivered() -> list[tuple[str, str]]:
            return [(k, json.loads(b)["text"]) for k, (b, _) in r.received().items()]

        yield Contract(sender, delivered, away)
        sender.close()


def test_contract_a_notice_is_delivered_with_its_key_and_text(contract: Contract) -> None:
    sent = notice(contract.sender.channel, "ctl@example.gov.cn" if contract.sender.channel == "email" else "13800000001")
    receipt = contract.sender.send(sent)
    assert receipt.detail
    assert contract.delivered() == [(sent.key, sent.body)]


def test_contract_a_receiver_that_is_away_is_a_failure_to_retry(contract: Contract) -> None:
    sender = contract.away()
    with pytest.raises(DeliveryFailed) as e:
        sender.send(notice(sender.channel, "x@example.gov.cn"))
    assert not e.value.permanent and e.value.reason
    sender.close()


def test_a_webhook_signed_with_another_secret_is_refused_for_good(receivers: Callable[[str], Receiver]) -> None:
    r = receivers("webhook")
    r.start()
    sender = WebhookSender(r.url, "not-the-secret")
    with pytest.raises(DeliveryFailed) as e:
        sender.send(notice("webhook", ""))
    assert e.value.permanent and "HTTP 401" in e.value.reason
    assert r.received() == {}


# ---- the whole path ------------------------------------------------------------------------------


class MovingClock:
    """T0, then on with real elapsed time (the backoff waits pass; the date stays put)."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self) -> dt.datetime:
        return T0 + dt.timedelta(seconds=time.monotonic() - self.start)


def sqlite_at(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sanshi.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_at(tmp_path)
    return str(request.getfixturevalue("fresh_postgres_url"))


def runtime(db: str, *, smtp_url: str | None = None, webhook: str | None = None,
            sms: str | None = None, **notify: Any) -> Runtime:
    config = demo_config()
    contacts = {
        u.id: Contact(email=[f"{u.id}@haicheng.gov.cn"], webhook=True)
        for u in config.units if u.kind != "centre"
    }
    settings = NotificationSettings(units=contacts, **notify)
    config = config.model_copy(update={"notifications": settings})
    rt = bootstrap(
        Settings(db=db, kafka=None, config_path=None,
                 cipher_key=None, smtp_url=smtp_url, webhook_url=webhook,
                 webhook_secret=SECRET if webhook else None, sms_url=sms,
                 sms_key=API_KEY if sms else None),
        config=config,
        router=KeywordRouter(config),
    )
    assert rt.notifier is not None  # from the log's head: the empty log's beginning
    rt.notifier.now = MovingClock()
    return rt


def receive_cases(rt: Runtime, count: int, *, confidential_every: int = 0) -> list[Any]:
    cmds = [
        IntakeCommand(
            channel=Channel.HOTLINE, source_ref=f"E{n:06d}", received_at=T0,
            content=TEXTS[n % 2].format(n=n), caller_phone=f"139{n:08d}",
            confidential=bool(confidential_every and n % confidential_every == 0),
        )
        for n in range(1, count + 1)
    ]
    for i in range(0, len(cmds), 100):
        rt.app.receive_batch(cmds[i : i + 100])
    return list(rt.app.get_cases([c.case_id for c in cmds]).values())


def drain(rt: Runtime, seconds: float = 120.0, until: Callable[[], bool] | None = None) -> None:
    notifier = rt.notifier
    assert notifier is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        notifier.step(limit=200)
        if (until or (lambda: PENDING not in notifier.counts()))():
            return
        time.sleep(0.05)
    raise AssertionError(f"notices still pending: {notifier.counts()}")


@pytest.mark.slow
def test_a_few_hundred_cases_every_notice_delivered_exactly_once(
    tmp_path: Path, smtp: tuple[str, Mailbox], receivers: Callable[[str], Receiver]
) -> None:
    url, box = smtp
    hook, gateway = receivers("webhook"), receivers("sms")
    hook.start()
    gateway.start()
    rt = runtime(sqlite_at(tmp_path), smtp_url=url, webhook=hook.url, sms=gateway.url)
    try:
        cases = receive_cases(rt, 300, confidential_every=10)
        started = time.monotonic()
        drain(rt)
        took = time.monotonic() - started
        notifier = rt.notifier
        assert notifier is not None
        rows = notifier.rows()
        by_channel = {c: {r.key for r in rows if r.channel == c and r.status == SENT} for c in ("email", "webhook", "sms")}
        # Each unit told by e-mail and the webhook of each case; each caller by SMS but the 30
        # confidential ones.
        assert len(by_channel["email"]) == len(by_channel["webhook"]) == 300
        assert len(by_channel["sms"]) == 270
        assert notifier.counts() == {SENT: 870, "withheld": 30}
        # The receivers: each notice once, none twice.
        assert {str(m["X-Sanshi-Notice-Key"]) for m in box.messages} == by_channel["email"]
        assert len(box.messages) == 300
        got = hook.received()
        assert set(got) == by_channel["webhook"] and {n for _, n in got.values()} == {1}
        texts = gateway.received()
        assert set(texts) == by_channel["sms"] and {n for _, n in texts.values()} == {1}
        # The residents' receipts carry their order numbers; no SMS to a confidential caller.
        sms = [json.loads(b) for b, _ in texts.values()]
        by_phone = {m["to"]: m["text"] for m in sms}
        for case in cases:
            if case.confidential:
                assert case.caller_phone not in by_phone
            else:
                assert f"工单编号 {case.order_no}" in by_phone[case.caller_phone]
        # The log says who was told what: one NoticeSent per notice.
        assert all(type(rt.app.notice_outcome(k)).__name__ == "SentNotice" for k in by_channel["webhook"])
        print(f"\n870 notices (300 e-mails, 300 webhook posts, 270 SMS) delivered in {took:.1f} s")
        # Rebuilt, the views and the outbox (decided again from the log's start) send nothing:
        # the log's NoticeSent close every row.
        rt.projector.rebuild()
        notifier.reset()
        drain(rt)
        assert notifier.counts() == {SENT: 870, "withheld": 30}
        assert len(box.messages) == 300
        assert {n for _, n in hook.received().values()} == {1} and len(hook.received()) == 300
        assert {n for _, n in gateway.received().values()} == {1} and len(gateway.received()) == 270
    finally:
        rt.close()


@pytest.mark.slow
def test_the_consumer_killed_mid_stream_and_restarted_loses_nothing_and_counts_each_once(
    db_url: str, receivers: Callable[[str], Receiver]
) -> None:
    hook = receivers("webhook")
    hook.start("--crash-after", "40")  # SIGKILLs itself after storing the 40th, before answering
    rt = runtime(db_url, webhook=hook.url, retry_seconds=[0.2, 0.5, 1.0], max_attempts=30)
    notifier = rt.notifier
    assert notifier is not None
    try:
        receive_cases(rt, 120)
        done = threading.Event()
        failure: list[BaseException] = []

        def deliver() -> None:
            try:
                drain(rt)
            except BaseException as e:
                failure.append(e)
            finally:
                done.set()

        thread = threading.Thread(target=deliver)
        thread.start()
        assert hook.proc is not None
        assert hook.proc.wait(60) == -9  # killed mid-stream
        stored_before = len(hook.received())
        assert stored_before == 40 and not done.is_set()
        time.sleep(1.0)  # the sender meets a closed port for a while
        hook.start()  # the same port and file, no crash this time
        # Killed again from outside, at whatever point the stream has reached past 80.
        deadline = time.monotonic() + 60
        while len(hook.received()) < 80:
            assert time.monotonic() < deadline and not done.is_set()
            time.sleep(0.005)
        hook.stop()  # SIGKILL
        time.sleep(0.5)
        hook.start()
        thread.join(120)
        assert not failure, failure
        webhook_keys = {r.key for r in notifier.rows() if r.channel == "webhook"}
        assert len(webhook_keys) == 120
        got = hook.received()
        assert set(got) == webhook_keys  # none lost
        # The notice stored but never answered came again and was recognised by its key (and,
        # if the outside kill fell between storing and answering, one more); every other
        # notice arrived once.
        deliveries = sorted(n for _, n in got.values())
        assert deliveries.count(2) in (1, 2) and set(deliveries) <= {1, 2}
        assert notifier.counts() == {SENT: 120}
        assert notifier.totals.failed >= 2  # the unanswered post and the closed port: retried
        retried = [r for r in notifier.rows() if r.attempts > 1]
        assert retried and all(r.status == SENT for r in retried)
    finally:
        rt.close()


def test_receivers_down_for_good_are_dead_lettered_with_the_reason(
    tmp_path: Path, receivers: Callable[[str], Receiver]
) -> None:
    hook = receivers("webhook")
    hook.start("--status", "503")
    closed = free_port()
    rt = runtime(sqlite_at(tmp_path), smtp_url=f"smtp://127.0.0.1:{closed}", webhook=hook.url,
                 retry_seconds=[0.1], max_attempts=3)
    notifier = rt.notifier
    assert notifier is not None
    try:
        receive_cases(rt, 2)
        drain(rt, 60)
        assert notifier.counts() == {DEAD: 4}
        for row in notifier.rows():
            assert row.attempts == 3
            outcome = rt.app.notice_outcome(row.key)
            assert outcome is not None and type(outcome).__name__ == "AbandonedNotice"
            expected = "HTTP 503" if row.channel == "webhook" else "邮件服务器不可用"
            assert expected in row.reason and expected in outcome.reason
        letters = rt.dead_letter_store.list()
        assert sorted(d["channel"] for d in letters) == ["notice:email"] * 2 + ["notice:webhook"] * 2
        assert all("第 3 次尝试后放弃" in d["reason"] for d in letters)
        assert hook.received() == {}
    finally:
        rt.close()


@pytest.mark.slow
@pytest.mark.date_sensitive  # the server's own clock: the case is received now
def test_sanshi_serve_tells_the_unit_and_the_caller_in_process(
    tmp_path: Path, receivers: Callable[[str], Receiver]
) -> None:
    """The real ``sanshi serve`` (no Kafka) with the channels in its environment: a case posted
    by an operator reaches the unit through the webhook and the caller's receipt through the
    gateway, from the server's own thread, with nobody asking."""
    import httpx

    from tests.faults.support import CLI, REPO, cli_env
    from tests.support.api import OPERATOR, auth

    hook, gateway = receivers("webhook"), receivers("sms")
    hook.start()
    gateway.start()
    port = free_port()
    env = cli_env(
        f"sqlite:///{tmp_path / 'serve.db'}",
        SANSHI_WEBHOOK_URL=hook.url, SANSHI_WEBHOOK_SECRET=SECRET,
        SANSHI_SMS_URL=gateway.url, SANSHI_SMS_KEY=API_KEY,
    )
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--clock-interval", "0", "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "sanshi serve did not start"
                time.sleep(0.5)
        record = {
            "order_no": "NT000001",
            "received_at": dt.datetime.now(SHANGHAI).isoformat(),
            "content": "东一巷菜场门口占道经营，摊位堵住了路",
            "caller_phone": "13912340000",
        }
        answer = httpx.post(f"{base}/api/cases", json=record, headers=auth(OPERATOR), timeout=30)
        assert answer.status_code == 201, answer.text
        case = answer.json()
        # The demo district tells 城管 and 茶亭路社区 through the webhook (engine/data/haicheng.yaml).
        unit = (case.get("dispatch") or {}).get("unit")
        assert unit in ("chengguan", "chatinglu"), unit
        deadline = time.monotonic() + 60
        while not (hook.received() and gateway.received()):
            assert time.monotonic() < deadline, "no notice reached the receivers"
            time.sleep(0.2)
        ((hook_body, _),) = hook.received().values()
        posted = json.loads(hook_body)
        assert posted["kind"] == "case_arrived" and posted["target"] == unit
        assert posted["order_no"] == case["order_no"] and case["order_no"] in posted["text"]
        ((sms_body, _),) = gateway.received().values()
        text = json.loads(sms_body)
        assert text["to"] == "13912340000" and f"工单编号 {case['order_no']}" in text["text"]
        # The case's timeline says so.
        events = httpx.get(f"{base}/api/cases/{case['id']}/events", headers=auth(OPERATOR), timeout=30).json()
        told = {e["unit_name"] for e in events if e["type"] == "NoticeSent"}
        assert "来电人（短信）" in told and any("推送接口" in t for t in told)
    finally:
        stop_process(proc, grace=20)
