"""Values at the edges of what a field's type can hold, shared by the tests that send them to
every route (tests/unit/test_api_edge_values.py: query parameters of the GET routes;
tests/unit/test_api_body_edges.py: the JSON bodies of the write routes)."""

from __future__ import annotations

EDGES = (
    "9999-12-31",  # the last date: a day or a month added to it overflows
    "0001-01-01",  # the first date: moved to UTC it is before the first
    "9999-W52",
    "2026-02-30",  # a day that does not exist
    "99999999999999999999",  # past 64 bits
    "-99999999999999999999",
    "1e309",  # past a double: infinity
    "\x00",
    "２０２６－１１－３０",  # full-width digits
    "a" * 5000,
)
