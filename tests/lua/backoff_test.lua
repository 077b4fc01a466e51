-- Unit tests of tend.backoff, run by tests/test_lualib.c.
local backoff = require "tend.backoff"

local function near(a, b) return math.abs(a - b) < 1e-9 end

-- initial * factor^attempt, capped at max
local o = { initial = 0.1, factor = 2, max = 1, jitter = 0 }
local want = { 0.1, 0.2, 0.4, 0.8, 1, 1 }
for i, w in ipairs(want) do
  assert(near(backoff.delay(o, i - 1, 0), w), "attempt " .. (i - 1))
end

-- jitter moves the delay by at most its fraction
local j = { initial = 1, factor = 1, jitter = 0.1 }
assert(near(backoff.delay(j, 0, 1), 1.1))
assert(near(backoff.delay(j, 0, -1), 0.9))
for _ = 1, 100 do
  local d = backoff.delay(j, 0)
  assert(d >= 0.9 - 1e-9 and d <= 1.1 + 1e-9, d)
end

-- the defaults are SPEC 3's
assert(near(backoff.delay({}, 0, 0), 0.1))
assert(near(backoff.delay({}, 100, 0), 30))

-- an object counts attempts and resets after a stable run
local b = backoff.new { initial = 1, factor = 3, max = 100, jitter = 0, reset_after = 10 }
local quick = { started_at = 0, ended_at = 1 }
assert(near(b:next(quick, 0), 1))
assert(near(b:next(quick, 0), 3))
assert(near(b:next(quick, 0), 9))
assert(near(b:next({ started_at = 0, ended_at = 10 }, 0), 1))
assert(near(b:next(quick, 0), 3))
b:reset()
assert(near(b:next(quick, 0), 1))

-- the cap stops the exponent: no overflow after many attempts
local c = backoff.new { initial = 1, factor = 10, max = 5, jitter = 0 }
for _ = 1, 1000 do assert(c:next(quick, 0) <= 5) end

-- bad options are errors that say which
local ok, err = pcall(backoff.new, { inital = 1 })
assert(not ok and err:find("unknown option 'inital'"), err)
ok, err = pcall(backoff.new, { factor = 0.5 })
assert(not ok and err:find("factor"), err)
