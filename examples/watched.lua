-- watched.lua -- a service watched by a Lua task: every INTERVAL seconds
-- the task runs a check command (without blocking the supervisor); after
-- 2 failed checks in a row it restarts the service.  Here the "service"
-- writes a heartbeat file and the check reads it; the service stops
-- beating after a while to show the restart.

local interval = tonumber(os.getenv("INTERVAL")) or 2
local beat = os.getenv("BEAT_FILE") or "/tmp/tend-watched.beat"

local svc = tend.proc {
  name = "svc",
  cmd = { "sh", "-c", "i=0; while [ $i -lt 3 ]; do date +%s > \"$BEAT\"; i=$((i+1)); sleep 0.2; done;"
                     .. " rm -f \"$BEAT\"; echo 'svc: hung'; exec sleep 100000" },
  env = { BEAT = beat },
  restart = "always",
}

tend.task(function()
  local failures = 0
  while true do
    tend.sleep(interval)
    local code = tend.exec({ "test", "-f", beat }, { timeout = 1 })
    if code == 0 then
      failures = 0
    else
      failures = failures + 1
      tend.log.warn("svc: check failed (%d in a row)", failures)
      if failures >= 2 then
        local st = svc:restart()
        tend.log.info("svc: restarted, now %s (incarnation %d)", st.state, st.incarnation)
        failures = 0
      end
    end
  end
end)
