"""The router's duplicate index is told of a case when what it keeps changes (opened, re-filed
under another category, closed), not on every command: a claim re-filed the case, and in an API
process that routes nothing (Kafka mode) each claim then cost a sentence vector
(bench/RESULTS.md, API)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from engine.application import SanshiApplication
from engine.config import SanshiConfig, load_config
from engine.deadlines import SHANGHAI
from engine.domain import Status
from engine.intake import Channel, IntakeCommand
from engine.routing.keyword import KeywordRouter
from engine.routing.port import CaseFacts

T0 = dt.datetime(2026, 9, 21, 10, 0, tzinfo=SHANGHAI)


class FilingRouter(KeywordRouter):
    """The keyword router, noting what it was told."""

    def __init__(self, config: SanshiConfig) -> None:
        super().__init__(config)
        self.opened: list[tuple[UUID, str, str]] = []
        self.closed: list[UUID] = []

    def case_opened(self, facts: CaseFacts, category: str, locality: str) -> None:
        self.opened.append((facts.case_id, category, locality))
        super().case_opened(facts, category, locality)

    def case_closed(self, case_id: UUID) -> None:
        self.closed.append(case_id)
        super().case_closed(case_id)


@pytest.fixture
def app() -> Iterator[tuple[SanshiApplication, FilingRouter]]:
    config = load_config()
    router = FilingRouter(config)
    a = SanshiApplication(config, router, env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield a, router
    a.close()


def _lamp(app: SanshiApplication) -> Any:
    return app.receive(
        IntakeCommand(
            channel=Channel.HOTLINE,
            source_ref="F000001",
            received_at=T0,
            content="茶亭路28号门口路灯不亮，晚上很黑",
            address="茶亭路28号",
            caller_phone="13800000001",
        )
    )


def test_a_claim_does_not_file_the_case_again(app: tuple[SanshiApplication, FilingRouter]) -> None:
    application, router = app
    outcome = _lamp(application)
    case = application.get_case(outcome.case_id)
    assert case.status == Status.DISPATCHED
    filed = list(router.opened)
    assert [f[0] for f in filed] == [case.id]  # filed once, when it was opened

    application.claim(case.id, case.assigned_unit, "clerk")
    assert application.get_case(case.id).status == Status.CLAIMED
    assert router.opened == filed  # nothing the index keeps changed

    # Returned to the centre (待审退单), which files it under another category.
    application.return_case(case.id, case.assigned_unit, "不属于本单位职责", "clerk")
    other = next(c for c in application.config.category_codes() if c != case.category)
    application.reclassify(case.id, other, "operator")
    assert router.opened[-1] == (case.id, other, case.locality)  # re-filed under the new one


def test_a_resolved_case_leaves_the_index(app: tuple[SanshiApplication, FilingRouter]) -> None:
    application, router = app
    case = application.get_case(_lamp(application).case_id)
    application.claim(case.id, case.assigned_unit, "clerk")
    application.resolve(case.id, case.assigned_unit, "已修复", "clerk")
    assert router.closed[-1] == case.id
