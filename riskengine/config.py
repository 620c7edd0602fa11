"""Configuration: environment variables (RISKENGINE_*) over defaults, or an explicit mapping.

The environment is read with pydantic-settings and every value is checked when a Config is
made, so a malformed setting fails up front, in one line that names its variable
(ConfigError), instead of as a traceback wherever the value is first used."""
from __future__ import annotations

import math
import os
import re
from dataclasses import field, fields
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from limits import RateLimitItem
from limits import parse as parse_limit
from pydantic import BeforeValidator, ConfigDict, Field, ValidationError, create_model
from pydantic.dataclasses import dataclass
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    "geoip_connection_type": "RISKENGINE_GEOIP_CONNECTION_TYPE",
    "geoip_enterprise": "RISKENGINE_GEOIP_ENTERPRISE",
    "model_path": "RISKENGINE_MODEL",
    "policy_path": "RISKENGINE_POLICY",
    "hash_key": "RISKENGINE_HASH_KEY",
    "hash_key_file": "RISKENGINE_HASH_KEY_FILE",
    "db_timeout_ms": "RISKENGINE_DB_TIMEOUT_MS",
    "usage_timeout_ms": "RISKENGINE_USAGE_TIMEOUT_MS",
    "key_cache_seconds": "RISKENGINE_KEY_CACHE_SECONDS",
    "email_dns_timeout_ms": "RISKENGINE_EMAIL_DNS_TIMEOUT_MS",
    "email_dns_server": "RISKENGINE_EMAIL_DNS_SERVER",
    "usage_fold_batches": "RISKENGINE_USAGE_FOLD_BATCHES",
    "usage_fold_seconds": "RISKENGINE_USAGE_FOLD_SECONDS",
    "active_model_path": "RISKENGINE_ACTIVE_MODEL",
    "webhook_secret": "RISKENGINE_WEBHOOK_SECRET",
    "key_outage_seconds": "RISKENGINE_KEY_OUTAGE_SECONDS",
    "rate_limits": "RISKENGINE_RATE_LIMITS",
    "redis_url": "RISKENGINE_REDIS_URL",
    "raw_retention_days": "RISKENGINE_RAW_RETENTION_DAYS",
    "collect_origins": "RISKENGINE_COLLECT_ORIGINS",
    "trusted_proxies": "RISKENGINE_TRUSTED_PROXIES",
    "console_auth_header": "RISKENGINE_CONSOLE_AUTH_HEADER",
}
DATABASE_URL = ENV_NAMES["database_url"]


class ConfigError(Exception):
    """A setting is malformed or names something that is not there. The message starts with
    the variable, so one line says what to fix; `variable` is that name. Not a ValueError, so
    no `except ValueError` meant for a caller's input takes it for one."""

    def __init__(self, variable: str, problem: str):
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


# ------------------------------------------------------------------ checks of single values
# Each takes text from the environment or a value from code, and raises ValueError saying
# what was expected; Config.checked puts the variable's name in front.

def _number(cast: type, unit: str, least: float, above: bool = False) -> BeforeValidator:
    kind = f"{'a whole' if cast is int else 'a'} number of {unit}"

    def parse(value):
        try:
            number = cast(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
        except (ValueError, OverflowError):     # int(float("inf")) overflows
            number = None
        if number is None or not math.isfinite(number) or (isinstance(value, float) and number != value):
            raise ValueError(f"{value!r} is not {kind}")
        if number < least or (above and number == least):
            raise ValueError(f"{value!r} is not {kind} {'above' if above else 'of at least'} {least}")
        return number
    return BeforeValidator(parse)


def _existing(is_kind, kind: str) -> BeforeValidator:
    """A path that must be there when the configuration is read: a typo fails at start-up,
    not as a degraded service or on the first request that needs the file."""
    def check(value):
        if value is None:
            return None
        path = os.fspath(value)
        if not os.path.exists(path):
            raise ValueError(f"{path!r} does not exist")
        if not is_kind(path):
            raise ValueError(f"{path!r} is not {kind}")
        return path
    return BeforeValidator(check)


def _is_model_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "meta.json"))


def _hash_key(value):
    # Never echo the key: say only what is wrong with it.
    if value is not None and len(str(value).encode()) < 16:
        raise ValueError(f"the key is {len(str(value).encode())} bytes long; it needs at least 16 "
                         "(e.g. the output of `openssl rand -hex 32`)")
    return value


def _key_file(value):
    path = os.fspath(value)
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a directory: name the file to keep the generated key in")
    return path


