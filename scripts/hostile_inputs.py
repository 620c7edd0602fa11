"""Hand-crafted hostile inputs against a real `riskengine serve` (gunicorn, 2 workers, a temp SQLite
database) over real HTTP, byte for byte (a raw socket: no client library tidies the request up).

    .venv/bin/python scripts/hostile_inputs.py                     # this checkout
    PYTHONPATH=/some/other/checkout .venv/bin/python scripts/hostile_inputs.py   # another one

Prints one line per input that broke the contract, then the totals: inputs, 5xx answers, error
answers whose body is not the contract's JSON error body, 405s without `Allow`, inputs the server
never answered, and tracebacks in the server's log. Exits 1 when any of those is not zero.

Everything stays on 127.0.0.1; every request has a timeout; the server is stopped at the end."""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAXMIND = ROOT / "tests" / "data" / "maxmind"
JSON_ROUTES = ["/v1/assess", "/v1/usage", "/v1/labels", "/v1/assessments/{asm}/challenge"]
ALL_ROUTES = [*JSON_ROUTES, "/v1/accounts/acct_h1", "/healthz", "/readyz", "/metrics", "/openapi.json"]
DEPTHS = [1_000, 2_000, 5_000, 10_000, 50_000, 100_000]


@dataclass
class Probe:
    name: str
    raw: bytes                       # the whole request, as sent
    half_close: bool = False         # shut down our side after sending (a body shorter than announced)


@dataclass
class Answer:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


# ---------------------------------------------------------------- bodies

def valid_bodies(asm: str) -> dict[str, dict]:
    return {
        "/v1/assess": {"event": "signup", "account": {"id": "acct_h1", "email": "jane@example.com"},
                       "ip": "81.2.69.160", "device": {"id": "dv_h1", "languages": ["en"]}},
        "/v1/usage": {"records": [{"account_id": "acct_h1", "occurred_at": "2026-11-20T10:00:00Z",
                                   "ip": "81.2.69.160", "device_id": "dv_h1"}]},
        "/v1/labels": {"account_id": "acct_h1", "label": "fraud", "source": "analyst"},
        f"/v1/assessments/{asm}/challenge": {"outcome": "passed"},
    }


def nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "array" else '{"a":' * depth + "1" + "}" * depth


def with_member(body: dict, key: str, raw_value: str) -> str:
    """`body` with one more top-level member whose value is raw JSON text."""
    return json.dumps(body)[:-1] + f', "{key}": {raw_value}}}'


def string_fields(body, path="") -> Iterator[tuple[str, list]]:
    """(dotted path, [container, key]) of every string value in a JSON body."""
    items = body.items() if isinstance(body, dict) else enumerate(body)
    for k, v in items:
        here = f"{path}.{k}" if path else str(k)
        if isinstance(v, str):
            yield here, [body, k]
        elif isinstance(v, (dict, list)):
            yield from string_fields(v, here)


def replaced(body: dict, path: str, raw_value: str) -> str:
    """The body with the string at `path` replaced by raw JSON text (may be invalid JSON on purpose)."""
    marker = "\u2603MARK\u2603"
    copy = json.loads(json.dumps(body))
    for p, (container, key) in string_fields(copy):
        if p == path:
            container[key] = marker
    return json.dumps(copy, ensure_ascii=False).replace(json.dumps(marker, ensure_ascii=False), raw_value)


# ---------------------------------------------------------------- requests

