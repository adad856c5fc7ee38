"""What the case view adds for merges under the centre's hand and 一表通 (docs/lifecycle.md):
the original's merged callers (N 人反映), the result told to a merged caller, the form of an item."""

from __future__ import annotations

from typing import Any

from adapters.http.policy import Principal, mask_name
from adapters.jsonable import jsonable
from engine.application import SanshiApplication
from engine.config import Role, SanshiConfig
from engine.domain import Case
from engine.vocabulary import FORM_KINDS, STATUSES


def merge_fields(
    app: SanshiApplication, case: Case, principal: Principal, config: SanshiConfig
) -> dict[str, Any]:
    """What the case view adds: N 人反映 (the merged callers of an original), the result told
    to a merged caller, and the 一表通 form of an item. A unit sees callers' names masked."""
    unit_reader = principal.role == Role.UNIT
    callers = []
    for dup in app.merged_callers(case):
        name = "" if unit_reader and dup.confidential else dup.caller_name
        callers.append(
            {
                "id": str(dup.id),
                "channel": dup.channel,
                "received_at": dup.received_at.isoformat(),
                "caller_name": mask_name(name) if unit_reader else name,
                "status": dup.status.value,
                "status_name": STATUSES.label(dup.status),
                "callback_due": dup.callback_due,
                "rating": dup.rating.value if dup.rating else None,
            }
        )
    form = None
    if case.form is not None:
        form = {
            **jsonable(case.form),
            "kind_name": FORM_KINDS.label(str(case.form["kind"])),
        }
    return {
        "merged_callers": callers,
        "reported_by": 1 + len(callers),
        "callback_due": case.callback_due,
        "original_result": case.original_result,
        "form": form,
    }
