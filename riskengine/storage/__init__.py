"""All database access, split by aggregate: engine (connections, shared helpers), sqlite (write gate,
file locks), links, history (the reads behind scoring.History), assessments (and accounts, labels,
challenges), usage, keys, rescore (the job's bulk reads and writes), tables, migrate.

Nothing outside storage/ holds SQL. Callers import what they use from here; the names below are the
storage layer's public surface. deadline: one budget for a request's database waits."""

from riskengine.storage.account_context import read_account_context, read_login_context, write_login_context
from riskengine.storage.assessments import (
    ACCOUNT_FIELDS,
    account_exists,
    account_view,
    add_challenge_outcome,
    add_label,
    assessment_exists,
    challenge_subject,
    find_by_event_id,
    record,
)
from riskengine.storage.deadline import Deadline, DeadlineExceeded, current, within
from riskengine.storage.engine import (
    HOUR,
    WINDOWS,
    StorageError,
    chunked,
    driver,
    least_greatest,
    make_engine,
    one_line,
    optimize,
    ping,
)
from riskengine.storage.history import SHARE_CAP, read_history
from riskengine.storage.keys import insert_key, key_by_hash, list_keys, revoke_key
from riskengine.storage.links import (
    HISTORY_KINDS,
    LINK_KINDS,
    LINK_PARAMS,
    STRONG_KINDS,
    link_rows,
    linked_accounts,
    upsert_links,
)
from riskengine.storage.rescore import (
    RESCORE_COLUMNS,
    account_states,
    active_accounts,
    done_in_run,
    finish_run,
    latest_event_features,
    latest_labels,
    start_run,
    unfinished_run,
    write_rescores,
)
from riskengine.storage.sqlite import (
    BULK_POLL_S,
    BULK_WAIT_MS,
    WriteBusy,
    alone,
    bulk_checkpoints,
    insert_many,
    start_checkpointer,
    writing,
)
from riskengine.storage.usage import (
    PENDING,
    USAGE_COLUMNS,
    claim_batch,
    delete_pending_links,
    insert_usage,
    pending_links,
    stored_batch,
    usage_fingerprints,
    usage_window,
)

__all__ = [
    "ACCOUNT_FIELDS", "BULK_POLL_S", "BULK_WAIT_MS", "Deadline", "DeadlineExceeded", "HISTORY_KINDS", "HOUR",
    "LINK_KINDS", "LINK_PARAMS", "PENDING",
    "RESCORE_COLUMNS", "SHARE_CAP", "STRONG_KINDS", "StorageError", "USAGE_COLUMNS", "WINDOWS", "WriteBusy",
    "account_exists", "account_states", "account_view", "active_accounts", "add_challenge_outcome", "add_label",
    "alone", "assessment_exists", "bulk_checkpoints", "challenge_subject", "chunked", "current",
    "delete_pending_links", "done_in_run", "driver",
    "find_by_event_id", "finish_run", "insert_key", "insert_many", "insert_usage", "key_by_hash",
    "latest_event_features", "latest_labels", "least_greatest", "link_rows", "linked_accounts", "list_keys",
    "make_engine", "one_line", "optimize", "pending_links", "ping", "read_account_context", "read_history",
    "read_login_context", "record", "revoke_key", "start_checkpointer", "start_run",
    "stored_batch", "claim_batch",
    "unfinished_run", "upsert_links", "usage_fingerprints", "usage_window", "within",
    "write_login_context", "write_rescores", "writing",
]
