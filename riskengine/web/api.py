"""The /v1 routes of contract v1. Thin: parse, call the pipeline or storage, answer."""
from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime

from flask import Blueprint, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError

from riskengine import storage
from riskengine.privacy import erase_account
from riskengine.schemas import AssessRequest, ChallengeRequest, LabelRequest
from riskengine.scoring.assess import assess
from riskengine.scoring.challenges import record_challenge_outcome
from riskengine.usage.ingest import body_digest, ingest_once, parse_batch
from riskengine.web.auth import require
from riskengine.web.errors import ApiError, from_validation
from riskengine.web.metrics import DECISIONS

bp = Blueprint("api", __name__, url_prefix="/v1")


def runtime():
    return current_app.extensions["riskengine"]


# No contract body nests more than 4 levels. The bound keeps every later step (pydantic,
# json.dumps for the idempotency digest) far from Python's recursion limit.
MAX_NESTING = 64
TOO_DEEP = f"body is nested too deeply (at most {MAX_NESTING} levels of objects and arrays)"


def json_body() -> dict:
    if not request.is_json:
        raise ApiError(415, "send Content-Type: application/json")
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw)
    except RecursionError:         # the parser's own limit, about 1,000 levels
        raise ApiError(400, TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise ApiError(422, "body must be a JSON object", field="body")
    if nested_deeper_than(body, MAX_NESTING):
        raise ApiError(400, TOO_DEEP)
    return body


def nested_deeper_than(value, limit: int) -> bool:
    """Whether objects and arrays nest more than `limit` levels (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def parse(model: type[BaseModel], body: dict):
    try:
        return model.model_validate(body)
    except ValidationError as e:
        raise from_validation(e) from None


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@bp.post("/assess")
@require("assess")
def assess_route():
    body = json_body()
    req = parse(AssessRequest, body)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    result = assess(runtime(), req, digest, deadline=g.get("db_deadline"))
    DECISIONS.labels(result["event"], result["decision"], result["decided_by"], str(result["degraded"]).lower()).inc()
    return jsonify(result)


@bp.post("/usage")
@require("usage")
def usage_route():
    state = runtime()
    if not request.is_json:
        raise ApiError(415, "send Content-Type: application/json")
    raw = request.get_data(cache=False)
    batch = parse_batch(raw)
    result = ingest_once(state.db, batch, state.hasher, state.folder, state.config.usage_fold_batches,
                         body_hash=body_digest(raw) if batch.batch_id is not None else "")
    if batch.batch_id is None:
        return jsonify({"accepted": result.accepted}), 202
    return jsonify({"accepted": result.accepted, "batch_id": batch.batch_id, "duplicate": result.duplicate}), 202


@bp.post("/labels")
@require("labels")
def label_route():
    req = parse(LabelRequest, json_body())
    with runtime().db.begin() as conn:
        if not storage.account_exists(conn, req.account_id):
            raise ApiError(404, f"account {req.account_id!r} has never been assessed", field="account_id")
        stored = storage.add_label(conn, req.account_id, req.label, req.source, req.note, time.time())
    return jsonify(_label_out(stored)), 201


def _label_out(row: dict) -> dict:
    return {"id": row["id"], "account_id": row["account_id"], "label": row["label"], "source": row["source"],
            "note": row["note"], "created_at": rfc3339(row["created_ts"])}


def _path_id(value: str, what: str) -> None:
    """Ids the database could never hold (NUL) are simply not found, without asking it."""
    if "\x00" in value or len(value) > 128:
        raise ApiError(404, f"{what} not found")


@bp.post("/assessments/<path:assessment_id>/challenge")
@require("assess")
def challenge_route(assessment_id: str):
    _path_id(assessment_id, "assessment")
    req = parse(ChallengeRequest, json_body())
    with runtime().db.begin() as conn:
        if not storage.assessment_exists(conn, assessment_id):
            raise ApiError(404, f"assessment {assessment_id!r} not found")
        record_challenge_outcome(conn, assessment_id, req.outcome, time.time())
    return jsonify({"assessment_id": assessment_id, "outcome": req.outcome})


@bp.get("/accounts/<path:account_id>")
@require("read")
def account_route(account_id: str):
    _path_id(account_id, f"account {account_id[:128]!r}")
    with runtime().db.connect() as conn:
        view = storage.account_view(conn, account_id)
    if view is None:
        raise ApiError(404, f"account {account_id!r} has never been seen")
    acc, latest = view["account"], view["latest"] or {}
    cluster = None
    if acc["cluster_id"]:
        cluster = {"id": acc["cluster_id"], "size": acc["cluster_size"]}
    return jsonify({
        "account_id": account_id, "decision": acc["last_decision"], "score": acc["last_score"],
        "reasons": latest.get("reasons", []), "updated_at": rfc3339(acc["updated_ts"]),
        "assessments": [{"assessment_id": a, "event": e, "decision": d, "score": s, "at": rfc3339(ts),
                         "degraded": bool(deg)} for a, e, d, s, ts, deg in view["assessments"]],
        "labels": [_label_out(r) for r in view["labels"]],
        "links": view["links"], "cluster": cluster,
    })


@bp.delete("/accounts/<path:account_id>")
@require("admin")
def erase_account_route(account_id: str):
    """An erasure request: every stored row of the account (docs/privacy.md)."""
    _path_id(account_id, f"account {account_id[:128]!r}")
    return jsonify({"account_id": account_id, "deleted": erase_account(runtime(), account_id)})
