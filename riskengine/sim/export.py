"""`riskengine simulate`: write a simulated world to disk (GeoIP files + labelled events)."""
from __future__ import annotations

import json
from pathlib import Path


def export_world(out: str | Path, seed: int = 7, accounts: int = 5000, days: int = 30) -> str:
    from riskengine.sim.world import build_world
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(seed=seed, accounts=accounts, days=days)
    geo = world.write_geoip(out / "geoip")
    with (out / "events.jsonl").open("w") as f:
        for ev in world.events:
            f.write(json.dumps({"body": ev.body, "fraud": ev.fraud, "campaign": ev.campaign,
                                "campaign_id": ev.campaign_id, "segment": ev.segment}) + "\n")
    lines = [f"{len(world.events)} events -> {out / 'events.jsonl'}"]
    lines += [f"{name}: {path}" for name, path in geo.items()]
    lines.append("serve on this world with: " + " ".join(
        f"RISKENGINE_GEOIP_{k.upper()}={v}" for k, v in geo.items()) + " riskengine serve")
    return "\n".join(lines)
