"""The `riskengine` command. Imports are lazy: `riskengine serve` must set the metrics
directory before any worker imports prometheus_client."""
from __future__ import annotations

import os
import sys
from datetime import UTC

import click

from riskengine import __version__


def _domain_errors() -> tuple[type[Exception], ...]:
    """What a misconfigured or unavailable dependency raises, as opposed to a bug. Imported
    only once something failed, to keep start-up lazy."""
    from riskengine.config import ConfigError  # and runtime.ModelError, a ConfigError
    from riskengine.scoring.policy import PolicyError
    from riskengine.storage.engine import StorageError  # and DatabaseUnavailable
    from riskengine.storage.migrate import NotMigrated
    return ConfigError, PolicyError, StorageError, NotMigrated


class _Main(click.Group):
    """The domain errors of any command become one line, `Error: ...`, and exit status 1: their
    messages name the variable to fix or the command to run. Anything else is a bug and keeps
    its traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _domain_errors() as e:
            raise click.ClickException(_one_line(e)) from e


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _config():
    from riskengine.config import Config
    return Config.from_env()


def _db(cfg, migrated: bool = True):
    """An engine with a command's patience (at least 5 s); `migrated`: refuse a database whose
    schema is not current, before a command trips over a missing table."""
    from riskengine import storage
    from riskengine.storage import migrate
    engine = storage.make_engine(cfg.database_url, max(cfg.db_timeout_ms, 5000))
    if migrated:
        migrate.require_current(engine)
    return engine


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="riskengine", message="%(prog)s %(version)s")
def main():
    """riskengine: account-identity risk engine."""


# ------------------------------------------------------------------ serve

@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=None, type=int, help="worker processes (default: CPU count)")
@click.option("--threads", default=4, show_default=True, type=int, help="threads per worker")
def serve(host, port, workers, threads):
    """Run the production server (gunicorn)."""
    import tempfile
    cfg = _config()
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="riskengine-metrics-")
    engine = _db(cfg)
    # Imported once here, before the forks: the check's child and every gunicorn worker inherit
    # the modules instead of importing them again (XGBoost, SciPy, scikit-learn, SQLAlchemy:
    # seconds each time). Only imports: no model is loaded in this process (see _check_runtime).
    import riskengine.web.app  # noqa: F401
    _check_runtime(cfg)
    from riskengine.storage import optimize
    optimize(engine)                                  # fresh planner statistics for the workers
    engine.dispose()                                  # no pooled connection inherited across the fork
    from riskengine.web.server import run
    run(host, port, workers or os.cpu_count() or 2, threads)


def _check_runtime(cfg) -> None:
    """Runtime.build(cfg), as every worker will run it, in a forked child: a misconfiguration
    (policy, model, hash key) stops `serve` in one line instead of a traceback per worker, and
    the hash key file is created before the workers race for it. Not in this process: a model
    loaded here leaves XGBoost's OpenMP state behind, and workers forked from it hang."""
    import multiprocessing
    fork = multiprocessing.get_context("fork")
    receive, send = fork.Pipe(duplex=False)
    child = fork.Process(target=_build_and_report, args=(cfg, send))
    child.start()
    send.close()
    try:
        problem = receive.recv()
    except EOFError:            # the child said nothing: it built (or died of a bug, below)
        problem = None
    child.join()
    if problem:
        raise click.ClickException(problem)
    if child.exitcode:
        raise SystemExit(child.exitcode)        # a bug: the child printed its traceback


def _build_and_report(cfg, send) -> None:
    from riskengine.runtime import Runtime
    try:
        Runtime.build(cfg).close()
    except _domain_errors() as e:
        send.send(_one_line(e))


# ------------------------------------------------------------------ db

@main.group()
def db():
    """Database schema."""


@db.command("upgrade")
def db_upgrade():
    """Create or migrate the schema to the newest revision."""
    from riskengine.storage import migrate
    cfg = _config()
    migrate.upgrade(_db(cfg, migrated=False))
    click.echo(f"database at revision {migrate.head()}")


# ------------------------------------------------------------------ keys

@main.group()
def keys():
    """API keys (stored only as hashes)."""


@keys.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, help="assess, usage, labels, read, admin (default: all of these); "
              "or collect alone: a publishable pk_ key for the browser collector")
def keys_create(name, scopes):
    """Create a key; prints the secret alone on stdout."""
    from sqlalchemy.exc import IntegrityError

    from riskengine.apikeys import create_key
    engine = _db(_config())        # outside the try: only create_key's ValueError means a bad --scope
    try:
        secret = create_key(engine, name, list(scopes) or None)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--scope") from e
    except IntegrityError as e:
        raise click.ClickException(f"a key named {name!r} exists already") from e
    click.echo(secret)


@keys.command("list")
def keys_list():
    """List keys (names and scopes, never secrets)."""
    from datetime import datetime

    from riskengine import storage
    with _db(_config()).connect() as conn:
        for name, scopes, created, revoked in storage.list_keys(conn):
            when = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            state = "revoked" if revoked else "active"
            click.echo(f"{name}\t{state}\t{scopes}\t{when}")


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name):
    """Revoke a key by name."""
    import time

    from riskengine import storage
    with _db(_config()).begin() as conn:
        if not storage.revoke_key(conn, name, time.time()):
            raise click.ClickException(f"no active key named {name!r}")
    click.echo(f"revoked {name}")


