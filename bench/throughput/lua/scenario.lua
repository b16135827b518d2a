-- One wrk script for every API scenario of `python -m bench.throughput`.
--
--   wrk -s scenario.lua URL -- MODE DATA_FILE RUN_ID THREADS
--
-- DATA_FILE is Lua returning {api_key=..., accounts={...}, users={...}, orders={...}, path=...,
-- body=..., key=..., batch_size=...}, written by the harness. Every money-moving request gets a
-- fresh key (RUN_ID-thread-counter), so nothing is replayed except in the "replay" mode. Each
-- thread counts responses by status (and replays, and captures) and done() prints one JSON line
-- with the totals and wrk's latency percentiles.
--
-- "hold_capture" moves money in two requests: POST /api/v1/holds, then POST
-- /api/v1/holds/{id}/capture of the whole hold, each with its own key. response() reads the id of
-- every hold created into its thread's queue and request() captures the oldest queued hold before
-- it creates another, so each connection alternates hold and capture and no hold waits for more
-- than a request. Only the holds in flight when the run stops stay uncaptured (the harness voids
-- them). `captured` counts the captures that succeeded: one transfer moved each.

local mode, data, run_id, thread_total
local counter = 0
statuses = {}
replayed = 0
captured = 0
-- hold_capture: ids of this thread's holds waiting for their capture, first in first out.
local to_capture, first_queued, next_queued = {}, 1, 1

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  mode, run_id, thread_total = args[1], args[3], tonumber(args[4])
  data = dofile(args[2])
  math.randomseed(os.time() * 1009 + thread_number * 7919)
  headers = {
    ["Authorization"] = "Bearer " .. data.api_key,
    ["Content-Type"] = "application/json",
  }
  if data.batch_size then
    -- One thread per connection, each with its own slice of accounts: concurrent batches of
    -- different clients, which do not wait for each other's locks.
    local per = math.floor(#data.accounts / thread_total)
    slice = {}
    for i = (thread_number - 1) * per + 1, thread_number * per do table.insert(slice, data.accounts[i]) end
  end
end

local function pair(list)
  local n = #list
  local a = math.random(n)
  local b = math.random(n - 1)
  if b >= a then b = b + 1 end
  return list[a], list[b]
end

local function transfer_json(list)
  local source, destination = pair(list)
  return string.format('{"source_account_id":"%s","destination_account_id":"%s","amount":%d}',
                       source, destination, math.random(100))
end

local function post(path, body, key)
  if key then headers["Idempotency-Key"] = key else headers["Idempotency-Key"] = nil end
  return wrk.format("POST", path, headers, body)
end

function request()
  counter = counter + 1
  local key = run_id .. "-" .. thread_number .. "-" .. counter
  if mode == "transfers" or mode == "contended" then
    return post("/api/v1/transfers", transfer_json(data.accounts), key)
  elseif mode == "topup" or mode == "spend" then
    local body = string.format('{"user_id":"%s","amount":%d,"currency":"USD","reference_id":"%s"}',
                               data.users[math.random(#data.users)], math.random(100), key)
    return post("/api/v1/wallets/" .. mode, body, nil)
  elseif mode == "pay" then
    -- A fresh order per request: thread t takes orders t, t+T, t+2T... of this run's list.
    local index = thread_number + (counter - 1) * thread_total
    local order = data.orders[(index - 1) % #data.orders + 1]
    headers["X-Provider-Simulate"] = "success"
    return post("/api/v1/orders/" .. order .. "/pay", "{}", key)
  elseif mode == "replay" then
    return post(data.path, data.body, data.key)
  elseif mode == "healthz" then
    -- The framework's floor: no credentials, no body, no database.
    return wrk.format("GET", "/healthz", {})
  elseif mode == "statement" then
    headers["Idempotency-Key"] = nil
    return wrk.format("GET", data.path, headers)
  elseif mode == "hold_capture" then
    if first_queued < next_queued then
      local hold = to_capture[first_queued]
      to_capture[first_queued] = nil
      first_queued = first_queued + 1
      return post("/api/v1/holds/" .. hold .. "/capture", "{}", key)
    end
    return post("/api/v1/holds", transfer_json(data.accounts), key)
  elseif mode == "batch" then
    local items = {}
    for i = 1, data.batch_size do items[i] = transfer_json(slice) end
    return post("/api/v1/transfers/batch", '{"transfers":[' .. table.concat(items, ",") .. ']}', key)
  end
  error("unknown mode " .. tostring(mode))
end

function response(status, response_headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if response_headers["Idempotent-Replayed"] or response_headers["idempotent-replayed"] then
    replayed = replayed + 1
  end
  if mode == "hold_capture" and status == 201 then
    -- A hold is {"id":...,...}; a capture is {"hold":{...},"transfer":{...}}.
    local hold = string.match(body, '^%s*{%s*"id"%s*:%s*"([^"]+)"')
    if hold then
      to_capture[next_queued] = hold
      next_queued = next_queued + 1
    elseif string.find(body, '^%s*{%s*"hold"%s*:') then
      captured = captured + 1
    end
  end
end

function done(summary, latency, requests)
  local by_status, replays, captures = {}, 0, 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      by_status[status] = (by_status[status] or 0) + count
    end
    replays = replays + thread:get("replayed")
    captures = captures + thread:get("captured")
  end
  local parts = {}
  for status, count in pairs(by_status) do table.insert(parts, string.format('"%d":%d', status, count)) end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,' ..
    '"max_us":%d,"statuses":{%s},"replayed":%d,"captured":%d,"socket_errors":{"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d},"status_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max, table.concat(parts, ","), replays, captures,
    e.connect, e.read, e.write, e.timeout, e.status))
end
