"""Configuration: every RISKENGINE_* variable is read and checked up front, and a mistake is
one line that names the variable: in-process (Config, make_engine, Runtime.build) and from the
real `riskengine` command."""
from __future__ import annotations

import time
from dataclasses import FrozenInstanceError, replace

import pytest
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from riskengine import storage
from riskengine.config import DEFAULT_POLICY, ENV_NAMES, Config, ConfigError, database_url_problem, models_dir
from riskengine.runtime import ModelError, Runtime
from riskengine.scoring.model import newest_model_dir
from riskengine.scoring.policy import PolicyError
from riskengine.storage.engine import DatabaseUnavailable, StorageError
from tests.conftest import MAXMIND
from tests.factories import assert_one_error_line, cli_env, run_cli

CITY = str(MAXMIND / "GeoIP2-City-Test.mmdb")


@pytest.fixture
def clean_env(monkeypatch):
    for var in ENV_NAMES.values():
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_every_variable_is_read_and_typed(clean_env, tmp_path):
    model, active = newest_model_dir(models_dir()), newest_model_dir(models_dir(), kind="active")
    given = {"database_url": "postgresql://u@h:5433/d", "geoip_city": CITY, "geoip_asn": CITY, "geoip_anonymous": CITY,
             "geoip_connection_type": CITY, "geoip_enterprise": CITY,
             "model_path": str(model), "active_model_path": str(active), "policy_path": str(DEFAULT_POLICY),
             "hash_key": "k" * 16, "hash_key_file": str(tmp_path / "k"), "db_timeout_ms": "250",
             "key_cache_seconds": "1.5", "email_dns_timeout_ms": "300", "email_dns_server": "127.0.0.1:53",
             "usage_fold_batches": "8", "usage_fold_seconds": "0.5", "webhook_secret": "w",
             "key_outage_seconds": "30", "rate_limits": "assess=5/second", "redis_url": "redis://127.0.0.1:6379/3",
             "raw_retention_days": "30", "usage_timeout_ms": "2500", "collect_origins": "https://shop.example.com",
             "trusted_proxies": "10.0.0.0/8, 2001:db8::/32", "console_auth_header": "X-Forwarded-User"}
    assert set(given) == set(ENV_NAMES)          # the test covers every variable there is
    for name, value in given.items():
        clean_env.setenv(ENV_NAMES[name], value)
    cfg = Config.from_env()
    assert (cfg.db_timeout_ms, cfg.key_cache_seconds, cfg.email_dns_timeout_ms) == (250, 1.5, 300)
    assert (cfg.usage_fold_batches, cfg.usage_fold_seconds, cfg.key_outage_seconds) == (8, 0.5, 30)
    assert (cfg.raw_retention_days, cfg.usage_timeout_ms) == (30.0, 2500)
    strings = {k: v for k, v in given.items() if k not in {"db_timeout_ms", "usage_timeout_ms", "key_cache_seconds",
                                                            "key_outage_seconds",
                                                            "email_dns_timeout_ms", "usage_fold_batches",
                                                            "usage_fold_seconds", "raw_retention_days"}}
    assert {k: getattr(cfg, k) for k in strings} == strings


def test_empty_values_count_as_unset_and_names_are_exact(clean_env):
    for var in ENV_NAMES.values():
        clean_env.setenv(var, "")
    clean_env.setenv("riskengine_db_timeout_ms", "fast")        # not the documented name: ignored
    assert Config.from_env() == Config()


