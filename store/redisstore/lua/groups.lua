-- groups.lua: one step of ListGroups. Examines up to examine groups of an
-- account after after and returns those that match, at most limit.
--
-- ARGV: prefix, account ID, after ("" for the start), examine, limit, "1"
-- to include deleted groups. Returns {the last group examined ("" when
-- none was), then each match's hash as a flat list}.

local P = ARGV[1]
local examine, limit, deleted = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == "1"
local start = "-"
if ARGV[3] ~= "" then start = "(" .. ARGV[3] end
local out = {""}
for _, id in ipairs(redis.call("ZRANGEBYLEX", P .. "a:" .. ARGV[2] .. ":groups", start, "+", "LIMIT", 0, examine)) do
  out[1] = id
  local key = P .. "g:" .. id
  if deleted or redis.call("HGET", key, "deleted") ~= "1" then
    out[#out + 1] = redis.call("HGETALL", key)
    if #out - 1 >= limit then break end
  end
end
return out
