-- group_update.lua: UpdateGroup. A versioned write of a group with its
-- event; the group stays in its account, and a live group's name key must
-- not be another live group's.
--
-- ARGV: prefix, the version it was read at, the event, the group's record
-- (1 id, 2 account, ignored, 3 name key, 4 deleted; its version already
-- the next one).

local expected = take()
local ev = takeEvent()
local s, e = record()
local id, nameKey, deleted = val(s, 1), val(s, 3), val(s, 4) == "1"
local key = P .. "g:" .. id
local f = redis.call("HMGET", key, "version", "account", "namekey")
if not f[1] then return fail("NOTFOUND", "group") end
if f[1] ~= expected then return fail("CONFLICT", "group") end
if eventExists(ev[1]) then return fail("DUPID", "event") end
local account = f[2]
local names = P .. "a:" .. account .. ":groupnames"
local holder = redis.call("HGET", names, nameKey)
if holder and holder ~= id and not deleted then return fail("DUPNAME", "group") end
if redis.call("HGET", names, f[3]) == id then redis.call("HDEL", names, f[3]) end
if not deleted then redis.call("HSET", names, nameKey, id) end
redis.call("HSET", key, unpack(ARGV, s, e))
redis.call("HSET", key, "account", account)
writeEvent(ev)
return 1
