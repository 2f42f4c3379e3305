-- history.lua: one step of History. Reads up to count event IDs of an
-- index, newest first, before max, and returns their events.
--
-- ARGV: prefix, index key, max ("+" or "(" and an event ID), count.
-- Returns the events' JSON, newest first (false where an event is missing).

local ids = redis.call("ZREVRANGEBYLEX", ARGV[2], ARGV[3], "-", "LIMIT", 0, tonumber(ARGV[4]))
if #ids == 0 then return {} end
return redis.call("HMGET", ARGV[1] .. "events", unpack(ids))
