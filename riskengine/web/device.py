"""POST /v1/device: the browser collector's fields in, a signed device token out.

Called from web pages with a publishable key (scope `collect`), so it answers CORS for the
origins RISKENGINE_COLLECT_ORIGINS names: a preflight (OPTIONS) and the POST itself, errors
included, so that the page can read a 429. No credentials are ever allowed (the collector
sends none), which is also what makes `*` safe to configure."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request

from riskengine.apikeys import COLLECT
from riskengine.schemas import CollectRequest
from riskengine.signals import device_token
from riskengine.web.api import json_body, parse, rfc3339
from riskengine.web.auth import client_ip, require
from riskengine.web.errors import ApiError

bp = Blueprint("device", __name__, url_prefix="/v1")
PREFLIGHT_MAX_AGE_S = 600


def allowed_origin(origin: str | None) -> str | None:
    """The Access-Control-Allow-Origin to answer `origin` with; None: not allowed."""
    origins = current_app.extensions["riskengine.collect_origins"]
    if origin is None:
        return None
    if origin.lower() in origins:
        return origin
    return "*" if "*" in origins else None


@bp.after_request
def _cors(response):
    origin = request.headers.get("Origin")
    allow = allowed_origin(origin)
    response.vary.add("Origin")
    if allow is not None:
        response.headers["Access-Control-Allow-Origin"] = allow
        response.headers["Access-Control-Expose-Headers"] = \
            "Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "POST"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
    return response


@bp.post("/device")
@require(COLLECT)
def device_route():
    origin = request.headers.get("Origin")
    if origin is not None and allowed_origin(origin) is None:
        # A browser would not let the page read the answer anyway; say why to whoever looks.
        raise ApiError(403, f"origin {origin[:200]!r} is not in RISKENGINE_COLLECT_ORIGINS")
    collected = parse(CollectRequest, json_body())
    token, expires = device_token.issue(current_app.extensions["riskengine"].token_key,
                                        collected.model_dump(exclude_none=True), client_ip(), time.time())
    return jsonify({"device_token": token, "expires_at": rfc3339(expires)})
