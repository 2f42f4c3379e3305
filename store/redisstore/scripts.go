package redisstore

import "github.com/redis/go-redis/v9"

// Every mutating Store method is one Lua script: Redis runs a script
// without interleaving any other command, and each script checks everything
// that can refuse the write before its first write, so a refusal writes
// nothing and a success writes the change, its indexes and its audit event
// together. With AOF persistence, Redis logs a script's writes as one
// MULTI/EXEC block, so a restart never replays half of one.
//
// Scripts build key names from the prefix they receive (ARGV[1]) instead of
// declaring every key in KEYS: a user's hash, its email key, its account's
// sets and the activity index cannot share one hash slot, which is why
// Redis Cluster is not supported.

// prelude holds the helpers every writing script shares.
const prelude = `
local P = ARGV[1]
local function fail(code, detail) return redis.error_reply("USERMGMT " .. code .. " " .. (detail or "")) end
local function hgetall(key)
  local flat = redis.call("HGETALL", key)
  if #flat == 0 then return nil end
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
local function flatten(t)
  local out = {}
  for k, v in pairs(t) do out[#out + 1] = k; out[#out + 1] = v end
  return out
end
local function pad(nanos) return string.rep("0", 20 - #nanos) .. nanos end
local function activeMember(u) return pad(u.active) .. ":" .. u.id end
local function isActiveAdmin(u) return u.role == "admin" and u.status == "active" end
local function adminsKey(account) return P .. "a:" .. account .. ":admins" end

-- index adds a user's secondary-index entries.
local function index(u)
  if u.status ~= "removed" then redis.call("SET", P .. "email:" .. u.email, u.id) end
  if u.token ~= "" then redis.call("SET", P .. "token:" .. u.token, u.id) end
  if isActiveAdmin(u) then redis.call("SADD", adminsKey(u.account), u.id) end
  if u.status == "active" then redis.call("ZADD", P .. "active", 0, activeMember(u)) end
end

-- unindex removes the entries index added for a former state.
local function unindex(u)
  local ek = P .. "email:" .. u.email
  if redis.call("GET", ek) == u.id then redis.call("DEL", ek) end
  if u.token ~= "" then redis.call("DEL", P .. "token:" .. u.token) end
  redis.call("SREM", adminsKey(u.account), u.id)
  if u.status == "active" then redis.call("ZREM", P .. "active", activeMember(u)) end
end

local function writeEvent(userID, eventID, event)
  redis.call("HSET", P .. "events", eventID, event)
  redis.call("ZADD", P .. "e:" .. userID, 0, eventID)
end

-- checkNew refuses a user that cannot be created; seen holds the batch's
-- emails and IDs so far, accounts the accounts created in the same script.
local function checkNew(u, eventID, seen, accounts)
  if not accounts[u.account] and redis.call("EXISTS", P .. "a:" .. u.account) == 0 then return fail("NOTFOUND", "account " .. u.account) end
  if u.status ~= "removed" then
    if seen["email:" .. u.email] or redis.call("EXISTS", P .. "email:" .. u.email) == 1 then return fail("DUPEMAIL", u.email) end
    seen["email:" .. u.email] = true
  end
  for _, id in ipairs({u.id, eventID}) do
    if seen["id:" .. id] or redis.call("EXISTS", P .. "u:" .. id) == 1 or redis.call("HEXISTS", P .. "events", id) == 1 then
      return fail("DUPID", id)
    end
    seen["id:" .. id] = true
  end
  return nil
end

-- writeNew stores a checked new user: its hash, indexes, subtree sets and event.
local function writeNew(u, eventID, event, ancestors)
  redis.call("HSET", P .. "u:" .. u.id, unpack(flatten(u)))
  index(u)
  for _, a in ipairs(ancestors) do redis.call("ZADD", P .. "a:" .. a .. ":users", 0, u.id) end
  writeEvent(u.id, eventID, event)
end

local function ancestorsOf(account, known)
  if known[account] then return known[account] end
  local list = {}
  local s = redis.call("HGET", P .. "a:" .. account, "ancestors")
  if s then for id in string.gmatch(s, "%S+") do list[#list + 1] = id end end
  list[#list + 1] = account
  known[account] = list
  return list
end
`

// createScript stores an optional new account and a batch of users with
// their events. ARGV: prefix, account JSON ("" for none), then per user:
// user JSON, event ID, event JSON.
var createScript = newWriteScript(prelude + `
local accounts, known = {}, {}
if ARGV[2] ~= "" then
  local a = cjson.decode(ARGV[2])
  if redis.call("EXISTS", P .. "a:" .. a.id) == 1 then return fail("DUPID", "account " .. a.id) end
  accounts[a.id] = a
  local list = {}
  for id in string.gmatch(a.ancestors, "%S+") do list[#list + 1] = id end
  list[#list + 1] = a.id
  known[a.id] = list
end
local users, seen = {}, {}
for i = 3, #ARGV, 3 do
  local u = cjson.decode(ARGV[i])
  local err = checkNew(u, ARGV[i + 1], seen, accounts)
  if err then return err end
  users[#users + 1] = {u, ARGV[i + 1], ARGV[i + 2]}
end
for id, a in pairs(accounts) do redis.call("HSET", P .. "a:" .. id, unpack(flatten(a))) end
for _, w in ipairs(users) do writeNew(w[1], w[2], w[3], ancestorsOf(w[1].account, known)) end
return #users
`)

