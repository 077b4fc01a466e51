-- rolling.lua -- N replicas and a rolling restart: one at a time, each
-- replaced and its replacement ready before the next goes.  Here the
-- rolling restart runs once, ROLL_AFTER seconds after start; in real use a
-- hook or a signal would trigger it.

local n = tonumber(os.getenv("REPLICAS")) or 3
local after = tonumber(os.getenv("ROLL_AFTER")) or 5

local replicas = {}
for i = 1, n do
  replicas[i] = tend.proc {
    name = "replica-" .. i,
    cmd = { "sh", "-c", "echo \"replica $TEND_PROC generation $TEND_INCARNATION up\"; exec sleep 100000" },
    restart = "always",
  }
end

tend.task(function()
  tend.sleep(after)
  for _, r in ipairs(replicas) do
    local old = r:pid()
    local st = r:restart()   -- stop, start, wait until ready
    if st.state ~= "ready" then
      tend.log.error("%s did not come back (%s); stopping the roll", r.name, st.state)
      return
    end
    tend.log.info("%s replaced: pid %d -> %d", r.name, old, r:pid())
  end
  tend.log.info("rolling restart done")
end)
