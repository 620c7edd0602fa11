"""Fixtures of the re-scoring tests: the job's environment and helpers to run it."""
from __future__ import annotations

import pytest

from riskengine.rescore.command import active_model_dir
from riskengine.runtime import Runtime
from riskengine.scoring.model import RiskModel


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
