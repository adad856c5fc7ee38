"""Named people (人员账号) for the HTTP tests, made through the admin's API as an admin would."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from tests.support.api import ADMIN, auth

PASSWORD = "correct horse battery"


def new_person(
    client: Any,
    login: str,
    role: str = "unit",
    unit: str | None = "chatinglu",
    *,
    name: str = "测试人员",
    password: str = PASSWORD,
    disabled: bool = False,
    with_token: bool = False,
) -> tuple[str, str | None]:
    """(account id, token id if one was issued)."""
    r = client.post(
        "/api/people",
        headers=auth(ADMIN),
        json={"login": login, "name": name, "role": role, "unit": unit, "password": password},
    )
    assert r.status_code == 201, r.text
    account = r.json()["id"]
    token_id = None
    if with_token:
        t = client.post(f"/api/people/{account}/tokens", headers=auth(ADMIN))
        assert t.status_code == 201, t.text
        token_id = t.json()["token_id"]
    if disabled:
        d = client.post(f"/api/people/{account}/disable", headers=auth(ADMIN))
        assert d.status_code == 200, d.text
    return account, token_id


def person_with_token(
    client: Any, login: str, role: str, unit: str | None, name: str = "测试人员"
) -> tuple[str, str]:
    """(account id, personal token)."""
    account, _ = new_person(client, login, role, unit, name=name)
    t = client.post(f"/api/people/{account}/tokens", headers=auth(ADMIN))
    assert t.status_code == 201, t.text
    return account, t.json()["token"]


def person_version(client: Any, path: str) -> int | None:
    """The version of the account a /api/people/{id}/... path names."""
    m = re.search(r"/api/people/([0-9a-f-]{36})", path)
    assert m, path
    row = client.app.state.people.view.by_id(m.group(1))
    return row.version if row is not None else None


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def move(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)
