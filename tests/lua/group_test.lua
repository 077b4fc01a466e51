-- Unit tests of tend.group's strategy arithmetic, run by tests/test_lualib.c.
local group = require "tend.group"

local m = { "a", "b", "c", "d" }
local function names(t) return table.concat(t, ",") end

assert(names(group.affected("one_for_one", m, 2)) == "")
assert(names(group.affected("one_for_all", m, 2)) == "a,c,d")
assert(names(group.affected("rest_for_one", m, 2)) == "c,d")
assert(names(group.affected("rest_for_one", m, 4)) == "")
assert(names(group.affected("one_for_all", m, 1)) == "b,c,d")
assert(not pcall(group.affected, "all_for_none", m, 1))

-- restart intensity: more than `restarts` within `within` seconds
local h = {}
assert(not group.too_many(h, 0, 2, 5))
assert(not group.too_many(h, 1, 2, 5))
assert(group.too_many(h, 2, 2, 5))        -- the third within 5 s
local h2 = {}
for t = 0, 60, 3 do assert(not group.too_many(h2, t, 2, 5), t) end  -- 3 s apart
assert(not group.too_many({}, 0, nil, 5)) -- no limit

-- members must be procs
local ok, err = pcall(group.one_for_all, { "web" })
assert(not ok and err:find("not a proc"), err)
ok, err = pcall(group.one_for_all, {})
assert(not ok and err:find("list of procs"), err)
