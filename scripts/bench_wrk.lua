-- wrk script for scripts/bench_assess.py: replays pre-generated request bodies.
--
-- Environment (set by bench_assess.py):
--   BENCH_BODIES   file with one JSON request body per line (required)
--   BENCH_AUTH     API key; sent as "Authorization: Bearer ..." when set
--   BENCH_PATH     request path (default /v1/assess)
--   BENCH_THREADS  wrk's -t, so threads take disjoint slices of the bodies
-- Each thread pre-formats its requests in init(), so request() is a table lookup.
-- done() prints one line "BENCH_RESULT {json}" with counts and latency percentiles (us).

local bodies_path = os.getenv("BENCH_BODIES")
local auth = os.getenv("BENCH_AUTH")
local path = os.getenv("BENCH_PATH") or "/v1/assess"
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")

local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

local reqs = {}
local n, i = 0, 0

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  if auth and auth ~= "" then headers["Authorization"] = "Bearer " .. auth end
  local k = 0
  local me = tid or 0
  for line in io.lines(bodies_path) do
    if k % nthreads == me and #line > 0 then
      n = n + 1
      reqs[n] = wrk.format("POST", path, headers, line)
    end
    k = k + 1
  end
  if n == 0 then error("no request bodies in " .. tostring(bodies_path)) end
end

function request()
  i = i + 1
  if i > n then i = 1 end     -- wraps: bench_assess.py warns when requests exceed the pool
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