@pytest.mark.parametrize("var, value, says", [
    ("RISKENGINE_DB_TIMEOUT_MS", "fast", "'fast' is not a whole number of milliseconds"),
    ("RISKENGINE_RATE_LIMITS", "assess=300/sec", "'300/sec' for assess is not a rate such as 300/second"),
    ("RISKENGINE_RATE_LIMITS", "login=3/second", "'login=3/second' is not group=N/unit"),
    ("RISKENGINE_REDIS_URL", "127.0.0.1:6379", "is not a redis:// URL"),
    ("RISKENGINE_COLLECT_ORIGINS", "https://shop.example.com/signup", "'https://shop.example.com/signup' is not an "
                                                                      "origin such as https://www.example.com"),
    ("RISKENGINE_COLLECT_ORIGINS", "shop.example.com", "'shop.example.com' is not an origin"),
    ("RISKENGINE_TRUSTED_PROXIES", "10.0.0.0/8,cdn", "not an IP address or CIDR: 'cdn'"),
    ("RISKENGINE_RATE_LIMITS", "collect=lots", "'lots' for collect is not a rate"),
    ("RISKENGINE_DB_TIMEOUT_MS", "2.5", "'2.5' is not a whole number of milliseconds"),
    ("RISKENGINE_DB_TIMEOUT_MS", "0", "'0' is not a whole number of milliseconds of at least 1"),
    ("RISKENGINE_EMAIL_DNS_TIMEOUT_MS", "-1", "'-1' is not a whole number of milliseconds of at least 0"),
    ("RISKENGINE_KEY_CACHE_SECONDS", "nan", "'nan' is not a number of seconds"),
    ("RISKENGINE_USAGE_FOLD_SECONDS", "0", "'0' is not a number of seconds above 0"),
    ("RISKENGINE_RAW_RETENTION_DAYS", "ninety", "'ninety' is not a number of days"),
    ("RISKENGINE_RAW_RETENTION_DAYS", "0", "'0' is not a number of days above 0"),
    ("RISKENGINE_USAGE_FOLD_BATCHES", "many", "'many' is not a whole number of batches"),
    ("RISKENGINE_EMAIL_DNS_SERVER", "127.0.0.1:dns", "'127.0.0.1:dns' is not host or host:port"),
    ("RISKENGINE_POLICY", "/nope.toml", "'/nope.toml' does not exist"),
    ("RISKENGINE_MODEL", "/nope", "'/nope' does not exist"),
    ("RISKENGINE_MODEL", str(MAXMIND), "is not a model directory (it has no meta.json)"),
    ("RISKENGINE_ACTIVE_MODEL", "/nope", "'/nope' does not exist"),
    ("RISKENGINE_GEOIP_ASN", str(MAXMIND), "is not a file"),
    ("RISKENGINE_GEOIP_CONNECTION_TYPE", "/nope.mmdb", "'/nope.mmdb' does not exist"),
    ("RISKENGINE_GEOIP_ENTERPRISE", str(MAXMIND), "is not a file"),
    ("RISKENGINE_HASH_KEY", "short", "the key is 5 bytes long; it needs at least 16"),
    ("RISKENGINE_HASH_KEY_FILE", str(MAXMIND), "is a directory"),
    ("RISKENGINE_DATABASE_URL", "riskengine.db", "write sqlite:///riskengine.db"),
])
def test_a_malformed_value_names_its_variable(clean_env, var, value, says):
    clean_env.setenv(var, value)
    with pytest.raises(ConfigError) as caught:
        Config.from_env()
    assert str(caught.value).startswith(f"{var}: ") and says in str(caught.value)
    assert caught.value.variable == var and "short" not in str(caught.value)     # a key is never echoed


def test_every_problem_is_reported_on_one_line(clean_env):
    clean_env.setenv("RISKENGINE_DB_TIMEOUT_MS", "fast")
    clean_env.setenv("RISKENGINE_POLICY", "/nope.toml")
    message = str(pytest.raises(ConfigError, Config.from_env).value)
    assert "\n" not in message and "RISKENGINE_DB_TIMEOUT_MS: " in message and "RISKENGINE_POLICY: " in message


def test_overrides_and_code_follow_the_same_rules(clean_env):
    clean_env.setenv("RISKENGINE_DB_TIMEOUT_MS", "250")
    assert Config.from_env(db_timeout_ms=100).db_timeout_ms == 100     # an override wins over the environment
    assert Config.coerce({"db_timeout_ms": 100}).db_timeout_ms == 100
    with pytest.raises(ConfigError, match="unknown keys"):
        Config.coerce({"db_timeout": 100})
    with pytest.raises(ValidationError):
        replace(Config(), db_timeout_ms="fast")                      # a copy is checked too
    assert Config.usage_fold_batches == 64                            # scripts read the defaults off the class
    with pytest.raises(FrozenInstanceError):
        Config().db_timeout_ms = 1                                    # frozen


def test_secrets_stay_out_of_repr():
    cfg = Config(hash_key="hash-key-0123456789abcdef", webhook_secret="webhook-secret")
    assert "hash-key-0123456789abcdef" not in repr(cfg) and "webhook-secret" not in repr(cfg)


@pytest.mark.parametrize("url, says", [
    ("postgres://risk:s3cret@db:5432/risk", "postgres:// is not accepted: write postgresql://risk:***@db:5432/risk"),
    ("riskengine.db", "'riskengine.db' is not a URL: for a SQLite file write sqlite:///riskengine.db"),
    ("/tmp/x.db", "for a SQLite file write sqlite:////tmp/x.db"),
    ("mysql://root@localhost/risk", "unknown scheme 'mysql://': riskengine supports sqlite:///PATH and postgresql://"),
    ("postgresql+psycopg2://u@h/d", "unknown scheme 'postgresql+psycopg2://'"),
    ("sqlite://relative.db", "write sqlite:///relative.db"),
    ("postgresql://u:s3cret@h:port/d", "has a port that is not a number"),
    ("sqlite:///riskengine.db", None), ("sqlite://", None), ("sqlite:////tmp/x.db", None),
    ("postgresql://root@127.0.0.1:5432/test", None), ("postgresql+psycopg://u:p@h/d", None),
])
def test_database_urls_get_their_fix_spelled_out(url, says):
    problem = database_url_problem(url)
    assert problem == says if says is None else (says in problem and "s3cret" not in problem)
    if says is not None:       # make_engine, which scripts and tests call directly, says the same
        with pytest.raises(ConfigError, match="^RISKENGINE_DATABASE_URL: "):
            storage.make_engine(url)


