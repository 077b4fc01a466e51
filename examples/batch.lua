-- batch.lua -- fan out N workers, wait until all are ready, wait until all
-- have exited, and exit with the worst exit code: the way a host launches
-- procs and awaits them.  WORKERS sets N.  Every third worker fails with
-- code 3.  Codes tend uses for itself (2: the policy did not load, 70: the
-- watchdog) are never passed on: a worker's 2 or 70 makes the batch exit 1,
-- so the caller cannot mistake a failed worker for a broken policy.

local n = tonumber(os.getenv("WORKERS")) or 8

tend.task(function()
  local workers = {}
  for i = 1, n do
    workers[i] = tend.spawn {
      name = "worker-" .. i,
      cmd = { "sh", "-c", "echo \"worker $0 working\"; exit $(( $0 % 3 == 0 ? 3 : 0 ))", tostring(i) },
      restart = "never",
    }
  end
  for _, w in ipairs(workers) do w:ready() end
  tend.log.info("all %d workers started", n)

  local worst = 0
  for _, w in ipairs(workers) do
    local st = w:wait()
    local code = st.state == "stopped" and st.exit_code or 128
    if code > worst then worst = code end
  end
  tend.log.info("all %d workers done; worst exit code %d", n, worst)
  if worst == 2 or worst == 70 then worst = 1 end  -- tend's own codes
  tend.exit(worst)
end)
