-- activity.lua: RecordActivity. Moves an Active user's last activity to at
-- when it is before ifBefore. No audit event: activity is not a change.
--
-- ARGV: prefix, user ID, at, ifBefore. Returns 1 when written, else 0.

local id, at, ifBefore = take(), take(), take()
local key = P .. "u:" .. id
local f = redis.call("HMGET", key, "status", "active")
if not f[1] then return fail("NOTFOUND", "user") end
if f[1] ~= "active" or not lt(f[2], ifBefore) then return 0 end
local r = loadRec(key)
r.active, r.version = at, incr(r.version)
saveRec(key, r)
zset(P .. "active", f[2] .. ":" .. id, false)
zset(P .. "active", at .. ":" .. id, true)
return 1
