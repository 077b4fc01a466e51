-- tend.restart -- the restart policy of a declaration: whether and when a
-- proc that ended starts again.  tend asks it for every terminal status of
-- a proc declared with restart = "always", "on-failure" or "never" (and,
-- for a restart function that raises, as "on-failure").
--
--   local restart = require "tend.restart"
--   local policy = restart.new { restart = "on-failure",
--                                backoff = { initial = 1, max = 60 },
--                                give_up = { restarts = 5, within = 30 } }
--   policy:decide(status, tend.now())  --> seconds | nil, why it gave up

local backoff = require "tend.backoff"

local M = {}

local modes = { always = true, ["on-failure"] = true, never = true }

-- Whether `mode` asks for a restart after the terminal `status`.
function M.wants(mode, status)
  if mode == "always" then return true end
  if mode == "on-failure" then
    return not (status.state == "stopped" and status.exit_code == 0)
  end
  return false
end

local Policy = {}
Policy.__index = Policy

-- A policy for the declaration fields restart (a mode), backoff and
-- give_up ({ restarts = N, within = SECONDS }).
function M.new(decl)
  local mode = decl.restart or "on-failure"
  if not modes[mode] then
    error("tend.restart: restart must be \"always\", \"on-failure\" or \"never\"", 2)
  end
  local g = decl.give_up
  if g ~= nil and (type(g) ~= "table" or type(g.restarts) ~= "number"
                   or type(g.within) ~= "number") then
    error("tend.restart: give_up must be { restarts = N, within = SECONDS }", 2)
  end
  return setmetatable({ mode = mode, backoff = backoff.new(decl.backoff),
                        give_up = g, exits = {} }, Policy)
end

-- Record an exit at `now`; true when more than give_up.restarts exits fall
-- within give_up.within seconds.
function Policy:exhausted(now)
  local g = self.give_up
  if not g then return false end
  local exits = self.exits
  exits[#exits + 1] = now
  while #exits > g.restarts + 1 do table.remove(exits, 1) end
  return #exits == g.restarts + 1 and now - exits[1] <= g.within
end

-- The seconds to wait before the next incarnation after `status`, ended
-- at `now`; or nil, plus why when the policy gives up.
function Policy:decide(status, now)
  if not M.wants(self.mode, status) then return nil end
  if self:exhausted(now) then
    return nil, string.format("%d restarts within %gs", self.give_up.restarts,
                              self.give_up.within)
  end
  return self.backoff:next(status)
end

return M
