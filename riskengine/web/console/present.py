"""How the console shows values: times in UTC, scores, and what analysts may see of personal
data. Emails in full to analysts and admins (they need to read them), masked for viewers.
Phones and cards only by their last 4 digits (and a card's brand), as stored at assess time
(assessment.phone_last4, card_last4: scoring/shown.py), never the number; a card's BIN in the
signals is masked. Other linking values (devices, mailboxes, addresses, templates) are keyed
hashes: shown as a hash's last characters after a "#", which no one mistakes for digits."""
from __future__ import annotations

import copy
from datetime import UTC, datetime

MASK = "••••"
# Link kinds whose values are keyed hashes (or fingerprints): shown by a hash tail only.
MASKED_KINDS = {"phone", "payment", "device", "components", "mailbox", "template", "subnet", "ip"}


def when(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def score(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def last_digits(value: str | None, n: int = 4) -> str:
    if not value:
        return ""
    return MASK + str(value)[-n:]


def email_for(email: str | None, role: str) -> str:
    if not email:
        return ""
    if role in ("analyst", "admin"):
        return email
    local, _, domain = email.partition("@")
    return f"{local[:1]}{MASK}@{domain}"


def hash_tail(value: str | None) -> str:
    return f"#{str(value)[-4:]}" if value else ""


def phone(last4: str | None) -> str:
    """A phone as analysts see it: its last 4 digits."""
    return last_digits(last4) if last4 else ""


def card(last4: str | None, brand: str | None = None) -> str:
    """A card as analysts see it: its brand and last 4 digits."""
    if not last4:
        return brand or ""
    return f"{brand} {last_digits(last4)}" if brand else last_digits(last4)


def link_value(kind: str, value: str, shown: dict | None = None) -> str:
    """A shared value: a phone's or card's last digits when stored (`shown`, from
    storage.console.shown_digits), else a hash tail for hashed kinds, else the value."""
    if shown and shown.get("last4"):
        return card(shown["last4"], shown.get("brand")) if kind == "payment" else phone(shown["last4"])
    return hash_tail(value) if kind in MASKED_KINDS else value


def signals_for_display(signals: dict) -> dict:
    """The answer's signals with card digits masked."""
    out = copy.deepcopy(signals or {})
    payment = out.get("payment")
    if isinstance(payment, dict) and payment.get("bin"):
        payment["bin"] = MASK
    return out


def install(env) -> None:
    env.filters.update(when=when, score=score, last_digits=last_digits, link_value=link_value, phone=phone,
                       card=card)
