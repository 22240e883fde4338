-- bench/publish.lua — the wrk script of bench/publish_cpu.sh: keep-alive `POST /publish` with a
-- 64-byte body, counting a publish as acknowledged only when answered 2xx `{"id":N}`.
--
--   CHANNEL=bench wrk -c 64 -d 5s -s bench/publish.lua http://127.0.0.1:PORT
--
-- `done` prints one JSON line: `acknowledged` (2xx answers), `other` (every other answer),
-- `min_id`/`max_id` (the smallest and largest id acknowledged: a channel's ids are consecutive, so
-- a caller can check afterwards that the channel holds every one of them), `seconds`, `p50_ms`,
-- `p99_ms` and `socket_errors` (connect, read, write errors and timeouts).
local channel = os.getenv("CHANNEL") or "bench"
wrk.method = "POST"
wrk.path = "/publish?channel=" .. channel
wrk.body = string.rep("x", 64)
wrk.headers["Content-Type"] = "text/plain"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

acknowledged, other, min_id, max_id = 0, 0, 0, 0

function response(status, headers, body)
  if status >= 200 and status < 300 then
    acknowledged = acknowledged + 1
    local id = tonumber(body:match('"id":(%d+)'))
    if id and id > max_id then max_id = id end
    if id and (min_id == 0 or id < min_id) then min_id = id end
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local n, m, low, top = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    n = n + thread:get("acknowledged")
    m = m + thread:get("other")
    top = math.max(top, thread:get("max_id"))
    local first = thread:get("min_id")
    if first > 0 and (low == 0 or first < low) then low = first end
  end
  io.write(string.format(
    '{"acknowledged":%d,"other":%d,"min_id":%d,"max_id":%d,"seconds":%.3f,"p50_ms":%.2f,"p99_ms":%.2f,"socket_errors":%d}\n',
    n, m, low, top, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
