"""The web-framework helpers, on a real Flask request."""
from __future__ import annotations

from types import SimpleNamespace

from flask import Flask, request

from riskengine.client import TrustedProxies, assess_context

EDGE = TrustedProxies.parse("10.0.0.0/8")


def _flask_context(**kwargs) -> dict:
    app = Flask(__name__)
    with app.test_request_context("/signup", method="POST", **kwargs):
        return assess_context(request, EDGE)


def test_flask_request_behind_a_trusted_proxy_with_the_collector_token_in_the_form():
    context = _flask_context(environ_base={"REMOTE_ADDR": "10.0.0.5"}, headers={"X-Forwarded-For": "203.0.113.7"},
                             data={"riskengine_token": " dt_abc "})
    assert context == {"ip": "203.0.113.7", "device": {"token": "dt_abc"}}


def test_flask_request_from_an_untrusted_peer_and_the_token_in_a_header():
    context = _flask_context(environ_base={"REMOTE_ADDR": "198.51.100.9"},
                             headers={"X-Forwarded-For": "203.0.113.7", "X-Riskengine-Device-Token": "dt_h"})
    assert context == {"ip": "198.51.100.9", "device": {"token": "dt_h"}}


def test_no_token_sends_no_device():
    assert _flask_context(environ_base={"REMOTE_ADDR": "198.51.100.9"}) == {"ip": "198.51.100.9"}


def test_a_django_shaped_request():
    # Django is not a dependency: this stand-in has the attributes of django.http.HttpRequest that
    # the helper reads (META, POST).
    req = SimpleNamespace(META={"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "203.0.113.7"},
                          POST={"riskengine_token": "dt_dj"})
    assert assess_context(req, EDGE) == {"ip": "203.0.113.7", "device": {"token": "dt_dj"}}
