"""OpenAPI 3.1 document generated from the schemas that validate the requests (pydantic; msgspec for usage)."""
from __future__ import annotations

import msgspec
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from riskengine.schemas import (
    AccountResponse,
    AssessRequest,
    AssessResponse,
    ChallengeRequest,
    ErrorBody,
    LabelRequest,
    LabelResponse,
    UsageAccepted,
)
from riskengine.usage.ingest import UsageBatch

MODELS: list[type[BaseModel]] = [AssessRequest, AssessResponse, LabelRequest, LabelResponse, ChallengeRequest,
                                 AccountResponse, ErrorBody, UsageAccepted]
REF = "#/components/schemas/{name}"


def _ref(model) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model) -> dict:
    return {"content": {"application/json": {"schema": _ref(model)}}}


def _errors(*codes: int) -> dict:
    return {str(c): {"description": "error", **_json(ErrorBody)} for c in codes}


def _op(summary, scope, request=None, ok=None, status="200", errors=(400, 401, 403, 413, 415, 422)):
    op = {"summary": summary, "security": [{"bearer": [scope]}],
          "responses": {status: {"description": "ok", **(_json(ok) if ok else {})}, **_errors(*errors)}}
    if request is not None:
        op["requestBody"] = {"required": True, **_json(request)}
    return op


def build(version: str) -> dict:
    _, defs = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF.replace("name", "model"))
    schemas = {**defs["$defs"], **msgspec.json.schema_components([UsageBatch], ref_template=REF)[1]}

    def path_param(name):
        return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}]

    account = _op("An account's latest decision, history, labels, links and cluster", "read", ok=AccountResponse,
                  errors=(401, 403, 404))
    account["parameters"] = path_param("account_id")
    erase = _op("Erase an account: delete every stored row of it (docs/privacy.md)", "admin", errors=(401, 403, 404))
    erase["parameters"] = path_param("account_id")
    challenge = _op("Report how a challenge ended", "assess", ChallengeRequest, errors=(400, 401, 403, 404, 422))
    challenge["parameters"] = path_param("assessment_id")
    return {
        "openapi": "3.1.0",
        "info": {"title": "riskengine", "version": version,
                 "description": "Account-identity risk engine, contract v1."},
        "paths": {
            "/v1/assess": {"post": _op("Assess a signup or login", "assess", AssessRequest, AssessResponse,
                                       errors=(400, 401, 403, 409, 413, 415, 422))},
            "/v1/usage": {"post": _op("Usage records of active accounts (up to 10,000 a call, all or nothing)",
                                      "usage", UsageBatch, UsageAccepted, status="202")},
            "/v1/labels": {"post": _op("Record a ground-truth label", "labels", LabelRequest, LabelResponse,
                                       status="201", errors=(400, 401, 403, 404, 413, 415, 422))},
            "/v1/assessments/{assessment_id}/challenge": {"post": challenge},
            "/v1/accounts/{account_id}": {"get": account, "delete": erase},
            "/healthz": {"get": {"summary": "Process alive", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "Database and model ready",
                                "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "ok"}}}},
        },
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
