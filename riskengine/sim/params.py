"""A world's parameters, drawn from ranges (domain randomisation).

A model trained on one simulated world learns that world's quirks: its NAT pool sizes,
its device churn, its attackers' habits. Training on several worlds whose parameters are
drawn from TRAIN_RANGES, and evaluating on worlds drawn from CROSS_RANGES (every range
outside the training one, on the side that makes the world harder), tells what holds from
what was learned by heart.

`WorldParams()` is the fixed world riskengine.sim always built (build_world without
params); `draw(seed, ranges)` one world of a family."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np


@dataclass(frozen=True)
class WorldParams:
    # legitimate population: multipliers on the segment weights of sim.legit.LEGIT_SEGMENTS
    cgnat_share: float = 1.0
    vpn_share: float = 1.0
    campus_share: float = 1.0
    office_share: float = 1.0
    travel_share: float = 1.0
    expat_share: float = 1.0
    family_share: float = 1.0
    developer_share: float = 1.0
    # networks: share of a NAT's public addresses in use (smaller: more accounts per address)
    cgnat_pool_share: float = 1.0
    site_pool_share: float = 1.0
    # devices
    device_reset_p: float = 0.03        # a session on a device whose storage was cleared
    family_shared_p: float = 0.6        # a family member's home session on the shared device
    hw_skew: float = 2.2                # popular-hardware collisions (larger: more people per class)
    expat_home_tz_p: float = 0.45       # an expat's laptop still on home time
    heavy_user_share: float = 0.0       # accounts logging in several times more often
    fail_p_scale: float = 1.0           # legitimate password typos
    # attacks
    attack_share: float = 0.25
    ato_campaigns: int = 0              # 0: 3 (4 in worlds of 3,000+ accounts)
    ato_targeted_share: float = 1 / 3   # targeted (few victims, careful) vs credential stuffing
    ato_resi_share: float = 0.6         # stuffing from residential proxies (else cloud addresses)
    ato_foreign_resi_p: float = 0.0     # targeted: a residential proxy in another country
    ato_local_tz_p: float = 0.0         # the attacker's browser set to the victim's time zone
    spray_campaigns: int = 3
    # challenges the engine issued: a legitimate new device's, a takeover's
    challenge_new_device_p: float = 0.5
    challenge_ato_p: float = 0.7

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


# (low, high) per parameter; integers stay integers. Unlisted parameters keep their default.
TRAIN_RANGES: dict[str, tuple[float, float]] = {
    "cgnat_share": (0.7, 1.6), "vpn_share": (0.7, 1.5), "campus_share": (0.7, 1.5), "office_share": (0.7, 1.5),
    "travel_share": (0.7, 1.5), "expat_share": (0.7, 1.5), "family_share": (0.7, 1.5),
    "developer_share": (0.7, 1.5),
    "cgnat_pool_share": (0.5, 1.0), "site_pool_share": (0.5, 1.0),
    "device_reset_p": (0.01, 0.05), "family_shared_p": (0.4, 0.7), "hw_skew": (1.8, 2.6),
    "expat_home_tz_p": (0.3, 0.6), "heavy_user_share": (0.0, 0.05), "fail_p_scale": (0.7, 1.4),
    "attack_share": (0.18, 0.3), "ato_campaigns": (5, 8), "ato_targeted_share": (0.3, 0.5),
    "ato_resi_share": (0.4, 0.7), "ato_foreign_resi_p": (0.0, 0.3), "ato_local_tz_p": (0.0, 0.3),
    "spray_campaigns": (2, 4), "challenge_new_device_p": (0.4, 0.6), "challenge_ato_p": (0.6, 0.8),
}
# Outside every training range, on the harder side: more and bigger NATs behind fewer
# addresses, more churn and sharing, more travellers, expats and VPNs, more careful attackers.
CROSS_RANGES: dict[str, tuple[float, float]] = {
    "cgnat_share": (1.8, 2.5), "vpn_share": (1.6, 2.2), "campus_share": (1.6, 2.2), "office_share": (1.6, 2.2),
    "travel_share": (1.6, 2.2), "expat_share": (1.6, 2.2), "family_share": (1.6, 2.2),
    "developer_share": (1.6, 2.2),
    "cgnat_pool_share": (0.25, 0.4), "site_pool_share": (0.25, 0.4),
    "device_reset_p": (0.06, 0.09), "family_shared_p": (0.75, 0.9), "hw_skew": (2.8, 3.4),
    "expat_home_tz_p": (0.65, 0.85), "heavy_user_share": (0.07, 0.12), "fail_p_scale": (1.5, 2.0),
    "attack_share": (0.32, 0.4), "ato_campaigns": (9, 10), "ato_targeted_share": (0.55, 0.65),
    "ato_resi_share": (0.75, 0.9), "ato_foreign_resi_p": (0.35, 0.5), "ato_local_tz_p": (0.35, 0.5),
    "spray_campaigns": (5, 6), "challenge_new_device_p": (0.25, 0.35), "challenge_ato_p": (0.4, 0.5),
}


def draw(seed: int, ranges: dict[str, tuple[float, float]]) -> WorldParams:
    """One world's parameters, uniform within each range; deterministic for a seed."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    types = {f.name: type(f.default) for f in fields(WorldParams)}
    values: dict = {}
    for name in sorted(ranges):
        lo, hi = ranges[name]
        if types[name] is int:
            values[name] = int(rng.integers(int(lo), int(hi) + 1))
        else:
            values[name] = float(rng.uniform(lo, hi))
    return WorldParams(**values)


def outside(params: WorldParams, ranges: dict[str, tuple[float, float]] = TRAIN_RANGES) -> list[str]:
    """The parameters of `params` that lie outside `ranges` (all of them, for a cross-world)."""
    d = asdict(params)
    return [k for k, (lo, hi) in ranges.items() if not lo <= d[k] <= hi]
