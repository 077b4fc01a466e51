-- Unit tests of tend.restart, run by tests/test_lualib.c.
local restart = require "tend.restart"

local function st(state, code, started, ended)
  return { state = state, exit_code = code, started_at = started or 0, ended_at = ended or 1 }
end
local function near(a, b) return a and math.abs(a - b) < 1e-9 end

-- on-failure: not after exit code 0; after any other end
assert(not restart.wants("on-failure", st("stopped", 0)))
assert(restart.wants("on-failure", st("stopped", 3)))
assert(restart.wants("on-failure", { state = "killed", signal = "KILL" }))
assert(restart.wants("on-failure", { state = "failed", reason = "exec" }))
assert(restart.wants("always", st("stopped", 0)))
assert(not restart.wants("never", st("stopped", 1)))

-- the backoff doubles up to its max
local p = restart.new { restart = "always", backoff = { initial = 0.1, max = 1, jitter = 0 },
                        give_up = false }
local want = { 0.1, 0.2, 0.4, 0.8, 1, 1 }
for i, w in ipairs(want) do
  local d = p:decide(st("stopped", 1, i, i + 0.5), i + 0.5)
  assert(near(d, w), ("restart %d: %s, want %s"):format(i, tostring(d), w))
end

-- a stable run starts again from initial
assert(near(p:decide(st("stopped", 1, 0, 100), 100), 0.1))

-- never, and on-failure after success: no restart, no reason
local n = restart.new { restart = "never" }
local d, why = n:decide(st("killed"), 1)
assert(d == nil and why == nil)

-- give_up: the 6th exit within 30 s gives up, and says why
local g = restart.new { restart = "always", backoff = { initial = 0, jitter = 0 },
                        give_up = { restarts = 5, within = 30 } }
for i = 1, 5 do assert(g:decide(st("stopped", 1), 100 + i) ~= nil, i) end
d, why = g:decide(st("stopped", 1), 106)
assert(d == nil and why == "5 restarts within 30s", why)

-- the give-up window slides: exits 6 s apart never make three within 10 s
local w = restart.new { restart = "always", backoff = { initial = 0 },
                        give_up = { restarts = 2, within = 10 } }
for i = 0, 19 do assert(w:decide(st("stopped", 1), 100 + 6 * i) ~= nil, i) end
assert(w:decide(st("stopped", 1), 219) ~= nil)   -- 208 is 11 s before
assert(w:decide(st("stopped", 1), 220) == nil)   -- 214, 219, 220

-- bad declarations are errors
assert(not pcall(restart.new, { restart = "sometimes" }))
assert(not pcall(restart.new, { give_up = { restarts = 1 } }))
