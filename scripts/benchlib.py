"""Pieces the benchmark scripts share."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def geoip_paths(kind: str, directory: Path) -> dict[str, str | None]:
    """GeoIP files for a benchmark: "none", MaxMind's test files, or ("sim") the simulated
    world's networks written once into `directory` (the generated traffic uses them)."""
    if kind == "none":
        return {"city": None, "asn": None, "anonymous": None}
    if kind == "maxmind-test":
        d = ROOT / "tests" / "data" / "maxmind"
        return {"city": str(d / "GeoIP2-City-Test.mmdb"), "asn": str(d / "GeoLite2-ASN-Test.mmdb"),
                "anonymous": str(d / "GeoIP2-Anonymous-IP-Test.mmdb")}
    paths = {k: directory / f"{k}.mmdb" for k in ("city", "asn", "anonymous")}
    if not all(p.exists() for p in paths.values()):
        from riskengine.sim.geo import write_geoip
        tmp = directory.with_name(f"{directory.name}.tmp{os.getpid()}")
        write_geoip(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        for k, p in paths.items():
            os.replace(tmp / f"{k}.mmdb", p)
        shutil.rmtree(tmp, ignore_errors=True)
    return {k: str(p) for k, p in paths.items()}
