"""SANSHI_CIPHER_KEY in the views: the columns that hold what a resident wrote or a unit
answered are stored sealed, and opened when read.

The one boundary: ``driver_sql.RowWriter`` seals on write and opens on the projector's reload;
``queries.ReadModel`` opens what it returns. The fold and everything above the read model see
plain text. The sealer comes from the wiring (``adapters.transport.sealing.Sealer``; projections
do not import adapters); without a key there is none and the columns hold the text as before.

Mixed databases: sealed text carries a mark, so rows written before the key was set still read
(they pass through as they are). They stay in clear until ``sanshi projections rebuild``, which
rewrites every row sealed; ``docs/faults.md`` and the rebuild command say so. Chosen over
refusing to start on such a database: setting the key must not take the inboxes down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

# view_cases.address / snippet / result, view_open_cases.content / address, and the reason of
# a return waiting for review (return_reason, both tables). Nothing else in
# the views is free text: the rest are ids, codes, times and counters (and manual_reason, which
# is the router's or the centre's own wording, never the resident's).
SEALED_COLUMNS = frozenset({"address", "snippet", "result", "content", "return_reason"})


class TextSealer(Protocol):
    def seal_text(self, text: str) -> str: ...

    def open_text(self, text: str) -> str:
        """Plain text as it is, sealed text opened; ValueError if it cannot be opened."""
        ...


def opener(sealer: TextSealer) -> Callable[[str], str]:
    """``open_text``, but a value the key cannot open comes back as stored. Such a value is
    either text from before the key that happens to start with the mark (a resident can type
    anything), which is then shown as written, or a sealed value under another key, which
    cannot happen without the event log failing first (it is encrypted with the same key), so
    nothing is hidden by not failing here; a whole inbox failing for one odd row would be."""
    open_text = sealer.open_text

    def open_(value: str) -> str:
        try:
            return open_text(value)
        except ValueError:
            return value

    return open_


def open_row(row: dict[str, Any], open_: Callable[[str], str]) -> dict[str, Any]:
    """Open, in place, the sealed columns present in a row read from the views."""
    for c in SEALED_COLUMNS.intersection(row):
        v = row[c]
        if v:
            row[c] = open_(v)
    return row
