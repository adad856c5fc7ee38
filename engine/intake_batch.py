"""Intake in batches (受理): many records in one transaction, the throughput lever of the
worker (one Kafka poll → one save). ``SanshiApplication.receive`` / ``receive_batch`` delegate
here; the lifecycle commands stay in ``engine.application``.

Optimistic: no per-record existence query on the common path. If the store refuses the batch
(a re-sent record, or another writer touched a merge target), it looks up which records exist
already and tries again without them. A re-send is a duplicate, reported as such, never a
second case.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import IntegrityError

from engine.application import (
    SYSTEM,
    ConcurrencyConflict,
    IntakeResult,
    SanshiApplication,
    facts_of,
)
from engine.domain import Case
from engine.intake import IntakeCommand
from engine.order_numbers import (
    OrderBook,
    book_id,
    format_order_no,
    order_day,
    order_prefix,
    predict_appeal_type,
)
from engine.routing.port import CaseFacts, DuplicateCandidate, RoutingDecision

ATTEMPTS = 20


class IntakeBatch:
    """The batch path of one application service (its router, store and save hook)."""

    # Case ids this process saved lately: a re-sent record among them is known to be a
    # duplicate before the save, so the batch is not refused and routed twice (at a peak-day
    # rate ~1% of records are re-sends, i.e. nearly every 500-record batch has one).
    RECENT_IDS = 65_536

    def __init__(self, app: SanshiApplication) -> None:
        self.app = app
        self.recent_ids: OrderedDict[UUID, None] = OrderedDict()
        self._recent_lock = threading.Lock()  # the HTTP app saves from several threads
        # The day's order books, kept between batches: a book gets one event per batch (70,000
        # a day at Beijing's volume), so loading it from the store read every one of them again
        # for every new case. The library's cache fast-forwards a kept book by the events saved
        # since (by other processes too), so a number is never issued twice; a save that fails
        # leaves the kept book as it was (only a copy is changed).
        self.order_books: Repository[UUID] = Repository(app.events, cache_maxsize=64)

    def receive(
        self, cmds: Sequence[IntakeCommand], principal: str, route: bool
    ) -> list[IntakeResult]:
        """Receive many records in one transaction."""
        app = self.app
        ids = [c.case_id for c in cmds]  # uuid5 each: computed once
        recent = self.recent_ids
        known: set[UUID] = {cid for cid in ids if cid in recent}
        # More tries than a re-send needs: two writers numbering the same day's cases collide
        # on that day's order book, and the loser only has to read it again.
        for _ in range(ATTEMPTS):
            fresh, touched = self._prepare(cmds, ids, known, principal, route)
            if not fresh:
                return self._results(ids, known, fresh)
            books = self._number(fresh.values(), principal)
            try:
                app.save(*fresh.values(), *touched.values(), *books)
            except IntegrityError:
                known = app.existing(ids)
                # Take back from the router only what was not saved: a record that exists
                # already (a re-send) keeps its place in the duplicate index.
                for cid in fresh:
                    if cid not in known:
                        app.router.case_closed(cid)
                continue
            self._remember_saved(fresh)
            if app.on_saved is not None:
                app.on_saved()
            return self._results(ids, known, fresh)
        raise ConcurrencyConflict(cmds[0].case_id)

    @staticmethod
    def _results(
        ids: Sequence[UUID], known: set[UUID], fresh: dict[UUID, Case]
    ) -> list[IntakeResult]:
        results: list[IntakeResult] = []
        seen: set[UUID] = set()
        for cid in ids:
            if cid in seen or cid in known:
                results.append(IntakeResult(cid, True, "duplicate"))
                continue
            seen.add(cid)
            case = fresh[cid]
            results.append(
                IntakeResult(
                    cid,
                    False,
                    case.status.value,
                    merged_into=case.merged_into,
                    unit=case.assigned_unit,
                )
            )
        return results

    def _remember_saved(self, ids: Iterable[UUID]) -> None:
        recent = self.recent_ids
        with self._recent_lock:
            for cid in ids:
                recent[cid] = None
            while len(recent) > self.RECENT_IDS:
                recent.popitem(last=False)

    def _prepare(
        self,
        cmds: Sequence[IntakeCommand],
        ids: Sequence[UUID],
        known: set[UUID],
        principal: str,
        route: bool,
    ) -> tuple[dict[UUID, Case], dict[UUID, Case]]:
        """The new cases of a batch, routed, and the older open cases they merge into.

        A merge into a case outside the batch is only known once the router has decided, and
        each decision depends on the cases before it being in the router's index. So: decide
        every record in order, merging at once into cases of the batch and noting merges into
        older cases; then read all those older cases in one query and merge. A target that
        turns out closed or missing (the router's index is behind another process's writes) is
        taken out of the index and the batch is decided again from the start, with merges into
        it refused (→ dispatched, as the router would have decided had it known)."""
        router = self.app.router
        targets: dict[UUID, Case] = {}  # older open cases read for this batch
        refused: set[UUID] = set()  # merge targets found closed or missing
        while True:
            fresh, intents = self._decide(cmds, ids, known, principal, route, refused)
            unread = {m.case_id for _, m in intents if m.case_id not in targets}
            if unread:
                targets.update(self.app.get_cases(unread))
            stale = {t for t in unread if t not in targets or not targets[t].is_open}
            if not stale:
                break
            for tid in stale:
                router.case_closed(tid)
                targets.pop(tid, None)
            refused |= stale
            for cid in fresh:  # undo this pass's index entries; the next pass makes them again
                router.case_closed(cid)
        touched: dict[UUID, Case] = {}
        for case, merge in intents:
            target = targets[merge.case_id]
            self._merge(case, target, merge)
            touched[target.id] = target
        return fresh, touched

    def _decide(
        self,
        cmds: Sequence[IntakeCommand],
        ids: Sequence[UUID],
        known: set[UUID],
        principal: str,
        route: bool,
        refused: set[UUID],
    ) -> tuple[dict[UUID, Case], list[tuple[Case, DuplicateCandidate]]]:
        """One pass over the batch: the new cases, classified, merged into each other,
        dispatched or queued; and the merges into cases outside the batch, not yet applied."""
        fresh: dict[UUID, Case] = {}
        for cmd, cid in zip(cmds, ids, strict=True):
            if cid not in fresh and cid not in known:
                fresh[cid] = self._new_case(cmd, principal)
        intents: list[tuple[Case, DuplicateCandidate]] = []
        if not route or not fresh:
            return fresh, intents
        router = self.app.router
        received = [facts_of(case) for case in fresh.values()]  # as decide sees them too
        router.prepare(received)
        separate = {cid for cmd, cid in zip(cmds, ids, strict=True) if cmd.keep_separate}
        for case, facts in zip(fresh.values(), received, strict=True):
            decision = self._classify(case, facts)
            merge = decision.merge_into
            if merge is not None and case.id in separate:
                # 不合并: the operator kept it separate; the proposal stays on record.
                case.decline_merge(
                    target=merge.case_id, similarity=merge.similarity, principal=principal,
                    at=case.received_at,
                )
                merge = None
            if merge is not None and merge.case_id not in refused:
                inside = fresh.get(merge.case_id)
                if inside is None:
                    intents.append((case, merge))  # not indexed: a merged case is not open
                    continue
                if inside.is_open:
                    self._merge(case, inside, merge)
                    continue
            self._dispatch_or_queue(case, decision)
            if case.is_open and case.category:
                router.case_opened(facts_of(case), case.category, case.locality)
        return fresh, intents

    def _number(self, cases: Iterable[Case], principal: str) -> list[OrderBook]:
        """工单编号 for the new cases, in the batch's order, from each day's order book (read
        now: a book another writer moved since makes the save fail and the batch try again),
        and the predicted 诉求类型 of those without the operator's."""
        app = self.app
        prefix = order_prefix(app.config)
        by_day: dict[str, list[Case]] = {}
        for case in cases:
            by_day.setdefault(order_day(case.received_at), []).append(case)
        books: list[OrderBook] = []
        for day, numbered in by_day.items():
            at = max(case.received_at for case in numbered)
            try:
                book: Any = self.order_books.get(book_id(prefix, day))
            except AggregateNotFoundError:
                book = OrderBook(prefix=prefix, day=day, principal=principal, at=at)
            first = book.last + 1
            # One event for the batch's cases of that day.
            book.issue(count=len(numbered), principal=principal, at=at)
            books.append(book)
            for seq, case in enumerate(numbered, start=first):
                predicted = "" if case.appeal_type else predict_appeal_type(case.content)
                case.numbered(
                    order_no=format_order_no(prefix, day, seq),
                    appeal_type_predicted=predicted,
                    principal=principal,
                    at=case.received_at,
                )
        return books

    # ---- one record ----------------------------------------------------------------------

    @staticmethod
    def _new_case(cmd: IntakeCommand, principal: str) -> Case:
        case = Case(
            channel=cmd.channel.value,
            source_ref=cmd.source_ref,
            received_at=cmd.received_at,
            content=cmd.content,
            address=cmd.address,
            caller_name=cmd.caller_name,
            caller_phone=cmd.caller_phone,
            appeal_type=cmd.appeal_type,
            urgent=cmd.urgent,
            category_hint=cmd.category_hint,
            concern=cmd.concern.value,
            extra=dict(cmd.extra),
            principal=principal,
            at=cmd.received_at,
        )
        if cmd.confidential:
            case.mark_confidential(principal=principal, at=cmd.received_at)
        return case

    def _classify(self, case: Case, facts: CaseFacts) -> RoutingDecision:
        """The router's decision on a new case, recorded as its Classified event."""
        decision = self.app.router.decide(facts)
        reason = dict(decision.reason)
        reason["possible_duplicates"] = [
            {"case_id": str(d.case_id), "similarity": round(d.similarity, 3)}
            for d in decision.possible_duplicates
        ]
        case.classify(
            category=decision.category,
            urgent=decision.urgent,
            locality=decision.locality,
            street=decision.street,
            reason=reason,
            override=False,
            principal=SYSTEM,
            at=case.received_at,
            leaf=decision.leaf,
        )
        return decision

    @staticmethod
    def _merge(case: Case, target: Case, merge: DuplicateCandidate) -> None:
        at = case.received_at
        case.merge_into(
            target=target.id,
            similarity=merge.similarity,
            reason=dict(merge.why),
            principal=SYSTEM,
            at=at,
        )
        target.link_duplicate(duplicate=case.id, principal=SYSTEM, at=at)

    def _dispatch_or_queue(self, case: Case, decision: RoutingDecision) -> None:
        if decision.unit is not None:
            self.app.dispatch_case(case, decision.unit, {"by": "router"}, SYSTEM, case.received_at)
        else:
            case.send_to_manual(
                reason=decision.manual_reason or "待人工派单", principal=SYSTEM, at=case.received_at
            )
