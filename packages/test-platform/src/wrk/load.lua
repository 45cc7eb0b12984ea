-- The wrk script of wrk.ts: sends WRK_BODY_FILE's bytes (if set) with WRK_METHOD and the command
-- line's headers; when WRK_UNIQUE_HEADER names a header, every request carries a value of it that no
-- other request of the run has. done() prints the figures as one JSON line for wrk.ts to read.
local method = os.getenv("WRK_METHOD")
if method and method ~= "" then wrk.method = method end

local body_file = os.getenv("WRK_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
end

local unique = os.getenv("WRK_UNIQUE_HEADER")
local prefix = (os.getenv("WRK_UNIQUE_PREFIX") or "wrk") .. "-"
local sent = 0

if unique and unique ~= "" then
  request = function()
    sent = sent + 1
    wrk.headers[unique] = prefix .. sent
    return wrk.format()
  end
end

done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"maxUs":%d,"non2xx3xx":%d,"socketErrors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write, e.timeout))
end