def request(method: str, target: str, body: bytes | str | None = None, headers: dict | list | None = None,
            version: str = "HTTP/1.1", content_type: str | None = "application/json", auth: str | None = None,
            content_length: bool = True) -> bytes:
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    lines = [f"{method} {target} {version}".encode("latin-1", "replace"), b"Host: 127.0.0.1", b"Connection: close"]
    if auth:
        lines.append(f"Authorization: Bearer {auth}".encode())
    if content_type is not None and body is not None:
        lines.append(f"Content-Type: {content_type}".encode("latin-1"))
    if body is not None and content_length:
        lines.append(f"Content-Length: {len(body)}".encode())
    pairs = headers.items() if isinstance(headers, dict) else (headers or [])
    for k, v in pairs:
        lines.append(k if isinstance(k, bytes) else f"{k}: {v}".encode("latin-1", "replace"))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def corpus(key: str, asm: str) -> list[Probe]:
    probes: list[Probe] = []

    def add(name, raw, **kw):
        probes.append(Probe(name, raw, **kw))

    def post(name, route, body, **kw):
        kw.setdefault("auth", key)
        add(name, request("POST", route, body, **kw))

    bodies = valid_bodies(asm)
    for route, body in bodies.items():
        tag = route.replace(asm, "{asm}")
        post(f"valid body {tag}", route, json.dumps(body))
        # Deep nesting: the whole body, an ignored member, and a known field.
        for depth in DEPTHS:
            for kind in ("array", "object"):
                post(f"nesting {depth} {kind} as the body {tag}", route, nested(depth, kind))
                post(f"nesting {depth} {kind} in an extra member {tag}", route,
                     with_member(body, "extra", nested(depth, kind)))
            first = next(iter(body))
            post(f"nesting {depth} in field {first} {tag}", route, with_member(body, first, nested(depth, "object")))
            if route == "/v1/usage":
                rec = json.dumps(body["records"][0])[:-1] + ', "extra": ' + nested(depth, "object") + "}"
                post(f"nesting {depth} inside a record {tag}", route, '{"records": [' + rec + "]}")
        # Numbers.
        for number in ["1e999999", "-1e999999", "9" * 5000, "-" + "9" * 4301, "1" + "0" * 400, "NaN", "Infinity",
                       "-Infinity", "-0", "0.0000000000000000000000000000000000001e-99999", "1E+2147483648",
                       "18446744073709551616"]:
            post(f"number {number[:20]} in an extra member {tag}", route, with_member(body, "n", number))
            first_str = next(string_fields(body))[0]
            post(f"number {number[:20]} for {first_str} {tag}", route, replaced(body, first_str, number))
        # Strings: NUL, surrogates, invalid UTF-8, control characters, huge.
        for path, _ in string_fields(body):
            for label, raw in [("escaped NUL", '"a\\u0000b"'), ("lone high surrogate", '"\\ud800"'),
                               ("lone low surrogate", '"\\udfff"'), ("reversed pair", '"\\udc00\\ud800"'),
                               ("bad escape", '"\\x41"'), ("raw control", '"a\x01b"'), ("bidi", '"\\u202e"'),
                               ("10k chars", json.dumps("x" * 10_000))]:
                post(f"{label} in {path} {tag}", route, replaced(body, path, raw))
            for label, raw in [("invalid UTF-8 \\xff", b'"\xff"'), ("overlong UTF-8", b'"\xc0\xaf"'),
                               ("encoded surrogate", b'"\xed\xa0\x80"'), ("raw NUL", b'"a\x00b"')]:
                text = replaced(body, path, "@@RAW@@").encode()
                post(f"{label} in {path} {tag}", route, text.replace(b"@@RAW@@", raw))
        # Whole-body oddities.
        for label, raw in [("empty", b""), ("whitespace", b" \r\n\t"), ("null", b"null"), ("array", b"[]"),
                           ("string", b'"x"'), ("number", b"1"), ("truncated", json.dumps(body)[:-3].encode()),
                           ("trailing garbage", json.dumps(body).encode() + b"}}"),
                           ("trailing NUL", json.dumps(body).encode() + b"\x00"),
                           ("BOM", b"\xef\xbb\xbf" + json.dumps(body).encode()),
                           ("UTF-16", json.dumps(body).encode("utf-16")),
                           ("UTF-32", json.dumps(body).encode("utf-32")),
                           ("single quotes", json.dumps(body).replace('"', "'").encode()),
                           ("comments", b"/* x */" + json.dumps(body).encode()),
                           ("binary", bytes(range(256))),
                           ("duplicate keys", (json.dumps(body)[:-1] + ", " + json.dumps(body)[1:]).encode()),
                           ("10,000 duplicate keys", ("{" + ",".join(['"a": 1'] * 10_000) + "}").encode()),
                           ("100,000 members", json.dumps({f"k{i}": i for i in range(100_000)}).encode()),
                           ("array of 200,000 nulls", ("[" + ",".join(["null"] * 200_000) + "]").encode())]:
            post(f"body {label} {tag}", route, raw)
        # Content types.
        for ctype in [None, "", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                      "application/json; charset=utf-16", "application/json; charset=\x7f", "application/jsonx",
                      "*/*", "application/json, text/plain", "application/json;;;;", "APPLICATION/JSON",
                      "application/json; " + "p=v; " * 2000]:
            post(f"content-type {ctype!r:.40} {tag}", route, json.dumps(body), content_type=ctype)
        # Sizes and framing.
        limit = (16 << 20) if route == "/v1/usage" else (1 << 20)
        post(f"body over the limit {tag}", route, '{"pad": "' + "x" * (limit + 10) + '"}')
        post(f"no Content-Length {tag}", route, json.dumps(body), content_length=False)
        post(f"Content-Length -1 {tag}", route, json.dumps(body), content_length=False,
             headers={"Content-Length": "-1"})
        post(f"Content-Length abc {tag}", route, json.dumps(body), content_length=False,
             headers={"Content-Length": "abc"})
        post(f"two Content-Lengths {tag}", route, json.dumps(body), headers={"Content-Length": "3"})
        add(f"body shorter than Content-Length {tag}",
            request("POST", route, json.dumps(body), auth=key, content_length=False,
                    headers={"Content-Length": str(len(json.dumps(body)) + 100)}), half_close=True)
        post(f"chunked and Content-Length {tag}", route, b"5\r\n{}   \r\n0\r\n\r\n",
             headers={"Transfer-Encoding": "chunked"})
        post(f"bad chunk size {tag}", route, b"zz\r\n{}\r\n0\r\n\r\n", content_length=False,
             headers={"Transfer-Encoding": "chunked"})
        post(f"Transfer-Encoding gzip {tag}", route, json.dumps(body), content_length=False,
             headers={"Transfer-Encoding": "gzip"})
        post(f"Content-Encoding gzip (not gzipped) {tag}", route, json.dumps(body),
             headers={"Content-Encoding": "gzip"})
        post(f"Expect: 100-continue {tag}", route, json.dumps(body), headers={"Expect": "100-continue"})
        post(f"Expect: teapot {tag}", route, json.dumps(body), headers={"Expect": "teapot"})
        # Authorization.
        for label, value in [("none", None), ("empty", ""), ("scheme only", "Bearer"), ("basic", "Basic dXNlcjpw"),
                             ("unknown key", "Bearer rk_unknown"), ("10k key", "Bearer " + "x" * 10_000),
                             ("NUL in key", "Bearer rk_\x00x"), ("latin-1 key", "Bearer \xff\xfe"),
                             ("two headers", None)]:
            hdrs: list = [("Authorization", value)] if value is not None else []
            if label == "two headers":
                hdrs = [("Authorization", f"Bearer {key}"), ("Authorization", "Bearer rk_other")]
            post(f"auth {label} {tag}", route, json.dumps(body), auth=None, headers=hdrs)
    # Methods and routes.
    for route in ALL_ROUTES + ["/v1/", "/v1/nope", "/v2/assess", "/"]:
        target = route.replace("{asm}", asm)
        for method in ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "POST", "PROPFIND"]:
            add(f"{method} {route}", request(method, target, "{}", auth=key))
    for label, method in [("lowercase get", "get"), ("method with NUL", "GE\x00T"), ("method of 300 chars", "G" * 300),
                          ("method with a slash", "GET/"), ("method of digits", "123")]:
        add(f"bad method: {label}", request(method, "/healthz", auth=key))
    # Request lines and URIs.
    for n in (4_000, 5_000, 8_200, 20_000, 100_000):
        add(f"URI of {n} chars", request("GET", "/v1/accounts/" + "a" * n, auth=key))
        add(f"query of {n} chars", request("GET", "/healthz?q=" + "a" * n))
    for label, target in [("NUL in path", "/v1/accounts/a%00b"), ("raw NUL in path", "/v1/accounts/a\x00b"),
                          ("bad percent", "/v1/accounts/%zz"), ("invalid UTF-8 in path", "/v1/accounts/%ff%fe"),
                          ("encoded surrogate in path", "/v1/accounts/%ED%A0%80"),
                          ("dot segments", "/v1/../v1/accounts/acct_h1"), ("absolute URI", "http://evil/v1/accounts/x"),
                          ("asterisk", "*"), ("no leading slash", "v1/accounts/x"), ("fragment", "/healthz#x"),
                          ("space in path", "/v1/accounts/a b"), ("tab in path", "/v1/accounts/a\tb"),
                          ("UTF-8 in path", "/v1/accounts/\u00fc".encode().decode("latin-1")),
                          ("empty target", ""), ("200 slashes", "/" * 200 + "healthz"),
                          ("query with NUL", "/healthz?%00=%00"), ("query with bad percent", "/openapi.json?a=%zz")]:
        add(f"target: {label}", request("GET", target, auth=key))
    for label, line in [("HTTP/9.9", b"GET /healthz HTTP/9.9"), ("HTTP/1.1x", b"GET /healthz HTTP/1.1x"),
                        ("no version", b"GET /healthz"), ("HTTP/0.9 style", b"GET /healthz HTTP/0.9"),
                        ("HTTP/2.0 text", b"GET /healthz HTTP/2.0"), ("lowercase version", b"GET /healthz http/1.1"),
                        ("only spaces", b"     "), ("binary line", bytes(range(1, 32)) + b"\xff\xfe"),
                        ("TLS hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
                        ("extra words", b"GET /healthz HTTP/1.1 extra"), ("bare LF", b"GET /healthz HTTP/1.1\n")]:
        add(f"request line: {label}", line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    # Headers.
    for label, hdrs in [("8 KiB value", [("X-Big", "x" * 8_200)]), ("64 KiB value", [("X-Big", "x" * 65_536)]),
                        ("1 MiB cookie", [("Cookie", "c=" + "x" * (1 << 20))]),
                        ("150 headers", [(f"X-H{i}", "v") for i in range(150)]),
                        ("1,000 headers", [(f"X-H{i}", "v") for i in range(1_000)]),
                        ("name with a space", [(b"X Bad: v", "")]), ("name with a colon only", [(b": v", "")]),
                        ("no colon", [(b"JustAName", "")]), ("NUL in value", [("X-Nul", "a\x00b")]),
                        ("NUL in name", [(b"X-N\x00ul: v", "")]), ("obs-fold", [(b"X-Fold: a\r\n  b", "")]),
                        ("latin-1 value", [("X-L1", "\xff\xfe")]), ("bare CR in value", [(b"X-CR: a\rb", "")]),
                        ("8 KiB name", [(b"X" * 8_200 + b": v", "")]), ("empty name", [(b": empty", "")]),
                        ("Host twice", [("Host", "other")]), ("huge Authorization", [("Authorization", "x" * 9_000)]),
                        ("X-Forwarded-For junk", [("X-Forwarded-For", "1.2.3.4, \x01, ::g")]),
                        ("bad Accept", [("Accept", "\x7f/\x7f;q=abc")]), ("bad Range", [("Range", "bytes=9-1,,")]),
                        ("If-Modified-Since junk", [("If-Modified-Since", "yesterday")])]:
        add(f"header: {label}", request("GET", "/v1/accounts/acct_h1", auth=key, headers=hdrs))
        add(f"header: {label} on assess", request("POST", "/v1/assess", json.dumps(bodies["/v1/assess"]), auth=key,
                                                  headers=hdrs))
    return probes


# ---------------------------------------------------------------- sending and judging

def send(port: int, probe: Probe, timeout: float) -> Answer:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            sock.sendall(probe.raw)
            if probe.half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass                                   # the server answered early and closed: read what it said
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    return parse(data)


def parse(data: bytes) -> Answer:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return Answer(None, body=data)
    while status == 100 and body:                  # skip an interim 100 Continue
        return parse(body)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(status, headers, body)


def problems(probe: Probe, ans: Answer) -> list[str]:
    if ans.status is None:
        return ["no answer"]
    out = []
    if ans.status >= 500:
        out.append("5xx")
    if ans.status >= 400 and not probe.raw.startswith(b"HEAD "):
        if not is_error_body(ans):
            out.append("non-JSON error body")
    if ans.status == 405 and "allow" not in ans.headers:
        out.append("405 without Allow")
    return out


def is_error_body(ans: Answer) -> bool:
    if not ans.headers.get("content-type", "").startswith("application/json"):
        return False
    try:
        err = json.loads(ans.body)["error"]
        return isinstance(err["code"], str) and isinstance(err["message"], str)
    except (ValueError, KeyError, TypeError):
        return False


# ---------------------------------------------------------------- the server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, env: dict, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from riskengine.cli import main; main()", *args], env=env,
                          capture_output=True, text=True, timeout=120, **kw)


def serve(tmp: Path, port: int) -> tuple[subprocess.Popen, dict, Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKENGINE_")}
    env.update(RISKENGINE_DATABASE_URL=f"sqlite:///{tmp / 'hostile.db'}", RISKENGINE_HASH_KEY_FILE=str(tmp / "k.key"),
               RISKENGINE_GEOIP_CITY=str(MAXMIND / "GeoIP2-City-Test.mmdb"),
               RISKENGINE_GEOIP_ASN=str(MAXMIND / "GeoLite2-ASN-Test.mmdb"),
               PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"))
    (tmp / "metrics").mkdir()
    upgraded = cli("db", "upgrade", env=env)
    if upgraded.returncode:
        raise SystemExit(f"db upgrade failed: {upgraded.stderr}")
    log = tmp / "server.log"
    proc = subprocess.Popen([sys.executable, "-c", "from riskengine.cli import main; main()", "serve", "--port",
                             str(port), "--workers", "2", "--threads", "2"],
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while True:
        try:
            if send(port, Probe("ready", request("GET", "/readyz")), 2).status == 200:
                return proc, env, log
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeout", type=float, default=15.0, help="seconds per request")
    ap.add_argument("--show", type=int, default=200, help="failing inputs to list")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="riskengine-hostile-") as d:
        tmp = Path(d)
        port = free_port()
        proc, env, log = serve(tmp, port)
        try:
            made = cli("keys", "create", "hostile", env=env)
            key = made.stdout.strip()
            if made.returncode or not key:
                raise SystemExit(f"keys create failed: {made.stderr}")
            first = send(port, Probe("seed", request("POST", "/v1/assess", json.dumps(valid_bodies("x")["/v1/assess"]),
                                                     auth=key)), args.timeout)
            asm = json.loads(first.body)["assessment_id"]
            probes = corpus(key, asm)
            counts = {"5xx": 0, "non-JSON error body": 0, "405 without Allow": 0, "no answer": 0}
            shown = 0
            for probe in probes:
                try:
                    ans = send(port, probe, args.timeout)
                except OSError as e:
                    ans = Answer(None, body=str(e).encode())
                found = problems(probe, ans)
                for p in found:
                    counts[p] += 1
                if found and shown < args.show:
                    shown += 1
                    print(f"  {', '.join(found)}: {probe.name[:90]} -> {ans.status} "
                          f"{ans.headers.get('content-type', '')!r} {ans.body[:80]!r}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        tracebacks = log.read_text(errors="replace").count("Traceback (most recent call last)")
    print(f"inputs: {len(probes)}")
    for name, n in counts.items():
        print(f"{name}: {n}")
    print(f"tracebacks in the server log: {tracebacks}")
    return 1 if any(counts.values()) or tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
