"""RiskClient over real sockets: the live engine (the real app served by werkzeug on
127.0.0.1), a closed port, a server that accepts and never answers, and a small server that
answers what an overloaded or broken engine would (503, 429: tests.factories.StubServer)."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from riskengine.client import ApiError, RiskClient, Unavailable
from tests.factories import free_port, login, signup


@pytest.fixture
def engine_url(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def silent_url() -> Iterator[str]:
    """Accepts connections and never answers: a frozen engine or a black-holed proxy."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_assess_against_the_live_engine(engine_url, api_key):
    with RiskClient(engine_url, api_key, timeout=5.0) as client:
        answer = client.assess(signup("acct_client"))
        assert answer["decision"] in {"allow", "challenge", "block"}
        assert answer["assessment_id"].startswith("asm_")
        assert "failover" not in answer and answer["degraded"] is False
        again = client.assess(login("acct_client"))
        assert again["event"] == "login"
        account = client.account("acct_client")
    assert {a["assessment_id"] for a in account["assessments"]} >= {answer["assessment_id"], again["assessment_id"]}


def test_a_generated_event_id_makes_the_call_idempotent(engine_url, api_key):
    with RiskClient(engine_url, api_key, timeout=5.0) as client:
        body = signup("acct_idem", event_id="evt_fixed_1")
        first, second = client.assess(body), client.assess(body)
    assert first["assessment_id"] == second["assessment_id"]


def test_a_caller_mistake_raises_api_error_with_status_code_and_field(engine_url, api_key):
    client = RiskClient(engine_url, api_key, timeout=5.0)
    with pytest.raises(ApiError) as err:
        client.assess({"event": "signup", "account": {}, "ip": "203.0.113.7"})
    assert (err.value.status, err.value.code, err.value.field) == (422, "validation_error", "account.id")


def test_a_bad_key_raises_api_error_401_never_a_failover(engine_url):
    client = RiskClient(engine_url, "rk_not_a_key", timeout=5.0, failover="allow")
    with pytest.raises(ApiError) as err:
        client.assess(signup())
    assert (err.value.status, err.value.code) == (401, "unauthorized")


def test_unknown_account_raises_404(engine_url, api_key):
    with pytest.raises(ApiError) as err:
        RiskClient(engine_url, api_key, timeout=5.0).account("acct_never_seen")
    assert err.value.status == 404


@pytest.mark.parametrize("failover", ["allow", "challenge", "block"])
def test_a_closed_port_fails_over_to_the_configured_decision(failover):
    client = RiskClient(f"http://127.0.0.1:{free_port()}", "rk_x", timeout=1.0, failover=failover)
    answer = client.assess(signup("acct_closed"))
    assert answer["decision"] == failover
    assert answer["failover"] is True and answer["degraded"] is True and answer["score"] is None
    assert answer["reasons"][0]["code"] == "client.failover"
    assert answer["account_id"] == "acct_closed" and answer["event_id"].startswith("evt_")


def test_a_closed_port_raises_unavailable_with_failover_raise():
    client = RiskClient(f"http://127.0.0.1:{free_port()}", "rk_x", timeout=1.0, failover="raise")
    with pytest.raises(Unavailable):
        client.assess(signup())


def test_a_silent_server_fails_over_within_the_deadline(silent_url):
    client = RiskClient(silent_url, "rk_x", timeout=0.5, failover="challenge")
    started = time.monotonic()
    answer = client.assess(signup())
    elapsed = time.monotonic() - started
    assert answer["decision"] == "challenge" and answer["failover"] is True
    assert "timeout" in answer["reasons"][0]["message"]
    # The contract allows 0.2 s beyond the timeout; a second attempt after the first timed out
    # would have taken another 0.5 s.
    assert elapsed < 0.5 + 0.2 + 0.5


def test_a_503_is_retried_once_then_fails_over(stub_server):
    server = stub_server(503, {"error": {"code": "unavailable", "message": "database unavailable"}})
    answer = RiskClient(server.url, "rk_x", timeout=2.0, failover="block").assess(signup())
    assert answer["decision"] == "block" and answer["failover"] is True
    assert "HTTP 503" in answer["reasons"][0]["message"]
    assert server.hits == 2


def test_a_429_fails_over_without_a_retry(stub_server):
    server = stub_server(429, {"error": {"code": "rate_limited", "message": "slow down"}})
    answer = RiskClient(server.url, "rk_x", timeout=2.0, failover="allow").assess(signup())
    assert answer["decision"] == "allow" and "HTTP 429" in answer["reasons"][0]["message"]
    assert server.hits == 1


def test_calls_other_than_assess_raise_unavailable_instead_of_failing_over(stub_server):
    server = stub_server(503, {"error": {"code": "unavailable", "message": "down"}})
    client = RiskClient(server.url, "rk_x", timeout=1.0, failover="allow")
    with pytest.raises(Unavailable):
        client.label("acct_1", "fraud")
    assert server.hits == 1            # labels are appended: never retried
    with pytest.raises(Unavailable):
        client.usage([], batch_id="b1")
    assert server.hits == 3            # a batch with an id is safe to send twice


def test_a_422_from_a_server_is_never_turned_into_a_failover(stub_server):
    server = stub_server(422, {"error": {"code": "validation_error", "message": "ip is invalid", "field": "ip"}})
    with pytest.raises(ApiError) as err:
        RiskClient(server.url, "rk_x", timeout=1.0, failover="allow").assess(signup())
    assert (err.value.status, err.value.field) == (422, "ip")


def test_one_client_serves_many_threads(engine_url, api_key):
    client = RiskClient(engine_url, api_key, timeout=10.0, pool_size=4)
    results: list[dict] = []

    def work(i):
        results.append(client.assess(signup(f"acct_thread_{i}")))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r["assessment_id"] for r in results}) == 8
    assert not any(r.get("failover") for r in results)


@pytest.mark.parametrize("kwargs", [{"failover": "maybe"}, {"timeout": 0}, {"timeout": -1}])
def test_bad_settings_are_refused_up_front(kwargs):
    with pytest.raises(ValueError):
        RiskClient("http://127.0.0.1:1", "rk_x", **kwargs)
