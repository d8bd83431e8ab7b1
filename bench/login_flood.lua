-- The flood of bench/logins.py: wrk -s bench/login_flood.lua URL -- PATH BODY PAUSE_MS
-- POSTs the JSON BODY (a login with a wrong password) to PATH again and again, each
-- connection pausing PAUSE_MS between its attempts (0: none), and counts the answers by
-- kind. done() prints the line bench/scenario.lua prints, "WRK_RESULT
-- <json>" (latencies in microseconds), with the counts added, for bench/wrk.py.

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  wrk.headers["Content-Type"] = "application/json"
  login = wrk.format("POST", args[1], nil, args[2])
  pause_ms = tonumber(args[3] or "0")
  wrong_password, throttled, hashing_busy, rate_limited, other = 0, 0, 0, 0, 0
end

function request()
  return login
end

function delay()
  return pause_ms
end

-- Every refusal is a 429 with code rate_limited; only the message says which wall it hit.
function response(status, headers, body)
  if status == 401 then
    wrong_password = wrong_password + 1
  elseif status == 429 and body:find("failed attempts", 1, true) then
    throttled = throttled + 1
  elseif status == 429 and body:find("password checks", 1, true) then
    hashing_busy = hashing_busy + 1
  elseif status == 429 then
    rate_limited = rate_limited + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local counts = {wrong_password = 0, throttled = 0, hashing_busy = 0, rate_limited = 0,
                  other = 0}
  for _, thread in ipairs(threads) do
    for name, count in pairs(counts) do
      counts[name] = count + thread:get(name)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
      .. '"status_errors":%d,"socket_errors":%d,"wrong_password":%d,"throttled":%d,'
      .. '"hashing_busy":%d,"rate_limited":%d,"other":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, counts.wrong_password,
    counts.throttled, counts.hashing_busy, counts.rate_limited, counts.other))
end
