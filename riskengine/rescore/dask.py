"""`riskengine rescore --dask ADDRESS`: the same partition scoring, run on a Dask cluster.

Workers run `score_partition` (the function the single-process job runs) against the same
database and GeoIP files; the global parts (population, clusters, template sharing) are
computed once by the caller and broadcast. Results are identical to the in-process run."""
from __future__ import annotations

from functools import lru_cache

from riskengine import storage
from riskengine.rescore.partition import score_partition
from riskengine.scoring.model import RiskModel
from riskengine.signals.ip import GeoIPReaders


@lru_cache(maxsize=4)
def _worker_state(database_url: str, timeout_ms: int, geoip: tuple, assess_dir: str, active_dir: str):
    """Opened once per worker process and reused by every task it runs."""
    db = storage.make_engine(database_url, timeout_ms)
    return db, GeoIPReaders.open(*geoip), RiskModel.load(assess_dir), RiskModel.load(active_dir)


def _score_remote(spec: dict, pop, rows):
    db, readers, assess_model, active_model = _worker_state(
        spec["database_url"], spec["timeout_ms"], spec["geoip"], spec["assess_dir"], spec["active_dir"])
    with db.connect() as conn:
        return score_partition(conn, pop, rows, readers, assess_model, active_model, spec["since"], spec["until"])


def score_on_dask(address: str, runtime, active_model, pop, parts, since: float, until: float):
    from distributed import Client
    cfg = runtime.config
    spec = {"database_url": cfg.database_url, "timeout_ms": max(cfg.db_timeout_ms, 30_000),
            "geoip": (cfg.geoip_city, cfg.geoip_asn, cfg.geoip_anonymous),
            "assess_dir": str(runtime.model.path), "active_dir": str(active_model.path),
            "since": since, "until": until}
    with Client(address) as client:
        shared = client.scatter(pop, broadcast=True)
        futures = [client.submit(_score_remote, spec, shared, rows, pure=False) for rows in parts]
        results = client.gather(futures)
    return list(zip(parts, results, strict=True))
