-- requeue.lua: RequeueMessage. Makes a dead message pending again, due at
-- due, with no attempts counted; its last error stays.
--
-- ARGV: prefix, message ID, due.

local id, due = take(), take()
local key = P .. "m:" .. id
local state = redis.call("HGET", key, "state")
if not state then return fail("NOTFOUND", "message") end
if state ~= "dead" then return fail("CONFLICT", "message") end
zset(P .. "outbox:dead", id, false)
redis.call("HSET", key, "state", "pending", "due", due, "attempts", "0", "dead", "00000000000000000000")
indexMessage(id, "pending", due)
return 1
