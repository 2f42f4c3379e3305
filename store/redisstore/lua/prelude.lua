-- prelude.lua: the helpers every writing script starts with (scripts.go
-- prepends this file to each of them).
--
-- ARGV[1] is the key prefix; the rest of ARGV is read in order with take
-- and record. A record is a count n followed by n strings, field/value
-- pairs of a hash: HSET takes the run as it is, and a script reads the
-- value of the k-th field as val(s, k). The fields a script needs come
-- first, in the order codec.go writes them.
--
-- scripts.go wraps each script's body in a function, main, and ends it
-- with epilogue.lua, which runs main and then the deferred writes.
--
-- Every script checks everything that can refuse its write before its
-- first write, so that a refusal changes nothing, and it decodes every
-- stored value it needs (lists, account ancestors) before its first write
-- too: Redis never rolls a script back, so a Lua error after a write
-- (over corrupt data, say) would leave that write in place.
--
-- Times are 20-digit zero-padded decimal Unix nanoseconds: a sorted set
-- ordered by member (ZRANGEBYLEX) orders them by time, and lt compares two
-- of them without Lua numbers (doubles, which would round nanoseconds).

local P = ARGV[1]
local pos = 2

local function take()
  local v = ARGV[pos]
  pos = pos + 1
  return v
end

-- record takes a record and returns the positions of its first and last strings.
local function record()
  local n = tonumber(take())
  local s = pos
  pos = pos + n
  return s, pos - 1
end

local function val(s, k) return ARGV[s + 2 * k - 1] end

-- fail refuses the write: the Go side maps CODE onto a sentinel error.
-- what is one of a few fixed words, never data.
local function fail(code, what) return redis.error_reply("USERMGMT " .. code .. " " .. what) end

-- list decodes a JSON list field ("" for an empty list). The empty list
-- is shared: callers never change what list returns.
local EMPTY = {}
local function list(s)
  if not s or s == "" then return EMPTY end
  return cjson.decode(s)
end

local function encodeList(t)
  if #t == 0 then return "" end
  return cjson.encode(t)
end

-- lt reports whether time a is before time b (both 20 digits).
local function lt(a, b)
  local ha, hb = tonumber(string.sub(a, 1, 10)), tonumber(string.sub(b, 1, 10))
  if ha ~= hb then return ha < hb end
  return tonumber(string.sub(a, 11)) < tonumber(string.sub(b, 11))
end

-- chain returns the IDs of an account and of every account above it, or
-- nil when the account does not exist; chains caches them per script run,
-- with the names of their user and event sets (a new account is put there
-- by the script creating it, with setChain).
local chains = {}
local function setChain(account, ids)
  local c = {ids = ids, users = {}, events = {}}
  for i, a in ipairs(ids) do
    c.users[i] = P .. "a:" .. a .. ":users"
    c.events[i] = P .. "a:" .. a .. ":events"
  end
  chains[account] = c
  return c
end

