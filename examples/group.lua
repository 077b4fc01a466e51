-- group.lua -- three procs that only work together: when one of them dies,
-- the others are restarted too (Erlang/OTP's one_for_all).  More than 3
-- group restarts within 10 s stop the group and tend.

local group = require "tend.group"

local queue = tend.proc { name = "queue", cmd = { "sh", "-c", "echo queue up; exec sleep 100000" },
                          restart = "always" }
local worker = tend.proc { name = "worker", cmd = { "sh", "-c", "echo worker up; exec sleep 100000" },
                           restart = "always", after = { queue } }
local api = tend.proc { name = "api", cmd = { "sh", "-c", "echo api up; exec sleep 100000" },
                        restart = "always", after = { worker } }

group.one_for_all({ queue, worker, api }, {
  restarts = 3, within = 10,
  on_give_up = function() tend.exit(1) end,
})
