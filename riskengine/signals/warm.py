"""Build the signal families' lazily made tables before the first request, not in it.

Each family builds what it needs on first use and caches it: the crawler list's 1,500
patterns (about a second of regex compiling), libphonenumber's metadata (one module per
region, loaded the first time a number of that region is seen), the time-zone and language
tables, the user-agent parser. Left lazy, the first request that needs one pays for it:
seconds at the far tail of a fresh worker (docs/performance.md). create_app calls warm_up();
`riskengine serve` also calls it in gunicorn's master before it forks its workers, so they
share the result."""
from __future__ import annotations

import phonenumbers

from riskengine.signals.automation import automation_signals
from riskengine.signals.device import device_signals
from riskengine.signals.email import email_signals
from riskengine.signals.phone import phone_signals

# One of each shape the families tell apart: a browser, a listed crawler, a script.
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "python-requests/2.32.3",
)


_WARM = False


def warm_up() -> None:
    """Once per process (a forked worker inherits its master's)."""
    global _WARM
    if _WARM:
        return
    _WARM = True
    for ua in _USER_AGENTS:
        automation_signals(ua)
        device_signals(ua, None, "Europe/Berlin", ["de-DE", "en"], "DE")
    email_signals("jane.doe@example.com")
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number(region)
        if example is not None:
            phone_signals(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164), region)
