"""Operations surface: liveness, readiness, metrics, the OpenAPI document. No auth."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from riskengine import __version__, storage
from riskengine.web.metrics import render
from riskengine.web.openapi import build

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    state = current_app.extensions["riskengine"]
    problems = list(state.problems)
    try:
        storage.ping(state.db)
    except Exception as e:
        problems.append(f"database: {type(e).__name__}")
    status = 200 if not problems else 503
    return jsonify({"ready": not problems, "problems": problems,
                    "model_version": state.model.version if state.model else None,
                    "policy_version": state.policy.version}), status


@bp.get("/metrics")
def metrics():
    body, content_type = render()
    return Response(body, content_type=content_type)


@bp.get("/openapi.json")
def openapi():
    return jsonify(build(__version__))