# ------------------------------------------------------------------ users

@main.group()
def users():
    """Analyst console users."""


@users.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["viewer", "analyst", "admin"]))
def users_create(name, role):
    """Create a console user; the password is read from standard input (its first line)."""
    from riskengine.errors import InvalidInput
    from riskengine.users import create_user
    password = sys.stdin.readline().rstrip("\r\n")
    engine = _db(_config())
    try:
        create_user(engine, name, role, password)
    except InvalidInput as e:
        raise click.ClickException(e.message) from e
    finally:
        engine.dispose()
    click.echo(f"created console user {name} ({role})")


# ------------------------------------------------------------------ privacy

@main.group()
def retention():
    """Raw personal data kept only for RISKENGINE_RAW_RETENTION_DAYS (docs/privacy.md)."""


@retention.command("run")
def retention_run():
    """Remove raw IPs, coordinates, user agents, emails and names older than the retention."""
    from riskengine.privacy import purge_raw
    cfg = _config()
    click.echo(purge_raw(_db(cfg), cfg.raw_retention_days).text())


@main.group()
def accounts():
    """Accounts: erasure requests."""


@accounts.command("erase")
@click.argument("account_id")
def accounts_erase(account_id):
    """Delete every stored row of ACCOUNT_ID (docs/privacy.md says what stays and why)."""
    from riskengine.errors import NotFound
    from riskengine.privacy import erase_account
    from riskengine.runtime import Runtime
    runtime = Runtime.build(_config())
    try:
        counts = erase_account(runtime, account_id)
    except NotFound as e:
        raise click.ClickException(e.message) from e
    finally:
        runtime.close()
    click.echo(f"erased {account_id}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


# ------------------------------------------------------------------ model

@main.command()
@click.option("--out", default="var/world", show_default=True, help="directory for the world's files")
@click.option("--seed", default=7, show_default=True)
@click.option("--accounts", default=5000, show_default=True, help="legitimate accounts")
@click.option("--days", default=30, show_default=True)
def simulate(out, seed, accounts, days):
    """Write a simulated world: GeoIP .mmdb files and a JSON-lines event stream with labels."""
    from riskengine.sim.export import export_world
    summary = export_world(out, seed=seed, accounts=accounts, days=days)
    click.echo(summary)


@main.command()
@click.option("--seed", default=7, show_default=True)
@click.option("--accounts", default=6000, show_default=True, help="legitimate accounts in the simulated world")
@click.option("--days", default=30, show_default=True)
@click.option("--out", default="models", show_default=True, help="directory to write the versioned model into")
@click.option("--version", "version", default=None, help="model version (default: YYYY.MM.N)")
@click.option("--kind", type=click.Choice(["assess", "active"]), default="assess", show_default=True,
              help="assess: signup/login model; active: the re-scoring model for live accounts")
@click.option("--worlds", default=1, show_default=True,
              help="simulated worlds to train on (1: the fixed default world; more: parameters drawn from ranges)")
@click.option("--cross-worlds", "cross_worlds", default=0, show_default=True,
              help="worlds outside the training ranges: half tune the thresholds, half are the cross-world evaluation")
def train(seed, accounts, days, out, version, kind, worlds, cross_worlds):
    """Train, calibrate and threshold a model on the simulated world; write it under models/."""
    if kind == "active":
        from riskengine.training.active_model import train_active
        path = train_active(out_dir=out, seed=seed, accounts=accounts, days=days, version=version, log=click.echo)
    else:
        from riskengine.training.assess_model import train_and_write
        path = train_and_write(out_dir=out, seed=seed, accounts=accounts, days=days, version=version,
                               log=click.echo, worlds=worlds, cross_worlds=cross_worlds)
    click.echo(f"model written to {path}")


def _duration(value: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    try:
        return float(value[:-1]) * units[value[-1]] if value[-1] in units else float(value)
    except (ValueError, IndexError) as e:
        raise click.BadParameter(f"{value!r} is not a duration like 7d, 12h or 90m", param_hint="--since") from e


@main.command()
@click.option("--since", default="7d", show_default=True, help="window of activity: 7d, 12h, 90m")
@click.option("--changes", "changes", default=None, type=click.Path(dir_okay=False),
              help="append one JSON line per account whose decision changed")
@click.option("--webhook", default=None, help="POST each change here, signed with RISKENGINE_WEBHOOK_SECRET")
@click.option("--dask", "dask_address", default=None, help="run the scoring on this Dask scheduler")
@click.option("--progress/--no-progress", default=True, show_default=True)
def rescore(since, changes, webhook, dask_address, progress):
    """Re-score every account active within the window (assessments or usage)."""
    from riskengine.rescore.command import run_from_cli
    click.echo(run_from_cli(_duration(since), changes, webhook, dask_address, progress))


@main.command()
@click.option("--port", default=8765, show_default=True)
@click.option("--events", default=3000, show_default=True, help="events to replay")
@click.option("--seed", default=11, show_default=True)
@click.option("--workers", default=None, type=int, help="server worker processes (default: CPU count)")
def demo(port, events, seed, workers):
    """Start the service on a simulated world and replay signups and logins through it."""
    from riskengine.demo import run_demo
    sys.exit(run_demo(port=port, events=events, seed=seed, workers=workers, echo=click.echo))


if __name__ == "__main__":
    main()
