"""Application factory: create_app(config) builds everything; importing builds nothing."""
from __future__ import annotations

import time

from flask import Flask, g, request

from riskengine import storage
from riskengine.config import DEFAULT_RATE_LIMITS, Config, parse_origins, parse_rate_limits
from riskengine.forwarded import TrustedProxies
from riskengine.runtime import Runtime
from riskengine.signals.warm import warm_up
from riskengine.web import api, collector, console, device, errors, ops
from riskengine.web.auth import KeyCache
from riskengine.web.metrics import LATENCY, MODEL_INFO, REQUESTS
from riskengine.web.ratelimit import RateLimiter

LOGIN_PATH = {"api.assess_route"}      # routes a login waits for: bounded by RISKENGINE_DB_TIMEOUT_MS
BULK_PATH = {"api.usage_route"}        # bounded by RISKENGINE_USAGE_TIMEOUT_MS


def create_app(config: Config | dict | None = None, runtime: Runtime | None = None) -> Flask:
    cfg = Config.coerce(config)
    warm_up()          # the signal tables, before the first request rather than in it
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = cfg.usage_max_body_bytes
    state = runtime or Runtime.build(cfg)
    app.extensions["riskengine"] = state
    app.extensions["riskengine.keys"] = KeyCache(cfg.key_cache_seconds, cfg.key_outage_seconds)
    app.extensions["riskengine.proxies"] = TrustedProxies.parse(cfg.trusted_proxies)
    app.extensions["riskengine.collect_origins"] = parse_origins(cfg.collect_origins)
    limits = cfg.rate_limits or state.policy.rate_limits or DEFAULT_RATE_LIMITS
    app.extensions["riskengine.limits"] = RateLimiter(parse_rate_limits(limits), cfg.redis_url,
                                                      cfg.extra.get("rate_limit_prefix", "riskengine"))
    MODEL_INFO.labels(state.model.version if state.model else "none", state.policy.version).set(1)
    errors.register(app)
    app.wsgi_app = whole_bodies(app.wsgi_app)  # type: ignore[method-assign]
    # An encoded slash in an id must not be merged and redirected to another resource.
    app.url_map.merge_slashes = False
    app.register_blueprint(api.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(collector.bp)
    app.register_blueprint(device.bp)
    console.register(app)

    @app.before_request
    def _start():
        g.started = time.perf_counter()
        state.policies.watch()       # in each worker after the fork: new policy versions within seconds
        # Only the usage route takes big batches; everything else is capped at 1 MiB.
        big = request.endpoint == "api.usage_route"
        request.max_content_length = cfg.usage_max_body_bytes if big else cfg.max_body_bytes
        budget_ms = cfg.db_timeout_ms if request.endpoint in LOGIN_PATH else (
            cfg.usage_timeout_ms if request.endpoint in BULK_PATH else None)
        if budget_ms is not None:
            # One budget for all of the call's database waits, the API key's lookup included.
            g.db_deadline = storage.Deadline.after_ms(budget_ms)
            g.db_deadline_scope = storage.within(g.db_deadline)
            g.db_deadline_scope.__enter__()

    @app.teardown_request
    def _end(_error):
        scope = g.pop("db_deadline_scope", None)
        if scope is not None:
            scope.__exit__(None, None, None)

    @app.after_request
    def _observe(response):
        route = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        LATENCY.labels(route).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    return app


def whole_bodies(wsgi_app):
    """A body that ends before its Content-Length (the client was cut off, or closed its side)
    must never pass for a shorter valid one. gunicorn marks its input `wsgi.input_terminated`
    and then returns what arrived without a word; werkzeug, told nothing, reads a body with a
    length through its LimitedStream, which raises ClientDisconnected (a 400) on an early end.
    Chunked bodies keep the flag: gunicorn checks their framing itself."""
    def app(environ, start_response):
        if environ.get("CONTENT_LENGTH"):
            environ.pop("wsgi.input_terminated", None)
        return wsgi_app(environ, start_response)
    return app
