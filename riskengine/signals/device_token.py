"""Signed device tokens: what the browser collector gathered, sealed by the engine.

`POST /v1/device` issues a token over the collected fields (FingerprintJS's visitor id and
components hash, locale, screen, BotD's bot verdict...); `/v1/assess` verifies it. A farm's
backend can post any device fields it likes, but it cannot make a token say what the
collector did not see, reuse one past its 15 minutes, or carry one to another network.

    dt_<base64url(payload)>.<base64url(HMAC-SHA256(key, "dt_" + base64url(payload)))>
    payload = {"v": 1, "iat": issued (unix s), "exp": iat + 900,
               "net": keyed hash of the collector request's /24 (IPv4) or /48 (IPv6),
               "d": the collected fields}

The key is derived from the engine's hash key (Hasher.derive), so every replica that links
identifiers alike also verifies tokens alike, and no new secret has to be distributed.
The network is stored as a keyed hash: a token in a log names no address."""
from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import socket
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from riskengine.signals.ip import subnet_of

PREFIX = "dt_"
VERSION = 1
TTL_SECONDS = 15 * 60
# Replicas' clocks may differ a little: a token "issued" this far ahead is still believed.
CLOCK_SKEW_SECONDS = 60
KEY_LABEL = "riskengine device token v1"
MAX_TOKEN_CHARS = 4096

TokenState = Literal["valid", "invalid", "expired"]
VALID: TokenState = "valid"
INVALID: TokenState = "invalid"
EXPIRED: TokenState = "expired"

# BotD's kinds that are a browser without a window (the rest drive a browser or embed one).
HEADLESS_KINDS = frozenset({"headless_chrome", "phantomjs", "phantomas", "slimerjs"})


@dataclass(frozen=True, slots=True)
class TokenCheck:
    state: TokenState
    fields: dict | None = None      # the collected fields, only when valid
    problem: str | None = None      # why not valid (for logs and the reason's message)

    @property
    def valid(self) -> bool:
        return self.state == VALID


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _canonical(ip: str) -> str:
    try:        # a dotted quad, the common case, in C
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, ip))
    except OSError:
        pass
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return str(addr)


@lru_cache(maxsize=65_536)
def _subnet(ip: str) -> str:
    return subnet_of(_canonical(ip))


def network_hash(key: bytes, ip: str) -> str:
    """The keyed hash of the linking subnet of `ip` (signals.ip.subnet_of: /24, /48)."""
    subnet = _subnet(ip)
    return hmac.digest(key, b"net\x00" + subnet.encode(), "sha256").hex()[:32]


def _sign(key: bytes, body: str) -> str:
    return _b64(hmac.digest(key, body.encode(), "sha256"))


def issue(key: bytes, fields: dict, ip: str, now: float) -> tuple[str, int]:
    """A token over `fields`, bound to the network of `ip`, issued at `now`; (token, expires at)."""
    iat = int(now)
    payload = {"v": VERSION, "iat": iat, "exp": iat + TTL_SECONDS, "net": network_hash(key, ip), "d": fields}
    body = PREFIX + _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_sign(key, body)}", iat + TTL_SECONDS


def verify(key: bytes, token: str, ip: str, now: float) -> TokenCheck:
    """valid, expired (signature good, older than its 15 minutes) or invalid (anything else:
    malformed, another key, tampered, or used from another /24 or /48 than it was bound to)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.startswith(PREFIX):
        return TokenCheck(INVALID, problem="not a device token")
    body, dot, sig = token.rpartition(".")
    if not dot or not hmac.compare_digest(_sign(key, body), sig):
        return TokenCheck(INVALID, problem="bad signature")
    try:
        payload = json.loads(_unb64(body[len(PREFIX):]))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return TokenCheck(INVALID, problem="unreadable payload")
    if not (isinstance(payload, dict) and payload.get("v") == VERSION and isinstance(payload.get("d"), dict)
            and all(isinstance(payload.get(k), int) for k in ("iat", "exp"))):
        return TokenCheck(INVALID, problem="unknown payload version")
    if payload["iat"] > now + CLOCK_SKEW_SECONDS:
        return TokenCheck(INVALID, problem="issued in the future")
    if now >= payload["exp"]:
        return TokenCheck(EXPIRED, problem=f"expired {int(now - payload['exp'])} s ago")
    try:
        same_network = hmac.compare_digest(network_hash(key, ip), str(payload.get("net")))
    except ValueError:
        same_network = False
    if not same_network:
        return TokenCheck(INVALID, problem="used from another network than it was issued to")
    return TokenCheck(VALID, fields=payload["d"])


def bot_verdict(fields: dict | None) -> tuple[bool | None, str | None]:
    """(detected, kind) of the collector's BotD verdict; (None, None) when it sent none."""
    bot = (fields or {}).get("bot")
    if not isinstance(bot, dict) or not isinstance(bot.get("detected"), bool):
        return None, None
    kind = bot.get("kind") if bot["detected"] else None
    return bot["detected"], kind if isinstance(kind, str) else None


# The collector's field names -> /v1/assess's `device` field names.
DEVICE_FIELDS = {"visitor_id": "id", "components_hash": "components_hash", "timezone": "timezone",
                 "languages": "languages", "screen": "screen", "platform": "platform",
                 "webdriver": "webdriver", "user_agent": "user_agent"}


def device_fields(fields: dict) -> dict:
    """The token's fields as `device` fields of /v1/assess (only those it carries)."""
    return {out: fields[name] for name, out in DEVICE_FIELDS.items() if fields.get(name) is not None}
