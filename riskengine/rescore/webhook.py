"""Decision changes POSTed to a URL, signed so the receiver can trust them.

Signature: `X-Riskengine-Signature: sha256=<hex HMAC-SHA256 of the raw body>` with the
shared secret. Each POST has a bounded timeout and a bounded number of retries; a
receiver that stays down costs the job at most retries x timeout per change and never
stops it."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request

log = logging.getLogger(__name__)


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Webhook:
    def __init__(self, url: str, secret: str, timeout: float = 5.0, retries: int = 3, backoff: float = 0.5):
        if not secret:
            raise ValueError("a webhook needs a signing secret (RISKENGINE_WEBHOOK_SECRET)")
        self.url, self.secret = url, secret.encode()
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.sent = self.failed = 0

    def send(self, payload: dict) -> bool:
        body = json.dumps(payload, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "X-Riskengine-Signature": signature(self.secret, body)}
        for attempt in range(self.retries + 1):
            try:
                req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    if 200 <= resp.status < 300:
                        self.sent += 1
                        return True
            except urllib.error.HTTPError as e:
                if 400 <= e.code < 500 and e.code not in (408, 429):
                    break               # the receiver refuses this payload: retrying won't help
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                log.info("webhook attempt %d failed: %s", attempt + 1, e)
            if attempt < self.retries:
                time.sleep(self.backoff * 2 ** attempt)
        self.failed += 1
        log.warning("webhook gave up on %s", payload.get("account_id"))
        return False
