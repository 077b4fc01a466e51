-- crashloop.lua -- a program that keeps crashing: restarts slow down
-- (backoff) and stop after too many (give_up).  With give_up, the last exit
-- stays as it was, `want` becomes "down" and `gave_up` says why; tend then
-- exits 1 because the proc did not end well.
--
-- CRASH_DELAY sets the first restart delay (the tests use a short one).

local delay = tonumber(os.getenv("CRASH_DELAY")) or 0.5

local flaky = tend.proc {
  name = "flaky",
  cmd = { "sh", "-c", "echo \"attempt $TEND_INCARNATION\"; echo 'cannot connect' >&2; exit 3" },
  restart = "on-failure",
  backoff = { initial = delay, factor = 2, max = 8 * delay, jitter = 0.1 },
  give_up = { restarts = 4, within = 60 },
}

flaky:on("stopped", function(proc, status)
  if status.restart_at then
    tend.log.info("%s: attempt %d failed; next in %.2fs", proc.name,
                  status.incarnation, status.restart_at - status.ended_at)
  end
end)

flaky:on("gave_up", function(proc, status)
  tend.log.error("%s gave up (%s); last words: %s", proc.name, status.gave_up,
                 status.tail)
end)
