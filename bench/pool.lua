-- wrk script: signed Twilio webhooks, each request the next line of a pool file.
--
-- bench/run.py writes the pool: one request per line, "method<TAB>path<TAB>signature<TAB>body",
-- every body with its own CallSid/MessageSid and its X-Twilio-Signature computed in Python with
-- twilio's RequestValidator (LuaJIT has no HMAC). Environment:
--   POOL=<file>        the pool (required)
--   POOL_ONCE=1        stop a thread when its share of the pool is used up (the soak), rather
--                      than wrap around
--   COUNT_STATUS=1     count responses by status class (slower: wrk then parses responses)
-- done() prints one JSON line: requests, sent, errors, latency percentiles (µs), statuses.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local pool = {}
local position, stride = 0, 1
-- Globals, so done() can read them from each thread with thread:get().
sent = 0
exhausted = false
statuses = { s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0 }
local once = os.getenv("POOL_ONCE") == "1"

function init(args)
  stride = tonumber(os.getenv("POOL_THREADS") or "1")
  for line in io.lines(os.getenv("POOL")) do
    local method, path, signature, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if method then
      local headers = {}
      if method == "POST" then
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["X-Twilio-Signature"] = signature
      else
        body = nil
      end
      -- Formatted once here, so wrk spends as little CPU per request as for a static one.
      pool[#pool + 1] = wrk.format(method, path, headers, body)
    end
  end
  position = tid + 1  -- this thread takes lines tid+1, tid+1+stride, ...
  if os.getenv("COUNT_STATUS") ~= "1" then
    response = nil
  end
end

function request()
  if position > #pool then
    if once then
      -- Never resend a SID: stop, and meanwhile ask for something harmless and uncounted.
      exhausted = true
      wrk.thread:stop()
      return wrk.format("GET", "/healthz")
    end
    position = tid + 1
  end
  local item = pool[position]
  position = position + stride
  sent = sent + 1
  return item
end

function response(status, headers, body)
  if status >= 500 then
    statuses.s5xx = statuses.s5xx + 1
  elseif status >= 400 then
    statuses.s4xx = statuses.s4xx + 1
  elseif status >= 300 then
    statuses.s3xx = statuses.s3xx + 1
  else
    statuses.s2xx = statuses.s2xx + 1
  end
end

function done(summary, latency, requests)
  local total_sent, any_exhausted = 0, false
  local counted = { s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0 }
  for _, thread in ipairs(threads) do
    total_sent = total_sent + (thread:get("sent") or 0)
    any_exhausted = any_exhausted or thread:get("exhausted")
    local s = thread:get("statuses")
    if s then
      for key, value in pairs(s) do
        counted[key] = counted[key] + value
      end
    end
  end
  local e = summary.errors
  io.write(string.format(
    '{"duration_us": %d, "requests": %d, "sent": %d, "errors": {"connect": %d, "read": %d, '
      .. '"write": %d, "status": %d, "timeout": %d}, "latency_us": {"p50": %d, "p90": %d, '
      .. '"p99": %d, "max": %d, "mean": %.1f}, "statuses": {"2xx": %d, "3xx": %d, "4xx": %d, '
      .. '"5xx": %d}, "exhausted": %s}\n',
    summary.duration, summary.requests, total_sent, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, counted.s2xx, counted.s3xx, counted.s4xx, counted.s5xx,
    tostring(any_exhausted)))
end
