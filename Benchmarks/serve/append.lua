-- wrk: one point per request, as Python dreamlake's track.append sends it.
wrk.method = "POST"
wrk.path = os.getenv("DREAMLAKE_APPEND_PATH")
wrk.body = '{"data": {"value": 0.5, "step": 1}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("DREAMLAKE_TOKEN")

-- Any answer but 200 is counted by wrk as an error ("Non-2xx or 3xx responses").
