"""Console sign-in: a random session token in Flask's signed session cookie (HttpOnly,
SameSite=Lax, Secure when the request came over TLS), looked up in consolesession on every
request (so logout and a disabled user take effect at once); CSRF tokens on every form
(Flask-WTF's); a rate limit on login attempts per client address and per user name; roles;
the audit log. With RISKENGINE_CONSOLE_AUTH_HEADER set, a trusted single-sign-on proxy names
the user in that header instead (the user must exist: the role comes from the database)."""
from __future__ import annotations

import hashlib
import secrets
import time
from functools import wraps

from flask import Flask, abort, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from limits import parse as parse_limit
from wtforms.validators import ValidationError

from riskengine.storage import users as store
from riskengine.users import RANK
from riskengine.web.errors import ApiError
from riskengine.web.ratelimit import RateLimiter

SESSION_SECONDS = 12 * 3600
LOGIN_LIMIT = "10/minute"       # attempts per client address, and per user name
OPEN_ENDPOINTS = {"console.login"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Scripts, styles and images from this origin only: no inline script, no CDN, no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'; connect-src 'self'")


class _ConsoleSessions(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(request.is_secure or app.config.get("SESSION_COOKIE_SECURE"))


def install(app: Flask) -> None:
    state = app.extensions["riskengine"]
    if not app.secret_key:
        # Signs the session cookie; derived from the service's hash key so that every worker
        # of every replica agrees without one more secret to distribute.
        app.secret_key = state.hasher("console", "session-cookie-signing-key")
    app.session_interface = _ConsoleSessions()
    app.config.update(SESSION_COOKIE_NAME="riskengine_console", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_PATH="/console",
                      WTF_CSRF_TIME_LIMIT=SESSION_SECONDS)
    cfg = state.config
    app.extensions["riskengine.console_limits"] = RateLimiter(
        {"console_login": parse_limit(cfg.extra.get("console_login_limit", LOGIN_LIMIT))}, cfg.redis_url,
        cfg.extra.get("rate_limit_prefix", "riskengine") + ":console")
    app.jinja_env.globals["csrf_token"] = generate_csrf


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def load_user():
    state = current_app.extensions["riskengine"]
    g.user = None
    header = state.config.console_auth_header
    with state.db.connect() as conn:
        if header and request.headers.get(header):
            row = store.user(conn, request.headers[header].strip())
            g.user = {"name": row["name"], "role": row["role"]} if row and row["disabled_ts"] is None else None
            g.sso = True
        elif session.get("t"):
            row = store.session_user(conn, _token_hash(session["t"]), time.time())
            g.user = dict(row) if row else None
    if request.method in UNSAFE:
        try:
            validate_csrf(request.form.get("csrf_token") or request.headers.get("X-CSRFToken"))
        except ValidationError as e:
            raise CSRFError(str(e)) from None
    if g.user is None and request.endpoint not in OPEN_ENDPOINTS:
        if request.method == "GET":
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        abort(401)
    return None


def security_headers(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def sign_in(user: dict) -> None:
    state = current_app.extensions["riskengine"]
    token = secrets.token_urlsafe(32)
    now = time.time()
    with state.db.begin() as conn:
        store.start_session(conn, _token_hash(token), user["name"], now, now + SESSION_SECONDS)
        store.audit(conn, now, user["name"], "login", user["name"])
    session.clear()
    session["t"] = token


def sign_out() -> None:
    state = current_app.extensions["riskengine"]
    token = session.pop("t", None)
    with state.db.begin() as conn:
        if token:
            store.end_session(conn, _token_hash(token))
        if g.user:
            store.audit(conn, time.time(), g.user["name"], "logout", g.user["name"])
    session.clear()


def login_allowed(name: str) -> str | None:
    """None when another attempt is allowed, else the message to show (counted per client
    address and per user name, in Redis where configured: across every worker and replica)."""
    limiter = current_app.extensions["riskengine.console_limits"]
    try:
        limiter.check(f"ip:{request.remote_addr}", "console_login")
        limiter.check(f"user:{name.strip().lower()[:64]}", "console_login")
    except ApiError as e:
        return e.message.replace("`console_login` routes", "console sign-in")
    return None


def role(least: str):
    """The view needs a user of role `least` or above (viewer < analyst < admin)."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if g.user is None or RANK.get(g.user["role"], -1) < RANK[least]:
                return render_template("console/error.html", status=403,
                                       message=f"this needs the {least} role"), 403
            return view(*args, **kwargs)
        return wrapped
    return decorator


def can(least: str) -> bool:
    return g.get("user") is not None and RANK.get(g.user["role"], -1) >= RANK[least]