def _dns_server(value):
    host, colon, port = str(value).partition(":")      # as signals.email splits it
    if not host or (colon and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError(f"{value!r} is not host or host:port")
    return value


RATE_LIMIT_GROUPS = ("assess", "usage", "labels", "read", "collect")
# Generous: far above what one well-behaved caller sends, low enough that one runaway key
# cannot saturate a replica alone (one process assesses some hundreds a second). `collect`
# (POST /v1/device) counts per publishable key and client network (/24, /48): a page load
# costs one, and one farm's network cannot use up a whole site's limit.
DEFAULT_RATE_LIMITS = "assess=1000/second;usage=50/second;labels=200/second;read=1000/second;collect=120/minute"


def parse_rate_limits(value: str) -> dict[str, RateLimitItem]:
    """`group=N/unit;...` (e.g. `assess=300/second;usage=50/second`) as limits' items; groups not
    named keep their default."""
    out = {} if value == DEFAULT_RATE_LIMITS else parse_rate_limits(DEFAULT_RATE_LIMITS)
    for part in filter(None, (p.strip() for p in str(value).split(";"))):
        group, eq, limit = (x.strip() for x in part.partition("="))
        if not eq or group not in RATE_LIMIT_GROUPS:
            raise ValueError(f"{part!r} is not group=N/unit with a group among {', '.join(RATE_LIMIT_GROUPS)}")
        try:
            out[group] = parse_limit(limit)
        except ValueError:
            raise ValueError(f"{limit!r} for {group} is not a rate such as 300/second or 1000/minute") from None
    return out


def _rate_limits(value):
    if value is not None:
        parse_rate_limits(value)
    return value


def _redis_url(value):
    if value is not None and urlsplit(str(value)).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError(f"{value!r} is not a redis:// URL (e.g. redis://127.0.0.1:6379/0)")
    return value


def parse_origins(value: str | None) -> frozenset[str]:
    """`https://www.example.com, https://app.example.com:8443` (or `*`: any origin) as a set of
    origins as browsers send them in `Origin` (scheme://host[:port], lower case, no path)."""
    out = set()
    for item in filter(None, (i.strip() for i in str(value or "").split(","))):
        if item == "*":
            out.add(item)
            continue
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
                or parts.query or parts.fragment or parts.username:
            raise ValueError(f"{item!r} is not an origin such as https://www.example.com "
                             "(scheme and host, an optional port, no path)")
        try:
            default = {"http": 80, "https": 443}[parts.scheme]     # browsers leave the default port out
            port = f":{parts.port}" if parts.port and parts.port != default else ""
        except ValueError:
            raise ValueError(f"{item!r} has a port that is not a number from 1 to 65535") from None
        out.add(f"{parts.scheme}://{parts.hostname}{port}")
    return frozenset(out)


def _origins(value):
    parse_origins(value)
    return value


def _proxies(value):
    from riskengine.forwarded import TrustedProxies
    TrustedProxies.parse(value)        # ProxyListError is a ValueError naming the bad entry
    return value


DATABASE_SCHEMES = {"sqlite": "sqlite", "sqlite+pysqlite": "sqlite",
                    "postgresql": "postgresql", "postgresql+psycopg": "postgresql"}


def _hide_password(url: str) -> str:
    return re.sub(r"^([^:/@]+://[^:/@]*):[^@/]*@", r"\1:***@", url)


def database_url_problem(url: str) -> str | None:
    """What is wrong with a database URL, and what to write instead; None when make_engine
    can use it. The common slips get their fix spelled out."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return f"{url!r} is not a URL: for a SQLite file write sqlite:///{url}"
    if scheme == "postgres":      # Heroku-style; SQLAlchemy 1.4+ rejects it
        return "the scheme postgres:// is not accepted: write " + _hide_password(f"postgresql://{rest}")
    dialect = DATABASE_SCHEMES.get(scheme)
    if dialect is None:
        return (f"unknown scheme {scheme + '://'!r}: riskengine supports sqlite:///PATH and "
                "postgresql://USER@HOST:PORT/DATABASE")
    if dialect == "sqlite" and rest and not rest.startswith("/"):
        return f"{url!r} has two slashes: for the file {rest} write sqlite:///{rest}"
    if dialect == "postgresql":
        try:
            _ = urlsplit(url).port      # reading it raises ValueError for a bad port
        except ValueError:
            return f"{_hide_password(url)!r} has a port that is not a number from 1 to 65535"
    return None


def _database_url(value):
    problem = database_url_problem(str(value))
    if problem:
        raise ValueError(problem)
    return value


File = Annotated[str | None, _existing(os.path.isfile, "a file")]
ModelDir = Annotated[str | None, _existing(_is_model_dir, "a model directory (it has no meta.json)")]
HashKey = Annotated[str | None, BeforeValidator(_hash_key)]


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Config:
    """Every value is checked when a Config is made: from_env, coerce and checked report what
    is wrong as a ConfigError; Config(...) and dataclasses.replace() (it is a pydantic
    dataclass) raise pydantic's ValidationError."""
    database_url: Annotated[str, BeforeValidator(_database_url)] = "sqlite:///riskengine.db"
    geoip_city: File = None
    geoip_asn: File = None
    geoip_anonymous: File = None
    geoip_connection_type: File = None     # GeoIP2-Connection-Type: signals.ip.connection_type
    geoip_enterprise: File = None          # GeoIP2-Enterprise: traits.user_type / connection_type
    model_path: ModelDir = None            # None: the newest model under models/
    active_model_path: ModelDir = None     # None: the newest active-account model under models/
    policy_path: File = None               # None: the bundled default policy
    hash_key: HashKey = field(default=None, repr=False)    # HMAC key for linking identifiers
    # where a generated key is persisted
    hash_key_file: Annotated[str, BeforeValidator(_key_file)] = "riskengine-hash.key"
    # bound on any one database wait in the request path
    db_timeout_ms: Annotated[int, _number(int, "milliseconds", least=1)] = 500
    # the same bound for the bulk writers: one /v1/usage call (up to 10,000 records) and each
    # round of the usage-link folder; a batch's write takes longer than a login's, so its own
    usage_timeout_ms: Annotated[int, _number(int, "milliseconds", least=1)] = 5000
    # how long a verified API key is trusted before it is checked again (revocation delay)
    key_cache_seconds: Annotated[float, _number(float, "seconds", least=0)] = 0.5
    # >0: check signup emails' MX records within this budget
    email_dns_timeout_ms: Annotated[int, _number(int, "milliseconds", least=0)] = 0
    # "host" or "host:port"; default: the system resolver
    email_dns_server: Annotated[str | None, BeforeValidator(_dns_server)] = None
    max_body_bytes: int = 1 << 20
    usage_max_body_bytes: int = 16 << 20
    # Usage links wait in pendinglinks; each served worker folds them into the link table
    # about every usage_fold_seconds (usage_links.LinkFolder), merging many batches into one pass
    # over its indexes. A request folds itself once usage_fold_batches wait (no folder ran).
    usage_fold_batches: Annotated[int, _number(int, "batches", least=1)] = 64
    usage_fold_seconds: Annotated[float, _number(float, "seconds", least=0, above=True)] = 5.0
    webhook_secret: str | None = field(default=None, repr=False)   # signs `rescore --webhook` POSTs
    # while the database cannot be reached, a key checked within this long keeps working
    key_outage_seconds: Annotated[float, _number(float, "seconds", least=0)] = 60.0
    # per API key and route group (see parse_rate_limits); None: the policy's, else the defaults
    rate_limits: Annotated[str | None, BeforeValidator(_rate_limits)] = None
    # shared rate-limit counters for several workers and replicas; None: per process
    redis_url: Annotated[str | None, BeforeValidator(_redis_url)] = field(default=None, repr=False)
    # raw IPs, coordinates, user agents, emails... are removed this long after (docs/privacy.md)
    raw_retention_days: Annotated[float, _number(float, "days", least=0, above=True)] = 90.0
    # web origins whose pages may call POST /v1/device (CORS); None: no page may
    collect_origins: Annotated[str | None, BeforeValidator(_origins)] = None
    # CIDRs of reverse proxies / CDNs whose X-Forwarded-For is believed; None: none is
    trusted_proxies: Annotated[str | None, BeforeValidator(_proxies)] = None
    # a header naming the signed-in console user, set by a trusted single-sign-on proxy (which
    # must strip it from what clients send); None: console users sign in with a password
    console_auth_header: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides) -> Config:
        """The RISKENGINE_* variables (an empty one counts as unset) over the defaults, and
        `overrides` over both."""
        return cls.checked(**{**_Environment().model_dump(exclude_none=True), **overrides})

    @classmethod
    def checked(cls, **values) -> Config:
        """Config(**values), with every problem found reported as one ConfigError line."""
        try:
            return cls(**values)
        except ValidationError as e:
            raise ConfigError(*_problems(e)) from None

    @classmethod
    def coerce(cls, value) -> Config:
        if value is None:
            return cls.from_env()
        if isinstance(value, Config):
            return value
        known = {f.name for f in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise ConfigError("configuration", f"unknown keys {sorted(unknown)}")
        return cls.from_env(**value)


def _problems(error: ValidationError) -> tuple[str, str]:
    """(the first variable, what is wrong with it and with any others) for ConfigError. The
    checks' own words where they raised, pydantic's otherwise (a value of the wrong type from code)."""
    said = []
    for err in error.errors():
        name = str(err["loc"][0]) if err["loc"] else "configuration"
        cause = err.get("ctx", {}).get("error")
        said.append((ENV_NAMES.get(name, name), str(cause) if cause is not None else err["msg"]))
    (variable, first), rest = said[0], said[1:]
    return variable, "; ".join([first, *(f"{v}: {p}" for v, p in rest)])


class _EnvironmentBase(BaseSettings):
    # Exactly the documented names (no case folding), and an empty value means unset, as the
    # `if environ.get(var)` this replaces did.
    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore")


# The variables as text, one field per ENV_NAMES entry: Config parses and checks them, so the
# environment and code that builds a Config follow one set of rules.
# (Any: unpacked with **, the mapping is checked against create_model's own keywords too.)
_ENV_FIELDS: dict[str, Any] = {name: (str | None, Field(None, validation_alias=var)) for name, var in ENV_NAMES.items()}
_Environment = create_model("_Environment", __base__=_EnvironmentBase, **_ENV_FIELDS)
