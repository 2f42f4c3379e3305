-- accounts.lua: Accounts. Reads a page of the accounts of a subtree.
--
-- ARGV: prefix, root account ID, after ("" for the start), limit.
-- Returns each account's hash as a flat list, in ascending ID order.

local P = ARGV[1]
local start = "-"
if ARGV[3] ~= "" then start = "(" .. ARGV[3] end
local out = {}
for _, id in ipairs(redis.call("ZRANGEBYLEX", P .. "a:" .. ARGV[2] .. ":accounts", start, "+", "LIMIT", 0, tonumber(ARGV[4]))) do
  out[#out + 1] = redis.call("HGETALL", P .. "a:" .. id)
end
return out
