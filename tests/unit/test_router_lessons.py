"""An operator's re-categorisation teaches every router through the log: another process, or
the same one after a restart, routes the next look-alike complaint the operator's way."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from adapters.bootstrap import bootstrap
from engine.deadlines import SHANGHAI
from engine.intake import Channel, IntakeCommand
from engine.settings import Settings

T0 = dt.datetime(2026, 9, 21, 10, 0, tzinfo=SHANGHAI)
TEXT = "小区门口新开的剧本杀店每天排长队，顾客把共享单车堆满了盲道"


def test_lesson_reaches_a_router_in_another_process(tmp_path: Path) -> None:
    settings = Settings.from_env({"SANSHI_DB": f"sqlite:///{tmp_path / 'lessons.db'}"})
    api = bootstrap(settings)
    try:
        first = api.app.receive(
            IntakeCommand(
                channel=Channel.HOTLINE,
                source_ref="L-1",
                received_at=T0,
                content=TEXT,
                address="北海市海城区茶亭路1号",
            ),
            route=False,
        )
        routed_as = api.router.classify(TEXT)[0]  # type: ignore[attr-defined]
        lesson = "transport" if routed_as != "transport" else "city_management"
        api.app.reclassify(first.case_id, lesson, "operator:test", at=T0)
    finally:
        api.close()

    # A second runtime on the same log: a worker process, or the API after a restart.
    worker = bootstrap(settings)
    try:
        result = worker.app.receive(
            IntakeCommand(
                channel=Channel.APP,
                source_ref="L-2",
                received_at=T0 + dt.timedelta(hours=1),
                content=TEXT.replace("每天", "天天"),
                address="北海市海城区贵州路5号",
            )
        )
        assert worker.app.get_case(result.case_id).category == lesson
        # Learned once, however often the log is read again.
        assert worker.router.catch_up_lessons() == 0  # type: ignore[attr-defined]
    finally:
        worker.close()