def test_an_unreachable_database_is_one_line_naming_where_quickly():
    engine = storage.make_engine("postgresql://risk:s3cret@127.0.0.1:1/risk", 500)     # nothing listens there
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as caught:
        storage.ping(engine)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith("RISKENGINE_DATABASE_URL: cannot connect to PostgreSQL at 127.0.0.1:1 (database risk): ")
    assert "\n" not in message and "s3cret" not in message
    # the web layer's degraded mode catches SQLAlchemyError; the CLI maps StorageError
    assert isinstance(caught.value, SQLAlchemyError) and isinstance(caught.value, StorageError)
    missing = storage.make_engine("sqlite:////nonexistent-dir/x.db")
    with pytest.raises(DatabaseUnavailable, match="the SQLite database /nonexistent-dir/x.db: unable to open"):
        storage.ping(missing)


@pytest.fixture
def broken_model(tmp_path):
    path = tmp_path / "model"
    path.mkdir()
    (path / "meta.json").write_text('{"version": ')
    return path


def test_a_named_model_or_policy_must_load(config, broken_model, tmp_path):
    with pytest.raises(ModelError,
                       match=f"^RISKENGINE_MODEL: the model {broken_model} cannot be loaded: JSONDecodeError"):
        Runtime.build(replace(config, model_path=str(broken_model)))
    policy = tmp_path / "policy.toml"
    policy.write_text("version = ")
    with pytest.raises(PolicyError, match="^RISKENGINE_POLICY: cannot read policy"):
        Runtime.build(replace(config, policy_path=str(policy)))
    key_file = tmp_path / "short.key"
    key_file.write_text("short")
    with pytest.raises(ConfigError, match="^RISKENGINE_HASH_KEY_FILE: .*at least 16 bytes"):
        Runtime.build(replace(config, hash_key=None, hash_key_file=str(key_file)))


def test_no_model_to_be_found_only_degrades(config, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKENGINE_MODELS_DIR", str(tmp_path))       # nothing under it: not a misconfiguration
    runtime = Runtime.build(config)
    assert runtime.model is None and "no model" in runtime.problems[0]
    runtime.close()


# ------------------------------------------------------------------ the real command
# Settings Config rejects fail every command that reads the configuration: keys list stands for
# them all. Files that exist but do not load fail the commands that load them (serve and
# rescore share Runtime.build, so a broken policy is run once, through serve).

MISSING = {"RISKENGINE_DB_TIMEOUT_MS": "fast", "RISKENGINE_USAGE_FOLD_SECONDS": "soon",
           "RISKENGINE_POLICY": "/nope.toml", "RISKENGINE_MODEL": "/nope", "RISKENGINE_ACTIVE_MODEL": "/nope",
           "RISKENGINE_GEOIP_CITY": "/nope.mmdb", "RISKENGINE_HASH_KEY": "short"}


@pytest.mark.parametrize("var", MISSING)
def test_keys_list_names_every_bad_setting(var, db_url, tmp_path):
    env = cli_env(tmp_path, RISKENGINE_DATABASE_URL=db_url, **{var: MISSING[var]})
    assert_one_error_line(run_cli("keys", "list", env=env), var)


@pytest.fixture
def broken_files(tmp_path, broken_model):
    policy = tmp_path / "policy.toml"
    policy.write_text("version = ")
    return {"policy": str(policy), "model": str(broken_model)}


@pytest.mark.parametrize("command, var, value", [
    ("serve", "RISKENGINE_DB_TIMEOUT_MS", "fast"),
    ("serve", "RISKENGINE_MODEL", "/nope"),
    ("serve", "RISKENGINE_GEOIP_CITY", "/nope.mmdb"),
    ("serve", "RISKENGINE_POLICY", "broken:policy"),
    ("serve", "RISKENGINE_MODEL", "broken:model"),
    ("rescore", "RISKENGINE_DB_TIMEOUT_MS", "fast"),
    ("rescore", "RISKENGINE_ACTIVE_MODEL", "/nope"),
    ("rescore", "RISKENGINE_ACTIVE_MODEL", "broken:model"),
])
def test_serve_and_rescore_refuse_a_bad_setting_in_one_line(command, var, value, db_url, tmp_path, broken_files):
    value = broken_files[value.split(":")[1]] if value.startswith("broken:") else value
    env = cli_env(tmp_path, RISKENGINE_DATABASE_URL=db_url, **{var: value})
    assert_one_error_line(run_cli(command, env=env), var)
