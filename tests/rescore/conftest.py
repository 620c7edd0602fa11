"""Fixtures of the re-scoring tests: the job's environment, the active model, apps under a given policy."""
from __future__ import annotations

import dataclasses

import pytest

from riskengine.apikeys import create_key
from riskengine.rescore.command import active_model_dir
from riskengine.runtime import Runtime
from riskengine.scoring.model import RiskModel
from riskengine.web.app import create_app


@pytest.fixture
def env(config, monkeypatch):
    """The command line's environment: the same database, hash key and GeoIP files as `app`."""
    for name, value in (("RISKENGINE_DATABASE_URL", config.database_url), ("RISKENGINE_HASH_KEY", config.hash_key),
                        ("RISKENGINE_GEOIP_CITY", config.geoip_city), ("RISKENGINE_GEOIP_ASN", config.geoip_asn),
                        ("RISKENGINE_GEOIP_ANONYMOUS", config.geoip_anonymous)):
        monkeypatch.setenv(name, value)
    return config


@pytest.fixture(scope="session")
def active_model():
    """The shipped active-account model, the one `riskengine rescore` loads."""
    return RiskModel.load(active_model_dir())


@pytest.fixture
def runtime(config):
    rt = Runtime.build(config)
    yield rt
    rt.close()


@pytest.fixture
def serve(config, tmp_path):
    """serve(policy TOML) -> (client, auth, runtime): the real app on the test database under that
    policy file, and its runtime (which the job runs with)."""
    apps = []

    def make(policy: str):
        path = tmp_path / f"policy-{len(apps)}.toml"
        path.write_text(policy)
        app = create_app(dataclasses.replace(config, policy_path=str(path)))
        apps.append(app)
        rt = app.extensions["riskengine"]
        key = create_key(rt.db, f"policy-test-{len(apps)}", None)
        return app.test_client(), {"Authorization": f"Bearer {key}"}, rt
    yield make
    for app in apps:
        app.extensions["riskengine"].close()
