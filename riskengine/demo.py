"""`riskengine demo`: the real server on a simulated world, fed a replay of its signups and
logins, with live counts of decisions by campaign. Everything runs on 127.0.0.1 and stops
by itself: on success, on failure, on Ctrl-C or SIGTERM, and (on Linux) even when the demo
itself is killed with SIGKILL."""
from __future__ import annotations

import ctypes
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riskengine.sim.builder import SimEvent

DECISIONS = ("allow", "challenge", "block")
HOST = "127.0.0.1"
READY_SECONDS = 60        # a server that neither answers nor exits by then is stuck
NOT_READY_GRACE = 3.0     # /readyz saying 503 this long: a lasting problem (model, GeoIP), not start-up
STOP_SECONDS = 15         # gunicorn's graceful_timeout is 10 s; then the server's group is killed
PROGRESS_SECONDS = 2.0
MISSES_BEFORE_GIVING_UP = 3   # consecutive requests without an answer: the server is gone or stuck
NO_ANSWER, NOT_SENT = "no answer", "not sent"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class DemoError(Exception):
    """A failure reported as `Error: <message>` and exit status 1, without a traceback."""


class Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def run_demo(port: int = 8765, events: int = 3000, seed: int = 11, echo=print, clients: int = 4,
             workers: int | None = None) -> int:
    try:
        with _signals_interrupt():
            return _run(port, events, seed, echo, clients, workers)
    except DemoError as e:
        echo(f"Error: {e}")
        return 1
    except Interrupted as e:
        echo(f"\ninterrupted by {e}: the demo and its server have stopped")
        return 128 + e.signum


def _run(port, events, seed, echo, clients, workers) -> int:
    _check_options(port, events, workers)
    _refuse_busy_port(port)
    world = _world_for(events, seed)
    stream = world.events[:events]
    echo(_announcement(len(world.events), stream, events))
    with tempfile.TemporaryDirectory(prefix="riskengine-demo-") as tmp:
        env = _server_env(Path(tmp), world)
        stream = _live_tokens(stream, env["RISKENGINE_HASH_KEY"])
        _cli(["db", "upgrade"], env)
        secret = _cli(["keys", "create", "demo"], env).strip()
        server = _start_server(port, workers, env, Path(tmp) / "server.log")
        try:
            _wait_ready(port, server)
            echo(f"riskengine is serving on http://{HOST}:{port} (model and policy as shipped)")
            tally = _replay(port, secret, stream, clients, echo, server_alive=lambda: server.proc.poll() is None)
            if server.proc.poll() is not None:
                echo(f"\nthe server exited (status {server.proc.poll()}) during the replay; it said:\n{server.said()}")
        finally:
            _stop(server.proc)
    echo(_summary(tally, len(stream)))
    problem = _verdict(tally, len(stream))
    if problem:
        raise DemoError(problem)
    return 0


# ------------------------------------------------------------------ before the server

def _check_options(port: int, events: int, workers: int | None) -> None:
    if not 1 <= port <= 65535:
        raise DemoError(f"--port must be between 1 and 65535, not {port}")
    if events < 1:
        raise DemoError(f"--events must be at least 1, not {events}")
    if workers is not None and workers < 1:
        raise DemoError(f"--workers must be at least 1, not {workers}")


def _refuse_busy_port(port: int) -> None:
    # Bound as gunicorn binds (SO_REUSEADDR): a connection in TIME_WAIT is no obstacle, a listener
    # is. Otherwise the server would fail to bind while another program answered the replay.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as e:
            raise DemoError(f"port {port} on {HOST} is already in use ({e.strerror}); "
                            f"stop what listens there or choose another port with --port") from None


