-- access.lua: UserAccess. Reads a user and the version of each live group
-- it belongs to, in one round trip.
--
-- ARGV: prefix, user ID. Returns {} for an unknown user, else {the user's
-- record, then group ID and version for each live group}.

local P = ARGV[1]
local f = redis.call("HMGET", P .. "u:" .. ARGV[2], "rec", "groups")
if not f[1] then return {} end
local out = {f[1]}
if f[2] and f[2] ~= "" then
  for _, g in ipairs(cjson.decode(f[2])) do
    local v = redis.call("HMGET", P .. "g:" .. g, "version", "deleted")
    if v[1] and v[2] ~= "1" then
      out[#out + 1] = g
      out[#out + 1] = v[1]
    end
  end
end
return out
