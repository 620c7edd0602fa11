"""`riskengine demo` end to end: a real server, a simulated world, a replay over HTTP."""
from __future__ import annotations

from riskengine.demo import run_demo
from tests.test_cli import _free_port


def test_demo_replays_a_world_through_the_server():
    lines: list[str] = []
    assert run_demo(port=_free_port(), events=300, seed=3, echo=lines.append, clients=2) == 0
    out = "\n".join(lines)
    final = out[out.index("final counts"):out.index("example reasons")]
    assert "legit" in final and "error" not in final
    rows = [ln.split() for ln in final.splitlines()[2:] if ln.strip()]
    totals = {r[0]: sum(int(x) for x in r[1:4]) for r in rows if len(r) == 5}
    assert sum(totals.values()) == 300                    # every event answered
