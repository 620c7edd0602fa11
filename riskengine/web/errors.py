"""The contract's error body, and the handlers that make every failure answer in it."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from gunicorn.http.errors import NoMoreData, ParseException
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ClientDisconnected, HTTPException, MethodNotAllowed

from riskengine.errors import Conflict, InvalidInput, MalformedBody, NotFound, RiskengineError, TooLarge
from riskengine.storage import one_line

log = logging.getLogger(__name__)

HTTP_CODES = {400: "malformed_json", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 414: "uri_too_long",
              415: "unsupported_media_type", 417: "expectation_failed", 422: "validation_error",
              429: "rate_limited", 431: "header_fields_too_large", 500: "internal_error",
              501: "not_implemented", 503: "unavailable"}
# A request the HTTP server cannot parse (request line, headers, chunked framing) is not a
# body that is not JSON: its 400 says so.
BAD_REQUEST = "bad_request"


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, code: str | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.code = code or HTTP_CODES.get(status, "error")
        self.headers = headers or {}


# Each domain error's status: the contract's code follows from it (HTTP_CODES).
DOMAIN_STATUS: dict[type[RiskengineError], int] = {
    InvalidInput: 422, MalformedBody: 400, TooLarge: 413, Conflict: 409, NotFound: 404}


def error_document(code: str, message: str, field: str | None = None) -> dict:
    detail = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return {"error": detail}


def error_response(status: int, code: str, message: str, field: str | None = None, headers=None):
    resp = jsonify(error_document(code, message, field))
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def field_path(loc: tuple, prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def from_validation(err: ValidationError, prefix: str = "") -> InvalidInput:
    first = err.errors(include_url=False)[0]
    # Drop pydantic's union/type tags (e.g. 'str', 'constrained-str') from the location.
    loc = tuple(p for p in first["loc"] if isinstance(p, int) or not _is_type_tag(p))
    field = field_path(loc, prefix) or prefix or "body"
    if first["type"] == "missing":
        message = f"{field} is required"
    else:
        message = f"{field}: {first['msg'].removeprefix('Value error, ')}"
    return InvalidInput(message, field=field)


def _is_type_tag(part: str) -> bool:
    return (part in {"str", "int", "float", "bool", "list", "dict", "none"}
            or part.startswith(("constrained-", "function-", "literal[")))


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):
        return error_response(e.status, e.code, e.message, e.field, e.headers)

    @app.errorhandler(RiskengineError)
    def _domain_error(e: RiskengineError):
        status = DOMAIN_STATUS[type(e)]
        return error_response(status, HTTP_CODES[status], e.message, e.field)

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        status = e.code or 500
        headers = {}
        if isinstance(e, MethodNotAllowed) and e.valid_methods:
            headers["Allow"] = ", ".join(sorted(e.valid_methods))
        return error_response(status, HTTP_CODES.get(status, "error"), e.description or e.name, headers=headers)

    @app.errorhandler(ParseException)
    def _framing(e: ParseException):
        # gunicorn parses a chunked body only as the view reads it: bad framing surfaces here.
        return error_response(400, BAD_REQUEST, f"the request is not valid HTTP: {e}"[:300])

    @app.errorhandler(NoMoreData)
    @app.errorhandler(ClientDisconnected)
    def _cut_short(e: Exception):
        return error_response(400, BAD_REQUEST, "the request body ended before its announced length")

    @app.errorhandler(SQLAlchemyError)
    def _database(e: SQLAlchemyError):
        # The database, not the caller, failed: a retryable 503, never a 500.
        log.warning("database unavailable: %s", one_line(e))     # not the statement: its parameters are request data
        return error_response(503, "unavailable", "the database is unavailable; retry shortly",
                              headers={"Retry-After": "1"})

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error")
