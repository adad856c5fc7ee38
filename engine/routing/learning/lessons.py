"""Operators' lessons from the log: every router learns every re-categorisation.

An operator re-categorises a case in one process (the HTTP API); new intake is routed in
another (a Kafka worker), and every process restarts sooner or later. The lesson is in the log
as a ``Classified`` event with ``override=true``, so each router follows the log for those
events and learns from them — at start-up (all past lessons) and before each decision (the
ones since).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

CLASSIFIED_TOPIC = "engine.domain:Case.Classified"
# The JSON transcoder writes compact JSON; an encrypted or compressed log is decoded in full.
_OVERRIDE_MARK = b'"override":true'


class LessonFeed:
    """Reads ``(text, category)`` lessons from an eventsourcing application's notification log,
    after a position it remembers."""

    def __init__(self, app: Any, batch: int = 1000) -> None:
        self.app = app
        self.batch = batch
        self.position = 0

    def since(self) -> list[tuple[str, str]]:
        lessons: list[tuple[str, str]] = []
        while True:
            notes: Sequence[Any] = self.app.recorder.select_notifications(
                self.position,
                self.batch,
                topics=(CLASSIFIED_TOPIC,),
                inclusive_of_start=False,
            )
            if not notes:
                return lessons
            for note in notes:
                self.position = max(self.position, int(note.id))
                state = note.state
                plain_json = isinstance(state, bytes | bytearray) and state.lstrip()[:1] == b"{"
                if plain_json and _OVERRIDE_MARK not in state:
                    continue  # the router's own decision, not an operator's

                event = self.app.mapper.to_domain_event(note)
                if not getattr(event, "override", False):
                    continue
                lesson = self._lesson(note.originator_id, event)
                if lesson is not None:
                    lessons.append(lesson)
            if len(notes) < self.batch:
                return lessons

    def _lesson(self, case_id: UUID, event: Any) -> tuple[str, str] | None:
        try:
            received = next(iter(self.app.events.get(case_id, lte=1)))
        except StopIteration:
            return None
        content = getattr(received, "content", "")
        return (str(content), str(event.category)) if content else None
