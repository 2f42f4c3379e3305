-- message_finish.lua: FinishMessage. Records a delivery attempt of a
-- message whose lease the caller still holds: sent deletes it, dead
-- dead-letters it, anything else makes it due again.
--
-- ARGV: prefix, message ID, owner, state, at, due, error.

local id, owner, state, at, due, err = take(), take(), take(), take(), take(), take()
local key = P .. "m:" .. id
local f = redis.call("HMGET", key, "state", "owner", "until", "due")
if not f[1] then return fail("NOTFOUND", "message") end
if f[1] ~= "pending" or f[2] ~= owner or not lt(at, f[3]) then return fail("CONFLICT", "message") end
zset(P .. "outbox:due", f[4] .. ":" .. id, false)
zset(P .. "outbox:pending", id, false)
if state == "sent" then
  redis.call("DEL", key)
  return 1
end
if state == "dead" then
  redis.call("HSET", key, "state", "dead", "dead", at)
else
  state = "pending"
  redis.call("HSET", key, "due", due)
end
redis.call("HSET", key, "error", err, "owner", "", "until", "00000000000000000000")
indexMessage(id, state, due)
return 1
