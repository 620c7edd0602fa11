"""The browser collector in the simulated world: which events carry a device token, and what
its bot verdict (BotD's) says.

The simulated integrator has the collector on its signup and login pages. A real browser runs
it and most of its events carry a valid token (the rest: blocked scripts, a timeout, a form
left open past 15 minutes, a phone that changed networks between page load and submit);
BotD wrongly flags a few real browsers (Brave and some in-app browsers are reported false
positives). HTTP libraries run no JavaScript: no token, or one harvested elsewhere and
replayed from the farm's own network (invalid). Headless browsers run it and BotD catches
most of them (fewer when the farm patched the webdriver flag); anti-detect browsers are
made to pass and mostly do (BotD's open-source build misses stealth browsers).

Draws come from a hash of the device and time, not from the world's random streams, so
adding the collector left every other simulated fact as it was."""
from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime

from riskengine.hashing import Hasher
from riskengine.signals import device_token
from riskengine.sim.identity import SimDevice

# The key the training replay links and verifies with (training.assess_model).
TRAINING_HASH_KEY = b"simulated-world-training-key"
TOKEN_KEY = Hasher(TRAINING_HASH_KEY).derive(device_token.KEY_LABEL)

BROWSER_COVERAGE = 0.9         # share of a real browser's events that carry a token
EXPIRED_SHARE = 0.015          # forms submitted more than 15 minutes after the page loaded
NETWORK_SWITCH_PHONE = 0.03    # phones that moved from Wi-Fi to mobile data (or back) meanwhile
LEGIT_FALSE_BOT = 0.003        # BotD's false positives on real browsers
SCRIPT_REPLAY = 0.25           # scripted farms that paste a token harvested from a real browser


class _Draws:
    """Uniform draws in [0, 1) for one event, one per label: sha256 of "id|user agent|ts|label"
    (the common prefix hashed once)."""

    def __init__(self, device: SimDevice, ts: int):
        self._prefix = hashlib.sha256(f"{device.id}|{device.user_agent}|{ts}|".encode())

    def __call__(self, label: str) -> float:
        h = self._prefix.copy()
        h.update(label.encode())
        return int.from_bytes(h.digest()[:8], "big") / 2.0 ** 64


def _other_network(ip: str) -> str:
    """An address of another /24 (IPv4) or /48 (IPv6) than `ip`."""
    addr = ipaddress.ip_address(ip)
    flip = 1 << 8 if addr.version == 4 else 1 << 80
    return str(type(addr)(int(addr) ^ flip))


def _fields(body: dict, bot: tuple[bool, str | None]) -> dict:
    out = {name: body.get(field) for name, field in device_token.DEVICE_FIELDS.items()}
    out["bot"] = {"detected": bot[0], "kind": bot[1]}
    return {k: v for k, v in out.items() if v is not None}


def _bot(device: SimDevice, draw: _Draws, fraud: bool, campaign: str) -> tuple[bool, str | None]:
    u = draw("bot")
    if device.headless:
        caught = 0.92 if device.webdriver else 0.65
        return (True, "headless_chrome") if u < caught else (False, None)
    if campaign == "antidetect_farm":
        return (True, "unknown") if u < 0.03 else (False, None)
    if not fraud and u < LEGIT_FALSE_BOT:
        return True, "unknown"
    return False, None


def token_for(device: SimDevice, body: dict, ts: int, ip: str, *, fraud: bool, campaign: str) -> str | None:
    """The device token the simulated event's page handed its backend, if any."""
    draw = _Draws(device, ts)
    if device.kind == "script":
        if fraud and campaign == "bulk_farm" and draw("replay") < SCRIPT_REPLAY:
            harvested = {"visitor_id": "dv_" + hashlib.sha256(device.user_agent.encode()).hexdigest()[:16],
                         "bot": {"detected": False, "kind": None}}
            return device_token.issue(TOKEN_KEY, harvested, _other_network(ip), ts - 600)[0]
        return None
    if draw("coverage") >= BROWSER_COVERAGE:
        return None
    delay = 5 + 240 * draw("delay")
    if draw("expired") < EXPIRED_SHARE:
        delay = device_token.TTL_SECONDS + 60 + 3000 * draw("late")
    collected_from = ip
    if device.kind == "phone" and draw("switch") < NETWORK_SWITCH_PHONE:
        collected_from = _other_network(ip)
    fields = _fields(body, _bot(device, draw, fraud, campaign))
    return device_token.issue(TOKEN_KEY, fields, collected_from, ts - delay)[0]


def reissued(body: dict, key: bytes, now: float) -> dict:
    """`body` with its token as a page would get it from a live engine signing with `key`
    at `now` (for replaying the world through a server, as `riskengine demo` does): a token
    valid at the event's time is issued afresh with its fields and network, an expired one
    expired, an invalid one kept (it is invalid under any key)."""
    device = body.get("device") or {}
    if not device.get("token"):
        return body
    t = datetime.strptime(body["occurred_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    check = device_token.verify(TOKEN_KEY, device["token"], body["ip"], t)
    if check.state == device_token.INVALID:
        return body
    if check.valid:
        token = device_token.issue(key, check.fields or {}, body["ip"], now)[0]
    else:
        token = device_token.issue(key, {}, body["ip"], now - device_token.TTL_SECONDS - 60)[0]
    return {**body, "device": {**device, "token": token}}
