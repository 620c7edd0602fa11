"""Robustness of the HTTP surface: whatever a caller sends, the service answers in contract
v1's shape. A caller's mistake is never a 5xx, never a crash or a hang, and never an answer
outside the error shape {"error": {"code", "message", "field"?}}.

Property-based (hypothesis) over every field of every /v1 body and path, plus the concrete
edge cases (deep nesting, odd Content-Types, far-past times, concurrent idempotent calls).
Runs against the real app and database (SQLite by default, PostgreSQL when
RISKENGINE_TEST_DATABASE_URL names one)."""
from __future__ import annotations

import http.client
import json
import math
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_from_bytes

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from riskengine.schemas import AssessResponse, ErrorBody
from tests.factories import signup

pytestmark = pytest.mark.timeout(120)      # a hang is a failure, not a stuck CI job

FUZZ = {"deadline": None, "database": None, "derandomize": True,
        "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                  HealthCheck.data_too_large, HealthCheck.filter_too_much]}

# The contract's status -> code table (errors.HTTP_CODES may hold more, e.g. 405).
CODE_OF = {400: "malformed_json", 401: "unauthorized", 403: "forbidden", 404: "not_found",
           409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
           422: "validation_error", 429: "rate_limited"}


# ---------------------------------------------------------------- checking an answer

def _no_nan(token):
    raise AssertionError(f"answer body holds {token}, which is not JSON")


def answer_json(resp):
    raw = resp.get_data()
    assert resp.mimetype == "application/json", (resp.status_code, resp.mimetype, raw[:300])
    return json.loads(raw, parse_constant=_no_nan)


def check(resp, *, route: str = ""):
    """The invariants every answer keeps; returns the decoded body."""
    status = resp.status_code
    assert status < 500, f"{route}: {status} {resp.get_data(as_text=True)[:500]}"
    body = answer_json(resp)
    if status >= 400:
        assert isinstance(body, dict) and set(body) == {"error"}, body
        err = body["error"]
        assert isinstance(err, dict) and {"code", "message"} <= set(err) <= {"code", "message", "field"}, err
        assert isinstance(err["code"], str) and err["code"], err
        assert isinstance(err["message"], str) and err["message"], err
        if "field" in err:
            assert isinstance(err["field"], str) and err["field"], err
        ErrorBody.model_validate(body)
        if status in CODE_OF:
            assert err["code"] == CODE_OF[status], (status, err)
        if status == 422:
            assert "field" in err, f"a 422 must name the field at fault: {err}"
    return body


def check_assess(resp):
    body = check(resp, route="/v1/assess")
    assert resp.status_code in (200, 400, 409, 413, 415, 422), (resp.status_code, body)
    if resp.status_code == 200:
        AssessResponse.model_validate(body)
        assert body["decision"] in ("allow", "challenge", "block"), body["decision"]
        score = body["score"]
        assert score is None or (isinstance(score, (int, float)) and math.isfinite(score) and 0.0 <= score <= 1.0)
        assert body["assessment_id"].startswith("asm_")
        # The database, GeoIP files and model are all up in these tests: `degraded` can only
        # come from the caller's input breaking a dependency call (assess._signals even turns
        # ANY exception from the email/phone/device signals into "geoip unavailable").
        assert body["degraded"] is False, [r["code"] for r in body["reasons"] if r["code"].startswith("degraded.")]
    return body


def post_raw(client, path, data, auth, content_type="application/json"):
    headers = dict(auth)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post(path, data=data, headers=headers)


def dumps(value) -> str:
    # allow_nan: NaN / Infinity are what sloppy JSON encoders really send.
    return json.dumps(value, allow_nan=True)


def assess(client, auth, body):
    return post_raw(client, "/v1/assess", dumps(body), auth)


def full_body(event="signup", account_id="acct_fz"):
    body = signup(account_id, event=event)
    body["payment"] = {"fingerprint": "fp_1", "bin": "424242", "last4": "4242", "country": "GB",
                       "funding": "credit", "billing_country": "GB"}
    body["device"].update(screen="1920x1080", platform="MacIntel")
    if event == "login":
        body["login"] = {"outcome": "failure", "method": "password"}
    return body


# ---------------------------------------------------------------- strategies

SPECIAL_STRINGS = [
    "", " ", "\t\n\r", "\x00", "a\x00b", "\x7f", "\u0085", "\u2028", "\u202e", "\ufeff", "\ufffd",
    "\ud800", "\udfff", "💥", "e\u0301", "İ", "ß", "ǅ", "null", "NaN", "-1", "0", "true", "[]", "{}",
    "'; DROP TABLE assessment; --", "%00", "%s%s%n", "{0}", "../../etc/passwd", "<script>", "\\",
    "x" * 128, "x" * 129, "x" * 256, "x" * 257, "x" * 2049, "é" * 320, "💥" * 321, "x" * 70_000,
    "a@b", "@", "a@", "@b", "a@b@c", "a" * 64 + "@" + "b" * 250 + ".com", "x@xn--", "x@-.com",
    "x@[127.0.0.1]", "\"quoted\"@example.com", "user@ｅｘａｍｐｌｅ.com", "user@例え.テスト", "x@.",
    "+", "+0", "+999999999999999999", "+44 7911 123456 ext. 9", "+1" * 40, "٣٤٥٦٧٨٩", "tel:+1-201-555-0123",
    "Etc/GMT+14", "America/Argentina/ComodRivadavia", "UTC", "utc", "Europe/London\x00",
    "en-US;q=0.9", "zh-Hant-TW", "x-klingon", "i-default", "-", ";", "en_US", "--",
    "HeadlessChrome", "curl/8.0", "Mozilla/5.0 (" * 200,
]
control_text = st.text(alphabet=st.characters(max_codepoint=0x20), max_size=40)
weird_text = (st.sampled_from(SPECIAL_STRINGS) | st.text(max_size=60) | control_text
              | st.text(alphabet=st.characters(min_codepoint=0x80), max_size=40)
              | st.text(min_size=100, max_size=3000))
big_numbers = st.sampled_from([10 ** 4000, -(10 ** 300), 2 ** 63, -(2 ** 63) - 1, 2 ** 64, 1e308, -1e308,
                               5e-324, -0.0, float("nan"), float("inf"), float("-inf")])
scalars = (st.none() | st.booleans() | st.integers() | big_numbers
           | st.floats(allow_nan=True, allow_infinity=True) | weird_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
long_lists = st.sampled_from([["en"] * 33, ["en"] * 5000, [None] * 10, list(range(100)), [[]] * 40])
any_value = json_values | long_lists


@st.composite
def rfc3339(draw):
    """Anything from year 1 to 9999, with any offset a string can carry, and odd forms."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
    text_ = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if len(text_.split("-")[0]) < 4:                 # strftime does not pad years < 1000 everywhere
        text_ = f"{moment.year:04d}" + text_[text_.index("-"):]
    digits = draw(st.integers(0, 9))
    if digits:
        text_ += "." + "".join(draw(st.sampled_from("0123456789")) for _ in range(digits))
    kind = draw(st.sampled_from(["Z", "z", "offset", "offset", "none", "space"]))
    if kind in ("Z", "z"):
        text_ += kind
    elif kind == "offset":
        minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
        sign = "-" if minutes < 0 else "+"
        text_ += f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    elif kind == "space":
        text_ = text_.replace("T", " ") + "Z"
    return text_


TIMES = [
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00+01:00", "0001-01-01T00:59:59+01:00", "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59Z", "2026-02-30T00:00:00Z", "2026-11-28T10:00:00", "2026-11-28", "2026-11-28T24:00:00Z",
    "2026-11-28T10:00:00+24:00", "2026-11-28T10:00:00-23:59", "2026-11-28T10:00:00.123456789Z", "0", "-1",
    "1e10", "yesterday", "",
]
times = st.sampled_from(TIMES) | rfc3339() | st.integers(-10 ** 12, 10 ** 12) | st.floats()

ZONES = ["eth0", "1", "0", "", "x" * 60, "x" * 500, "%", "/", "💥", " ", "\x00", "lo:0"]
ips = (st.ip_addresses().map(str)
       | st.builds(lambda a, z: f"{a}%{z}", st.ip_addresses(v=6), st.sampled_from(ZONES) | st.text(max_size=20))
       | st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}")
       | st.builds(lambda a, z: f"::ffff:{a}%{z}", st.ip_addresses(v=4), st.sampled_from(ZONES))
       | st.ip_addresses(v=4).map(lambda a: f"::{a}")
       | st.sampled_from(["0.0.0.0", "255.255.255.255", "::", "::1", "127.1", "1.2.3", "01.02.03.04",
                          "1.2.3.4/24", "[::1]", "1.2.3.4:80", "fe80::1%25eth0", "::ffff:0:0", "64:ff9b::1.2.3.4",
                          "2002:c000:0204::1", "100.64.0.1", "ff02::1", " 1.2.3.4 ", "1.2.3.4\n", "１.２.３.４",
                          "0x7f.0.0.1", "2001:db8::1" + ":0" * 20, "::ffff:999.1.1.1"]))

# Values of roughly the right type but hostile content, per field of the /v1/assess body.
TYPED = {
    ("event",): st.sampled_from(["signup", "login", "SIGNUP", " login ", "rescore"]),
    ("event_id",): weird_text,
    ("occurred_at",): times,
    ("ip",): ips,
    ("account", "id"): weird_text,
    ("account", "email"): weird_text | st.emails().map(str),
    ("account", "phone"): weird_text | st.from_regex(r"\A\+?[0-9 ()\-.]{1,40}\Z"),
    ("account", "name"): weird_text,
    ("account", "country"): st.text(min_size=2, max_size=2) | st.sampled_from(["ZZ", "XK", "uk", "gb", "ı1"]),
    ("account", "org_type"): st.sampled_from(["individual", "startup", "education", "enterprise", "research",
                                              "INDIVIDUAL", ""]),
    ("device", "id"): weird_text,
    ("device", "user_agent"): weird_text,
    ("device", "timezone"): weird_text,
    ("device", "languages"): st.lists(weird_text, max_size=40),
    ("device", "screen"): weird_text,
    ("device", "platform"): weird_text,
    ("device", "webdriver"): st.sampled_from([True, False, None, 0, 1, "true", "yes", "on", 2, 1.0]),
    ("device", "components_hash"): weird_text,
    ("payment", "fingerprint"): weird_text,
    ("payment", "bin"): weird_text | st.from_regex(r"\A[0-9]{0,12}\Z"),
    ("payment", "last4"): weird_text,
    ("payment", "country"): st.text(min_size=0, max_size=3),
    ("payment", "funding"): st.sampled_from(["credit", "debit", "prepaid", "unknown", "CREDIT", ""]),
    ("payment", "billing_country"): st.text(min_size=0, max_size=3),
    ("login", "outcome"): st.sampled_from(["success", "failure", "Success", ""]),
    ("login", "method"): st.sampled_from(["password", "sso", "passkey", "magic_link", "api_key", "totp"]),
}
PATHS = list(TYPED) + [("account",), ("device",), ("payment",), ("login",), ("extra",), ("account", "extra"),
                       ("device", "extra"), ("", )]


def _set(body: dict, path: tuple, value, delete: bool) -> None:
    parent = body
    for part in path[:-1]:
        if not isinstance(parent.get(part), dict):
            return
        parent = parent[part]
    if delete:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value


@st.composite
def mutated_assess(draw, typed: bool):
    body = full_body(draw(st.sampled_from(["signup", "login"])), draw(st.sampled_from(["acct_fz", "acct_fz2"])))
    if draw(st.booleans()):
        body.pop("login", None)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        delete = draw(st.integers(0, 5)) == 0
        strategy = TYPED.get(path, any_value) if typed else any_value
        _set(body, path, draw(strategy), delete)
    return body


# ---------------------------------------------------------------- /v1/assess, fuzzed

@settings(max_examples=250, **FUZZ)
@given(body=mutated_assess(typed=True))
@example(body={**full_body(), "occurred_at": "0001-01-01T00:00:00+01:00"})
@example(body={**full_body(), "occurred_at": "9999-12-31T23:59:59-01:00"})
@example(body={**full_body(), "ip": "fe80::1%" + "x" * 60})
def test_assess_hostile_content_in_every_field(client, auth, body):
    check_assess(assess(client, auth, body))


@settings(max_examples=250, **FUZZ)
@given(body=mutated_assess(typed=False))
def test_assess_any_json_value_in_every_field(client, auth, body):
    check_assess(assess(client, auth, body))


@settings(max_examples=150, **FUZZ)
@given(body=json_values | st.dictionaries(st.sampled_from(["event", "account", "ip", "device", "payment",
                                                           "login", "occurred_at", "event_id", "x"]),
                                          any_value, max_size=9))
def test_assess_arbitrary_bodies(client, auth, body):
    resp = assess(client, auth, body)
    check_assess(resp)
    if not isinstance(body, dict):
        assert resp.status_code == 422 and resp.json["error"]["field"] == "body"


@st.composite
def duplicate_key_bodies(draw):
    """Raw JSON text whose objects repeat keys (json.loads keeps the last)."""
    base = full_body()
    pairs = list(base.items())
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(list(base) + ["login"]))
        value = draw(st.sampled_from([base.get(key), None, "logout", 5, {"id": "x"}, [], "1.2.3.4"])
                     | TYPED.get((key,), json_values))
        pairs.insert(draw(st.integers(0, len(pairs))), (key, value))

    def obj(items):
        return "{" + ",".join(f"{json.dumps(k)}:{enc(v)}" for k, v in items) + "}"

    def enc(v):
        if isinstance(v, dict) and draw(st.booleans()):
            items = list(v.items())
            if items:
                items.insert(0, items[-1] if draw(st.booleans()) else (items[0][0], None))
            return obj(items)
        return dumps(v)

    return obj(pairs)


@settings(max_examples=60, **FUZZ)
@given(raw=duplicate_key_bodies())
def test_assess_bodies_with_duplicate_keys(client, auth, raw):
    check_assess(post_raw(client, "/v1/assess", raw, auth))


def _parse_time(value):
    from riskengine.schemas import AssessRequest
    try:
        return AssessRequest.model_validate({**signup(), "occurred_at": value}).occurred_at
    except Exception:          # noqa: BLE001 - whatever the model says, the HTTP answer is checked below
        return None


@settings(max_examples=150, **FUZZ)
@given(when=times)
@example(when="0001-01-01T00:00:00Z")
@example(when="1970-01-01T00:00:00Z")
@example(when="0001-01-01T00:00:00+01:00")
@example(when="9999-12-31T23:59:59-01:00")
def test_occurred_at_is_a_clean_200_or_422(client, auth, when):
    resp = assess(client, auth, full_body(account_id="acct_time") | {"occurred_at": when})
    body = check_assess(resp)
    assert resp.status_code in (200, 422), (resp.status_code, body)
    if resp.status_code == 422:
        assert body["error"]["field"] == "occurred_at", body
        return
    parsed = _parse_time(when)
    if parsed is not None:
        assert parsed.timestamp() <= time.time() + 300, f"{when!r} is in the future but was accepted"
    view = client.get("/v1/accounts/acct_time", headers=auth)
    check(view, route="/v1/accounts")
    assert view.status_code == 200


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000001+00:00",
                                  "1970-01-01T00:00:00Z", "1900-02-28T23:59:59-12:00"])
def test_far_past_occurred_at_is_stored_and_readable(client, auth, when):
    resp = assess(client, auth, signup("acct_old", occurred_at=when))
    body = check_assess(resp)
    assert resp.status_code == 200 and body["degraded"] is False, body
    again = assess(client, auth, signup("acct_old", event="login", occurred_at=when,
                                        login={"outcome": "failure"}))
    assert check_assess(again) and again.status_code == 200
    view = client.get("/v1/accounts/acct_old", headers=auth)
    check(view, route="/v1/accounts")
    assert view.status_code == 200 and len(view.json["assessments"]) == 2


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "0001-01-01T00:30:00+00:31",
                                  "9999-12-31T23:59:59-01:00", "9999-12-31T23:30:00-00:31"])
def test_offset_that_leaves_the_datetime_range_is_422(client, auth, when):
    """An offset moving the instant outside years 1..9999 made `_utc`'s astimezone() raise
    OverflowError, which pydantic does not turn into a validation error: a 500."""
    resp = assess(client, auth, signup(occurred_at=when))
    body = check_assess(resp)
    assert resp.status_code == 422 and body["error"]["field"] == "occurred_at", body


def test_login_without_login_block_is_clean(client, auth):
    body = signup("acct_login", event="login")
    body.pop("login", None)
    resp = assess(client, auth, body)
    assert check_assess(resp) and resp.status_code == 200
    resp = assess(client, auth, signup("acct_login", event="login", login=None))
    assert check_assess(resp) and resp.status_code == 200
    resp = assess(client, auth, signup("acct_login", event="login", login={}))
    assert check_assess(resp)["error"]["field"] == "login.outcome"


@pytest.mark.parametrize("ip", ["fe80::1%eth0", "fe80::1%1", "::ffff:203.0.113.7", "::ffff:203.0.113.7%eth0",
                                "2001:db8::1%" + "z" * 40, "fe80::1%" + "x" * 60])
def test_scoped_and_mapped_ipv6_are_assessed_not_degraded(client, auth, ip):
    """A scope id is legal syntax; a long one overflowed assessment.ip (VARCHAR(45)) on
    PostgreSQL, and the caller got a fail-closed "database unavailable" answer."""
    resp = assess(client, auth, signup("acct_ip6", ip=ip))
    body = check_assess(resp)
    if resp.status_code == 200:
        assert body["degraded"] is False, body["reasons"][:2]
    else:
        assert resp.status_code == 422 and body["error"]["field"] == "ip"


@pytest.mark.parametrize("path, value", [
    (("account", "id"), "acct\x00nul"), (("account", "email"), "jane\x00@example.com"),
    (("account", "name"), "Jane\x00Doe"), (("event_id",), "evt\x00nul"), (("device", "id"), "dv\x00"),
    (("device", "timezone"), "Europe/London\x00"), (("payment", "fingerprint"), "fp\x00"),
])
def test_nul_characters_are_not_a_database_outage(client, auth, path, value):
    """PostgreSQL text cannot hold NUL: the history query or the insert failed, and the
    caller's typo was answered as `degraded: true` (fail-closed) and never stored."""
    body = full_body(account_id="acct_nul")
    _set(body, path, value, delete=False)
    resp = assess(client, auth, body)
    out = check_assess(resp)
    if resp.status_code == 200:
        assert out["degraded"] is False, (path, out["reasons"][:2])
    else:
        assert resp.status_code == 422 and out["error"]["field"] == ".".join(path), out


# ---------------------------------------------------------------- raw bodies and Content-Type

def nested(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "array" else ('{"a":' * depth + "1" + "}" * depth)


JSON_ROUTES = ["/v1/assess", "/v1/usage", "/v1/labels", "/v1/assessments/asm_x/challenge"]


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
@pytest.mark.parametrize("kind", ["array", "object"])
def test_deeply_nested_json_is_a_clean_4xx(client, auth, route, depth, kind):
    """json.loads raises RecursionError (not ValueError) past ~1000 levels: a 500."""
    resp = post_raw(client, route, nested(depth, kind), auth)
    check(resp, route=route)
    assert resp.status_code in (400, 413, 422), resp.status_code


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
@pytest.mark.parametrize("where", ["body", "member", "record"])
def test_deep_nesting_is_400_saying_so_on_every_route(client, auth, route, depth, where):
    """msgspec (the usage decoder) raised RecursionError while skipping an unknown member
    nested 1,000 levels: /v1/usage answered 500."""
    if where == "record" and route != "/v1/usage":
        pytest.skip("records are /v1/usage's")
    raw = nested(depth, "object")
    if where == "member":
        raw = '{"extra": ' + raw + ', "records": [], "account_id": "a", "outcome": "passed"}'
    elif where == "record":
        raw = ('{"records": [{"account_id": "a", "occurred_at": "2026-11-20T10:00:00Z", "extra": '
               + raw + "}]}")
    resp = post_raw(client, route, raw, auth)
    out = check(resp, route=route)
    if route == "/v1/usage" and depth < 1_000:     # msgspec skips what it ignores, to its own limit
        assert resp.status_code in (202, 400, 422), (resp.status_code, out)
        return
    assert resp.status_code == 400 and "nested too deeply" in out["error"]["message"], (resp.status_code, out)


def test_nesting_up_to_the_bound_is_accepted(client, auth):
    raw = dumps(signup("acct_nest"))[:-1] + ', "extra": ' + nested(63, "array") + "}"
    assert post_raw(client, "/v1/assess", raw, auth).status_code == 200
    raw = dumps(signup("acct_nest"))[:-1] + ', "extra": ' + nested(64, "array") + "}"
    assert post_raw(client, "/v1/assess", raw, auth).status_code == 400


@pytest.mark.parametrize("depth", [500, 900, 1_000, 10_000])
def test_deep_nesting_inside_an_ignored_field_is_clean(client, auth, depth):
    raw = dumps(signup("acct_deep"))[:-1] + ', "extra": ' + nested(depth, "array") + "}"
    resp = post_raw(client, "/v1/assess", raw, auth)
    check_assess(resp)
    assert resp.status_code in (200, 400, 413, 422)


@pytest.mark.parametrize("content_type, expected", [
    ("application/json", {200}),
    ("application/json; charset=utf-8", {200}),
    ("application/json;charset=UTF-8", {200}),
    ("application/JSON", {200}),                       # media types are case-insensitive
    ("Application/Json; Charset=utf-8", {200}),
    ("application/vnd.riskengine+json", {200, 415}),
    (None, {415}),
    ("", {415}),
    ("text/plain", {415}),
    ("application/x-www-form-urlencoded", {415}),
    ("multipart/form-data; boundary=xyz", {415}),
    ("application/json; charset=latin-1", {200, 400, 415}),
    ("application/jsonx", {415}),
    ("json", {415}),
    ("*/*", {415}),
    ("application/json; boundary=\x7f", {200, 400, 415}),
])
def test_content_type_variants(client, auth, content_type, expected):
    resp = post_raw(client, "/v1/assess", dumps(signup("acct_ct")), auth, content_type)
    check_assess(resp)
    assert resp.status_code in expected, (content_type, resp.status_code, resp.json)


@pytest.mark.parametrize("raw, expected", [
    (b"", {400}),
    (b" \n\t", {400}),
    (b"null", {422}),
    (b"[]", {422}),
    (b'"signup"', {422}),
    (b"1", {422}),
    (b"NaN", {422}),
    (b"-Infinity", {422}),
    (b"{}", {422}),
    (b"{", {400}),
    (b"{}}", {400}),
    (b"{'event': 'signup'}", {400}),
    (b'{"event": "signup",}', {400}),
    (b"\xef\xbb\xbf" + json.dumps(signup("acct_bom")).encode(), {200, 400}),        # UTF-8 BOM
    (json.dumps(signup("acct_u16")).encode("utf-16"), {200, 400}),
    (json.dumps(signup("acct_u32")).encode("utf-32-le"), {200, 400}),
    (b'{"event": "signup", "ip": "\xff\xfe"}', {400}),
    (b'{"event": "signup", "ip": "\xed\xa0\x80"}', {400, 422}),                    # encoded surrogate
    (b'{"a": ' + b"9" * 5000 + b"}", {400, 422}),                                  # > int digit limit
    (b'{"a": 1e999999}', {400, 422}),
    (json.dumps(signup("acct_trail")).encode() + b"\x00", {400}),
])
def test_raw_body_edge_cases(client, auth, raw, expected):
    resp = post_raw(client, "/v1/assess", raw, auth)
    check_assess(resp)
    assert resp.status_code in expected, (raw[:40], resp.status_code, resp.json)


@pytest.mark.parametrize("route", ["/v1/assess", "/v1/labels", "/v1/assessments/asm_x/challenge"])
def test_body_over_the_limit_is_413(client, auth, route):
    raw = '{"pad": "' + "x" * (1 << 20) + '"}'
    resp = post_raw(client, route, raw, auth)
    check(resp, route=route)
    assert resp.status_code == 413


@settings(max_examples=60, **FUZZ)
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_arbitrary_bytes_never_5xx(client, auth, raw):
    for route in ("/v1/assess", "/v1/labels", "/v1/assessments/asm_x/challenge"):
        check(post_raw(client, route, raw, auth), route=route)


# ---------------------------------------------------------------- /v1/labels

label_fields = {
    "account_id": weird_text | st.sampled_from(["acct_lbl"]),
    "label": st.sampled_from(["fraud", "legit", "FRAUD", "", "spam"]) | json_values,
    "source": st.sampled_from(["analyst", "chargeback", "abuse_report", "tos_violation", "email"]) | json_values,
    "note": weird_text | st.sampled_from(["n" * 2000, "n" * 2001]) | json_values,
}


@st.composite
def label_bodies(draw):
    body = {"account_id": "acct_lbl", "label": "fraud", "source": "analyst", "note": "farm cluster 7"}
    for name in draw(st.lists(st.sampled_from(list(label_fields) + ["extra"]), max_size=4)):
        if draw(st.integers(0, 4)) == 0:
            body.pop(name, None)
        else:
            body[name] = draw(label_fields.get(name, any_value))
    return draw(st.just(body) | json_values) if draw(st.integers(0, 9)) == 0 else body


@settings(max_examples=200, **FUZZ)
@given(body=label_bodies())
@example(body={"account_id": "acct\x00", "label": "fraud", "source": "analyst"})
@example(body={"account_id": "acct_lbl", "label": "fraud", "source": "analyst", "note": "a\x00b"})
def test_labels_fuzz(client, auth, body):
    if client.get("/v1/accounts/acct_lbl", headers=auth).status_code == 404:
        assert assess(client, auth, signup("acct_lbl")).status_code == 200
    resp = post_raw(client, "/v1/labels", dumps(body), auth)
    out = check(resp, route="/v1/labels")
    assert resp.status_code in (201, 400, 404, 413, 422), (resp.status_code, out)
    if resp.status_code == 201:
        assert set(out) == {"id", "account_id", "label", "source", "note", "created_at"}
        assert out["label"] in ("fraud", "legit") and isinstance(out["id"], int)
    if resp.status_code == 404:
        assert out["error"]["field"] == "account_id"


# ---------------------------------------------------------------- path ids

path_ids = (st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=50).map(
    lambda s: quote(s, safe=""))
    | st.binary(min_size=1, max_size=30).map(lambda b: quote_from_bytes(b, safe=""))
    | st.sampled_from(["%00", "a%00b", "%ED%A0%80", "%FF", "x" * 5000, quote("ü" * 2000), "%2F", "..", ".",
                       "asm_" + "Z" * 26, "%20", "%0A", quote("💥"), "null", "-1"]))


@settings(max_examples=120, **FUZZ)
@given(account_id=path_ids)
@example(account_id="%00")
@example(account_id="%2F0")
def test_accounts_path_ids(client, auth, account_id):
    resp = client.get(f"/v1/accounts/{account_id}", headers=auth)
    check(resp, route="/v1/accounts")
    assert resp.status_code in (200, 404), resp.status_code


@pytest.mark.parametrize("account_id", ["org/7", "a//b", "tenant/acct/1", "acct/"])
def test_account_ids_with_slashes_are_readable(client, auth, account_id):
    """account.id is any 1-128 chars, so "org/7" is assessed and stored; GET must find it
    with the slash percent-encoded (the WSGI server decodes %2F before routing, and the
    plain <account_id> converter stops at '/': a 404 for an account that exists)."""
    assert check_assess(assess(client, auth, signup(account_id)))["account_id"] == account_id
    resp = client.get(f"/v1/accounts/{quote(account_id, safe='')}", headers=auth)
    out = check(resp, route="/v1/accounts")
    assert resp.status_code == 200 and out["account_id"] == account_id, (resp.status_code, out)


def test_encoded_slash_never_redirects_to_another_resource(client, auth):
    """/v1/accounts/%2Facct_1 became /v1/accounts//acct_1, which werkzeug's merge_slashes
    answered with a 308 text/html redirect to /v1/accounts/acct_1: a different account."""
    first = check_assess(assess(client, auth, signup("acct_1")))
    resp = client.get("/v1/accounts/%2Facct_1", headers=auth)
    out = check(resp, route="/v1/accounts")
    assert resp.status_code in (200, 404) and out.get("account_id") != "acct_1", (resp.status_code, out)
    for path in (f"/v1/assessments/%2F{first['assessment_id']}/challenge",
                 f"/v1/assessments/{first['assessment_id']}%2F/challenge"):
        resp = client.post(path, json={"outcome": "passed"}, headers=auth)
        check(resp, route=path)
        assert resp.status_code == 404, (path, resp.status_code)


challenge_bodies = (st.fixed_dictionaries({"outcome": st.sampled_from(["passed", "failed", "abandoned"])})
                    | st.fixed_dictionaries({"outcome": any_value})
                    | st.dictionaries(st.sampled_from(["outcome", "x"]), any_value)
                    | json_values)


@settings(max_examples=150, **FUZZ)
@given(assessment_id=path_ids | st.just("REAL"), body=challenge_bodies)
@example(assessment_id="%00", body={"outcome": "passed"})
@example(assessment_id="0%2F", body={"outcome": "passed"})
def test_challenge_path_ids_and_bodies(client, auth, assessment_id, body):
    if assessment_id == "REAL":
        resp = assess(client, auth, signup("acct_chal"))
        assert resp.status_code == 200
        assessment_id = resp.json["assessment_id"]
    resp = post_raw(client, f"/v1/assessments/{assessment_id}/challenge", dumps(body), auth)
    out = check(resp, route="/v1/assessments/{id}/challenge")
    assert resp.status_code in (200, 400, 404, 405, 422), (resp.status_code, out)
    if resp.status_code == 200:
        assert out == {"assessment_id": assessment_id, "outcome": body["outcome"]}


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/assess"), ("PUT", "/v1/assess"), ("DELETE", "/v1/labels"), ("POST", "/v1/accounts/acct_1"),
    ("GET", "/v1/assessments/x/challenge"), ("GET", "/v1/nope"), ("POST", "/v1/"), ("GET", "/v2/assess"),
])
def test_wrong_method_or_route_answers_in_the_error_shape(client, auth, method, path):
    resp = client.open(path, method=method, headers=auth, json={})
    check(resp, route=path)
    assert resp.status_code in (404, 405)


