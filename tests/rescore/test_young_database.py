"""The job on a young database: only signups and logins, usage without prompt fingerprints,
no usage, one account, no active account. Each must give a clear summary, never a crash."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from riskengine.cli import main
from riskengine.rescore import job
from riskengine.rescore.partition import score_partition
from riskengine.rescore.population import population
from tests.factories import NOW, WEEK, assess, at, login, send_usage, signup, stored


def rescore_cli(*args):
    return CliRunner().invoke(main, ["rescore", "--since", "7d", "--no-progress", *args])


def test_signups_and_logins_only(client, auth, env, runtime):
    """The README's own path: a brand-new service that has seen signups and logins, no usage."""
    assess(client, auth, signup("acct_a", occurred_at=at(30)))
    assess(client, auth, signup("acct_b", occurred_at=at(29), ip="89.160.20.112"))
    assess(client, auth, login("acct_a", 2))
    result = rescore_cli()
    assert result.exit_code == 0, result.output
    assert "2 of 2 active accounts scored" in result.output
    rows = stored(runtime)
    assert set(rows) == {"acct_a", "acct_b"}
    assert all(r["decision"] in ("allow", "challenge", "block") and 0 <= r["score"] <= 1 for r in rows.values())


def test_usage_without_prompt_fingerprints(client, auth, runtime, active_model):
    assess(client, auth, signup("acct_a", occurred_at=at(30)))
    send_usage(client, auth, "acct_a", 12)
    send_usage(client, auth, "acct_u", 5)                  # known from usage only
    summary = job.run(runtime, active_model, WEEK, progress=False)
    assert (summary.accounts, summary.scored, summary.skipped) == (2, 2, {})
    assert set(stored(runtime)) == {"acct_a", "acct_u"}


def test_exactly_one_account(client, auth, runtime, active_model):
    assess(client, auth, signup("acct_a", occurred_at=at(30)))
    send_usage(client, auth, "acct_a", 12, lambda k: f"{0x9f3ac1d2e4b5a690 + k:016x}")
    summary = job.run(runtime, active_model, WEEK, progress=False)
    assert (summary.accounts, summary.scored) == (1, 1)
    assert set(stored(runtime)) == {"acct_a"}


def test_zero_active_accounts_is_a_clear_summary(client, auth, env, runtime):
    assess(client, auth, signup("acct_old", occurred_at=at(24 * 30)))      # outside the window
    result = rescore_cli()
    assert result.exit_code == 0, result.output
    assert "0 of 0 active accounts scored" in result.output
    assert "no account was active in the window" in result.output
    assert stored(runtime) == {}


def test_an_empty_database(env, db_url):
    result = rescore_cli()
    assert result.exit_code == 0, result.output
    assert "no account was active in the window" in result.output


@pytest.mark.parametrize("usage", ["none", "unfingerprinted", "fingerprinted"])
def test_the_dask_partition_path_on_a_young_database(client, auth, runtime, active_model, usage):
    """What Dask workers run (population without central usage, then score_partition), in-process."""
    assess(client, auth, signup("acct_a", occurred_at=at(30)))
    if usage != "none":
        send_usage(client, auth, "acct_a", 6, (lambda k: f"{k + 1:016x}") if usage == "fingerprinted" else None)
    runtime.folder.fold()
    with runtime.db.connect() as conn:
        pop = population(conn, NOW - WEEK, NOW)
        assert pop.usage is None and pop.accounts == ["acct_a"]
        scored = score_partition(conn, pop, np.arange(1), runtime.readers, runtime.model, active_model,
                                 NOW - WEEK, NOW)
    assert scored.score.shape == (1,) and 0 <= scored.score[0] <= 1


def test_population_of_nobody(runtime):
    with runtime.db.connect() as conn:
        for keep_usage in (True, False):
            pop = population(conn, NOW - WEEK, NOW, keep_usage=keep_usage)
            assert pop.accounts == [] and len(pop.cluster) == 0 and len(pop.sharing) == 0
