-- wrk script of the serving benchmark: rotate over the user ids in $WRK_USERS (one per line),
-- GET /recommendations/{id}?k=$WRK_K, or POST /recommend {"user_id": id, "k": K} when
-- $WRK_POST is set (BentoML), and print one machine-readable line at the end.
local requests = {}
local counter = 0

function init(args)
  local k = os.getenv("WRK_K") or "10"
  local post = os.getenv("WRK_POST")
  local f = assert(io.open(os.getenv("WRK_USERS"), "r"))
  for id in f:lines() do
    if #id > 0 then
      if post and #post > 0 then
        local body = '{"user_id":"' .. id .. '","k":' .. k .. '}'
        requests[#requests + 1] = wrk.format("POST", "/recommend",
          {["Content-Type"] = "application/json"}, body)
      else
        requests[#requests + 1] = wrk.format("GET", "/recommendations/" .. id .. "?k=" .. k)
      end
    end
  end
  f:close()
  counter = math.random(#requests)
end

function request()
  counter = counter % #requests + 1
  return requests[counter]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
