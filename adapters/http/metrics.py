"""/metrics in the Prometheus text format.

Counts are read from the system of record at scrape time (the read model for intake by
channel, the dead-letter store, the log's head versus the projections' position), so several
API processes report the same numbers. Routing latency is measured in this process: the
router is wrapped once at start-up.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adapters.bootstrap import Runtime
from engine.routing.port import CaseFacts, RoutingDecision


class TimedRouter:
    """Decorates a router: every decision is timed into a histogram."""

    def __init__(self, inner: Any, histogram: Histogram) -> None:
        self._inner = inner
        self._histogram = histogram

    def prepare(self, batch: Sequence[CaseFacts]) -> None:
        self._inner.prepare(batch)

    def decide(self, facts: CaseFacts) -> RoutingDecision:
        start = time.perf_counter()
        try:
            decision: RoutingDecision = self._inner.decide(facts)
            return decision
        finally:
            self._histogram.observe(time.perf_counter() - start)

    def next_unit(self, facts: CaseFacts) -> tuple[str | None, dict[str, Any]]:
        result: tuple[str | None, dict[str, Any]] = self._inner.next_unit(facts)
        return result

    def case_opened(self, facts: CaseFacts, category: str, locality: str | None) -> None:
        self._inner.case_opened(facts, category, locality)

    def case_closed(self, case_id: UUID) -> None:
        self._inner.case_closed(case_id)

    def learn(self, text: str, category: str) -> None:
        self._inner.learn(text, category)

    def __getattr__(self, name: str) -> Any:  # anything else the concrete router offers
        return getattr(self._inner, name)


def _row_key(row: Any) -> str:
    if isinstance(row, dict):
        return str(row.get("key"))
    return str(getattr(row, "key", ""))


def _row_count(row: Any, *names: str) -> float | None:
    for name in names:
        value = row.get(name) if isinstance(row, dict) else getattr(row, name, None)
        if isinstance(value, int | float):
            return float(value)
    return None


class SanshiCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        yield from self._intake()
        yield from self._dead_letters()
        yield from self._lag()
        yield from self._quarantined()

    def _intake(self) -> Iterator[Metric]:
        fam = CounterMetricFamily(
            "sanshi_intake", "Cases received (受理), by channel", labels=["channel"]
        )
        try:
            stats = self.runtime.read_model.stats("channel", None, None, {})
        except Exception:  # a scrape must not fail because a view is rebuilding
            stats = None
        rows = stats.get("rows", []) if isinstance(stats, dict) else getattr(stats, "rows", [])
        for row in rows or []:
            count = _row_count(row, "received", "cases", "count")
            if count is not None:
                fam.add_metric([_row_key(row)], count)
        yield fam

    def _dead_letters(self) -> Iterator[Metric]:
        fam = GaugeMetricFamily("sanshi_dead_letters", "Records in the dead-letter store")
        # The table may not exist yet on a fresh database: then no sample.
        with contextlib.suppress(Exception):
            fam.add_metric([], self.runtime.dead_letter_store.count())
        yield fam

    def _lag(self) -> Iterator[Metric]:
        fam = GaugeMetricFamily(
            "sanshi_projection_lag_events",
            "Events in the log not yet applied to the read model",
        )
        with contextlib.suppress(Exception):
            fam.add_metric([], self.runtime.projector.lag())
        yield fam


    def _quarantined(self) -> Iterator[Metric]:
        fam = GaugeMetricFamily(
            "sanshi_projection_quarantined_events",
            "Events of the log the read model could not apply and set aside (隔离事件)",
        )
        with contextlib.suppress(Exception):
            fam.add_metric([], self.runtime.projector.quarantined_count())
        yield fam


def build_metrics(runtime: Runtime) -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    routing = Histogram(
        "sanshi_routing_seconds",
        "Time the router takes to decide one case",
        buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        registry=registry,
    )
    registry.register(SanshiCollector(runtime))
    return registry, routing