def _world_for(events: int, seed: int, tries: int = 3):
    """A world with at least `events` events if a few sizes can give it (about 4 per account)."""
    from riskengine.sim.world import build_world
    days = 10
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days + 1)
    accounts = max(100, events // 4)
    for _ in range(tries):
        world = build_world(seed=seed, accounts=accounts, days=days, start=start)
        if len(world.events) >= events:
            break
        accounts = int(accounts * events / max(1, len(world.events)) * 1.1) + 1
    return world


def _announcement(world_events: int, stream: list, asked: int) -> str:
    mix = ", ".join(f"{k} {v}" for k, v in Counter(e.campaign for e in stream).most_common())
    short = f" (asked for {asked}, but the world has only {world_events})" if len(stream) < asked else ""
    return f"simulated world: {world_events} events, replaying {len(stream)}{short} ({mix})"


def _riskengine() -> str:
    return str(Path(sys.executable).parent / "riskengine")


def _server_env(tmp: Path, world) -> dict:
    geo = world.write_geoip(tmp / "geoip")
    metrics = tmp / "metrics"      # inside the temporary directory, so it goes with it
    metrics.mkdir()
    return {**os.environ,
            "RISKENGINE_DATABASE_URL": f"sqlite:///{tmp / 'demo.db'}",
            "RISKENGINE_HASH_KEY": secrets.token_hex(32),     # _live_tokens signs with it too
            "RISKENGINE_GEOIP_CITY": str(geo["city"]), "RISKENGINE_GEOIP_ASN": str(geo["asn"]),
            "RISKENGINE_GEOIP_ANONYMOUS": str(geo["anonymous"]),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics)}


def _live_tokens(stream: list, hash_key: str) -> list:
    """The simulated pages' device tokens as this server would have issued them just now."""
    from riskengine.hashing import Hasher
    from riskengine.signals.device_token import KEY_LABEL
    from riskengine.sim.collector import reissued
    key, now = Hasher(hash_key.encode()).derive(KEY_LABEL), time.time()
    return [replace(ev, body=reissued(ev.body, key, now)) for ev in stream]


def _cli(args: list[str], env: dict) -> str:
    command = f"`riskengine {' '.join(args)}`"
    try:
        done = subprocess.run([_riskengine(), *args], env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise DemoError(f"{command} did not finish within 120 s") from None
    if done.returncode != 0:
        said = _last_line(done.stderr) or _last_line(done.stdout) or "it printed nothing"
        raise DemoError(f"{command} failed (exit {done.returncode}): {said}")
    return done.stdout


def _last_line(text: str) -> str:
    # A traceback ends with the exception, click's usage errors with "Error: ...": one line says it.
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1].removeprefix("Error: ") if lines else ""


# ------------------------------------------------------------------ the server

