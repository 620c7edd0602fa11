"""What storage knew about an account and its identifiers as of one event: the input of
the history features and reasons. Filled by storage.history; knows no SQL."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class History:
    """What storage knows about an account and its identifiers as of one moment."""
    shared: dict[str, dict[str, int]] = field(default_factory=dict)   # kind -> window -> other accounts
    linked_accounts: int = 0
    signups_per_asn_1h: int | None = None
    # Signups with the event's email domain, and days since its first; None when not read
    # (logins, free providers, no domain).
    signups_per_email_domain_1h: int | None = None
    signups_per_email_domain_24h: int | None = None
    email_domain_age_days: float | None = None
    failed_logins_account_1h: int = 0
    failed_logins_account_24h: int = 0
    failed_logins_ip_1h: int = 0
    accounts_failed_ip_1h: int = 0
    account_known: bool = False
    account_age_days: float | None = None
    device_seen_before: bool | None = None
    country_seen_before: bool | None = None
    devices_30d: int = 0
    countries_30d: int = 0
    previous_location: tuple[float, float, float] | None = None       # (ts, lat, lon)
    cluster_size: int | None = None      # from the last clustering run; None before one
    rescore_decision: str | None = None  # the re-scoring job's latest verdict on this account