@pytest.mark.parametrize("method, path, allow", [
    ("GET", "/v1/assess", "OPTIONS, POST"), ("PUT", "/v1/usage", "OPTIONS, POST"),
    ("PUT", "/v1/accounts/acct_1", "DELETE, GET, HEAD, OPTIONS"),
    ("GET", "/v1/assessments/x/challenge", "OPTIONS, POST"),
    ("POST", "/healthz", "GET, HEAD, OPTIONS"), ("PATCH", "/openapi.json", "GET, HEAD, OPTIONS"),
])
def test_405_carries_allow(client, auth, method, path, allow):
    """Contract v1.1: 405 answers carry Allow (the JSON error handler dropped werkzeug's)."""
    resp = client.open(path, method=method, headers=auth, json={})
    assert check(resp, route=path)["error"]["code"] == "method_not_allowed"
    assert resp.status_code == 405 and resp.headers.get("Allow") == allow, dict(resp.headers)


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Bearer  ", "bearer x", "Basic dXNlcjpwYXNz",
                                    "Bearer " + "x" * 10_000, "Bearer \x7f", "Bearer ÿÿ", "Bearer rk_\t"])
def test_odd_authorization_headers_are_401(client, header):
    resp = client.post("/v1/assess", json=signup(), headers={"Authorization": header})
    check(resp, route="/v1/assess")
    assert resp.status_code == 401


