"""OpenAPI 3.1 document generated from the schemas that validate the requests (pydantic; msgspec
for usage), plus what the validators check beyond their types (the IP format, the NUL rule) and
every status each route can answer. tests/web/test_openapi.py runs schemathesis against it."""
from __future__ import annotations

import msgspec
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from riskengine.schemas import (
    AccountResponse,
    AssessRequest,
    AssessResponse,
    ChallengeRequest,
    CollectRequest,
    CollectResponse,
    ErrorBody,
    LabelRequest,
    LabelResponse,
    UsageAccepted,
)
from riskengine.usage.ingest import UsageBatch

REQUESTS: list[type[BaseModel]] = [AssessRequest, LabelRequest, ChallengeRequest, CollectRequest]
RESPONSES: list[type[BaseModel]] = [AssessResponse, LabelResponse, AccountResponse, ErrorBody, UsageAccepted,
                                    CollectResponse]
REF = "#/components/schemas/{name}"
# The request bodies' schemas, to which the NUL rule applies (the responses' are left alone).
REQUEST_SCHEMAS = {"AssessRequest", "AccountIn", "DeviceIn", "PaymentIn", "LoginIn", "LabelRequest",
                   "ChallengeRequest", "UsageBatch", "UsageRecordIn", "CollectRequest", "BotVerdictIn"}
NO_NUL = "^[^\\u0000]*$"
IP = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}],
      "description": "IPv4 or IPv6 address; an IPv6 zone id (`%eth0`) is accepted and dropped, "
                     "an IPv4-mapped IPv6 address is stored as its IPv4 address"}

