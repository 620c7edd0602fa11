"""Wiring of `riskengine rescore` and scripts/rescore.py: configuration in, summary out.

The runtime (XGBoost, scikit-learn: seconds to import) is imported only once the configuration
has checked out, so a misconfigured run fails at once."""
from __future__ import annotations

import os

from riskengine.config import Config, ConfigError, models_dir


def active_model_dir(config: Config | None = None) -> str:
    from riskengine.runtime import ModelError
    from riskengine.scoring.model import newest_model_dir
    config = config or Config.from_env()
    path = config.active_model_path or newest_model_dir(models_dir(), kind="active")
    if path is None:
        raise ModelError("RISKENGINE_ACTIVE_MODEL", f"no active-account model under {models_dir()}: set it, "
                         "or train one with `riskengine train --kind active`")
    return str(path)


def run_from_cli(since_seconds: float, changes: str | None, webhook_url: str | None,
                 dask_address: str | None, progress: bool) -> str:
    cfg = Config.from_env()
    hook = _webhook(webhook_url, cfg.webhook_secret)
    from riskengine.runtime import ModelError, Runtime, load_model
    # The active model before the runtime: a bad one is refused before the database and GeoIP files open.
    active = load_model(active_model_dir(cfg), "RISKENGINE_ACTIVE_MODEL", nthread=os.cpu_count() or 2)
    runtime = Runtime.build(cfg)
    from riskengine.rescore import job as rescore  # dask and the job's numpy code: seconds to import
    try:
        if runtime.model is None:
            raise ModelError("RISKENGINE_MODEL", "; ".join(runtime.problems))
        summary = rescore.run(runtime, active, since_seconds, changes, hook, dask_address, progress)
    finally:
        runtime.close()
    text = summary.text()
    if hook is not None:
        text += f"\nwebhook: {hook.sent} delivered, {hook.failed} failed"
    return text


def _webhook(url: str | None, secret: str | None):
    from riskengine.rescore.webhook import Webhook
    if not url:
        return None
    if not secret:
        raise ConfigError("RISKENGINE_WEBHOOK_SECRET", "is required with --webhook (the changes are signed with it)")
    return Webhook(url, secret)
