-- claim.lua: ClaimMessages. Walks the pending messages in order of due
-- time up to now and leases those whose lease lapsed (or that have none),
-- at most limit of them.
--
-- ARGV: prefix, owner, now, the first time after now, lease until, limit.
-- Returns the claimed messages' hashes as flat lists, oldest due first.

local owner, now, after, leaseUntil, limit = take(), take(), take(), take(), tonumber(take())
local claimed, start = {}, "-"
while #claimed < limit do
  local batch = redis.call("ZRANGEBYLEX", P .. "outbox:due", start, "(" .. after, "LIMIT", 0, 100)
  for _, member in ipairs(batch) do
    local key = P .. "m:" .. string.sub(member, 22)
    if not lt(now, redis.call("HGET", key, "until")) then
      redis.call("HSET", key, "owner", owner, "until", leaseUntil)
      redis.call("HINCRBY", key, "attempts", 1)
      claimed[#claimed + 1] = redis.call("HGETALL", key)
      if #claimed >= limit then break end
    end
  end
  if #batch < 100 then break end
  start = "(" .. batch[#batch]
end
return claimed
