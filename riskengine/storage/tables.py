"""Database tables (SQLModel). Times are epoch seconds (float, UTC): window arithmetic is
plain comparison and both SQLite and PostgreSQL index them the same way."""
from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

# Failed logins are a sliver of all assessments: partial indexes keep those counts to the rows
# that matter (and SQLite picks them without planner statistics).
FAILED_LOGIN = text("event = 'login' AND login_outcome = 'failure'")
SIGNUP = text("event = 'signup'")

# The review queue: accounts the engine stopped or flagged. Partial, so the index holds the
# few percent of accounts that are in it, and keyset pages walk it in order (storage/console.py).
IN_REVIEW = text("last_decision IN ('challenge', 'block') OR rescore_decision IN ('challenge', 'block')")
# A missing score (decided without a model) sorts last.
QUEUE_SCORE = text("COALESCE(last_score, -1.0)")


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model (for Core statements)."""
    return model.__table__  # type: ignore[attr-defined]  # set by SQLAlchemy's mapping, undeclared in SQLModel


class Account(SQLModel, table=True):
    __table_args__ = (
        Index("ix_account_review_score", QUEUE_SCORE, text("updated_ts"), text("id"),
              sqlite_where=IN_REVIEW, postgresql_where=IN_REVIEW),
        Index("ix_account_review_recent", "updated_ts", "id", sqlite_where=IN_REVIEW, postgresql_where=IN_REVIEW),
        # The queue filtered by country (declared, or of the last IP): each its own walk in queue
        # order that stops at a page, however few accounts match (storage/console.py).
        *(Index(f"ix_account_review_{column}_{sort}", column, *key, sqlite_where=IN_REVIEW, postgresql_where=IN_REVIEW)
          for column in ("country", "last_ip_country")
          for sort, key in (("score", (QUEUE_SCORE, text("updated_ts"), text("id"))),
                            ("recent", ("updated_ts", "id")))),
    )
    id: str = Field(primary_key=True, max_length=128)
    created_ts: float                                   # first event seen for this account
    updated_ts: float
    email: str | None = Field(default=None, max_length=320)   # raw: analysts need to read it
    email_domain: str | None = Field(default=None, max_length=255)
    name: str | None = Field(default=None, max_length=256)
    country: str | None = Field(default=None, max_length=2)
    org_type: str | None = Field(default=None, max_length=16)
    last_assessment_id: str | None = Field(default=None, max_length=40)
    last_decision: str | None = Field(default=None, max_length=16)
    last_score: float | None = None
    last_ip_country: str | None = Field(default=None, max_length=2)   # of the last signup's or login's IP
    cluster_id: str | None = Field(default=None, max_length=40, index=True)
    cluster_size: int | None = None
    rescore_decision: str | None = Field(default=None, max_length=16)   # the re-scoring job's latest verdict
    rescore_score: float | None = None
    rescore_ts: float | None = None


class Assessment(SQLModel, table=True):
    __table_args__ = (
        Index("ix_assessment_account_ts", "account_id", "occurred_ts"),
        Index("ix_assessment_ip_ts", "ip", "occurred_ts"),
        Index("ix_assessment_asn_event_ts", "ip_asn", "event", "occurred_ts"),
        # Covering for the console overview's counts (storage/console.overview): index-only.
        Index("ix_assessment_event_ts", "event", "occurred_ts", "decision", "degraded"),
        Index("ix_assessment_failed_login_account", "account_id", "occurred_ts",
              sqlite_where=FAILED_LOGIN, postgresql_where=FAILED_LOGIN),
        Index("ix_assessment_failed_login_ip", "ip", "occurred_ts", "account_id",
              sqlite_where=FAILED_LOGIN, postgresql_where=FAILED_LOGIN),
        # Signups per email domain and a domain's first signup (storage/history.py).
        Index("ix_assessment_signup_email_domain", "email_domain", "occurred_ts",
              sqlite_where=SIGNUP, postgresql_where=SIGNUP),
    )
    id: str = Field(primary_key=True, max_length=40)
    event_id: str | None = Field(default=None, max_length=128, unique=True)
    request_hash: str | None = Field(default=None, max_length=64)
    account_id: str = Field(max_length=128)
    event: str = Field(max_length=16)
    occurred_ts: float
    created_ts: float
    ip: str | None = Field(default=None, max_length=45)
    ip_country: str | None = Field(default=None, max_length=2)
    email_domain: str | None = Field(default=None, max_length=255)    # not personal: kept as given
    ip_asn: int | None = Field(default=None, sa_column=Column(BigInteger))
    latitude: float | None = None
    longitude: float | None = None
    login_outcome: str | None = Field(default=None, max_length=16)
    decision: str = Field(max_length=16)
    monitored_decision: str | None = Field(default=None, max_length=16)
    score: float | None = None
    decided_by: str = Field(max_length=64)
    model_version: str | None = Field(default=None, max_length=64)
    policy_version: str | None = Field(default=None, max_length=64)
    degraded: bool = False
    # What analysts see of the phone and card (scoring/shown.py): raw last digits, removed by the
    # retention job with the other raw fields; the brand is the BIN's network, not personal.
    phone_last4: str | None = Field(default=None, max_length=4)
    card_last4: str | None = Field(default=None, max_length=4)
    card_brand: str | None = Field(default=None, max_length=16)
    features: list[float | None] | None = Field(default=None, sa_column=Column(JSON))
    inputs: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))    # request with linking ids hashed
    response: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))       # the answer given


class EntityLink(SQLModel, table=True):
    """One row per (thing, account): which accounts used a device, card, mailbox, phone, IP...

    Counting accounts per thing reads one row per account, not one per event, so a
    NAT address seen in a million logins costs what its distinct accounts cost."""
    __table_args__ = (
        # Covering: sharing counts read the index alone, never the table.
        Index("ix_entity_link_value_seen_cover", "kind", "value", "last_seen", "first_seen", "account_id"),
        Index("ix_entity_link_account", "account_id", "kind"),
    )
    kind: str = Field(primary_key=True, max_length=16)
    value: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(primary_key=True, max_length=128)
    first_seen: float
    last_seen: float
    events: int = 1


class PendingLinks(SQLModel, table=True):
    """The account links of one stored usage batch, waiting to be folded into entitylink.

    Upserting a batch's ~15,000 links at once dirties pages all over entitylink's three
    b-trees; folding several batches at a time merges repeats and writes each page once
    (scripts/bench_ingest.py measures it). One row per batch, the links packed: ingestion
    appends one row, not thousands."""
    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                          primary_key=True, autoincrement=True))
    created_ts: float
    uses: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Label(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(max_length=128, index=True)
    label: str = Field(max_length=16)
    source: str = Field(max_length=32)
    note: str | None = Field(default=None, max_length=2000)
    created_ts: float


class ChallengeOutcome(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    assessment_id: str = Field(max_length=40, index=True)
    outcome: str = Field(max_length=16)
    created_ts: float


class ApiKey(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("key_hash"),)
    name: str = Field(primary_key=True, max_length=64)
    key_hash: str = Field(sa_column=Column(String(64), nullable=False))
    scopes: str = Field(max_length=128)
    created_ts: float
    revoked_ts: float | None = None


class UsageRecord(SQLModel, table=True):
    """Raw usage, one row per record as received. Kept raw (not only hourly sums) because
    inter-arrival regularity, simultaneous distant use and template sharing need the
    individual events; the job reads a time window once, in order, with one index scan."""
    __table_args__ = (
        Index("ix_usage_ts", "occurred_ts"),
    )
    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                          primary_key=True, autoincrement=True))
    account_id: str = Field(max_length=128)
    occurred_ts: float
    ip: str | None = Field(default=None, max_length=45)
    device: str | None = Field(default=None, max_length=64)       # keyed hash of the device id
    api_key_id: str | None = Field(default=None, max_length=128)
    model: str | None = Field(default=None, max_length=128)
    requests: int = 1
    input_tokens: int | None = Field(default=None, sa_column=Column(BigInteger))
    output_tokens: int | None = Field(default=None, sa_column=Column(BigInteger))
    prompt_fp: int | None = Field(default=None, sa_column=Column(BigInteger))   # simhash as signed 64-bit
    reasoning: bool | None = None


class UsageBatch(SQLModel, table=True):
    """A usage batch sent with a batch_id: its body's hash and result, written in the same
    transaction as its records, so a retried batch is answered from here, never stored twice."""
    batch_id: str = Field(primary_key=True, max_length=128)
    body_hash: str = Field(max_length=64)
    accepted: int
    created_ts: float


class RescoreRun(SQLModel, table=True):
    """One run of the re-scoring job; an unfinished run is resumed, not repeated."""
    id: str = Field(primary_key=True, max_length=40)
    started_ts: float
    as_of_ts: float
    since_seconds: float
    status: str = Field(max_length=16)          # running | done
    accounts: int | None = None
    finished_ts: float | None = None


# ---------------------------------------------------------------- analyst console

class ConsoleUser(SQLModel, table=True):
    name: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16)                   # viewer | analyst | admin
    password_hash: str = Field(max_length=256)         # argon2id, PHC string (argon2-cffi)
    created_ts: float
    disabled_ts: float | None = None


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored, so
    a copy of the table signs no one in. Deleted at logout; expired rows are ignored."""
    token_hash: str = Field(primary_key=True, max_length=64)
    user_name: str = Field(max_length=64, index=True)
    created_ts: float
    expires_ts: float


