"""The per-account login baseline and the per-subnet recent failures (scoring.baseline):
one row each, read by primary key in one statement, written back with the event.

The read is its own function (`read_login_context`) so that it stays one indexed statement
per login whatever else the history reads become."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from riskengine.storage.engine import driver, least_greatest

# Both rows by primary key in one round trip; an absent row reads NULL.
LOGIN_CONTEXT_SQL = text(
    "SELECT (SELECT data FROM accountcontext WHERE account_id = :acct),"
    " (SELECT data FROM networkcontext WHERE subnet_key = :net)")

_UPSERT = """INSERT INTO {table} ({pk}, updated_ts, data) VALUES (:pk, :t, :data)
ON CONFLICT ({pk}) DO UPDATE SET updated_ts = {greatest}({table}.updated_ts, excluded.updated_ts),
  data = excluded.data"""

_UPSERTS = {
    dialect: {table: text(_UPSERT.format(table=table, pk=pk, **least_greatest(dialect)))
              for table, pk in (("accountcontext", "account_id"), ("networkcontext", "subnet_key"))}
    for dialect in ("sqlite", "postgresql")}

DELETE_ACCOUNT_CONTEXT = text("DELETE FROM accountcontext WHERE account_id = :acct")


def read_login_context(conn: Connection, account_id: str, network_key: str | None) -> tuple[str | None, str | None]:
    """(the account's baseline JSON, the subnet's recent-failures JSON), None where absent."""
    row = driver(conn, LOGIN_CONTEXT_SQL, {"acct": account_id, "net": network_key}).one()
    return row[0], row[1]


def write_login_context(conn: Connection, account_id: str, account_data: str | None, network_key: str | None,
                        network_data: str | None, t: float) -> None:
    """Store the baseline after an event (and the subnet's failures, when they changed), in
    the caller's transaction. The last writer wins: two concurrent logins of one account
    can drop one of them from the baseline, which only makes it a little less familiar."""
    upserts = _UPSERTS["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    if account_data is not None:
        driver(conn, upserts["accountcontext"], {"pk": account_id, "t": t, "data": account_data})
    if network_key is not None and network_data is not None:
        driver(conn, upserts["networkcontext"], {"pk": network_key, "t": t, "data": network_data})


def read_account_context(conn: Connection, account_id: str) -> str | None:
    """The account's baseline JSON alone (the challenge route updates it)."""
    return read_login_context(conn, account_id, None)[0]
