-- tend.backoff -- restart delays that grow after quick failures and reset
-- after a stable run.  The arithmetic of the `backoff` declaration field,
-- for restart functions that want the same pacing.
--
--   local backoff = require "tend.backoff"
--   local b = backoff.new { initial = 1, factor = 2, max = 60 }
--   tend.proc { name = "worker", cmd = { "./worker" },
--     restart = function(proc, status)
--       if status.exit_code == 0 then return false end
--       return b:next(status)
--     end }

local M = {}

-- The defaults of SPEC 3.  M.defaults is a copy for reading: changing it
-- changes nothing.
local defaults = { initial = 0.1, factor = 2, max = 30, jitter = 0.1, reset_after = 60 }
M.defaults = {}
for k, v in pairs(defaults) do M.defaults[k] = v end

local function merged(opts)
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  for k, v in pairs(opts or {}) do
    if defaults[k] == nil then
      error("tend.backoff: unknown option '" .. tostring(k) .. "'", 3)
    end
    if type(v) ~= "number" or v < 0 then
      error("tend.backoff: option '" .. k .. "' must be a number >= 0", 3)
    end
    o[k] = v
  end
  if o.factor < 1 then error("tend.backoff: factor must be >= 1", 3) end
  if o.jitter > 1 then error("tend.backoff: jitter must be a fraction <= 1", 3) end
  return o
end

-- The delay before attempt number `attempt` (0 for the first restart):
-- initial * factor^attempt, at most max, then moved by up to ±jitter of
-- itself; `rnd` in [-1, 1] picks where (default: random).
function M.delay(opts, attempt, rnd)
  local o = merged(opts)
  local d = o.initial * o.factor ^ attempt
  if d > o.max or d ~= d then d = o.max end
  rnd = rnd or (math.random() * 2 - 1)
  d = d + d * o.jitter * rnd
  return d < 0 and 0 or d
end

local Backoff = {}
Backoff.__index = Backoff

-- A backoff that remembers its attempts.
function M.new(opts)
  return setmetatable({ opts = merged(opts), attempt = 0 }, Backoff)
end

-- The delay for the next restart after `status` (a terminal status): a
-- run of reset_after seconds or more starts again from `initial`.
function Backoff:next(status, rnd)
  local o = self.opts
  if status and status.started_at and status.ended_at
     and status.ended_at - status.started_at >= o.reset_after then
    self.attempt = 0
  end
  local d = M.delay(o, self.attempt, rnd)
  if o.initial * o.factor ^ self.attempt < o.max then
    self.attempt = self.attempt + 1
  end
  return d
end

function Backoff:reset()
  self.attempt = 0
end

return M
