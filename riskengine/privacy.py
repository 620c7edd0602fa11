"""Retention of raw personal data and erasure requests: the one service behind
`riskengine retention run`, the rescore job's retention phase, `riskengine accounts erase`
and DELETE /v1/accounts/{id}. What is kept, removed and why: docs/privacy.md."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial

from riskengine import storage
from riskengine.errors import NotFound
from riskengine.storage import privacy as sql

DAY = 86400.0
WRITE_WAIT_S = storage.BULK_WAIT_MS / 1000

audit = logging.getLogger("riskengine.audit")


@dataclass(frozen=True)
class Purged:
    before_ts: float
    assessments: int      # rows whose ip, coordinates and raw request fields were removed
    usage_records: int    # rows whose ip was removed
    accounts: int         # dormant accounts whose email and name were removed

    def text(self) -> str:
        return (f"retention: raw fields removed from {self.assessments} assessments, {self.usage_records} "
                f"usage records and {self.accounts} dormant accounts (older than "
                f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.before_ts))})")


def purge_raw(db, retention_days: float, now: float | None = None, batch: int = 5000) -> Purged:
    """Remove raw personal data older than the retention; idempotent, batched, resumable."""
    before = (time.time() if now is None else now) - retention_days * DAY
    begin = partial(storage.writing, db, WRITE_WAIT_S, storage.BULK_POLL_S)
    return Purged(before, sql.purge_assessments(begin, before, batch), sql.purge_usage_ips(begin, before, batch),
                  sql.purge_dormant_accounts(begin, before, batch))


def erase_account(runtime, account_id: str) -> dict[str, int]:
    """Delete every row of one account in one transaction; rows deleted per table.

    Waiting usage links are folded first, so none of them re-creates the account's links
    afterwards. The audit line names the account only by its keyed hash."""
    runtime.folder.fold()
    with storage.writing(runtime.db, WRITE_WAIT_S, storage.BULK_POLL_S) as conn:
        counts = sql.erase_account_rows(conn, account_id)
    if counts is None:
        raise NotFound(f"account {account_id!r} has never been seen", field="account_id")
    audit.info("erased account %s: %s", runtime.hasher("account", account_id),
               ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts
