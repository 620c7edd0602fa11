"""Configuration: environment variables (RISKENGINE_*) over defaults, or an explicit mapping."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_POLICY = PACKAGE_DIR / "policy" / "default.toml"


def models_dir() -> Path:
    """Where shipped models live: RISKENGINE_MODELS_DIR if set, else the package's own
    riskengine/models/ (package data: in a wheel, an editable install and a source checkout
    alike). Never the working directory: a server started elsewhere must find the same models."""
    if os.environ.get("RISKENGINE_MODELS_DIR"):
        return Path(os.environ["RISKENGINE_MODELS_DIR"])
    return PACKAGE_DIR / "models"


ENV_NAMES = {
    "database_url": "RISKENGINE_DATABASE_URL",
    "geoip_city": "RISKENGINE_GEOIP_CITY",
    "geoip_asn": "RISKENGINE_GEOIP_ASN",
    "geoip_anonymous": "RISKENGINE_GEOIP_ANONYMOUS",
    "model_path": "RISKENGINE_MODEL",
    "policy_path": "RISKENGINE_POLICY",
    "hash_key": "RISKENGINE_HASH_KEY",
    "hash_key_file": "RISKENGINE_HASH_KEY_FILE",
    "db_timeout_ms": "RISKENGINE_DB_TIMEOUT_MS",
    "key_cache_seconds": "RISKENGINE_KEY_CACHE_SECONDS",
    "email_dns_timeout_ms": "RISKENGINE_EMAIL_DNS_TIMEOUT_MS",
    "email_dns_server": "RISKENGINE_EMAIL_DNS_SERVER",
    "usage_fold_batches": "RISKENGINE_USAGE_FOLD_BATCHES",
    "usage_fold_seconds": "RISKENGINE_USAGE_FOLD_SECONDS",
}


@dataclass(frozen=True)
class Config:
    database_url: str = "sqlite:///riskengine.db"
    geoip_city: str | None = None
    geoip_asn: str | None = None
    geoip_anonymous: str | None = None
    model_path: str | None = None          # None: the newest model under models/
    policy_path: str | None = None         # None: the bundled default policy
    hash_key: str | None = None            # HMAC key for linking identifiers
    hash_key_file: str = "riskengine-hash.key"   # where a generated key is persisted
    db_timeout_ms: int = 500               # bound on any one database wait in the request path
    key_cache_seconds: float = 5.0         # how long a verified API key is trusted without a lookup
    email_dns_timeout_ms: int = 0          # >0: check signup emails' MX records within this budget
    email_dns_server: str | None = None    # "host" or "host:port"; default: the system resolver
    max_body_bytes: int = 1 << 20
    usage_max_body_bytes: int = 16 << 20
    # Usage links wait in pendinglinks; each served worker folds them into the link table
    # about every usage_fold_seconds (usage_links.LinkFolder), merging many batches into one pass
    # over its indexes. A request folds itself once usage_fold_batches wait (no folder ran).
    usage_fold_batches: int = 64
    usage_fold_seconds: float = 5.0
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Config":
        environ = os.environ if environ is None else environ
        values = {}
        for name, var in ENV_NAMES.items():
            if environ.get(var):
                values[name] = environ[var]
        cfg = cls(**values)
        cfg = replace(cfg, db_timeout_ms=int(cfg.db_timeout_ms), key_cache_seconds=float(cfg.key_cache_seconds),
                      email_dns_timeout_ms=int(cfg.email_dns_timeout_ms),
                      usage_fold_batches=int(cfg.usage_fold_batches), usage_fold_seconds=float(cfg.usage_fold_seconds))
        return replace(cfg, **overrides) if overrides else cfg

    @classmethod
    def coerce(cls, value) -> "Config":
        if value is None:
            return cls.from_env()
        if isinstance(value, Config):
            return value
        known = {f.name for f in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown configuration keys: {sorted(unknown)}")
        return cls.from_env(**value)
