"""What an event's account and identifiers did before it: the reads behind scoring.History."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from riskengine.quantities import account_age_days
from riskengine.scoring.history import History
from riskengine.storage.engine import DAY, WINDOWS, driver
from riskengine.storage.links import LINK_KINDS, LINKING_KINDS

# Statements are built once: composing SQLAlchemy expressions per request cost more than
# running them. Absent identifiers bind NULL, which matches no row.
# Counts stop at SHARE_CAP: past a thousand accounts a shared thing is a NAT or a popular
# phone model, and reading every row of it on each login would cost milliseconds. The
# newest rows come first, so every window below the cap is counted exactly.
SHARE_CAP = 1000


_SHARED_PART = """SELECT '{kind}' AS kind,
  COALESCE(SUM(CASE WHEN last_seen > :w1h THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN last_seen > :w24h THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN last_seen > :w7d THEN 1 ELSE 0 END), 0),
  COUNT(*)
FROM (SELECT last_seen FROM entitylink WHERE kind = '{kind}' AND value = :link_{kind} AND account_id <> :acct
      AND last_seen > :w30d AND first_seen <= :t ORDER BY last_seen DESC LIMIT {cap}) AS recent"""


SHARED_SQL = text("\nUNION ALL\n".join(_SHARED_PART.format(kind=k, cap=SHARE_CAP) for k in LINK_KINDS))


_LINKED_PART = (
    "(SELECT COUNT(*) FROM (SELECT DISTINCT account_id FROM entitylink WHERE ("
    + " OR ".join(f"(kind = '{k}' AND value = :link_{k})" for k in LINKING_KINDS)
    + f") AND account_id <> :acct AND last_seen > :w30d AND first_seen <= :t LIMIT {SHARE_CAP}) AS linked)")


# The other reads, in one statement and one round trip (it matters on PostgreSQL): per-network
# and per-account counts, the account's row, its device/country baseline and its previous
# location. Each part is a scalar subquery on its own index; for an account never seen the
# account parts find nothing. To read one more thing about the account, add a column here and
# its name to ACCOUNT_COLUMNS (one statement still).
ACCOUNT_PARTS: dict[str, str] = {
    "linked": _LINKED_PART,
    "asn_signups_1h": """(SELECT COUNT(*) FROM assessment WHERE ip_asn = :asn AND event = 'signup'
     AND occurred_ts > :w1h AND occurred_ts <= :t)""",
    "failed_1h": """(SELECT COUNT(*) FROM assessment WHERE account_id = :acct AND event = 'login'
     AND login_outcome = 'failure' AND occurred_ts > :w1h AND occurred_ts <= :t)""",
    "failed_24h": """(SELECT COUNT(*) FROM assessment WHERE account_id = :acct AND event = 'login'
     AND login_outcome = 'failure' AND occurred_ts > :w24h AND occurred_ts <= :t)""",
    "ip_failed_1h": """(SELECT COUNT(*) FROM assessment WHERE ip = :ip AND event = 'login'
     AND login_outcome = 'failure' AND occurred_ts > :w1h AND occurred_ts <= :t)""",
    "ip_failed_accounts_1h": """(SELECT COUNT(DISTINCT account_id) FROM assessment WHERE ip = :ip AND event = 'login'
     AND login_outcome = 'failure' AND occurred_ts > :w1h AND occurred_ts <= :t)""",
    "created_ts": "(SELECT created_ts FROM account WHERE id = :acct)",
    "cluster_size": "(SELECT cluster_size FROM account WHERE id = :acct)",
    "rescore_decision": "(SELECT rescore_decision FROM account WHERE id = :acct)",
    "devices_30d": """(SELECT COUNT(*) FROM entitylink WHERE account_id = :acct AND kind = 'device'
     AND last_seen > :w30d AND first_seen <= :t)""",
    "countries_30d": """(SELECT COUNT(*) FROM entitylink WHERE account_id = :acct AND kind = 'country'
     AND last_seen > :w30d AND first_seen <= :t)""",
    "device_seen": """(SELECT COUNT(*) FROM entitylink WHERE account_id = :acct AND kind = 'device'
     AND value = :device AND first_seen < :t)""",
    "country_seen": """(SELECT COUNT(*) FROM entitylink WHERE account_id = :acct AND kind = 'country'
     AND value = :country AND first_seen < :t)""",
}


# Signups with one email domain: both windows and the first signup ever, in one statement
# over ix_assessment_signup_email_domain (signups only). The counts stop at SHARE_CAP like
# the sharing counts: past a thousand signups an hour the burst is plain, and a busy
# company domain must not cost a long index scan per signup.
_DOMAIN_WINDOW = f"""(SELECT COUNT(*) FROM (SELECT 1 FROM assessment WHERE email_domain = :email_domain
     AND event = 'signup' AND occurred_ts > :w{{window}} AND occurred_ts <= :t LIMIT {SHARE_CAP}) AS w{{window}})"""
EMAIL_DOMAIN_SQL = text(
    "SELECT " + _DOMAIN_WINDOW.format(window="1h") + ",\n  " + _DOMAIN_WINDOW.format(window="24h") + """,
  (SELECT MIN(occurred_ts) FROM assessment WHERE email_domain = :email_domain AND event = 'signup'
     AND occurred_ts <= :t)""")



# The previous located event, joined on so that the statement has one row either way.
_PREVIOUS = """(SELECT occurred_ts AS prev_ts, latitude AS prev_lat, longitude AS prev_lon FROM assessment
   WHERE account_id = :acct AND occurred_ts <= :t AND latitude IS NOT NULL ORDER BY occurred_ts DESC LIMIT 1)"""


ACCOUNT_COLUMNS = (*ACCOUNT_PARTS, "prev_ts", "prev_lat", "prev_lon")


ACCOUNT_SQL = text("SELECT " + ",\n  ".join(f"{sql} AS {name}" for name, sql in ACCOUNT_PARTS.items())
                   + ", p.prev_ts, p.prev_lat, p.prev_lon\nFROM (SELECT 1 AS one) AS o LEFT JOIN "
                   + _PREVIOUS + " AS p ON 1 = 1")


def read_history(conn: Connection, account_id: str, links: dict[str, str], t: float,
            ip: str | None, asn: int | None, device: str | None, country: str | None,
            email_domain: str | None = None) -> History:
    """Two statements: the links' sharing counts (SHARED_SQL) and everything else (ACCOUNT_SQL);
    a third, EMAIL_DOMAIN_SQL, when `email_domain` is given (the caller passes it for signups
    outside the free-provider set only)."""
    h = History()
    params = {"acct": account_id, "t": t, "ip": ip, "asn": asn, "device": device, "country": country,
              "email_domain": email_domain,
              **{f"w{name}": t - seconds for name, seconds in WINDOWS.items()},
              **{f"link_{k}": links.get(k) for k in LINK_KINDS}}
    h.shared = {}
    for kind, h1, h24, d7, d30 in driver(conn, SHARED_SQL, params):
        if links.get(kind) is not None:
            h.shared[kind] = {"1h": int(h1), "24h": int(h24), "7d": int(d7), "30d": int(d30)}
    row = dict(zip(ACCOUNT_COLUMNS, driver(conn, ACCOUNT_SQL, params).one(), strict=True))
    if any(links.get(k) for k in LINKING_KINDS):
        h.linked_accounts = int(row["linked"])
    h.signups_per_asn_1h = None if asn is None else int(row["asn_signups_1h"])
    h.failed_logins_account_1h, h.failed_logins_account_24h = int(row["failed_1h"]), int(row["failed_24h"])
    h.failed_logins_ip_1h, h.accounts_failed_ip_1h = int(row["ip_failed_1h"]), int(row["ip_failed_accounts_1h"])
    h.account_age_days = account_age_days(row["created_ts"], t)
    if email_domain is not None:
        _email_domain_history(conn, h, params)
    if h.account_age_days is not None:
        h.account_known = True
        h.cluster_size = row["cluster_size"]
        h.rescore_decision = row["rescore_decision"]
        h.devices_30d, h.countries_30d = int(row["devices_30d"]), int(row["countries_30d"])
        h.device_seen_before = None if device is None else row["device_seen"] > 0
        h.country_seen_before = None if country is None else row["country_seen"] > 0
        prev = (row["prev_ts"], row["prev_lat"], row["prev_lon"])
        h.previous_location = prev if prev[0] is not None else None
    return h


def _email_domain_history(conn, h: History, params: dict) -> None:
    in_1h, in_24h, first = driver(conn, EMAIL_DOMAIN_SQL, params).one()
    h.signups_per_email_domain_1h, h.signups_per_email_domain_24h = int(in_1h), int(in_24h)
    # A domain's first signup here has no age: on a young install that is every company and
    # school domain. Scored as 0 (monotone: younger is riskier) it ranked each one with a farm's
    # domain minutes into its burst; a farm's domain ages from its first signup.
    h.email_domain_age_days = None if first is None else max(0.0, (params["t"] - first) / DAY)
