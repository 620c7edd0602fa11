"""What an event's account and identifiers did before it: the reads behind scoring.History."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from riskengine.quantities import account_age_days
from riskengine.scoring.history import History
from riskengine.storage.engine import DAY, WINDOWS, driver
from riskengine.storage.links import LINK_KINDS, STRONG_KINDS

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


LINKED_SQL = text(
    "SELECT COUNT(*) FROM (SELECT DISTINCT account_id FROM entitylink WHERE ("
    + " OR ".join(f"(kind = '{k}' AND value = :link_{k})" for k in STRONG_KINDS)
    + f") AND account_id <> :acct AND last_seen > :w30d AND first_seen <= :t LIMIT {SHARE_CAP}) AS linked")


# One round trip for the per-account and per-network counts (it matters on PostgreSQL).
COUNTS_SQL = text("""SELECT
  (SELECT COUNT(*) FROM assessment WHERE ip_asn = :asn AND event = 'signup'
     AND occurred_ts > :w1h AND occurred_ts <= :t),
  (SELECT COUNT(*) FROM assessment WHERE account_id = :acct AND event = 'login'
     AND login_outcome = 'failure' AND occurred_ts > :w1h AND occurred_ts <= :t),
  (SELECT COUNT(*) FROM assessment WHERE account_id = :acct AND event = 'login'
     AND login_outcome = 'failure' AND occurred_ts > :w24h AND occurred_ts <= :t),
  (SELECT COUNT(*) FROM assessment WHERE ip = :ip AND event = 'login'
     AND login_outcome = 'failure' AND occurred_ts > :w1h AND occurred_ts <= :t),
  (SELECT COUNT(DISTINCT account_id) FROM assessment WHERE ip = :ip AND event = 'login'
     AND login_outcome = 'failure' AND occurred_ts > :w1h AND occurred_ts <= :t),
  (SELECT created_ts FROM account WHERE id = :acct),
  (SELECT cluster_size FROM account WHERE id = :acct),
  (SELECT rescore_decision FROM account WHERE id = :acct)""")


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


ACCOUNT_KINDS_SQL = text(
    "SELECT kind, value, first_seen, last_seen FROM entitylink WHERE account_id = :acct "
    "AND kind IN ('device', 'country')")


PREVIOUS_LOCATION_SQL = text(
    "SELECT occurred_ts, latitude, longitude FROM assessment WHERE account_id = :acct "
    "AND occurred_ts <= :t AND latitude IS NOT NULL ORDER BY occurred_ts DESC LIMIT 1")


def read_history(conn: Connection, account_id: str, links: dict[str, str], t: float,
            ip: str | None, asn: int | None, device: str | None, country: str | None,
            email_domain: str | None = None) -> History:
    """`email_domain`: the domain whose signups to count, or None to skip that read (the
    caller passes it for signups outside the free-provider set only)."""
    h = History()
    params = {"acct": account_id, "t": t, "ip": ip, "asn": asn, "email_domain": email_domain,
              **{f"w{name}": t - seconds for name, seconds in WINDOWS.items()},
              **{f"link_{k}": links.get(k) for k in LINK_KINDS}}
    h.shared = {}
    for kind, h1, h24, d7, d30 in driver(conn, SHARED_SQL, params):
        if links.get(kind) is not None:
            h.shared[kind] = {"1h": int(h1), "24h": int(h24), "7d": int(d7), "30d": int(d30)}
    if any(links.get(k) for k in STRONG_KINDS):
        h.linked_accounts = int(driver(conn, LINKED_SQL, params).scalar_one())
    asn_1h, fail_1h, fail_24h, ip_fail, ip_accts, created, cluster, rescored = \
        driver(conn, COUNTS_SQL, params).one()
    h.signups_per_asn_1h = None if asn is None else int(asn_1h)
    h.failed_logins_account_1h, h.failed_logins_account_24h = int(fail_1h), int(fail_24h)
    h.failed_logins_ip_1h, h.accounts_failed_ip_1h = int(ip_fail), int(ip_accts)
    h.account_age_days = account_age_days(created, t)
    if email_domain is not None:
        _email_domain_history(conn, h, params)
    if h.account_age_days is not None:
        h.account_known = True
        h.cluster_size = cluster
        h.rescore_decision = rescored
        _account_history(conn, h, params, device, country)
        prev = driver(conn, PREVIOUS_LOCATION_SQL, params).first()
        h.previous_location = tuple(prev) if prev else None
    return h


def _account_history(conn, h: History, params: dict, device, country):
    t = params["t"]
    rows = driver(conn, ACCOUNT_KINDS_SQL, params).all()
    since = params["w30d"]
    seen = {(k, v) for k, v, first, _ in rows if first < t}
    h.devices_30d = sum(1 for k, _, first, last in rows if k == "device" and last > since and first <= t)
    h.countries_30d = sum(1 for k, _, first, last in rows if k == "country" and last > since and first <= t)
    h.device_seen_before = None if device is None else ("device", device) in seen
    h.country_seen_before = None if country is None else ("country", country) in seen


def _email_domain_history(conn, h: History, params: dict) -> None:
    in_1h, in_24h, first = driver(conn, EMAIL_DOMAIN_SQL, params).one()
    h.signups_per_email_domain_1h, h.signups_per_email_domain_24h = int(in_1h), int(in_24h)
    # A domain never seen before is as new as a domain can be: age 0, not unknown.
    h.email_domain_age_days = 0.0 if first is None else max(0.0, (params["t"] - first) / DAY)