@dataclass
class Server:
    proc: subprocess.Popen
    log: Path

    def said(self, lines: int = 8) -> str:
        """The server's own messages, newest last: errors and warnings, tracebacks' last lines."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(f"  {m}" for m in _messages(text)[-lines:]) or "  (it printed nothing)"


GUNICORN_LINE = re.compile(r"^\[[^\]]+\] \[\d+\] \[(\w+)\] (.*)$")


def _messages(log: str) -> list[str]:
    out: list[str] = []
    for line in log.splitlines():
        m = GUNICORN_LINE.match(line)
        if m:
            text = m.group(2) if m.group(1) not in ("INFO", "DEBUG") else ""
        elif line.startswith((" ", "\t", "Traceback")):
            text = ""                      # a traceback's frames: its last line says what happened
        else:
            text = line.strip()
        if text and text not in out:
            out.append(text)
    return out


def _start_server(port: int, workers: int | None, env: dict, log: Path) -> Server:
    # The log goes to a file, not a pipe: a pipe nobody reads fills up and blocks the server.
    # Its own process group, so that stopping it reaches gunicorn's workers too.
    args = [_riskengine(), "serve", "--port", str(port), *(["--workers", str(workers)] if workers else [])]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, process_group=0,
                                preexec_fn=_die_with_parent())
    return Server(proc, log)


def _die_with_parent():
    """preexec_fn asking Linux to SIGTERM the server when the demo dies, by SIGKILL too, where
    no handler or finally of ours can run. gunicorn's master then stops its workers.
    (The kernel tracks the thread that started the server: run_demo stops it before it returns.)"""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl     # looked up before the fork, not in the child
    parent, PR_SET_PDEATHSIG = os.getpid(), 1

    def in_child():
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:      # the demo died before the request was made
            os._exit(1)
    return in_child


def _wait_ready(port: int, server: Server, seconds: float = READY_SECONDS) -> None:
    deadline, not_ready_since = time.monotonic() + seconds, None
    while True:
        code = server.proc.poll()
        if code is not None:
            raise DemoError(f"the server exited (status {code}) before it was ready; it said:\n{server.said()}")
        status, body = _readyz(port)
        if status == 200:
            return
        if status not in (None, 503):       # not what riskengine answers: not our server
            raise DemoError(f"GET /readyz on port {port} answered {status}; is another program listening there?")
        now = time.monotonic()
        if status == 503:
            not_ready_since = not_ready_since or now
            if now - not_ready_since >= NOT_READY_GRACE:
                problems = "; ".join(body.get("problems") or []) or "no reason given"
                raise DemoError(f"the server is up but not ready: {problems}")
        if now >= deadline:
            raise DemoError(f"the server was not ready within {seconds:.0f} s; it said:\n{server.said()}")
        time.sleep(0.2)


def _readyz(port: int) -> tuple[int | None, dict]:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/readyz")
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, {}
    except (OSError, http.client.HTTPException):
        return None, {}
    finally:
        conn.close()


def _stop(proc: subprocess.Popen) -> None:
    try:
        _terminate(proc)
    except Interrupted:
        # A signal mid-stop (only one is ever raised): finish stopping, then report it.
        _terminate(proc)
        raise


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_SECONDS)
            return
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
    proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)       # the group is the server's pid (process_group=0)
    except ProcessLookupError:
        pass


@contextmanager
def _signals_interrupt():
    """SIGINT, SIGTERM and SIGHUP raise Interrupted in the main thread, so that the finally
    blocks stop the server. Only the first one: later ones are ignored while it stops."""
    if threading.current_thread() is not threading.main_thread():
        yield                           # signal handlers can only be set from the main thread
        return

    def interrupt(signum, frame):
        for s in previous:
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(signum)

    # A signal ignored when we started (e.g. SIGINT of a background job) stays ignored.
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}
    for s in previous:
        signal.signal(s, interrupt)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# ------------------------------------------------------------------ the replay

@dataclass
class Tally:
    """What each replayed event got: a decision, or why not (counted per HTTP status)."""
    counts: dict = field(default_factory=lambda: defaultdict(Counter))   # campaign -> decision|"error" -> n
    failures: Counter = field(default_factory=Counter)                  # "HTTP 422", NO_ANSWER, NOT_SENT
    failure_examples: dict = field(default_factory=dict)                # failure -> its first message
    reasons: dict = field(default_factory=dict)                         # campaign -> (decision, reasons)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def decision(self, ev, out: dict) -> None:
        with self.lock:
            self.counts[ev.campaign][out["decision"]] += 1
            if out["decision"] != "allow" and out.get("reasons") and ev.campaign not in self.reasons:
                self.reasons[ev.campaign] = (out["decision"], out["reasons"])

    def failure(self, ev, kind: str, message: str) -> None:
        with self.lock:
            self.counts[ev.campaign]["error"] += 1
            self.failures[kind] += 1
            self.failure_examples.setdefault(kind, message)

    def counted(self) -> int:
        with self.lock:
            return sum(sum(c.values()) for c in self.counts.values())

    def decided(self) -> int:
        with self.lock:
            return sum(c[d] for c in self.counts.values() for d in DECISIONS)


def _replay(port, secret, stream, clients, echo, server_alive=lambda: True) -> Tally:
    tally, stop = Tally(), threading.Event()
    # Events of one account must arrive in order (a login after its signup): shard by account.
    shards: list[list[SimEvent]] = [[] for _ in range(clients)]
    for ev in stream:
        shards[hash(ev.body["account"]["id"]) % clients].append(ev)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    threads = [threading.Thread(target=_send, args=(port, headers, s, tally, stop), daemon=True) for s in shards]
    for t in threads:
        t.start()
    try:
        _follow(threads, tally, len(stream), echo, server_alive, stop)
    finally:
        stop.set()                      # interrupted: the senders stop too
    return tally


def _send(port, headers, shard, tally: Tally, stop: threading.Event) -> None:
    conn, misses = None, 0
    for i, ev in enumerate(shard):
        if stop.is_set() or misses >= MISSES_BEFORE_GIVING_UP:
            why = "the server exited" if stop.is_set() else f"{misses} requests in a row got no answer"
            for rest in shard[i:]:
                tally.failure(rest, NOT_SENT, why)
            return
        if conn is None:
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            conn.request("POST", "/v1/assess", body=json.dumps(ev.body), headers=headers)
            resp = conn.getresponse()
            status, raw = resp.status, resp.read()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            conn, misses = None, misses + 1
            tally.failure(ev, NO_ANSWER, f"{type(e).__name__}: {e}")
            continue
        misses = 0
        _record(tally, ev, status, raw)


def _record(tally: Tally, ev, status: int, raw: bytes) -> None:
    try:
        out = json.loads(raw)
    except ValueError:
        out = None
    if 200 <= status < 300 and isinstance(out, dict) and out.get("decision") in DECISIONS:
        tally.decision(ev, out)
    elif 200 <= status < 300:
        tally.failure(ev, f"HTTP {status}", f"an answer without a decision: {raw[:200]!r}")
    else:
        tally.failure(ev, f"HTTP {status}", _error_message(out, raw))


def _error_message(out, raw: bytes) -> str:
    # The API's error body is {"error": {"code", "message", "field"?}}; anything else as text.
    if isinstance(out, dict) and isinstance(out.get("error"), dict) and out["error"].get("message"):
        return str(out["error"]["message"])
    return raw[:200].decode(errors="replace").strip() or "(empty body)"


def _follow(threads, tally: Tally, total: int, echo, server_alive, stop) -> None:
    started = time.monotonic()
    while any(t.is_alive() for t in threads):
        until = time.monotonic() + PROGRESS_SECONDS
        for t in threads:
            t.join(max(0.0, until - time.monotonic()))
        if not server_alive():
            stop.set()
        if any(t.is_alive() for t in threads):
            done = tally.counted()
            echo(f"\n{done}/{total} events, {done / (time.monotonic() - started):.0f}/s")
            echo(_table(tally))


# ------------------------------------------------------------------ the report

def _table(tally: Tally) -> str:
    columns = (*DECISIONS, "errors")
    lines = [f"  {'campaign':<16}" + "".join(f"{d:>11}" for d in columns) + f"{'flagged':>10}"]
    total: Counter = Counter()
    with tally.lock:
        counts = {k: Counter(v) for k, v in tally.counts.items()}
    for campaign in sorted(counts, key=lambda c: (c != "legit", c)):
        lines.append(_row(campaign, counts[campaign]))
        total.update(counts[campaign])
    lines.append(_row("total", total))
    return "\n".join(lines)


def _row(name: str, c: Counter) -> str:
    decided = sum(c[d] for d in DECISIONS)
    flagged = f"{(c['challenge'] + c['block']) / decided:.1%}" if decided else "-"
    return f"  {name:<16}" + "".join(f"{c[d]:>11}" for d in DECISIONS) + f"{c['error']:>11}{flagged:>10}"


def _summary(tally: Tally, total: int) -> str:
    lines = [f"\nfinal counts (simulated traffic): {tally.decided()} of {total} events got a decision",
             _table(tally)]
    if tally.failures:
        lines.append("\nevents without a decision:")
        for kind, n in sorted(tally.failures.items()):
            lines.append(f"  {kind:<12}{n:>7}  e.g. {tally.failure_examples[kind]}")
    if tally.reasons:
        lines.append("\nexample reasons:")
        for campaign, (decision, reasons) in sorted(tally.reasons.items()):
            lines.append(f"  {campaign:<16} {decision:<9} " + "; ".join(r["message"] for r in reasons[:3]))
    return "\n".join(lines)


def _verdict(tally: Tally, total: int) -> str | None:
    """Why the run failed, or None. 4xx answers alone are shown but do not fail a run that
    got decisions; 5xx, no answer, or no decision at all do."""
    if tally.counted() != total:
        return f"{total - tally.counted()} of {total} events were not accounted for"
    server = {k: n for k, n in tally.failures.items() if k.startswith("HTTP 5") or k in (NO_ANSWER, NOT_SENT)}
    if server:
        return (f"{sum(server.values())} of {total} events failed on the server's side ("
                + ", ".join(f"{k}: {n}" for k, n in sorted(server.items())) + ")")
    if not tally.decided():
        return f"none of the {total} events got a decision"
    return None
