-- wrk: one point per request, as Python dreamlake's track.append sends it.
wrk.method = "POST"
wrk.path = os.getenv("DREAMLAKE_APPEND_PATH")
wrk.body = '{"data": {"value": 0.5, "step": 1}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("DREAMLAKE_TOKEN")

-- Any answer but 200 is counted by wrk as an error ("Non-2xx or 3xx responses").

-- Bounded in count as well as in time: each thread stops after this many answers.
local max = tonumber(os.getenv("DREAMLAKE_MAX_REQUESTS") or "1000000")
local answered = 0
function response(status, headers, body)
  answered = answered + 1
  if answered >= max then wrk.thread:stop() end
end
