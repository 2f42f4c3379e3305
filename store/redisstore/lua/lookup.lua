-- lookup.lua: UserByEmail and UserByToken. Reads the user an index key
-- points at, in one round trip.
--
-- ARGV: prefix, the index key (without the prefix). Returns the user's
-- record, or nil when the key or the user is missing.

local id = redis.call("GET", ARGV[1] .. ARGV[2])
if not id then return nil end
return redis.call("HGET", ARGV[1] .. "u:" .. id, "rec")
