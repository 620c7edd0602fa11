"""RiskClient: the signup and login services' way to call riskengine (contract v1.1).

The engine sits in the login path, so every call has one total deadline: connecting,
reading and the one idempotent retry all fit inside `timeout`. When the engine cannot
answer in time, `assess` answers with the configured failover decision instead of
raising, and says so (`"failover": true`, reason `client.failover`).
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import urllib3

FAILOVERS = ("allow", "challenge", "block", "raise")
# Worth a second try within the deadline: the engine restarting or a proxy between replicas.
_RETRY_STATUSES = frozenset({502, 503, 504})
# Below this, a retry cannot get an answer back in time; answering now is better.
_MIN_ATTEMPT_S = 0.02


class Unavailable(Exception):
    """The engine did not answer in time: refused, timed out, a 5xx or a 429."""

    def __init__(self, why: str, status: int | None = None):
        super().__init__(why)
        self.why = why
        self.status = status


class ApiError(Exception):
    """The engine refused the request as the caller's mistake (a 4xx other than 429)."""

    def __init__(self, status: int, code: str | None, message: str, field: str | None):
        super().__init__(f"{status} {code}: {message}" + (f" (field {field})" if field else ""))
        self.status = status
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    body: bytes | None
    idempotent: bool


class RiskClient:
    """Thread-safe: one pool of keep-alive connections shared by every thread."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 1.0, failover: str = "allow",
                 *, pool_size: int = 10):
        if failover not in FAILOVERS:
            raise ValueError(f"failover must be one of {', '.join(FAILOVERS)}, not {failover!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self.failover = failover
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                         "Accept": "application/json", "User-Agent": "riskengine-python-client/1"}
        self._pool = urllib3.PoolManager(num_pools=4, maxsize=pool_size, block=False, retries=False)

    def __enter__(self) -> RiskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.clear()

    # -- the API -------------------------------------------------------------------------

    def assess(self, request: dict[str, Any]) -> dict[str, Any]:
        """The /v1/assess answer, or the failover answer when the engine cannot give one."""
        body = dict(request)
        body.setdefault("event_id", f"evt_{uuid.uuid4().hex}")   # makes the one retry safe
        try:
            return self._send(_Call("POST", "/v1/assess", _json(body), idempotent=True))
        except Unavailable as exc:
            if self.failover == "raise":
                raise
            return failover_answer(body, self.failover, exc.why)

    def usage(self, records: list[dict[str, Any]], batch_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"records": records}
        if batch_id is not None:
            body["batch_id"] = batch_id
        return self._send(_Call("POST", "/v1/usage", _json(body), idempotent=batch_id is not None))

    def label(self, account_id: str, label: str, source: str = "analyst", note: str | None = None) -> dict[str, Any]:
        body = {"account_id": account_id, "label": label, "source": source, "note": note}
        # Labels are appended: a retry could store one twice.
        return self._send(_Call("POST", "/v1/labels", _json(body), idempotent=False))

    def challenge(self, assessment_id: str, outcome: str) -> dict[str, Any]:
        path = f"/v1/assessments/{quote(assessment_id, safe='')}/challenge"
        return self._send(_Call("POST", path, _json({"outcome": outcome}), idempotent=False))

    def account(self, account_id: str) -> dict[str, Any]:
        return self._send(_Call("GET", f"/v1/accounts/{quote(account_id, safe='')}", None, idempotent=True))

    # -- transport -----------------------------------------------------------------------

    def _send(self, call: _Call) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        attempts = 2 if call.idempotent else 1
        last: Unavailable | None = None
        for _ in range(attempts):
            remaining = deadline - time.monotonic()
            if remaining < _MIN_ATTEMPT_S:
                break
            try:
                return self._attempt(call, remaining)
            except Unavailable as exc:
                last = exc
                if exc.why == "timeout" or (exc.status is not None and exc.status not in _RETRY_STATUSES):
                    break
        raise last or Unavailable("timeout")

    def _attempt(self, call: _Call, remaining: float) -> dict[str, Any]:
        try:
            response = self._pool.request(
                call.method, self.base_url + call.path, body=call.body, headers=self._headers,
                timeout=urllib3.Timeout(total=remaining), retries=False, redirect=False)
        except urllib3.exceptions.TimeoutError:
            raise Unavailable("timeout") from None
        except urllib3.exceptions.HTTPError as exc:
            raise Unavailable(f"connection failed: {type(exc).__name__}") from None
        status = response.status
        if status >= 500 or status == 429:
            raise Unavailable(f"HTTP {status}", status)
        payload = _decode(response.data)
        if status >= 400:
            error = payload.get("error") if isinstance(payload, dict) else None
            error = error if isinstance(error, dict) else {}
            raise ApiError(status, error.get("code"), str(error.get("message", response.reason)), error.get("field"))
        if not isinstance(payload, dict):
            raise Unavailable(f"HTTP {status} without a JSON object", status)
        return payload


def failover_answer(request: dict[str, Any], decision: str, why: str) -> dict[str, Any]:
    """What `assess` answers when the engine could not: marked, never mistaken for a score."""
    account = request.get("account")
    account = account if isinstance(account, dict) else {}
    return {
        "assessment_id": None,
        "event": request.get("event"),
        "event_id": request.get("event_id"),
        "account_id": account.get("id"),
        "decision": decision,
        "score": None,
        "reasons": [{"code": "client.failover", "weight": 0.0,
                     "message": f"riskengine did not answer ({why}); failover decision {decision}"}],
        "decided_by": "client_failover",
        "failover": True,
        "degraded": True,
    }


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data) if data else {}
    except ValueError:
        return {}
