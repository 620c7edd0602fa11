"""Console fixtures: users of each role and a signed-in test client per role."""
from __future__ import annotations

import pytest

from riskengine.users import create_user
from tests.factories import CONSOLE_PASSWORD, console_sign_in


@pytest.fixture
def users(app):
    db = app.extensions["riskengine"].db
    for name, role in (("vera", "viewer"), ("ana", "analyst"), ("adam", "admin")):
        create_user(db, name, role, CONSOLE_PASSWORD)
    return {"viewer": "vera", "analyst": "ana", "admin": "adam"}


@pytest.fixture
def as_role(app, users):
    """as_role("analyst") -> a test client signed in as that role's user."""
    def make(role):
        c = app.test_client()
        r = console_sign_in(c, users[role])
        assert r.status_code == 302, r.get_data(as_text=True)
        return c
    return make


@pytest.fixture(scope="session", autouse=True)
def _warm_user_agent_parser():
    # ua-parser builds its matchers on first use (0.5-0.7 s on a loaded machine), inside the
    # first signup's 500 ms database budget: that signup is then stored degraded (or not at
    # all) and the world fixture's accounts go missing. Built here, before any request.
    from riskengine.signals.device import _parse_ua
    _parse_ua("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")
