-- create.lua: CreateAccount and CreateUsers. Stores an optional new account
-- (with its optional event) and a batch of new users, each with its event
-- and messages, all or nothing.
--
-- ARGV: prefix; "1" and the account record (1 id, 2 parent, 3 ancestors)
-- and the account event, or "0"; the number of users; per user its event,
-- its messages and its record.

local seen = {}
-- fresh reports whether an ID of a kind is neither stored (taken) nor used
-- earlier in this batch, and marks it used.
local function fresh(kind, id, taken)
  if seen[kind .. ":" .. id] or taken then return false end
  seen[kind .. ":" .. id] = true
  return true
end

local account, accountEvent, as, ae, accountChain
if take() == "1" then
  as, ae = record()
  accountEvent = takeEvent()
  account = val(as, 1)
  accountChain = {}
  for i, a in ipairs(list(val(as, 3))) do accountChain[i] = a end
  accountChain[#accountChain + 1] = account
  if redis.call("EXISTS", P .. "a:" .. account) == 1 then return fail("DUPID", "account") end
  local parent = val(as, 2)
  if parent ~= "" and redis.call("EXISTS", P .. "a:" .. parent) == 0 then return fail("NOTFOUND", "account") end
end

local users, ids = {}, {accountEvent and accountEvent[1] or ""}
for i = 1, tonumber(take()) do
  local ev = takeEvent()
  local ms = takeMessages()
  local s, e = record()
  local u = newUser(s)
  prepare(nil, u)
  users[i] = {u = u, s = s, e = e, ev = ev, ms = ms}
  ids[#ids + 1] = ev[1]
end
prefetchEvents(ids)
if accountEvent and accountEvent[1] ~= "" and not fresh("event", accountEvent[1], eventExists(accountEvent[1])) then
  return fail("DUPID", "event")
end
for _, w in ipairs(users) do
  local u, ev, ms = w.u, w.ev, w.ms
  if u.account ~= account and redis.call("EXISTS", P .. "a:" .. u.account) == 0 then return fail("NOTFOUND", "account") end
  if u.status ~= "removed" then
    if not fresh("email", u.email, redis.call("EXISTS", P .. "email:" .. u.email) == 1) then
      return fail("DUPEMAIL", "user")
    end
  end
  if not fresh("user", u.id, redis.call("EXISTS", P .. "u:" .. u.id) == 1) then return fail("DUPID", "user") end
  if not fresh("event", ev[1], eventExists(ev[1])) then return fail("DUPID", "event") end
  for _, h in ipairs(u.tokenHashes) do
    if not fresh("token", h, redis.call("EXISTS", P .. "token:" .. h) == 1) then return fail("DUPID", "token") end
  end
  for _, m in ipairs(ms) do
    local id = val(m[1], 1)
    if not fresh("message", id, messageExists(id)) then return fail("DUPID", "message") end
  end
end

if account then
  redis.call("HSET", P .. "a:" .. account, unpack(ARGV, as, ae))
  setChain(account, accountChain)
  for _, a in ipairs(accountChain) do zset(P .. "a:" .. a .. ":accounts", account, true) end
  if accountEvent[1] ~= "" then writeEvent(accountEvent) end
end
for _, w in ipairs(users) do
  redis.call("HSET", P .. "u:" .. w.u.id, unpack(ARGV, w.s, w.e))
  reindex(nil, w.u)
  writeEvent(w.ev)
  writeMessages(w.ms)
end
return #users
