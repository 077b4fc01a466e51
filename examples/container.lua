-- container.lua -- tend as a container's entrypoint: when a critical proc
-- gives up, tend stops everything and exits non-zero, saying why, so the
-- container runtime sees the failure and can reschedule.

local app = tend.proc {
  name = "app",
  cmd = { "sh", "-c", "echo 'app: starting'; echo 'app: config missing' >&2; exit 78" },
  restart = "on-failure",
  backoff = { initial = tonumber(os.getenv("CRASH_DELAY")) or 0.2, jitter = 0 },
  give_up = { restarts = 2, within = 60 },
}

tend.proc {
  name = "sidecar",
  cmd = { "sh", "-c", "echo 'sidecar: shipping logs'; exec sleep 100000" },
}

app:on("gave_up", function(proc, status)
  tend.log.error("critical proc %s gave up after %d restarts (%s): %s",
                 proc.name, status.restarts, status.gave_up, status.tail)
  tend.exit(3)
end)