class AuditEntry(SQLModel, table=True):
    """Every analyst action: who, what, on what, when, the state before and after."""
    __table_args__ = (Index("ix_auditentry_ts", "ts"),)
    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                          primary_key=True, autoincrement=True))
    ts: float
    user_name: str = Field(max_length=64)
    action: str = Field(max_length=32)
    target: str = Field(max_length=256)
    before: Any = Field(default=None, sa_column=Column(JSON))
    after: Any = Field(default=None, sa_column=Column(JSON))


class PolicyVersion(SQLModel, table=True):
    """The policy as published from the console: every change a new row (the newest is in
    force), with its author and note. The bundled (or RISKENGINE_POLICY) file is the seed:
    with no row here, it decides."""
    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                          primary_key=True, autoincrement=True))
    created_ts: float
    author: str = Field(max_length=64)
    note: str = Field(max_length=2000)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))     # the policy as its TOML parses


# ---------------------------------------------------------------- login baseline

class AccountContext(SQLModel, table=True):
    """One row per account: what its own past looked like (devices, networks, places, hours,
    recent failures, challenges), compact JSON kept by scoring.baseline. Login-baseline
    features read this one row by primary key instead of scanning the account's history;
    linking identifiers in it are (truncated) keyed hashes, never raw values."""
    account_id: str = Field(primary_key=True, max_length=128)
    updated_ts: float
    data: str = Field(sa_column=Column(Text, nullable=False))


class NetworkContext(SQLModel, table=True):
    """One row per linking subnet (keyed hash) with recent failed logins across accounts:
    a spray source shows up here. Only failures write it."""
    subnet_key: str = Field(primary_key=True, max_length=64)
    updated_ts: float
    data: str = Field(sa_column=Column(Text, nullable=False))
