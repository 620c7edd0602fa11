"""The analyst console at /console/: server-rendered pages (Jinja), enhanced with htmx where
JavaScript runs; every read path works without it. Sessions, CSRF, roles and the audit log are
in `session`; the pages in `views`; formatting and masking in `present`."""
from __future__ import annotations

from flask import Flask

from riskengine.web.console.session import install
from riskengine.web.console.views import bp


def register(app: Flask) -> None:
    install(app)
    app.register_blueprint(bp)
