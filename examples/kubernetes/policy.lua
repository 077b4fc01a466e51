-- policy.lua -- the policy of the pod in pod.yaml: an API server that
-- starts once its cache is ready, and exits the container when the API
-- gives up, so Kubernetes sees the failure and restarts the pod.

local cache = tend.proc {
  name = "cache",
  cmd = { "redis-server", "--port", "6379", "--save", "" },
  ready = tend.ready.tcp(6379),
  ready_timeout = 30,
}

local api = tend.proc {
  name = "api",
  cmd = { "/app/api", "--listen", ":8080" },
  after = { cache },
  ready = tend.ready.tcp(8080),
  ready_timeout = 60,
  health = { check = tend.ready.exec({ "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/healthz" }),
             interval = 10, timeout = 3, failures = 3 },
  restart = "always",
  backoff = { initial = 1, max = 30 },
  give_up = { restarts = 5, within = 120 },
}

api:on("gave_up", function(proc, status)
  tend.log.error("%s gave up (%s): %s", proc.name, status.gave_up, status.tail)
  tend.exit(1)
end)
