"""The simulated collector: which events carry a device token and what BotD says in it,
checked through the serving code's own verification (as the training replay does)."""
from __future__ import annotations

import time
from collections import Counter

import pytest

from riskengine.hashing import Hasher
from riskengine.schemas import AssessRequest
from riskengine.scoring.pipeline import verify_device_token
from riskengine.signals.device_token import KEY_LABEL, bot_verdict
from riskengine.sim import build_world
from riskengine.sim.collector import TOKEN_KEY, reissued


@pytest.fixture(scope="module")
def outcomes():
    world = build_world(seed=11, accounts=400, days=10)
    seen: Counter = Counter()
    for ev in world.events:
        req = AssessRequest.model_validate(ev.body)
        _, check = verify_device_token(req, TOKEN_KEY, req.occurred_at.timestamp())
        state = check.state if check else None
        bot = bot_verdict(check.fields)[0] if check and check.valid else None
        seen[(ev.campaign if ev.fraud else "legit", ev.segment, state, bot)] += 1
    return seen


def share(outcomes, match, want) -> float:
    total = sum(n for k, n in outcomes.items() if match(k))
    return sum(n for k, n in outcomes.items() if match(k) and want(k)) / total


def test_real_browsers_mostly_carry_a_valid_token_that_says_no_bot(outcomes):
    legit = lambda k: k[0] == "legit"                     # noqa: E731
    assert share(outcomes, legit, lambda k: k[2] == "valid") > 0.75
    assert share(outcomes, lambda k: legit(k) and k[2] == "valid", lambda k: k[3] is True) < 0.01
    assert share(outcomes, legit, lambda k: k[2] in ("invalid", "expired")) < 0.05


def test_headless_farms_are_caught_by_botd_and_scripts_never_hold_a_valid_token(outcomes):
    headless = lambda k: k[1] == "bulk_headless" and k[2] == "valid"       # noqa: E731
    assert share(outcomes, headless, lambda k: k[3] is True) > 0.5
    for key in outcomes:
        if key[0] == "password_spray" or key[1] == "bulk_scripted":
            assert key[2] != "valid", key


def test_reissued_tokens_keep_their_state_under_a_live_engines_key():
    key, now = Hasher(b"a live engine's hash key").derive(KEY_LABEL), time.time()
    world = build_world(seed=5, accounts=150, days=5)
    kept = Counter()
    for ev in world.events:
        req = AssessRequest.model_validate(ev.body)
        _, then = verify_device_token(req, TOKEN_KEY, req.occurred_at.timestamp())
        _, live = verify_device_token(AssessRequest.model_validate(reissued(ev.body, key, now)), key, now)
        kept[(then.state if then else None) == (live.state if live else None)] += 1
        if then is not None and then.valid:
            assert live.fields == then.fields
    assert kept[False] == 0 and kept[True] == len(world.events)
