"""The browser collector's script, built from clients/browser/ and shipped in the package.

Served with a content hash as its ETag and its Subresource Integrity hash in a header, so
that an integrator pins exactly what they reviewed (`integrity="sha384-..."`)."""
from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib import resources

from flask import Blueprint, Response, request

bp = Blueprint("collector", __name__)
# An hour: a new release reaches pages soon, while most page loads hit the browser's cache.
MAX_AGE_S = 3600


@cache
def bundle() -> tuple[bytes, str, str]:
    """The script, its ETag and its SRI hash (sha384, base64)."""
    body = resources.files("riskengine").joinpath("web", "static", "collector.js").read_bytes()
    sri = "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()
    etag = hashlib.sha256(body).hexdigest()[:32]
    return body, etag, sri


@bp.get("/collector.js")
def collector_js():
    body, etag, sri = bundle()
    headers = {"Cache-Control": f"public, max-age={MAX_AGE_S}", "ETag": f'"{etag}"',
               "X-Content-Type-Options": "nosniff", "X-Riskengine-Integrity": sri,
               # A script tag with crossorigin="anonymous" (needed for SRI) needs CORS.
               "Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin"}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    return Response(body, mimetype="text/javascript", headers=headers)
