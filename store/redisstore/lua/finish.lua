-- finish.lua: FinishAttempt. Releases the attempt's lease and records its
-- outcome: a wrong password counts a failure (and, at the limit, locks the
-- user with the lock's event and messages); a right one records the login,
-- provided the password was not changed meanwhile, and stores a re-hash
-- only over the hash it was verified against.
--
-- ARGV: prefix, user ID, lease ID, "1" for a right password, at, limit,
-- password version, verified hash, new hash, the login, failure and lock
-- events (an empty ID for none), the lock's messages.
-- Returns {1 recorded | 0, the user's record}.

local id, leaseID, success, at, limit = take(), take(), take() == "1", take(), tonumber(take())
local pwver, verified, rehash = take(), take(), take()
local login, failure, lock = takeEvent(), takeEvent(), takeEvent()
local lockMessages = takeMessages()

local key = P .. "u:" .. id
local r = loadRec(key)
if not r then return fail("NOTFOUND", "user") end
local old = indexed(r)
local leases, kept = list(r.leases), {}
for _, l in ipairs(leases) do
  if l[1] ~= leaseID then kept[#kept + 1] = l end
end
local released = #kept ~= #leases

local evs, ms, recorded = {}, {}, false
if r.status ~= "active" then
  -- a user not Active keeps everything but the lease
elseif success then
  if r.pwver == pwver then
    recorded = true
    r.failed, r.login, r.active = "0", at, at
    if rehash ~= "" and r.hash == verified then r.hash = rehash end
    evs = {login}
  end
else
  local failed = tonumber(r.failed) + 1
  recorded = true
  r.failed = string.format("%d", failed)
  evs = {failure}
  if failed >= limit then
    r.status, r.locked, r.updated, r.sessver = "locked", at, at, incr(r.sessver)
    evs[#evs + 1] = lock
    ms = lockMessages
  end
end
for _, ev in ipairs(evs) do
  if ev[1] ~= "" and eventExists(ev[1]) then return fail("DUPID", "event") end
end
for _, m in ipairs(ms) do
  if messageExists(val(m[1], 1)) then return fail("DUPID", "message") end
end

if recorded or released then
  r.leases, r.version = encodeList(kept), incr(r.version)
  local u = indexed(r)
  prepare(old, u)
  saveRec(key, r)
  reindex(old, u)
end
for _, ev in ipairs(evs) do
  if ev[1] ~= "" then writeEvent(ev) end
end
writeMessages(ms)
local flag = 0
if recorded then flag = 1 end
return {flag, redis.call("HGET", key, "rec")}
