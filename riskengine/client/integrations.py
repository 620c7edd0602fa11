"""Helpers for the web frameworks of the signup and login services.

They read a request object by duck typing so that this package never imports Flask or
Django: `assess_context(request, trusted)` works with either and gives the `ip` to send
(through the trusted proxies) and the collector's device token from the form or a header.
"""
from __future__ import annotations

from typing import Any

from riskengine.forwarded import TrustedProxies, client_address

TOKEN_FIELD = "riskengine_token"
TOKEN_HEADER = "X-Riskengine-Device-Token"


def assess_context(request: Any, trusted: TrustedProxies) -> dict[str, Any]:
    """`{"ip": ..., "device": {"token": ...}}` to merge into an assess request."""
    context: dict[str, Any] = {"ip": request_ip(request, trusted)}
    token = device_token(request)
    if token:
        context["device"] = {"token": token}
    return context


def request_ip(request: Any, trusted: TrustedProxies) -> str | None:
    meta = getattr(request, "META", None)
    if isinstance(meta, dict):                                    # Django
        return client_address(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR"), trusted)
    headers = request.headers                                     # Flask / Werkzeug
    forwarded = headers.getlist("X-Forwarded-For") if hasattr(headers, "getlist") else headers.get("X-Forwarded-For")
    return client_address(request.remote_addr, forwarded, trusted)


def device_token(request: Any) -> str | None:
    form = getattr(request, "form", None)
    if form is None:
        form = getattr(request, "POST", None)                     # Django
    token = form.get(TOKEN_FIELD) if form is not None else None
    if not token:
        meta = getattr(request, "META", None)
        if isinstance(meta, dict):
            token = meta.get("HTTP_" + TOKEN_HEADER.upper().replace("-", "_"))
        else:
            token = request.headers.get(TOKEN_HEADER)
    return (token.strip() or None) if isinstance(token, str) else None
