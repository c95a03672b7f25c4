-- wrk script for bench/compare's fallback when oha cannot be installed: POSTs the body in
-- $WRK_BODY (with $WRK_KEY as bearer token when set) and prints, as its last line, a JSON
-- summary with the fields bench/compare reads from oha's (latencies in seconds).
local f = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("WRK_KEY")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    '\n{"summary":{"requestsPerSec":%f},"latencyPercentiles":{"p50":%f,"p90":%f,"p99":%f},' ..
    '"statusCodeDistribution":{"200":%d,"not 2xx/3xx":%d},"errorDistribution":{"socket errors":%d}}\n',
    summary.requests / secs, latency:percentile(50) / 1e6, latency:percentile(90) / 1e6,
    latency:percentile(99) / 1e6, summary.requests - e.status, e.status,
    e.connect + e.read + e.write + e.timeout))
end
