-- memory-cap.lua -- restart a proc whose memory passes a cap, as PM2's
-- max_memory_restart does.  proc:usage() gives what a status shows: its
-- CPU seconds and resident bytes (from its cgroup, or summed over its
-- process group in /proc), or nil while it is not running.
--
-- MEMORY_CAP (bytes) and MEMORY_EVERY (seconds between looks) change the
-- defaults (the tests use a short look).

local cap = tonumber(os.getenv("MEMORY_CAP")) or 64 * 1024 * 1024
local every = tonumber(os.getenv("MEMORY_EVERY")) or 5

-- stands in for a program that leaks: 8 MiB more every second
local leaky = tend.proc {
  name = "leaky",
  cmd = { "perl", "-e", "while (1) { push @leak, 'x' x (8 << 20); sleep 1 }" },
}

tend.task(function()
  while true do
    tend.sleep(every)
    local u = leaky:usage()
    if u and u.memory > cap then
      tend.log.warn("%s: %d MiB, over its cap of %d MiB: restarting", leaky.name,
                    u.memory // 1048576, cap // 1048576)
      leaky:restart()
    end
  end
end)
