-- group_create.lua: CreateGroup. Stores a new group and its event; a live
-- group's name key must be free in its account.
--
-- ARGV: prefix, the event, the group's record (1 id, 2 account, 3 name
-- key, 4 deleted "1" or "0").

local ev = takeEvent()
local s, e = record()
local id, account, nameKey, deleted = val(s, 1), val(s, 2), val(s, 3), val(s, 4) == "1"
local names = P .. "a:" .. account .. ":groupnames"
if redis.call("EXISTS", P .. "a:" .. account) == 0 then return fail("NOTFOUND", "account") end
if redis.call("EXISTS", P .. "g:" .. id) == 1 then return fail("DUPID", "group") end
if eventExists(ev[1]) then return fail("DUPID", "event") end
if not deleted and redis.call("HEXISTS", names, nameKey) == 1 then return fail("DUPNAME", "group") end
redis.call("HSET", P .. "g:" .. id, unpack(ARGV, s, e))
zset(P .. "a:" .. account .. ":groups", id, true)
if not deleted then redis.call("HSET", names, nameKey, id) end
writeEvent(ev)
return 1
