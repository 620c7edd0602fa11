"""/collector.js: the shipped bundle, cacheable, with the SRI hash an integrator pins."""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from riskengine.web.collector import bundle


def test_the_collector_script_is_served_with_cache_headers_and_its_integrity_hash(client):
    r = client.get("/collector.js")
    assert r.status_code == 200 and r.mimetype == "text/javascript"
    assert b"riskengine" in r.data and b"@fingerprintjs/botd" in r.data[:300]
    assert r.headers["Cache-Control"] == "public, max-age=3600"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    sri = "sha384-" + base64.b64encode(hashlib.sha384(r.data).digest()).decode()
    assert r.headers["X-Riskengine-Integrity"] == sri


def test_a_matching_etag_gets_304_without_a_body(client):
    etag = client.get("/collector.js").headers["ETag"]
    again = client.get("/collector.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get("/collector.js", headers={"If-None-Match": '"other"'}).status_code == 200


def test_the_readme_pins_the_shipped_bundles_sri_hash():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f'integrity="{bundle()[2]}"' in readme
