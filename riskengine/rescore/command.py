"""Wiring of `riskengine rescore` and scripts/rescore.py: configuration in, summary out."""
from __future__ import annotations

import os

import click

from riskengine.config import Config, models_dir
from riskengine.runtime import Runtime
from riskengine.scoring.model import RiskModel, newest_model_dir


def active_model_dir() -> str:
    path = os.environ.get("RISKENGINE_ACTIVE_MODEL") or newest_model_dir(models_dir(), kind="active")
    if path is None:
        raise click.ClickException(f"no active-account model under {models_dir()}; set RISKENGINE_ACTIVE_MODEL "
                                   "or train one with `riskengine train --kind active`")
    return str(path)


def run_from_cli(since_seconds: float, changes: str | None, webhook_url: str | None,
                 dask_address: str | None, progress: bool) -> str:
    from riskengine.rescore import job as rescore
    from riskengine.rescore.webhook import Webhook
    cfg = Config.from_env()
    runtime = Runtime.build(cfg)
    if runtime.model is None:
        raise click.ClickException("; ".join(runtime.problems))
    hook = None
    if webhook_url:
        try:
            hook = Webhook(webhook_url, os.environ.get("RISKENGINE_WEBHOOK_SECRET", ""))
        except ValueError as e:
            raise click.ClickException(str(e))
    active = RiskModel.load(active_model_dir(), nthread=os.cpu_count() or 2)
    try:
        summary = rescore.run(runtime, active, since_seconds, changes, hook, dask_address, progress)
    finally:
        runtime.close()
    text = summary.text()
    if hook is not None:
        text += f"\nwebhook: {hook.sent} delivered, {hook.failed} failed"
    return text
