"""网格员上报 (grid) and 企呼市应 (enterprise) in the simulated stream (docs/channels.md).

Grid workers report on their rounds and visit households on working days; on a resident's
behalf they record the resident's consent (签字, 书面, 口头), and now and then one forgets to
(the record is a dead letter that says so, as the adapter must make it). Enterprises write
on working days, each with its 统一社会信用代码 (check digit computed: a real-looking code),
sometimes spelt in full-width characters or with spaces, as people type them.

The records come from an rng of their own, so the four first channels' records of a seed do
not depend on how many of these there are; the incidents they tell of are the stream's own
(a pothole a grid worker reports may also be called in to 12345).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import TYPE_CHECKING, Any

from stdnum.cn import uscc

from adapters.simulator.texts import person_name, phone_number, tell

if TYPE_CHECKING:
    from adapters.simulator.stream import IntakeStream, SimRecord

# Of a day's intake at scale 1 (the four first channels make the rest).
GRID_SHARE = 0.06
ENTERPRISE_SHARE = 0.03
WORK_HOURS = range(8, 18)
ON_BEHALF_P = 0.6  # a visit's record is mostly a resident's matter
# Of the records on a resident's behalf, every FORGOT_CONSENT_EVERY-th (from the fourth) has
# no consent recorded: a dead letter the demo shows even in one day.
FORGOT_CONSENT_EVERY = 8
ENTERPRISES = (
    "北海海韵食品有限公司", "北海银滩旅游开发有限公司", "北海市兴港物流有限公司",
    "北海蓝湾海产品加工厂", "北海合浦珍珠贸易有限公司", "北海鑫源建材有限公司",
    "北海市老街文创有限公司", "北海海城区阿强海鲜排档", "北海市北部湾电子科技有限公司",
)
ENTERPRISE_OPENERS = ("我公司反映：", "企业诉求：", "本企业", "我们是辖区企业，")


def credit_code_of(name: str) -> str:
    """A well-formed 统一社会信用代码 for a simulated enterprise (stable per name)."""
    r = random.Random(f"uscc:{name}")
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    kind = "92" if "排档" in name or "加工厂" in name else "91"  # 个体工商户 : 企业
    body = kind + "450502" + "".join(r.choice(alphabet) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def hostile_spelling(code: str, r: random.Random) -> str:
    """The same code as people type it: full-width, with spaces, in lower case."""
    way = r.randrange(4)
    if way == 0:
        return "".join(chr(ord(c) + 0xFEE0) for c in code)  # full-width forms
    if way == 1:
        return f"{code[:4]} {code[4:8]} {code[8:]}"
    if way == 2:
        return code.lower()
    return code


class PartnerChannels:
    """The grid and enterprise records of each simulated hour."""

    def __init__(self, stream: IntakeStream) -> None:
        self.stream = stream
        self.rng = random.Random(f"partner-channels:{stream.seed}")
        self.counts: Counter[str] = Counter()
        self._n = 0

    def records_between(self, t0: dt.datetime, t1: dt.datetime) -> list[SimRecord]:
        day = t0.date()
        if t0.hour not in WORK_HOURS or not self.stream.calendar.is_workday(day):
            return []
        from adapters.simulator.stream import poisson

        per_hour = self.stream.daily / len(WORK_HOURS)
        out: list[SimRecord] = []
        for channel, share in (("grid", GRID_SHARE), ("enterprise", ENTERPRISE_SHARE)):
            for _ in range(poisson(self.rng, per_hour * share)):
                at = t0 + dt.timedelta(seconds=self.rng.randrange(int((t1 - t0).total_seconds())))
                out.append(self._record(channel, at))
        return out

    def _incident(self, at: dt.datetime) -> Any:
        # The stream's incident (place, facts, follow-up reports) drawn with this rng, so the
        # stream's own sequence is not consumed here.
        own, self.stream.rng = self.stream.rng, self.rng
        try:
            return self.stream._new_incident("hotline", at)
        finally:
            self.stream.rng = own

    def _record(self, channel: str, at: dt.datetime) -> SimRecord:
        from adapters.simulator.stream import SimRecord

        r = self.rng
        incident = self._incident(at)
        incident.reports += 1
        self._n += 1
        if channel == "grid":
            ref = f"GR{at:%Y%m%d}{self._n:05d}"
            on_behalf = r.random() < ON_BEHALF_P
            rec: dict[str, Any] = {
                "report_no": ref,
                "grid_worker_id": f"gw{r.randint(1, 60):03d}",
                "grid_id": f"第{r.randint(1, 12)}网格",
                "kind": "走访" if on_behalf else "巡查上报",
                "received_at": at.isoformat(),
                "content": tell(incident, "walkin", r, True),
                "address": incident.address,
                "on_behalf": on_behalf,
            }
            passes = True
            if on_behalf:
                rec |= {"resident_name": person_name(r), "resident_phone": phone_number(r)}
                self.counts["grid_asked"] += 1
                if self.counts["grid_asked"] % FORGOT_CONSENT_EVERY == 4 % FORGOT_CONSENT_EVERY:
                    passes = False  # the adapter must dead-letter it: no consent recorded
                    self.counts["grid_no_consent"] += 1
                else:
                    rec |= {
                        "consent": "同意",
                        "consent_method": r.choice(("签字", "书面", "口头")),
                        "consent_at": (at - dt.timedelta(minutes=r.randint(1, 30))).isoformat(),
                    }
                    self.counts["grid_on_behalf"] += 1
            return SimRecord(channel, rec, ref, at, incident if passes else None, passes=passes)
        name = r.choice(ENTERPRISES)
        ref = f"QH{at:%Y%m%d}{self._n:05d}"
        rec = {
            "request_no": ref,
            "received_at": at.isoformat(),
            "enterprise_name": name,
            "credit_code": hostile_spelling(credit_code_of(name), r),
            "contact_name": person_name(r),
            "contact_phone": phone_number(r),
            "content": r.choice(ENTERPRISE_OPENERS) + tell(incident, "app", r, True),
            "address": incident.address,
        }
        self.counts["enterprise"] += 1
        return SimRecord(channel, rec, ref, at, incident)


def summary_lines(report: Any) -> list[str]:
    """The demo summary's lines for the two channels (adapters/cli/demo.py)."""
    p, out = report.partners, report.outcomes
    if not report.records["grid"] and not report.records["enterprise"]:
        return []
    return [
        f"网格员上报：{report.records['grid']} 条，受理 {out[('grid', 'accepted')]} 件；"
        f"代办 {p['grid_on_behalf']} 件均记录居民同意，未记录同意的 {p['grid_no_consent']} 条进入死信"
        f"（{out[('grid', 'dead_lettered')]} 条）",
        f"企呼市应：{report.records['enterprise']} 条（统一社会信用代码含全角、空格、小写写法），"
        f"受理 {out[('enterprise', 'accepted')]} 件，营商环境办牵头 {p['enterprise_led']} 件",
    ]
