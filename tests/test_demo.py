"""`riskengine demo` end to end: the real command, a real server, real sockets on 127.0.0.1;
and its tally against a small local HTTP server that answers what a broken server would."""
from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from riskengine import demo
from tests.factories import BIN, free_port

# ------------------------------------------------------------------ helpers

class Demo:
    """`riskengine demo` as a child process whose output is read as it comes."""

    def __init__(self, *args: str, env: dict | None = None):
        self.port = free_port()
        self.proc = subprocess.Popen([str(BIN), "demo", "--port", str(self.port), *args],
                                     env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, text: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} within {seconds} s:\n" + "\n".join(self.seen))

    def finish(self, seconds: float) -> tuple[int, str]:
        code = self.proc.wait(timeout=seconds)
        while (line := self.lines.get(timeout=5)) is not None:
            self.seen.append(line)
        return code, "\n".join(self.seen)

    def cleanup(self) -> None:
        # Whatever a failed test left behind, ours by their port (unique to this test): kill it.
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in _servers_on(self.port):
            os.kill(pid, signal.SIGKILL)


def _servers_on(port: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        try:
            argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and str(port).encode() in argv:
            found.append(int(entry))
    return found


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _freed(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _listening(port) and not _servers_on(port):
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def run():
    started: list[Demo] = []

    def start(*args, env=None) -> Demo:
        started.append(Demo(*args, env=env))
        return started[-1]
    yield start
    for d in started:
        d.cleanup()


# ------------------------------------------------------------------ refused before anything starts

def test_a_port_in_use_is_refused_up_front():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run([str(BIN), "demo", "--port", str(port), "--events", "50"],
                              capture_output=True, text=True, timeout=30)
        elapsed = time.monotonic() - started
        busy.setblocking(False)
        with pytest.raises(BlockingIOError):
            busy.accept()                    # nobody came knocking: the demo did not use that server
    out = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode != 0
    assert len(out) == 1 and out[0].startswith("Error:") and f"port {port}" in out[0] and "--port" in out[0], out
    assert elapsed < 5                       # before a world is built or a server started


def test_a_failing_setup_command_is_one_line(run):
    d = run("--events", "50", env={"RISKENGINE_DB_TIMEOUT_MS": "bogus"})   # `db upgrade` cannot read it
    code, out = d.finish(60)
    assert code == 1
    assert out.splitlines()[-1] == ("Error: `riskengine db upgrade` failed (exit 1): "
                                    "RISKENGINE_DB_TIMEOUT_MS: 'bogus' is not a whole number of milliseconds")
    assert "Traceback" not in out


# ------------------------------------------------------------------ a server that cannot get ready

@pytest.mark.parametrize("setting, said", [
    # The configuration checks out, but `serve` cannot load the policy and exits: its own message is shown.
    ("RISKENGINE_POLICY", "RISKENGINE_POLICY: cannot read policy"),
    # The server runs but /readyz says 503 for ever (no model under the models directory): it
    # used to hang the demo for good.
    ("RISKENGINE_MODELS_DIR", "not ready: no model: none under"),
])
def test_a_server_that_cannot_get_ready_fails_within_seconds(run, setting, said, tmp_path):
    value = tmp_path / "empty-models"
    value.mkdir()
    if setting == "RISKENGINE_POLICY":
        value = tmp_path / "policy.toml"
        value.write_text("this is [not toml")
    d = run("--events", "50", "--workers", "1", env={setting: str(value)})
    started = time.monotonic()
    code, out = d.finish(60)
    assert code == 1 and said in out, out
    assert "Traceback" not in out and "serving on" not in out
    assert time.monotonic() - started < 45     # about 10 s on 2 idle cores: the worker loads the model stack
    assert _freed(d.port, 5)


# ------------------------------------------------------------------ stopping

@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGKILL, marks=pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's"))])
def test_killing_the_demo_stops_its_server(run, sig):
    d = run("--events", "3000", "--workers", "1")
    d.wait_for("serving on", 60)
    assert _listening(d.port)
    d.proc.send_signal(sig)                       # mid-replay
    code, out = d.finish(30)
    if sig == signal.SIGTERM:
        assert code == 128 + sig and "interrupted by SIGTERM: the demo and its server have stopped" in out, out
    else:
        assert code == -sig                      # no handler ran: the kernel tells the server (PDEATHSIG)
    assert _freed(d.port, 20), f"a server still runs on port {d.port}"


# ------------------------------------------------------------------ a normal run

def test_a_small_run_replays_exactly_what_it_announces(run):
    d = run("--events", "200", "--seed", "3")
    code, out = d.finish(120)
    assert code == 0, out
    assert int(re.search(r"replaying (\d+)", out).group(1)) == 200
    final = out[out.index("final counts"):]
    assert "200 of 200 events got a decision" in final and "without a decision" not in final
    rows = {r[0]: [int(x) for x in r[1:5]] for r in (ln.split() for ln in final.splitlines()[2:])
            if len(r) == 6 and r[1].isdigit()}
    total = rows.pop("total")
    assert "legit" in rows and len(rows) > 2
    assert [sum(col) for col in zip(*rows.values(), strict=True)] == total     # the rows add up to the total row
    assert sum(total[:3]) == 200 and total[3] == 0                 # every event decided, none an error
    assert _freed(d.port, 5)


def test_the_world_holds_the_events_asked_for():
    world = demo._world_for(3000, seed=11)        # the default run; too small a world gave 1575
    assert len(world.events) >= 3000
    few = world.events[:120]
    assert demo._announcement(120, few, 500).startswith(
        "simulated world: 120 events, replaying 120 (asked for 500, but the world has only 120)")
    assert "asked for" not in demo._announcement(len(world.events), world.events[:500], 500)


# ------------------------------------------------------------------ answers that are not decisions

def _events(n: int) -> list:
    return [SimpleNamespace(campaign=("legit", "bulk_farm")[i % 2], body={"account": {"id": f"acct_{i}"}})
            for i in range(n)]


def _mixed(i: int):
    if i % 10 == 0:
        return 503, {"error": {"code": "unavailable", "message": "the database is unavailable; retry shortly"}}
    if i % 10 == 1:
        return 422, {"error": {"code": "validation_error", "message": "account.email is required"}}
    return 200, {"decision": "block" if i % 3 else "allow", "reasons": [{"message": f"reason {i}"}]}


def _replay_against(stub_server, answer, n: int) -> tuple[demo.Tally, list[str]]:
    """Replay n events against a server that answers by the account's number (see _mixed)."""
    server = stub_server(lambda body: answer(int(body["account"]["id"].split("_")[1])))
    lines: list[str] = []
    tally = demo._replay(server.port, "rk_test", _events(n), 3, lines.append)
    return tally, lines


def test_answers_that_are_not_decisions_are_counted_by_status(stub_server):
    tally, _ = _replay_against(stub_server, _mixed, 100)
    assert tally.failures == {"HTTP 503": 10, "HTTP 422": 10}
    assert tally.decided() == 80 and tally.counted() == 100
    summary = demo._summary(tally, 100)
    assert "80 of 100 events got a decision" in summary
    assert re.search(r"HTTP 422 +10  e\.g\. account\.email is required", summary)
    assert re.search(r"HTTP 503 +10  e\.g\. the database is unavailable; retry shortly", summary)
    assert re.search(r"total +\d+ +\d+ +\d+ +20 ", summary)              # the errors column
    assert "HTTP 503: 10" in demo._verdict(tally, 100)                    # a 5xx fails the run


def test_client_errors_alone_fail_only_a_run_without_decisions(stub_server):
    some, _ = _replay_against(stub_server, lambda i: _mixed(i) if i % 10 else _mixed(1), 50)   # 422s, no 503
    assert some.failures == {"HTTP 422": 10} and demo._verdict(some, 50) is None
    none, _ = _replay_against(stub_server, lambda i: _mixed(1), 20)
    assert none.failures == {"HTTP 422": 20}
    assert demo._verdict(none, 20) == "none of the 20 events got a decision"


def test_a_server_that_does_not_answer_is_given_up_on_quickly():
    port = free_port()                          # nothing listens there
    started = time.monotonic()
    tally = demo._replay(port, "rk_test", _events(300), 3, lambda line: None)
    assert time.monotonic() - started < 10
    assert tally.failures[demo.NO_ANSWER] == 3 * demo.MISSES_BEFORE_GIVING_UP
    assert tally.counted() == 300 and tally.failures[demo.NOT_SENT] == 300 - 9
    assert "Connection" in tally.failure_examples[demo.NO_ANSWER]
    assert "failed on the server's side" in demo._verdict(tally, 300)


# ------------------------------------------------------------------ signals, in this process

def test_a_stop_signal_interrupts_once_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGINT)
    with demo._signals_interrupt():
        with pytest.raises(demo.Interrupted) as caught:
            os.kill(os.getpid(), signal.SIGINT)      # Ctrl-C
            time.sleep(2)                            # the handler raises here, in the main thread
        assert caught.value.signum == signal.SIGINT
        os.kill(os.getpid(), signal.SIGINT)          # a second one while the server stops: ignored
        time.sleep(0.2)
    assert signal.getsignal(signal.SIGINT) is before
