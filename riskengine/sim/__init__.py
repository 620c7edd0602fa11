"""Simulated world for training and demonstrating the risk model.

``build_world`` produces legitimate users and attack campaigns as a time-ordered stream
of raw ``/v1/assess`` request bodies with ground-truth labels; ``World.write_geoip``
writes the world's own GeoIP2-City / GeoLite2-ASN / GeoIP2-Anonymous-IP databases so
features are computed by the same signal code that serves.
"""

from riskengine.sim.geo import Geo, SimNetwork, get_geo, write_geoip
from riskengine.sim.identity import SimDevice
from riskengine.sim.world import ATTACK_KINDS, CampaignInfo, SimAccount, SimEvent, World, build_world

__all__ = ["ATTACK_KINDS", "CampaignInfo", "Geo", "SimAccount", "SimDevice", "SimEvent", "SimNetwork",
           "World", "build_world", "get_geo", "write_geoip"]
