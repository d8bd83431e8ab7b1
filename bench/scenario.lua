-- One `make bench` scenario for wrk: wrk -s bench/scenario.lua URL -- METHOD PATH BODY IDS
-- "{id}" in PATH becomes an id drawn at random from the file IDS (one per line), "{n}" in
-- BODY a random integer in 0..999; an empty BODY sends none, "@FILE" the file's content
-- (a body too long for an argument). done() prints one line,
-- "WRK_RESULT <json>", that bench/wrk.py reads (latencies in microseconds).

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  method, path, body, ids = args[1], args[2], args[3], {}
  if body:sub(1, 1) == "@" then
    local file = assert(io.open(body:sub(2), "rb"))
    body = file:read("*a")
    file:close()
  end
  if body == "" then
    body = nil
  else
    wrk.headers["Content-Type"] = "application/json"
  end
  if args[4] ~= nil and args[4] ~= "" then
    for line in io.lines(args[4]) do
      ids[#ids + 1] = line
    end
  end
  -- Each thread its own sequence.
  math.randomseed(os.time() + 7919 * (thread_number or 0))
end

function request()
  local p, b = path, body
  if #ids > 0 then
    p = (p:gsub("{id}", ids[math.random(#ids)]))
  end
  if b ~= nil then
    b = (b:gsub("{n}", tostring(math.random(0, 999))))
  end
  return wrk.format(method, p, nil, b)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
      .. '"status_errors":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
