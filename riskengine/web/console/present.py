"""How the console shows values: times in UTC, scores, and what analysts may see of personal
data. Emails in full to analysts and admins (they need to read them), masked for viewers;
phones and cards never: storage keeps only their keyed hashes, shown as their last 4 digits;
a card's BIN in the signals is masked the same way."""
from __future__ import annotations

import copy
from datetime import UTC, datetime

MASK = "••••"
# Link kinds that stand for a phone or a card (or a device, mailbox): shown by last digits only.
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


def link_value(kind: str, value: str) -> str:
    return last_digits(value) if kind in MASKED_KINDS else value


def signals_for_display(signals: dict) -> dict:
    """The answer's signals with card digits masked."""
    out = copy.deepcopy(signals or {})
    payment = out.get("payment")
    if isinstance(payment, dict) and payment.get("bin"):
        payment["bin"] = MASK
    return out


def install(env) -> None:
    env.filters.update(when=when, score=score, last_digits=last_digits, link_value=link_value)
