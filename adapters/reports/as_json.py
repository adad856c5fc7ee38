"""A report (projections.reports.Report) as JSON: what ``GET /api/reports`` answers and
``sanshi report --format json`` writes."""

from __future__ import annotations

import dataclasses
from typing import Any

from adapters.jsonable import jsonable
from projections.reports import Report


def report_json(report: Report) -> dict[str, Any]:
    out: dict[str, Any] = jsonable(dataclasses.asdict(report))
    out["period"] = {**out["period"], "label": report.period.label, "kind_label": report.period.kind_label}
    out["previous"] = {**out["previous"], "label": report.previous.label}
    out["title"] = report.title
    out["file_name"] = report.file_stem() + ".xlsx"
    for rise, data in zip(report.rises, out["rises"], strict=True):
        data["change"], data["change_ratio"] = rise.change, rise.change_ratio
    return out
