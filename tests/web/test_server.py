"""`riskengine serve` (gunicorn) over real HTTP, byte for byte through a raw socket: the errors
gunicorn itself answers (a request line, header or framing it cannot parse) carry the contract's
JSON error body, not gunicorn's HTML page; 405s carry Allow. Slow: starts the server."""
from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

from riskengine.web import server
from tests.factories import BIN, cli_env, free_port, run_cli

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    (tmp / "metrics").mkdir()
    env = cli_env(tmp, RISKENGINE_DATABASE_URL=f"sqlite:///{tmp / 'served.db'}",
                  PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"))
    assert run_cli("db", "upgrade", env=env).returncode == 0
    key = run_cli("keys", "create", "served", env=env).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([str(BIN), "serve", "--port", str(port), "--workers", "2", "--threads", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] != 200:
        assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
        time.sleep(0.2)
    yield port, key
    proc.terminate()
    log = proc.communicate(timeout=30)[0].decode()
    assert "Traceback" not in log, log[-3000:]


def exchange(port: int, raw: bytes) -> tuple[int, dict, bytes]:
    """Send raw bytes, read the answer to EOF: (status, lowercased headers, body); status 0 if none."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(raw)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return 0, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def request(line: str, *headers: str, body: bytes = b"") -> bytes:
    return "\r\n".join([line, "Host: 127.0.0.1", "Connection: close", *headers, "", ""]).encode("latin-1") + body


def error_of(headers: dict, body: bytes) -> dict:
    assert headers.get("content-type") == "application/json", (headers, body[:200])
    err = json.loads(body)["error"]
    assert set(err) <= {"code", "message", "field"} and err["message"], err
    return err


@pytest.mark.parametrize("raw, status, code", [
    (request("GET /v1/accounts/" + "a" * 5_000 + " HTTP/1.1"), 414, "uri_too_long"),
    (request("GET /healthz?q=" + "a" * 100_000 + " HTTP/1.1"), 414, "uri_too_long"),
    (request("GET /healthz HTTP/1.1", "X-Big: " + "x" * 9_000), 431, "header_fields_too_large"),
    (request("GET /healthz HTTP/1.1", *[f"X-H{i}: v" for i in range(150)]), 431, "header_fields_too_large"),
    (request("GET /healthz HTTP/1.1", "X Bad: v"), 400, "bad_request"),
    (request("GET /healthz HTTP/1.1", "NoColon"), 400, "bad_request"),
    (request("GET /healthz HTTP/1.1", "X-Nul: a\x00b"), 400, "bad_request"),
    (request("GET /healthz HTTP/9.9"), 400, "bad_request"),
    (request("get /healthz HTTP/1.1"), 400, "bad_request"),
    (request("GET /v1/accounts/a b HTTP/1.1"), 400, "bad_request"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, "bad_request"),
    (request("POST /v1/assess HTTP/1.1", "Content-Length: abc", body=b"{}"), 400, "bad_request"),
    (request("POST /v1/assess HTTP/1.1", "Content-Length: 2", "Content-Length: 3", body=b"{}"), 400, "bad_request"),
    (request("GET /healthz HTTP/1.1", "Expect: teapot"), 417, "expectation_failed"),
])
def test_gunicorns_own_errors_are_the_contracts_json(served, raw, status, code):
    """gunicorn answered these with its HTML page (Worker.handle_error -> util.write_error)."""
    got, headers, body = exchange(served[0], raw)
    assert got == status, (got, body[:200])
    assert error_of(headers, body)["code"] == code


def test_bad_chunked_framing_is_400_not_500(served):
    """gunicorn parses a chunked body while the view reads it: its InvalidChunkSize reached
    Flask's catch-all handler, a 500 with a traceback in the log."""
    port, key = served
    raw = request("POST /v1/assess HTTP/1.1", f"Authorization: Bearer {key}", "Content-Type: application/json",
                  "Transfer-Encoding: chunked", body=b"zz\r\n{}\r\n0\r\n\r\n")
    got, headers, body = exchange(port, raw)
    assert got == 400 and error_of(headers, body)["code"] == "bad_request", (got, body)


@pytest.mark.parametrize("route", ["/v1/assess", "/v1/usage", "/v1/labels", "/v1/assessments/asm_x/challenge"])
def test_deep_nesting_over_http_is_400(served, route):
    port, key = served
    deep = ('{"a":' * 10_000 + "1" + "}" * 10_000).encode()
    got, headers, body = exchange(port, request(f"POST {route} HTTP/1.1", f"Authorization: Bearer {key}",
                                                "Content-Type: application/json", f"Content-Length: {len(deep)}",
                                                body=deep))
    assert got == 400 and "nested too deeply" in error_of(headers, body)["message"], (got, body)


def test_405_over_http_carries_allow(served):
    port, key = served
    got, headers, body = exchange(port, request("DELETE /v1/assess HTTP/1.1", f"Authorization: Bearer {key}"))
    assert got == 405 and headers.get("allow") == "OPTIONS, POST", headers
    assert error_of(headers, body)["code"] == "method_not_allowed"


class _Socket:
    def __init__(self):
        self.sent = b""

    def sendall(self, data):
        self.sent += data

    def gettimeout(self):
        return 0.0


def test_write_json_error_renders_the_error_body():
    """The function the worker puts in place of gunicorn's HTML renderer, without a server."""
    sock = _Socket()
    server.write_json_error(sock, 431, "Request Header Fields Too Large", "Error parsing headers: 'x'")
    head, _, body = sock.sent.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"Content-Type: application/json" in head and f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {"error": {"code": "header_fields_too_large", "message": "Error parsing headers: 'x'"}}


def cut_short(port: int, path: str, key: str, body: bytes, announced: int) -> tuple[int, dict, bytes]:
    """A request announcing `announced` bytes of body, sending `body` (fewer), then closing its
    side of the connection, as a client that crashed or was cut off mid-send would."""
    head = request(f"POST {path} HTTP/1.1", f"Authorization: Bearer {key}", "Content-Type: application/json",
                   f"Content-Length: {announced}")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head + body)
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:         # reset: the server dropped the connection
        return 0, {}, b""
    if not data:
        return 0, {}, b""
    head_, _, rest = data.partition(b"\r\n\r\n")
    lines = head_.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


def full(port: int, path: str, key: str, body: bytes, method: str = "POST") -> tuple[int, dict, bytes]:
    return exchange(port, request(f"{method} {path} HTTP/1.1", f"Authorization: Bearer {key}",
                                  "Content-Type: application/json", f"Content-Length: {len(body)}", body=body))


def test_a_body_cut_short_is_never_taken_for_a_shorter_valid_one(served):
    """The bytes that did arrive are valid JSON on their own: a server that took them for the whole
    body would store a batch or an assessment the client never finished sending."""
    port, key = served
    assess = json.dumps({"event": "signup", "account": {"id": "acct_cut_short"}, "ip": "203.0.113.7"}).encode()
    usage = json.dumps({"batch_id": "cut-short-1", "records": [
        {"account_id": "acct_cut_usage", "occurred_at": "2026-11-20T10:00:00Z"}]}).encode()
    for path, body in (("/v1/assess", assess), ("/v1/usage", usage)):
        status, headers, answer = cut_short(port, path, key, body, announced=len(body) + 40)
        assert status in (0, 400), (path, status, answer[:300])      # dropped, or a clear 400
        if status == 400:
            err = error_of(headers, answer)
            assert err["code"] == "bad_request" and "ended before" in err["message"], err
    assert full(port, "/v1/accounts/acct_cut_short", key, b"", method="GET")[0] == 404       # nothing stored
    other = json.dumps({"batch_id": "cut-short-1", "records": [
        {"account_id": "acct_cut_usage", "occurred_at": "2026-11-20T10:00:01Z"}]}).encode()
    status, _, answer = full(port, "/v1/usage", key, other)
    assert status == 202 and json.loads(answer)["duplicate"] is False, answer     # the id was never used