// updateScript is a versioned write of a user with its event. ARGV:
// prefix, new user JSON (its version already the next one), expected
// version, event ID, event JSON, keepAdmin ("1" or "0").
var updateScript = newWriteScript(prelude + `
local u = cjson.decode(ARGV[2])
local old = hgetall(P .. "u:" .. u.id)
if not old then return fail("NOTFOUND", "user " .. u.id) end
if old.version ~= ARGV[3] then return fail("CONFLICT", "user " .. u.id .. " is at version " .. old.version) end
if redis.call("HEXISTS", P .. "events", ARGV[4]) == 1 then return fail("DUPID", "event " .. ARGV[4]) end
if u.status ~= "removed" then
  local holder = redis.call("GET", P .. "email:" .. u.email)
  if holder and holder ~= u.id then return fail("DUPEMAIL", u.email) end
end
if ARGV[6] == "1" then
  local n = redis.call("SCARD", adminsKey(old.account))
  if isActiveAdmin(old) then n = n - 1 end
  if isActiveAdmin(u) then n = n + 1 end
  if n < 1 then return fail("LASTADMIN", "account " .. old.account) end
end
unindex(old)
redis.call("HSET", P .. "u:" .. u.id, unpack(flatten(u)))
index(u)
writeEvent(u.id, ARGV[4], ARGV[5])
return 1
`)

// reserveScript reserves one password attempt. ARGV: prefix, user ID, limit.
// Returns {reserved (1 or 0), the user's hash as a flat list}.
var reserveScript = newWriteScript(prelude + `
local key = P .. "u:" .. ARGV[2]
local u = hgetall(key)
if not u then return fail("NOTFOUND", "user " .. ARGV[2]) end
if u.status == "active" and tonumber(u.failed) < tonumber(ARGV[3]) then
  redis.call("HINCRBY", key, "failed", 1)
  redis.call("HINCRBY", key, "version", 1)
  return {1, redis.call("HGETALL", key)}
end
return {0, redis.call("HGETALL", key)}
`)

// loginScript records a verified login. ARGV: prefix, user ID, time,
// verified hash, new hash (or ""). Returns {recorded, the user's hash}.
var loginScript = newWriteScript(prelude + `
local key = P .. "u:" .. ARGV[2]
local u = hgetall(key)
if not u then return fail("NOTFOUND", "user " .. ARGV[2]) end
if u.status ~= "active" or u.hash ~= ARGV[4] then return {0, redis.call("HGETALL", key)} end
redis.call("ZREM", P .. "active", activeMember(u))
u.active = ARGV[3]
redis.call("HSET", key, "failed", "0", "login", ARGV[3], "active", ARGV[3])
if ARGV[5] ~= "" then redis.call("HSET", key, "hash", ARGV[5]) end
redis.call("HINCRBY", key, "version", 1)
redis.call("ZADD", P .. "active", 0, activeMember(u))
return {1, redis.call("HGETALL", key)}
`)

// lookupScript reads the user an index key points at, in one round trip.
// KEYS[1]: the index key; ARGV[1]: the prefix.
var lookupScript = redis.NewScript(`
local id = redis.call("GET", KEYS[1])
if not id then return {} end
return redis.call("HGETALL", ARGV[1] .. "u:" .. id)
`)

// listScript examines up to ARGV[4] members of a subtree set after ARGV[3]
// and returns {last member examined, IDs matching...}, at most ARGV[5]
// matches. ARGV: prefix, set key, after ("-" for the start), examine,
// limit, search term, statuses (space-separated, "" for all but removed),
// roles (space-separated, "" for all). It examines a bounded number of
// users per call so that a search never blocks Redis for long, and returns
// IDs only: copying whole hashes through Lua costs Redis several times what
// the native HGETALLs that follow do.
var listScript = redis.NewScript(`
local P, after, examine, limit, term = ARGV[1], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local statuses, roles = {}, {}
local anyStatus, anyRole = ARGV[7] == "", ARGV[8] == ""
for s in string.gmatch(ARGV[7], "%S+") do statuses[s] = true end
for r in string.gmatch(ARGV[8], "%S+") do roles[r] = true end
local start = "-"
if after ~= "-" then start = "(" .. after end
local ids = redis.call("ZRANGEBYLEX", ARGV[2], start, "+", "LIMIT", 0, examine)
local out = {""}
for _, id in ipairs(ids) do
  out[1] = id
  local f = redis.call("HMGET", P .. "u:" .. id, "status", "role", "search")
  local status, role, text = f[1], f[2], f[3]
  local ok = status and ((anyStatus and status ~= "removed") or statuses[status])
  ok = ok and (anyRole or roles[role])
  ok = ok and (term == "" or string.find(text, term, 1, true) ~= nil)
  if ok then
    out[#out + 1] = id
    if #out - 1 >= limit then break end
  end
end
return out
`)
