"""Property-based checks of the whole HTTP surface from /openapi.json: whatever schemathesis
sends (with an operator's token, a unit's, or none), the server never answers 5xx.

Short by default (a few examples per operation); SANSHI_SCHEMATHESIS_EXAMPLES raises it.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from adapters.bootstrap import bootstrap  # noqa: E402
from adapters.http import create_app  # noqa: E402
from engine.settings import Settings  # noqa: E402
from tests.support.api import ADMIN, ASSIGNED, OPERATOR, auth  # noqa: E402

EXAMPLES = int(os.environ.get("SANSHI_SCHEMATHESIS_EXAMPLES", "6"))


# Built at import: schemathesis makes one test per operation from the schema.
_runtime = bootstrap(Settings.from_env({"SANSHI_DB": "memory://"}))
# Let the router finish loading its model in its background thread before schemathesis builds
# the tests: CPython 3.11.7 can raise "AST constructor recursion depth mismatch" (gh-106905)
# when another thread imports while hypothesis changes the recursion limit.
_wait_ready = getattr(_runtime.router, "wait_ready", None)
if callable(_wait_ready):
    _wait_ready()
# demo=True: the demo login's routes are in the schema too.
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_runtime, demo=True))


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_makes_the_server_fail(case: Any) -> None:
    # The same generated request as an operator, as a unit and without a token: every role
    # reaches a different depth of the code.
    # 管理设置 and people answer only an admin past the door: an admin's token there too.
    admin = (ADMIN,) if case.path.startswith(("/api/admin", "/api/people")) else ()
    for token in (OPERATOR, ASSIGNED, None, *admin):
        if isinstance(case.body, dict) and "api_key" in case.body:
            case.body["api_key"] = token or ""  # Open311 authenticates in the form
        response = case.call(headers=auth(token))
        case.validate_response(response, checks=[not_a_server_error])
