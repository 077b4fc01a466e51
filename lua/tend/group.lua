-- tend.group -- restart strategies for groups of procs, after Erlang/OTP.
--
-- Each member keeps its own restart policy for itself; a group adds what
-- happens to the *other* members when one ends unexpectedly (an exit that
-- was not a stop on purpose):
--
--   one_for_one   nothing: each member restarts on its own
--   one_for_all   every other member is restarted too
--   rest_for_one  the members declared after it are restarted too
--
--   local group = require "tend.group"
--   group.one_for_all { db, cache, web }
--
-- opts (a `within` window and a `restarts` limit): when the group restarts
-- more than `restarts` times within `within` seconds it gives up: every
-- member is stopped and the `on_give_up` function, if any, is called with
-- the group.

local M = {}

local Group = {}
Group.__index = Group

local function check_members(members, fname)
  if type(members) ~= "table" or #members == 0 then
    error(fname .. ": a list of procs expected", 3)
  end
  for i, p in ipairs(members) do
    if type(p) ~= "userdata" or not pcall(function() return p.name end) then
      error(fname .. ": item " .. i .. " is not a proc", 3)
    end
  end
end

-- Members that must be restarted when members[i] ends, by strategy.
local strategies = {
  one_for_one = function(members, i) return {} end,
  one_for_all = function(members, i)
    local out = {}
    for j, p in ipairs(members) do if j ~= i then out[#out + 1] = p end end
    return out
  end,
  rest_for_one = function(members, i)
    local out = {}
    for j = i + 1, #members do out[#out + 1] = members[j] end
    return out
  end,
}

M.strategies = strategies

-- The procs a strategy restarts when member i ends (for tests and tools).
function M.affected(strategy, members, i)
  local f = strategies[strategy]
  if not f then error("tend.group: unknown strategy '" .. tostring(strategy) .. "'", 2) end
  return f(members, i)
end

-- Whether one more restart at `now` exceeds `restarts` within `within`.
function M.too_many(history, now, restarts, within)
  history[#history + 1] = now
  while #history > 0 and now - history[1] > within do table.remove(history, 1) end
  return restarts ~= nil and #history > restarts
end

local function new(strategy, fname, members, opts)
  check_members(members, fname)
  opts = opts or {}
  local g = setmetatable({ strategy = strategy, members = members,
                           restarts = opts.restarts, within = opts.within or 5,
                           on_give_up = opts.on_give_up, history = {},
                           busy = false, gave_up = false }, Group)
  for i, p in ipairs(members) do
    p:on("*", function(proc, status)
      if g.busy or g.gave_up then return end
      if status.state ~= "stopped" and status.state ~= "killed" and status.state ~= "failed" then
        return
      end
      if status.want == "down" and not status.gave_up then return end  -- stopped on purpose
      local others = strategies[strategy](members, i)
      if #others == 0 then return end
      if M.too_many(g.history, tend.now(), g.restarts, g.within) then
        g:give_up()
        return
      end
      g.busy = true
      tend.log.warn("group: %s ended; %s restarts %d other member(s)",
                    proc.name, strategy, #others)
      for _, o in ipairs(others) do o:restart() end
      g.busy = false
    end)
  end
  return g
end

-- Stop every member and call on_give_up.
function Group:give_up()
  self.gave_up = true
  tend.log.error("group: more than %s restarts within %gs; stopping the group",
                 tostring(self.restarts), self.within)
  for _, p in ipairs(self.members) do p:stop() end
  if self.on_give_up then self.on_give_up(self) end
end

function M.one_for_one(members, opts) return new("one_for_one", "tend.group.one_for_one", members, opts) end
function M.one_for_all(members, opts) return new("one_for_all", "tend.group.one_for_all", members, opts) end
function M.rest_for_one(members, opts) return new("rest_for_one", "tend.group.rest_for_one", members, opts) end

return M
