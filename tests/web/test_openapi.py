"""/openapi.json against the service's behaviour: schemathesis generates requests for every
operation from the document (in-process, through WSGI, with a valid API key of every scope) and
checks that no answer is a 5xx and that every status, content type and body is one the
document declares. Bounded and reproducible: a fixed number of examples, derandomized."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from riskengine import __version__
from riskengine.web.openapi import build

pytestmark = pytest.mark.timeout(240)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# The document /openapi.json serves (test_the_document_is_what_is_served checks they are one).
schema = schemathesis.openapi.from_dict(build(__version__))


@schema.parametrize()
@settings(max_examples=40, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_to_the_document(case, app, auth):
    case.call_and_validate(app=app, headers=auth, checks=CHECKS)


def test_the_document_is_what_is_served(client):
    assert client.get("/openapi.json").json == build(__version__)


def test_the_document_covers_every_route(client, app):
    doc = client.get("/openapi.json").json
    # The analyst console's pages (/console/...) are a user interface, not the HTTP API.
    rules = {r.rule.replace("<path:", "{").replace("<", "{").replace(">", "}") for r in app.url_map.iter_rules()
             if r.endpoint != "static" and not r.endpoint.startswith("console.")}
    assert rules == set(doc["paths"]), rules ^ set(doc["paths"])
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path.startswith("/v1/"):
                assert {"400", "401", "403", "429", "503"} <= set(op["responses"]), (method, path)
                if "requestBody" in op:
                    assert {"413", "415", "422"} <= set(op["responses"]), (method, path)


def test_the_document_states_the_ip_format_and_the_nul_rule(client):
    schemas = client.get("/openapi.json").json["components"]["schemas"]
    assert schemas["AssessRequest"]["properties"]["ip"]["anyOf"] == [{"format": "ipv4"}, {"format": "ipv6"}]
    assert schemas["AccountIn"]["properties"]["id"]["pattern"] == "^[^\\u0000]*$"
    assert schemas["UsageRecordIn"]["properties"]["account_id"]["pattern"] == "^[^\\u0000]*$"


# The /v1 operations of the shared contract (v1 and its v1.1 additions); anything else under /v1
# is riskengine's own, and the document must say so.
CONTRACT_V1 = {("post", "/v1/assess"), ("post", "/v1/usage"), ("post", "/v1/labels"),
               ("post", "/v1/assessments/{assessment_id}/challenge"), ("get", "/v1/accounts/{account_id}"),
               ("post", "/v1/device")}


def test_v1_operations_beyond_the_contract_are_marked_as_extensions(client):
    doc = client.get("/openapi.json").json
    ops = {(m, p): op for p, methods in doc["paths"].items() if p.startswith("/v1/") for m, op in methods.items()}
    for key, op in ops.items():
        marked = op.get("x-riskengine-extension") is True
        assert marked == (key not in CONTRACT_V1), key
        if marked:
            assert "not part of the shared HTTP contract" in op["description"], key
    assert ops[("delete", "/v1/accounts/{account_id}")]["x-riskengine-extension"] is True
