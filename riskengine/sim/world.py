"""The simulated world: legitimate users and attack campaigns as a stream of raw
``/v1/assess`` request bodies with ground truth.

    world = build_world(seed=7, accounts=5000, days=30)
    paths = world.write_geoip("/tmp/geo")      # city.mmdb, asn.mmdb, anonymous.mmdb
    for ev in world.events:                    # time-ordered
        ev.body, ev.fraud, ev.campaign, ev.campaign_id, ev.segment

Labels: every event of a legitimate account's own activity is ``fraud=False``; the signup
and the later logins of a fake account, and every account-takeover or password-spray
login attempt (against a legitimate account) are ``fraud=True``.
"""

from __future__ import annotations

from datetime import datetime

from riskengine.sim.builder import ATTACK_KINDS, DEFAULT_START, Builder, CampaignInfo, SimAccount, SimEvent, World
from riskengine.sim.campaigns import Campaigns
from riskengine.sim.legit import LegitPopulation
from riskengine.sim.params import WorldParams

__all__ = ["ATTACK_KINDS", "CampaignInfo", "SimAccount", "SimEvent", "World", "build_world"]


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------

def build_world(seed: int = 7, accounts: int = 5000, days: int = 30, start: datetime | None = None,
                attack_share: float = 0.25, params: WorldParams | None = None) -> World:
    """Build the simulated world: ``accounts`` legitimate accounts over ``days`` days from
    ``start`` (default 2026-10-01 UTC), plus attack campaigns creating about
    ``attack_share * accounts`` fake accounts and takeover / spray attempts against the
    legitimate ones.  Deterministic for a seed. ``params`` (sim.params): the world's
    parameters (domain randomisation); None: the fixed default world."""
    if days < 2:
        raise ValueError("days must be >= 2")
    b = Builder(seed, accounts, days, start or DEFAULT_START, attack_share, params)
    LegitPopulation(b).run()
    Campaigns(b).run()
    return b.finish()
