-- replicas.lua -- N copies of a worker from one declaration, a proc that
-- starts once every copy is ready, and a task that adds workers later.
--
-- `replicas = 3` declares worker@1, worker@2 and worker@3; each finds its
-- number in $TEND_REPLICA (here it picks a port with it) and its name in
-- $TEND_PROC.  From a shell, while it runs:
--   tend status worker        every replica
--   tend stop worker@2        just that one
--   tend scale worker 5       two more (worker@4, worker@5); back to 2
--                             stops the highest-numbered ones
-- A reload with another `replicas` does the same and leaves the replicas
-- that stay running untouched.

local n = tonumber(os.getenv("WORKERS")) or 3
local grow_to = tonumber(os.getenv("GROW_TO")) or 5
local grow_after = tonumber(os.getenv("GROW_AFTER")) or 10

local workers = tend.proc {
  name = "worker",
  replicas = n,
  cmd = { "sh", "-c",
          'echo "worker $TEND_REPLICA listening on port $((9000 + TEND_REPLICA))"; exec sleep 100000' },
}

tend.proc {
  name = "dispatcher",
  after = { "worker" },   -- every replica ready, not just one
  cmd = { "sh", "-c", "echo dispatching to the workers; exec sleep 100000" },
}

tend.task(function()
  tend.sleep(grow_after)
  local ok, err = workers:scale(grow_to)   -- returns once the new ones are ready
  if not ok then
    tend.log.error("scaling the workers: %s", err)
    return
  end
  local names = {}
  for _, w in ipairs(workers:procs()) do
    names[#names + 1] = w.name
  end
  tend.log.info("%d workers: %s", #workers, table.concat(names, " "))
end)
