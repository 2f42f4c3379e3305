-- list.lua: one step of ListUsers. Examines up to examine members of a
-- sorted set of user IDs after after, and returns the IDs of those that
-- pass the query's filters, at most limit of them. It examines a bounded
-- number of users per call, so that a selective search never blocks Redis
-- for long, and returns IDs only: copying hashes through Lua costs Redis
-- several times what the native reads that follow do.
--
-- ARGV: prefix, set key, after ("" for the start), examine, limit, search
-- term, department, subtree key ("" unless the set is a group's: then a
-- member must also be in this set), the number of statuses, the statuses
-- ("" for all but removed), the number of roles, the roles.
-- Returns {the last member examined ("" when none was), matching IDs...}.

local P, set, after = ARGV[1], ARGV[2], ARGV[3]
local examine, limit, term, dept, subtree = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local i = 9
local statuses, roles = {}, {}
local ns = tonumber(ARGV[i])
for k = 1, ns do statuses[ARGV[i + k]] = true end
i = i + ns + 1
local nr = tonumber(ARGV[i])
for k = 1, nr do roles[ARGV[i + k]] = true end

local start = "-"
if after ~= "" then start = "(" .. after end
local ids = redis.call("ZRANGEBYLEX", set, start, "+", "LIMIT", 0, examine)
local out = {""}
for _, id in ipairs(ids) do
  out[1] = id
  local f = redis.call("HMGET", P .. "u:" .. id, "status", "role", "dept", "search")
  local status = f[1]
  local ok = status and ((ns == 0 and status ~= "removed") or statuses[status])
  ok = ok and (nr == 0 or roles[f[2]])
  ok = ok and (dept == "" or f[3] == dept)
  ok = ok and (term == "" or string.find(f[4], term, 1, true) ~= nil)
  ok = ok and (subtree == "" or redis.call("ZSCORE", subtree, id))
  if ok then
    out[#out + 1] = id
    if #out - 1 >= limit then break end
  end
end
return out
