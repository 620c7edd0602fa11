"""Console sign-in: argon2 passwords, session cookies, CSRF, the login rate limit, logout,
roles, single sign-on through a trusted header, the security headers, the audit log."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from riskengine.cli import main
from riskengine.errors import InvalidInput
from riskengine.users import create_user
from tests.factories import CONSOLE_PASSWORD as PASSWORD
from tests.factories import console_csrf as csrf
from tests.factories import console_post as post
from tests.factories import console_sign_in as sign_in


def test_every_console_page_needs_a_session(client):
    for path in ("/console/", "/console/queue", "/console/accounts/x", "/console/policy", "/console/whatif",
                 "/console/audit", "/console/clusters/c1"):
        r = client.get(path)
        assert r.status_code == 302 and r.headers["Location"].startswith("/console/login"), path
    assert client.post("/console/policy/lists", data={}).status_code in (400, 401)


def test_passwords_are_stored_as_argon2id_and_checked(app, users, client):
    with app.extensions["riskengine"].db.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM consoleuser WHERE name = 'ana'")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert sign_in(client, "ana", "wrong password!!").status_code == 401
    assert sign_in(client, "nobody", PASSWORD).status_code == 401
    r = sign_in(client, "ana")
    assert r.status_code == 302
    assert client.get("/console/").status_code == 200


def test_session_cookie_flags_and_secure_over_tls(app, users):
    c = app.test_client()
    r = sign_in(c, "ana")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie
    tls = app.test_client()
    token = csrf(tls, "https://localhost/console/login")
    r = tls.post("https://localhost/console/login", data={"name": "ana", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302 and "Secure" in r.headers["Set-Cookie"]


def test_forms_without_the_csrf_token_are_refused(as_role):
    c = as_role("analyst")
    r = c.post("/console/accounts/a1/label", data={"label": "fraud"})
    assert r.status_code == 400 and "form expired" in r.get_data(as_text=True)
    assert c.post("/console/login", data={"name": "ana", "password": PASSWORD}).status_code == 400


def test_logout_ends_the_session_on_the_server(app, users):
    c = app.test_client()
    sign_in(c, "ana")
    stolen = c.get_cookie("riskengine_console", path="/console").value
    assert post(c, "/console/logout", {}).status_code == 302
    assert c.get("/console/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("riskengine_console", stolen, path="/console")
    assert replay.get("/console/").status_code == 302        # the old cookie signs no one in


def test_login_attempts_are_rate_limited(app, users):
    c = app.test_client()
    codes = [sign_in(c, "ana", "not the password").status_code for _ in range(10)]
    assert codes == [401] * 10
    r = sign_in(c, "ana")                                     # the right password, too late
    assert r.status_code == 429 and "retry in" in r.get_data(as_text=True)


def test_roles_viewer_reads_but_cannot_label_or_edit(app, as_role, world):
    viewer = as_role("viewer")
    assert viewer.get("/console/accounts/farm_1").status_code == 200
    assert post(viewer, "/console/accounts/farm_1/label", {"label": "fraud"}).status_code == 403
    assert post(viewer, "/console/policy/lists", {"deny.accounts": "farm_1", "note": "x"}).status_code == 403
    assert post(viewer, "/console/whatif", {"policy": "{}", "days": "7"}).status_code == 403
    assert viewer.get("/console/audit").status_code == 403
    analyst = as_role("analyst")
    assert post(analyst, "/console/policy/publish", {"policy": "{}", "note": "x"}).status_code == 403
    assert analyst.get("/console/audit").status_code == 403
    with app.extensions["riskengine"].db.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM label WHERE account_id = 'farm_1'")).scalar_one() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM policyversion")).scalar_one() == 0


def test_viewers_see_emails_masked_analysts_in_full(as_role, world):
    assert "x1q9z1@example.com" in as_role("analyst").get("/console/accounts/farm_1").get_data(as_text=True)
    page = as_role("viewer").get("/console/accounts/farm_1").get_data(as_text=True)
    assert "x1q9z1@example.com" not in page and "x••••@example.com" in page


def test_security_headers(as_role):
    r = as_role("viewer").get("/console/")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["Cache-Control"] == "no-store"
    assert "<script>" not in r.get_data(as_text=True)        # no inline script: CSP would refuse it


def test_single_sign_on_header(config, users):
    from dataclasses import replace

    from riskengine.web.app import create_app
    app = create_app(replace(config, console_auth_header="X-Forwarded-User"))
    try:
        c = app.test_client()
        assert c.get("/console/", headers={"X-Forwarded-User": "adam"}).status_code == 200
        assert c.get("/console/audit", headers={"X-Forwarded-User": "vera"}).status_code == 403
        assert c.get("/console/", headers={"X-Forwarded-User": "mallory"}).status_code == 302
        assert c.get("/console/").status_code == 302
    finally:
        app.extensions["riskengine"].close()


def test_audit_log_records_who_what_when_before_after(app, as_role, world):
    analyst = as_role("analyst")
    post(analyst, "/console/accounts/farm_2/label", {"label": "fraud", "note": "same card as farm_0"})
    page = as_role("admin").get("/console/audit").get_data(as_text=True)
    assert "ana" in page and "farm_2" in page and "same card as farm_0" in page
    with app.extensions["riskengine"].db.connect() as conn:
        row = conn.execute(text("SELECT user_name, action, target, before, after FROM auditentry "
                                "WHERE action = 'label'")).one()
    assert row[:3] == ("ana", "label", "farm_2")


def test_users_create_reads_the_password_from_stdin(app, monkeypatch, db_url):
    monkeypatch.setenv("RISKENGINE_DATABASE_URL", db_url)
    runner = CliRunner()
    r = runner.invoke(main, ["users", "create", "rita", "--role", "analyst"], input=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    c = app.test_client()
    assert sign_in(c, "rita").status_code == 302
    again = runner.invoke(main, ["users", "create", "rita", "--role", "admin"], input=PASSWORD + "\n")
    assert again.exit_code == 1 and "exists already" in again.output
    short = runner.invoke(main, ["users", "create", "sam", "--role", "admin"], input="short\n")
    assert short.exit_code == 1 and "password" in short.output
    bad = runner.invoke(main, ["users", "create", "sam", "--role", "root"], input=PASSWORD + "\n")
    assert bad.exit_code == 2 and "role" in bad.output


def test_create_user_names_the_field(app):
    db = app.extensions["riskengine"].db
    with pytest.raises(InvalidInput) as e:
        create_user(db, "has space", "viewer", PASSWORD)
    assert e.value.field == "name"
