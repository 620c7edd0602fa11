"""Entity links: which accounts used which device, card, mailbox, phone, IP and subnet, and when."""
from __future__ import annotations

from sqlalchemy import and_, select, text
from sqlalchemy.engine import Connection

from riskengine.storage.engine import driver, least_greatest
from riskengine.storage.sqlite import insert_many
from riskengine.storage.tables import EntityLink, table_of

# Kinds that identify a person or a payment instrument; IPs and subnets are shared by design.
STRONG_KINDS = ("device", "components", "payment", "mailbox", "phone")

# What links accounts in the linked_accounts feature: not the hardware components hash, which
# every unit of a popular phone or laptop model shares (159 legitimate accounts behind one in a
# simulated month). Its own sharing counts (accounts_per_components_*) still speak for it.
LINKING_KINDS = tuple(k for k in STRONG_KINDS if k != "components")


LINK_KINDS = STRONG_KINDS + ("ip", "subnet")


HISTORY_KINDS = ("device", "country")


L = table_of(EntityLink)


_LINK_INSERT = "INSERT INTO entitylink (kind, value, account_id, first_seen, last_seen, events)"


_LINK_CONFLICT = """ON CONFLICT (kind, value, account_id) DO UPDATE SET
  first_seen = {least}(entitylink.first_seen, excluded.first_seen),
  last_seen = {greatest}(entitylink.last_seen, excluded.last_seen),
  events = entitylink.events + excluded.events"""


_UPSERT_LINK = _LINK_INSERT + "\nVALUES (:kind, :value, :account_id, :first, :last, :n)\n" + _LINK_CONFLICT


LINK_PARAMS = ("kind", "value", "account_id", "first", "last", "n")
_UPSERT_LINK_PG = text(_UPSERT_LINK.format(**least_greatest("postgresql")))


def upsert_links(conn: Connection, links: list[tuple]) -> None:
    """Links (tuples in LINK_PARAMS order, one per key) merged into entitylink, in key order:
    concurrent writers on PostgreSQL then lock rows in the same order (no deadlocks), and
    SQLite's b-trees are walked once, left to right."""
    if not links:
        return
    links = sorted(links)
    if conn.dialect.name == "sqlite":
        insert_many(conn, _LINK_INSERT, links, _LINK_CONFLICT.format(**least_greatest("sqlite")))
    else:
        driver(conn, _UPSERT_LINK_PG, [dict(zip(LINK_PARAMS, r, strict=True)) for r in links])


def linked_accounts(conn: Connection, account_id: str, limit: int = 100) -> list[dict]:
    """Accounts sharing a strong identifier with this one, with what they share."""
    me = L.alias("me")
    other = L.alias("other")
    rows = conn.execute(
        select(other.c.account_id, other.c.kind)
        .select_from(me.join(other, and_(other.c.kind == me.c.kind, other.c.value == me.c.value)))
        .where(me.c.account_id == account_id, me.c.kind.in_(STRONG_KINDS), other.c.account_id != account_id)
        .limit(limit * len(STRONG_KINDS))
    ).all()
    via: dict[str, set] = {}
    for acct, kind in rows:
        via.setdefault(acct, set()).add(kind)
    return [{"account_id": a, "via": sorted(v)} for a, v in sorted(via.items())[:limit]]


def link_rows(conn: Connection, since: float, kinds: tuple[str, ...] = LINK_KINDS):
    """(kind, value, account_id) of links seen in the window: the cluster graph's raw edges."""
    kinds_sql = ", ".join(f"'{k}'" for k in kinds)
    return conn.execute(text(
        f"SELECT kind, value, account_id FROM entitylink WHERE last_seen > :s AND kind IN ({kinds_sql})"),
        {"s": since})
