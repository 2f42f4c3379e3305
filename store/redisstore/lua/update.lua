-- update.lua: UpdateUser and UpdateUsers. Applies updates one after the
-- other, each a versioned replacement of a user with its event and
-- messages, checked whole before any of it is written; a refused update
-- writes nothing and the next one goes on.
--
-- ARGV: prefix, the number of updates, then per update: the version it was
-- read at, "1" to keep an active admin in the former account, its event,
-- its messages and the user's record (its version already the next one).
-- Returns one string per update: "" when written, else "CODE what".

local function apply(expected, keepAdmin, ev, ms, s, e)
  local u = newUser(s)
  local old = oldUser(u.id)
  if not old then return "NOTFOUND user" end
  if old.version ~= expected then return "CONFLICT user" end
  if eventExists(ev[1]) then return "DUPID event" end
  local seen = {}
  for _, m in ipairs(ms) do
    local id = val(m[1], 1)
    if seen[id] or messageExists(id) then return "DUPID message" end
    seen[id] = true
  end
  if not chain(u.account) then return "NOTFOUND account" end
  prepare(old, u)
  -- A user keeps the email key it holds: look only at an email it takes.
  if u.status ~= "removed" and (u.email ~= old.email or old.status == "removed") then
    local holder = redis.call("GET", P .. "email:" .. u.email)
    if holder and holder ~= u.id then return "DUPEMAIL user" end
  end
  if old.tokens ~= u.tokens then
    local held = {}
    for _, h in ipairs(u.tokenHashes) do
      -- A hash names one token: held by another user, or twice by this one, it is taken.
      local holder = redis.call("GET", P .. "token:" .. h)
      if held[h] or (holder and holder ~= u.id) then return "DUPID token" end
      held[h] = true
    end
  end
  if keepAdmin then
    local others = redis.call("SCARD", adminsKey(old.account))
    if isAdmin(old) then others = others - 1 end
    if others <= 0 and not (isAdmin(u) and u.account == old.account) then return "LASTADMIN account" end
  end
  redis.call("HSET", P .. "u:" .. u.id, unpack(ARGV, s, e))
  reindex(old, u)
  writeEvent(ev)
  writeMessages(ms)
  return ""
end

local items, ids = {}, {}
for i = 1, tonumber(take()) do
  local expected, keepAdmin = take(), take() == "1"
  local ev = takeEvent()
  local ms = takeMessages()
  local s, e = record()
  items[i] = {expected, keepAdmin, ev, ms, s, e}
  ids[i] = ev[1]
end
prefetchEvents(ids)
local out = {}
for i, it in ipairs(items) do out[i] = apply(unpack(it)) end
return out
