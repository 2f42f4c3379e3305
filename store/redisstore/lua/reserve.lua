-- reserve.lua: ReserveAttempt. Drops the user's leases that lapsed at or
-- before now, then reserves a lease when the user is Active and the
-- failures plus the leases held stay under the limit.
--
-- ARGV: prefix, user ID, limit, now, lease ID, lease until.
-- Returns {0 reserved | 1 full | 2 refused, the user's record}.

local id, limit, now, leaseID, leaseUntil = take(), tonumber(take()), take(), take(), take()
local key = P .. "u:" .. id
local r = loadRec(key)
if not r then return fail("NOTFOUND", "user") end
local leases, live = list(r.leases), {}
for _, l in ipairs(leases) do
  if lt(now, l[2]) then live[#live + 1] = l end
end
local changed = #live ~= #leases
local failed, res = tonumber(r.failed), 0
if r.status ~= "active" or failed >= limit then
  res = 2
elseif failed + #live >= limit then
  res = 1
else
  live[#live + 1] = {leaseID, leaseUntil}
  changed = true
end
if changed then
  r.leases, r.version = encodeList(live), incr(r.version)
  saveRec(key, r)
end
return {res, redis.call("HGET", key, "rec")}