STATUS_TEXT = {
    400: "malformed_json: the body is not JSON, or nested more than 64 levels; bad_request: the HTTP "
         "request itself cannot be parsed (request line, header, chunked framing)",
    401: "unauthorized: no API key, or an unknown or revoked one", 403: "forbidden: the key lacks the scope",
    404: "not_found", 405: "method_not_allowed (with Allow)", 409: "conflict: event_id reused with another body",
    413: "payload_too_large", 414: "uri_too_long", 415: "unsupported_media_type: send application/json",
    422: "validation_error, naming the field", 429: "rate_limited", 431: "header_fields_too_large",
    503: "unavailable: a dependency (the database) cannot answer; retry",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
RATE_HEADERS = {**RETRY_AFTER, **{h: {"schema": {"type": "integer"}} for h in
                                  ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")}}
# Every /v1 route: the server's own 400/414/431, the key's 401/403, the limits' 429, the database's 503.
AUTHENTICATED = (400, 401, 403, 414, 429, 431, 503)
JSON_BODY = (413, 415, 422)


def _ref(name: str) -> dict:
    return {"$ref": REF.format(name=name)}


def _json(name: str) -> dict:
    return {"content": {"application/json": {"schema": _ref(name)}}}


def _errors(codes) -> dict:
    out = {}
    for c in sorted(set(codes)):
        out[str(c)] = {"description": STATUS_TEXT[c], **_json("ErrorBody")}
        if c == 429:
            out[str(c)]["headers"] = RATE_HEADERS
        elif c == 503:
            out[str(c)]["headers"] = RETRY_AFTER
    return out


EXTENSION = "x-riskengine-extension"    # marks an operation riskengine adds beyond the shared contract


def _op(summary, scope, request=None, ok=None, status="200", errors=()):
    codes = (*AUTHENTICATED, *(JSON_BODY if request else ()), *errors)
    op = {"summary": summary, "security": [{"bearer": [scope]}],
          "responses": {status: {"description": "ok", **_json(ok)}, **_errors(codes)}}
    if request is not None:
        op["requestBody"] = {"required": True, **_json(request)}
    return op


def _no_nul(schema: dict) -> None:
    """Add the NUL rule to every free-text string in a request schema (in place)."""
    for sub in [*schema.get("properties", {}).values(), *schema.get("anyOf", []),
                *([schema["items"]] if isinstance(schema.get("items"), dict) else [])]:
        _no_nul(sub)
    if schema.get("type") == "string" and not {"pattern", "enum", "const", "format", "anyOf"} & set(schema):
        schema["pattern"] = NO_NUL


def schemas() -> dict:
    _, requests = models_json_schema([(m, "validation") for m in REQUESTS], ref_template=REF.replace("name", "model"))
    _, responses = models_json_schema([(m, "serialization") for m in RESPONSES],
                                      ref_template=REF.replace("name", "model"))
    out = {**responses["$defs"], **requests["$defs"],
           **msgspec.json.schema_components([UsageBatch], ref_template=REF)[1]}
    out["AssessRequest"]["properties"]["ip"] = IP
    out["UsageRecordIn"]["properties"]["ip"] = {"anyOf": [{**IP, "maxLength": 64}, {"type": "null"}]}
    for name in REQUEST_SCHEMAS:
        _no_nul(out[name])
    return out


def _path_param(name: str) -> list[dict]:
    # Ids with a NUL or over 128 characters are never found (404), like ids never stored.
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]


def _plain(summary: str, ok: dict, *more: int) -> dict:
    return {"summary": summary, "responses": {"200": ok, **_errors((400, 414, 431, *more))}}


def build(version: str) -> dict:
    account = _op("An account's latest decision, history, labels, links and cluster", "read", ok="AccountResponse",
                  errors=(404,))
    account["parameters"] = _path_param("account_id")
    erase = _op("Erase an account: delete every stored row of it (docs/privacy.md)", "admin", ok="ErasureAnswer",
                errors=(404,))
    erase["parameters"] = _path_param("account_id")
    # Not in the shared contract (v1 and v1.1 have no DELETE): riskengine's own, for erasure requests.
    erase["description"] = ("A project extension: not part of the shared HTTP contract (v1, v1.1), which "
                            "callers integrate against; riskengine adds it for erasure requests.")
    erase[EXTENSION] = True
    challenge = _op("Report how a challenge ended", "assess", "ChallengeRequest", "ChallengeAnswer", errors=(404,))
    challenge["parameters"] = _path_param("assessment_id")
    components = schemas()
    components["ChallengeAnswer"] = {
        "type": "object", "required": ["assessment_id", "outcome"],
        "properties": {"assessment_id": {"type": "string"}, "outcome": {"enum": ["passed", "failed", "abandoned"]}}}
    components["ErasureAnswer"] = {
        "type": "object", "required": ["account_id", "deleted"],
        "properties": {"account_id": {"type": "string"},
                       "deleted": {"type": "object", "additionalProperties": {"type": "integer"}}}}
    ready = {"type": "object", "required": ["ready", "problems"],
             "properties": {"ready": {"type": "boolean"}, "problems": {"type": "array", "items": {"type": "string"}},
                            "model_version": {"type": ["string", "null"]}, "policy_version": {"type": "string"}}}
    readyz = _plain("Database and model ready", {"description": "ready", "content": {
        "application/json": {"schema": ready}}})
    readyz["responses"]["503"] = {"description": "not ready", "content": {"application/json": {"schema": ready}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "riskengine", "version": version,
                 "description": "Account-identity risk engine, contract v1 (with v1.1's additions). Every error "
                                "answer, also those of the HTTP server itself, is the JSON body ErrorBody."},
        "paths": {
            "/v1/assess": {"post": _op("Assess a signup or login", "assess", "AssessRequest", "AssessResponse",
                                       errors=(409,))},
            "/v1/device": {"post": _op(
                "The browser collector's fields for a signed device token (15 minutes, bound to the caller's /24 "
                "or /48). A publishable `collect` key (pk_) only; answers CORS (preflight included) for "
                "RISKENGINE_COLLECT_ORIGINS, never with credentials; 403 for a secret key or an unlisted Origin",
                "collect", "CollectRequest", "CollectResponse")},
            "/v1/usage": {"post": _op("Usage records of active accounts (up to 10,000 a call, all or nothing)",
                                      "usage", "UsageBatch", "UsageAccepted", status="202", errors=(409,))},
            "/v1/labels": {"post": _op("Record a ground-truth label", "labels", "LabelRequest", "LabelResponse",
                                       status="201", errors=(404,))},
            "/v1/assessments/{assessment_id}/challenge": {"post": challenge},
            "/v1/accounts/{account_id}": {"get": account, "delete": erase},
            "/healthz": {"get": _plain("Process alive", {"description": "ok", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"status": {"const": "ok"}}}}}})},
            "/readyz": {"get": readyz},
            "/metrics": {"get": _plain("Prometheus metrics", {"description": "ok", "content": {
                "text/plain": {"schema": {"type": "string"}}}})},
            "/collector.js": {"get": _plain("The browser collector script (its SRI hash in X-Riskengine-Integrity)", {
                "description": "ok", "content": {"text/javascript": {"schema": {"type": "string"}}}})},
            "/openapi.json": {"get": _plain("This document", {"description": "ok", "content": {
                "application/json": {"schema": {"type": "object"}}}})},
        },
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