# ---------------------------------------------------------------- idempotency under concurrency

class _Server:
    """The real app behind a real threaded HTTP server on an ephemeral port."""

    def __init__(self, app):
        from werkzeug.serving import make_server
        self.httpd = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def post(self, path, body: bytes, auth: dict):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", path, body=body, headers={**auth, "Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def close(self):
        self.httpd.shutdown()
        self.thread.join(5)


def _stored_count(app, event_id):
    with app.extensions["riskengine"].db.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM assessment WHERE event_id = :e"), {"e": event_id}).scalar_one()


def _race(server, bodies, auth):
    results = [None] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def go(i):
        barrier.wait()
        results[i] = server.post("/v1/assess", bodies[i], auth)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None for r in results), "a concurrent call hung"
    return results


@pytest.mark.parametrize("round_", range(3))
def test_repeated_event_id_concurrently_stores_once_and_answers_identically(app, auth, round_):
    server = _Server(app)
    try:
        event_id = f"evt_race_{round_}"
        body = json.dumps(signup(f"acct_race_{round_}", event_id=event_id,
                                 occurred_at=(datetime.now(UTC) - timedelta(minutes=1)).isoformat())).encode()
        results = _race(server, [body] * 12, auth)
        statuses = [s for s, _ in results]
        assert statuses == [200] * 12, [(s, b[:200]) for s, b in results if s != 200]
        answers = [json.loads(b) for _, b in results]
        assert all(a == answers[0] for a in answers), {a["assessment_id"] for a in answers}
        assert answers[0]["degraded"] is False
        assert _stored_count(app, event_id) == 1
    finally:
        server.close()


def test_same_event_id_with_two_bodies_concurrently(app, auth):
    server = _Server(app)
    try:
        a = json.dumps(signup("acct_race_a", event_id="evt_race_ab")).encode()
        b = json.dumps(signup("acct_race_b", event_id="evt_race_ab")).encode()
        results = _race(server, [a, b] * 6, auth)
        assert {s for s, _ in results} <= {200, 409}, [(s, r[:200]) for s, r in results]
        winners = {json.loads(r)["account_id"] for s, r in results if s == 200}
        assert len(winners) == 1, winners
        ids = {json.loads(r)["assessment_id"] for s, r in results if s == 200}
        assert len(ids) == 1
        for s, r in results:
            if s == 409:
                assert json.loads(r)["error"]["code"] == "conflict"
        assert _stored_count(app, "evt_race_ab") == 1
    finally:
        server.close()
