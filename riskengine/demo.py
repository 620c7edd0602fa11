"""`riskengine demo`: the real server on a simulated world, fed a replay of its signups and
logins, with live counts of decisions by campaign. Everything runs on 127.0.0.1 and stops
by itself."""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

DECISIONS = ("allow", "challenge", "block")


def run_demo(port: int = 8765, events: int = 3000, seed: int = 11, echo=print, clients: int = 4) -> int:
    from riskengine.sim.world import build_world
    days = 10
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=days + 1)
    world = build_world(seed=seed, accounts=max(100, events // 8), days=days, start=start)
    stream = world.events[:events]
    echo(f"simulated world: {len(world.events)} events, replaying {len(stream)} "
         f"({', '.join(f'{k} {v}' for k, v in Counter(e.campaign for e in stream).most_common())})")
    with tempfile.TemporaryDirectory(prefix="riskengine-demo-") as tmp:
        env = _server_env(Path(tmp), world)
        _cli(["db", "upgrade"], env)
        secret = _cli(["keys", "create", "demo"], env).strip()
        server = subprocess.Popen([_riskengine(), "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            if not _wait_ready(port, server):
                echo("the server did not start: " + server.stderr.read().decode()[-2000:])
                return 1
            echo(f"riskengine is serving on http://127.0.0.1:{port} (model and policy as shipped)")
            tally, examples = _replay(port, secret, stream, clients, echo)
        finally:
            server.terminate()
            server.wait(timeout=30)
    echo("\nfinal counts (simulated traffic):")
    echo(_table(tally))
    echo("\nexample reasons:")
    for campaign, (decision, reasons) in sorted(examples.items()):
        echo(f"  {campaign:<16} {decision:<9} " + "; ".join(r["message"] for r in reasons[:3]))
    return 0


def _riskengine() -> str:
    return str(Path(sys.executable).parent / "riskengine")


def _server_env(tmp: Path, world) -> dict:
    geo = world.write_geoip(tmp / "geoip")
    env = {**os.environ,
           "RISKENGINE_DATABASE_URL": f"sqlite:///{tmp / 'demo.db'}",
           "RISKENGINE_HASH_KEY_FILE": str(tmp / "hash.key"),
           "RISKENGINE_GEOIP_CITY": str(geo["city"]), "RISKENGINE_GEOIP_ASN": str(geo["asn"]),
           "RISKENGINE_GEOIP_ANONYMOUS": str(geo["anonymous"])}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def _cli(args: list[str], env: dict) -> str:
    return subprocess.run([_riskengine(), *args], env=env, check=True, capture_output=True, text=True).stdout


def _wait_ready(port: int, server, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _replay(port, secret, stream, clients, echo):
    tally: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, tuple] = {}
    lock = threading.Lock()
    # Events of one account must arrive in order (a login after its signup): shard by account.
    shards = [[] for _ in range(clients)]
    for ev in stream:
        shards[hash(ev.body["account"]["id"]) % clients].append(ev)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

    def worker(shard):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for ev in shard:
            conn.request("POST", "/v1/assess", body=json.dumps(ev.body), headers=headers)
            resp = conn.getresponse()
            out = json.loads(resp.read())
            with lock:
                if resp.status != 200:
                    tally[ev.campaign]["error"] += 1
                    continue
                tally[ev.campaign][out["decision"]] += 1
                if out["decision"] != "allow" and ev.campaign not in examples and out["reasons"]:
                    examples[ev.campaign] = (out["decision"], out["reasons"])

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in shards]
    started = time.monotonic()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(2)
        with lock:
            done = sum(sum(c.values()) for c in tally.values())
            echo(f"\n{done}/{len(stream)} events, {done / (time.monotonic() - started):.0f}/s")
            echo(_table(tally))
    return tally, examples


def _table(tally) -> str:
    lines = [f"  {'campaign':<16}" + "".join(f"{d:>11}" for d in DECISIONS) + f"{'flagged':>10}"]
    for campaign in sorted(tally, key=lambda c: (c != "legit", c)):
        c = tally[campaign]
        total = sum(c.values()) or 1
        flagged = (c["challenge"] + c["block"]) / total
        lines.append(f"  {campaign:<16}" + "".join(f"{c[d]:>11}" for d in DECISIONS) + f"{flagged:>10.1%}")
    return "\n".join(lines)