local function chain(account)
  local c = chains[account]
  if c == nil then
    local anc = redis.call("HGET", P .. "a:" .. account, "ancestors")
    c = false
    if anc then
      local ids = {}
      for i, a in ipairs(list(anc)) do ids[i] = a end
      ids[#ids + 1] = account
      c = setChain(account, ids)
    end
    chains[account] = c
  end
  return c or nil
end

-- Key names used often, built once.
local K_EVENTS, K_DUE, K_PENDING, K_DEAD = P .. "events", P .. "outbox:due", P .. "outbox:pending", P .. "outbox:dead"
local TIMED, K_TIMED = {"active", "locked"}, {active = P .. "active", locked = P .. "locked"}

-- Deferred writes. Sorted-set entries and audit events are written once,
-- when the script ends (epilogue.lua calls flush): one ZADD and one ZREM
-- per key and one HSET of the event store, however many users a batch
-- changes. No check reads them back during the run, except whether an
-- event ID is taken, which eventExists answers from the deferred events
-- too. zset keeps the net effect per member, so a batch that adds and then
-- removes a member (or the reverse) ends as the last write says.
local pendingSets, pendingKeys = {}, {}
local pendingEvents, pendingEventIDs = {}, {}

local function zset(key, member, add)
  local p = pendingSets[key]
  if not p then
    p = {}
    pendingSets[key] = p
    pendingKeys[#pendingKeys + 1] = key
  end
  p[member] = add
end

-- callChunked runs cmd key args... with at most 1000 arguments a call
-- (Lua's unpack has a bound).
local function callChunked(cmd, key, args)
  for i = 1, #args, 1000 do
    redis.call(cmd, key, unpack(args, i, math.min(i + 999, #args)))
  end
end

local function flush()
  for _, key in ipairs(pendingKeys) do
    local adds, rems = {}, {}
    for member, add in pairs(pendingSets[key]) do
      if add then
        adds[#adds + 1] = 0
        adds[#adds + 1] = member
      else
        rems[#rems + 1] = member
      end
    end
    callChunked("ZREM", key, rems)
    callChunked("ZADD", key, adds)
  end
  local evs = {}
  for _, id in ipairs(pendingEventIDs) do
    evs[#evs + 1] = id
    evs[#evs + 1] = pendingEvents[id]
  end
  callChunked("HSET", K_EVENTS, evs)
  pendingSets, pendingKeys, pendingEvents, pendingEventIDs = {}, {}, {}, {}
end

-- Audit events: an event is four strings (ID, user ID or "", account ID,
-- JSON), filed under its user and under its account and every account
-- above it (looked up as the event is taken, before any write).
local function takeEvent()
  local ev = {take(), take(), take(), take()}
  chain(ev[3])
  return ev
end

-- storedEvents, when a script has filled it (prefetchEvents), tells which
-- event IDs were stored when it started.
local storedEvents

local function prefetchEvents(ids)
  storedEvents = {}
  for i = 1, #ids, 1000 do
    local got = redis.call("HMGET", K_EVENTS, unpack(ids, i, math.min(i + 999, #ids)))
    for k = 1, #got do
      if got[k] then storedEvents[ids[i + k - 1]] = true end
    end
  end
end

local function eventExists(id)
  if pendingEvents[id] then return true end
  if storedEvents then return storedEvents[id] == true end
  return redis.call("HEXISTS", K_EVENTS, id) == 1
end

local function writeEvent(ev)
  if not pendingEvents[ev[1]] then pendingEventIDs[#pendingEventIDs + 1] = ev[1] end
  pendingEvents[ev[1]] = ev[4]
  if ev[2] ~= "" then zset(P .. "e:" .. ev[2], ev[1], true) end
  local c = chain(ev[3])
  if c then
    for _, k in ipairs(c.events) do zset(k, ev[1], true) end
  end
end

-- Outbox messages: a count, then that many message records (fields 1 id,
-- 2 state, 3 due).
local function takeMessages()
  local n, ms = tonumber(take()), {}
  for i = 1, n do
    local s, e = record()
    ms[i] = {s, e}
  end
  return ms
end

local function messageExists(id) return redis.call("EXISTS", P .. "m:" .. id) == 1 end

local function indexMessage(id, state, due)
  if state == "pending" then
    zset(K_DUE, due .. ":" .. id, true)
    zset(K_PENDING, id, true)
  elseif state == "dead" then
    zset(K_DEAD, id, true)
  end
end

local function writeMessages(ms)
  for _, m in ipairs(ms) do
    local s, e = m[1], m[2]
    local id = val(s, 1)
    redis.call("HSET", P .. "m:" .. id, unpack(ARGV, s, e))
    indexMessage(id, val(s, 2), val(s, 3))
  end
end

-- Users. A user's hash holds its whole record in rec (a msgpack map of
-- strings, which Go decodes) and copies of the fields the scripts filter
-- and index on (copies below, and search). A user record from Go starts
-- with the copies in this order; oldUser reads them from the stored hash.
local copies = {"id", "account", "email", "status", "role", "groups", "tokens", "active", "locked", "version", "dept"}

-- loadRec returns a stored user's record as a table of strings, or nil.
local function loadRec(key)
  local rec = redis.call("HGET", key, "rec")
  if not rec then return nil end
  return cmsgpack.unpack(rec)
end

-- saveRec writes a changed record and its copies (never search: no script
-- changes the names or the email in place).
local function saveRec(key, r)
  local args = {"rec", cmsgpack.pack(r)}
  for _, f in ipairs(copies) do
    args[#args + 1] = f
    args[#args + 1] = r[f]
  end
  redis.call("HSET", key, unpack(args))
end

-- incr adds one to a decimal string.
local function incr(s) return string.format("%d", tonumber(s) + 1) end

-- newUser reads the copies from a user record from Go; oldUser reads them
-- from the stored hash; indexed takes them from a loaded record.
local function newUser(s)
  return {id = val(s, 1), account = val(s, 2), email = val(s, 3), status = val(s, 4), role = val(s, 5),
    groups = val(s, 6), tokens = val(s, 7), active = val(s, 8), locked = val(s, 9), version = val(s, 10)}
end

local function oldUser(id)
  local f = redis.call("HMGET", P .. "u:" .. id, "account", "email", "status", "role", "groups", "tokens", "active", "locked", "version")
  if not f[1] then return nil end
  return {id = id, account = f[1], email = f[2], status = f[3], role = f[4], groups = f[5], tokens = f[6],
    active = f[7], locked = f[8], version = f[9]}
end

local function indexed(r)
  return {id = r.id, account = r.account, email = r.email, status = r.status, role = r.role, groups = r.groups,
    tokens = r.tokens, active = r.active, locked = r.locked, version = r.version}
end

-- lists decodes a user's group IDs and token hashes (tokens are [purpose,
-- hash, issued, expires]).
local function lists(u)
  if u.groupList then return end
  u.groupList = list(u.groups)
  u.tokenHashes = EMPTY
  if u.tokens ~= "" then
    u.tokenHashes = {}
    for _, t in ipairs(list(u.tokens)) do u.tokenHashes[#u.tokenHashes + 1] = t[2] end
  end
end

-- prepare decodes, before the script's first write, what reindex(old, u)
-- will need: the lists that change and the accounts' ancestors.
local function prepare(old, u)
  if not old or old.groups ~= u.groups or old.tokens ~= u.tokens then
    if old then lists(old) end
    lists(u)
  end
  if old then chain(old.account) end
  chain(u.account)
end

local function isAdmin(u) return u.role == "admin" and u.status == "active" end
local function adminsKey(account) return P .. "a:" .. account .. ":admins" end

-- reindex moves a user's index entries from its old state (nil for a new
-- user) to its new one, touching only the entries that change. The caller
-- has called prepare(old, u) before its first write.
local function reindex(old, u)
  local id = u.id
  local oldEmail = old and old.status ~= "removed" and old.email or nil
  local newEmail = u.status ~= "removed" and u.email or nil
  if oldEmail ~= newEmail then
    if old then
      local k = P .. "email:" .. old.email
      if redis.call("GET", k) == id then redis.call("DEL", k) end
    end
    if newEmail then redis.call("SET", P .. "email:" .. newEmail, id) end
  end
  if not old or old.tokens ~= u.tokens then
    if old then
      for _, h in ipairs(old.tokenHashes) do
        local k = P .. "token:" .. h
        if redis.call("GET", k) == id then redis.call("DEL", k) end
      end
    end
    for _, h in ipairs(u.tokenHashes) do redis.call("SET", P .. "token:" .. h, id) end
  end
  local was, is = old and isAdmin(old), isAdmin(u)
  local moved = old and old.account ~= u.account
  if was and (not is or moved) then redis.call("SREM", adminsKey(old.account), id) end
  if is and (not was or moved) then redis.call("SADD", adminsKey(u.account), id) end
  for _, ix in ipairs(TIMED) do
    local om = old and old.status == ix and (old[ix] .. ":" .. id) or nil
    local nm = u.status == ix and (u[ix] .. ":" .. id) or nil
    if om ~= nm then
      if om then zset(K_TIMED[ix], om, false) end
      if nm then zset(K_TIMED[ix], nm, true) end
    end
  end
  if not old or moved then
    if old then
      local c = chain(old.account)
      if c then
        for _, k in ipairs(c.users) do zset(k, id, false) end
      end
    end
    for _, k in ipairs(chain(u.account).users) do zset(k, id, true) end
  end
  if not old or old.groups ~= u.groups then
    local before, after = {}, {}
    if old then
      for _, g in ipairs(old.groupList) do before[g] = true end
    end
    for _, g in ipairs(u.groupList) do after[g] = true end
    for g in pairs(before) do
      if not after[g] then zset(P .. "g:" .. g .. ":users", id, false) end
    end
    for g in pairs(after) do
      if not before[g] then zset(P .. "g:" .. g .. ":users", id, true) end
    end
  end
end
