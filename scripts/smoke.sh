#!/usr/bin/env bash
# Smoke test of an INSTALLED riskengine (built wheel, not the source tree), run by .ci/run:
#
#     scripts/smoke.sh [PATH/TO/bin/riskengine]      (default: riskengine on PATH)
#
# From a new empty directory, with every RISKENGINE_* variable unset (so only the packaged
# models, policy and migrations can be found): db upgrade, keys create, serve in the
# background, wait for /readyz, one signup and one login (a decision, "degraded": false, a
# model version), rescore --since 7d on that young database, demo --events 200, then stop the
# server. Prints each command and its answer. Every wait has a timeout; the server is stopped
# on any exit. The checks after the server is up all run even if one fails; exit 1 names the
# failed ones.
set -uo pipefail

RISKENGINE=${1:-$(command -v riskengine || true)}
if [[ -z "$RISKENGINE" || ! -x "$RISKENGINE" ]]; then
    echo "smoke: no riskengine executable (give its path as the first argument)" >&2
    exit 2
fi
RISKENGINE=$(cd "$(dirname "$RISKENGINE")" && pwd)/$(basename "$RISKENGINE")
PY=$(dirname "$RISKENGINE")/python                # the same environment's python, for JSON checks
[[ -x "$PY" ]] || PY=python3

# Defaults only: no configuration may leak in from the caller.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(RISKENGINE_|PROMETHEUS_MULTIPROC_DIR$)' || true)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/riskengine-smoke-XXXXXX")
cd "$WORK" || exit 2
SERVER_PID=
FAILED=()

stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 30); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 1; done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "smoke: server $SERVER_PID did not stop within 30 s after SIGTERM; SIGKILL"
            kill -KILL -- "-$SERVER_PID" 2>/dev/null || kill -KILL "$SERVER_PID" 2>/dev/null
        fi
    fi
    wait "$SERVER_PID" 2>/dev/null
    local rc=$?
    SERVER_PID=
    return "$rc"
}

on_exit() {
    local rc=$?
    stop_server
    if [[ $rc -eq 0 ]]; then
        rm -rf "$WORK"
    else
        echo "smoke: left $WORK for inspection; last lines of the server's log:"
        tail -n 40 "$WORK/serve.log" 2>/dev/null | sed 's/^/    serve.log| /'
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }
fail() { echo "FAILED: $1"; FAILED+=("$1"); }
abort() { echo "FAILED: $1 (cannot go on)"; exit 1; }

# run SECONDS CMD...: print the command, run it bounded in time, print its output.
run() {
    local limit=$1; shift
    echo "\$ $*"
    timeout --kill-after=10 "$limit" "$@"
    local rc=$?
    [[ $rc -eq 124 || $rc -eq 137 ]] && echo "(timed out after ${limit} s)"
    [[ $rc -ne 0 ]] && echo "(exit code $rc)"
    return "$rc"
}

# show FILE: its content, ending in exactly one newline.
show() { cat "$1"; [[ -z "$(tail -c 1 "$1")" ]] || echo; }

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

echo "smoke: $RISKENGINE"
echo "smoke: working directory $WORK (empty: $(ls -A | wc -l) entries), no RISKENGINE_* set"
"$PY" -c 'import riskengine, riskengine.config as c; print("smoke: package", riskengine.__file__); print("smoke: models_dir()", c.models_dir())'

say "database"
run 120 "$RISKENGINE" db upgrade || abort "db upgrade"

say "API key"
echo "\$ $RISKENGINE keys create smoke"
KEY=$(timeout --kill-after=10 60 "$RISKENGINE" keys create smoke) || abort "keys create"
[[ -n "$KEY" ]] || abort "keys create printed no key"
echo "key created (${#KEY} characters)"

PORT=$(free_port)
DEMO_PORT=$(free_port)
while [[ "$DEMO_PORT" == "$PORT" ]]; do DEMO_PORT=$(free_port); done
BASE=http://127.0.0.1:$PORT

say "serve on port $PORT"
echo "\$ $RISKENGINE serve --port $PORT --workers 2 > serve.log 2>&1 &"
# Its own process group (setsid), so that stopping it stops gunicorn's workers too.
setsid "$RISKENGINE" serve --port "$PORT" --workers 2 > serve.log 2>&1 < /dev/null &
SERVER_PID=$!
echo "server pid $SERVER_PID"

say "wait for $BASE/readyz (at most 90 s)"
ready=
code=
for _ in $(seq 90); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        wait "$SERVER_PID"; echo "the server exited with code $?"; SERVER_PID=
        abort "serve"
    fi
    code=$(curl -sS --max-time 2 -o readyz.json -w '%{http_code}' "$BASE/readyz" 2>/dev/null) || code=
    [[ "$code" == 200 ]] && { ready=1; break; }
    sleep 1
done
if [[ -s readyz.json ]]; then show readyz.json; echo "HTTP $code"; else echo "no answer"; fi
[[ -n "$ready" ]] || abort "readyz (not ready within 90 s)"

# assess NAME BODY: POST /v1/assess, print the answer, check decision, degraded and model.
assess() {
    local name=$1 body=$2
    say "$name"
    echo "\$ curl -sS --max-time 10 -X POST $BASE/v1/assess -H 'Authorization: Bearer \$KEY' -d '$body'"
    local code
    if ! code=$(curl -sS --max-time 10 -o "$name.json" -w '%{http_code}' -X POST "$BASE/v1/assess" \
            -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$body"); then
        fail "$name (no answer)"; return
    fi
    show "$name.json"
    echo "HTTP $code"
    ANSWER_FILE=$name.json "$PY" - <<'PY' || fail "$name"
import json, os, sys
try:
    a = json.loads(open(os.environ["ANSWER_FILE"]).read())
except ValueError:
    print("check failed: the answer is not JSON")
    sys.exit(1)
problems = []
if a.get("decision") not in ("allow", "challenge", "block"):
    problems.append(f"decision is {a.get('decision')!r}")
if a.get("degraded") is not False:
    problems.append(f"degraded is {a.get('degraded')!r}")
if not a.get("model_version"):
    problems.append("no model_version (the packaged model was not found)")
print(f"check: decision={a.get('decision')} score={a.get('score')} degraded={a.get('degraded')} "
      f"model_version={a.get('model_version')} decided_by={a.get('decided_by')}")
if problems:
    print("check failed: " + "; ".join(problems))
    sys.exit(1)
PY
}

assess "signup" '{"event": "signup", "account": {"id": "acct_smoke", "email": "smoke.test@example.com", "phone": "+14155550123", "country": "US"}, "ip": "203.0.113.7", "device": {"id": "dv_smoke", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36", "timezone": "America/Los_Angeles", "languages": ["en-US"]}}'
assess "login" '{"event": "login", "account": {"id": "acct_smoke"}, "ip": "203.0.113.7", "device": {"id": "dv_smoke", "timezone": "America/Los_Angeles"}, "login": {"outcome": "success", "method": "password"}}'

say "rescore on this young database (expect success)"
run 300 "$RISKENGINE" rescore --since 7d --no-progress || fail "rescore --since 7d"

say "demo (its own server on port $DEMO_PORT, expect exit 0)"
run 420 "$RISKENGINE" demo --events 200 --port "$DEMO_PORT" || fail "demo --events 200"

say "stop the server"
stop_server
echo "server stopped (exit code $?)"

echo
if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "SMOKE FAILED: ${FAILED[*]}"
    exit 1
fi
echo "SMOKE PASSED"
