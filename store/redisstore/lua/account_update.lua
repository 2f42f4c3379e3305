-- account_update.lua: UpdateAccount. A versioned write of an account's
-- own fields (never its ID, parent or ancestors) with its event.
--
-- ARGV: prefix, account ID, the version it was read at, the event, the
-- record of the fields to write (its version already the next one).

local id, expected = take(), take()
local ev = takeEvent()
local s, e = record()
local key = P .. "a:" .. id
local v = redis.call("HGET", key, "version")
if not v then return fail("NOTFOUND", "account") end
if v ~= expected then return fail("CONFLICT", "account") end
if eventExists(ev[1]) then return fail("DUPID", "event") end
redis.call("HSET", key, unpack(ARGV, s, e))
writeEvent(ev)
return 1
