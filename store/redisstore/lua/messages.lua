-- messages.lua: Messages. Reads a page of the messages in one state.
--
-- ARGV: prefix, state index key, after ("" for the start), limit.
-- Returns each message's hash as a flat list, in ascending ID order.

local P = ARGV[1]
local start = "-"
if ARGV[3] ~= "" then start = "(" .. ARGV[3] end
local out = {}
for _, id in ipairs(redis.call("ZRANGEBYLEX", ARGV[2], start, "+", "LIMIT", 0, tonumber(ARGV[4]))) do
  out[#out + 1] = redis.call("HGETALL", P .. "m:" .. id)
end
return out
