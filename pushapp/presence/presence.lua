-- pushapp presence: every query and maintenance operation in one round trip.
-- Per server process (node) N, under prefix P:
--   P.."nodes"          ZSET  node -> time of its last heartbeat (Redis clock)
--   P.."n:"..N..":i"     HASH  host, pid, started, clients, delivered, dropped
--   P.."n:"..N..":c"     HASH  client id -> uid ("" when unbound)
--   P.."n:"..N..":s"     HASH  client id -> session JSON (only non-empty sessions)
--   P.."n:"..N..":uids"  SET   uids bound on N;   P.."n:"..N..":u:"..sha1(uid)   SET client ids
--   P.."n:"..N..":groups" SET  groups joined on N; P.."n:"..N..":g:"..sha1(group) SET client ids
--   P.."n:"..N..":e"     HASH  presence-event field -> N's connections counted for it
--   P.."e"               HASH  presence-event field -> the count over every node
--   P.."revoked"         HASH  access key ("u:"..uid, "s:"..session hash) -> when it was revoked
--   P.."a:"..sha1(uid)   ZSET  client ids admitted toward uid's cap -> until when the admission counts
--   P.."grave"           SET   nodes taken out of "nodes" whose keys are being reaped
-- A node is live while its heartbeat is younger than the TTL; queries read live nodes only, so a
-- crashed process vanishes from every answer after at most TTL seconds. Then a heartbeat buries it
-- (out of "nodes", into "grave") and each heartbeat reaps at most REAP_BUDGET of the buried keys:
-- a crash of 100,000 connections must not block Redis for seconds in one call.
local op, P, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local NODES = P .. 'nodes'
local REVOKED = P .. 'revoked'
local GRAVE = P .. 'grave'
local REAP_BUDGET = 10000

local function nk(n, suffix) return P .. 'n:' .. n .. ':' .. suffix end
local function ukey(n, uid) return nk(n, 'u:' .. redis.sha1hex(uid)) end
local function gkey(n, group) return nk(n, 'g:' .. redis.sha1hex(group)) end
local function live() return redis.call('ZRANGEBYSCORE', NODES, now - ttl, '+inf') end
local function is_live(n)
  local score = redis.call('ZSCORE', NODES, n)
  return score and tonumber(score) >= now - ttl
end

-- Presence events (pushapp/presence/events.py): each argument is "+" or "-" and a field; a delta that
-- takes the cluster's count from 0 to 1 or from 1 to 0 is a transition, returned to exactly one caller.
local EVENTS = P .. 'e'
local function count(n, first, out)
  -- A node that is not registered (reaped after a stall, or Redis lost everything) counts nothing: its
  -- next heartbeat tells it to register again, and it counts its whole state then.
  if not redis.call('ZSCORE', NODES, n) then return out end
  for i = first, #ARGV do
    local sign, field = string.sub(ARGV[i], 1, 1), string.sub(ARGV[i], 2)
    if sign == '+' then
      redis.call('HINCRBY', nk(n, 'e'), field, 1)
      if redis.call('HINCRBY', EVENTS, field, 1) == 1 then out[#out + 1] = ARGV[i] end
    elseif tonumber(redis.call('HGET', nk(n, 'e'), field) or '0') > 0 then  -- n counted it
      if redis.call('HINCRBY', nk(n, 'e'), field, -1) <= 0 then redis.call('HDEL', nk(n, 'e'), field) end
      if redis.call('HINCRBY', EVENTS, field, -1) <= 0 then
        redis.call('HDEL', EVENTS, field)
        out[#out + 1] = ARGV[i]
      end
    end
  end
  return out
end

-- Node n leaves every answer at once (out of NODES); its keys are reaped later (reap_node). Without its
-- info hash, a stalled node that comes back is told to register everything again.
local function bury(n)
  redis.call('ZREM', NODES, n)
  redis.call('DEL', nk(n, 'i'))
  redis.call('SADD', GRAVE, n)
end

-- Reap up to budget entries of buried node n: its counts leave the cluster's (the "-" transitions go to
-- out), then its uid and group sets. Returns the budget left; n leaves the grave once nothing is left.
local function reap_node(n, budget, out)
  local counts = nk(n, 'e')
  while budget > 0 do
    local page = redis.call('HSCAN', counts, 0, 'COUNT', math.min(budget, 1000))[2]
    if #page == 0 then break end
    for i = 1, #page, 2 do
      if redis.call('HINCRBY', EVENTS, page[i], -tonumber(page[i + 1])) <= 0 then
        redis.call('HDEL', EVENTS, page[i])
        out[#out + 1] = '-' .. page[i]
      end
      redis.call('HDEL', counts, page[i])
    end
    budget = budget - #page / 2
  end
  for _, kind in ipairs({'uids', 'groups'}) do
    local key = kind == 'uids' and ukey or gkey
    while budget > 0 do
      local names = redis.call('SPOP', nk(n, kind), math.min(budget, 1000))
      if #names == 0 then break end
      for _, name in ipairs(names) do redis.call('DEL', key(n, name)) end
      budget = budget - #names
    end
  end
  if budget > 0 then
    redis.call('UNLINK', nk(n, 'c'), nk(n, 's'))
    redis.call('SREM', GRAVE, n)
  end
  return budget
end

local function reap(budget, out)
  for _, n in ipairs(redis.call('SMEMBERS', GRAVE)) do
    budget = reap_node(n, budget, out)
    if budget <= 0 then break end
  end
  return out
end

-- All of node n, now (its own resync or shutdown; it holds what is left of itself).
local function drop(n, out)
  bury(n)
  reap_node(n, math.huge, out)
  return out
end

-- Client ids of a group on node n ("" means every client of n).
local function members(n, group)
  if group == '' then return redis.call('HKEYS', nk(n, 'c')) end
  return redis.call('SMEMBERS', gkey(n, group))
end

local function uids_of(n, cids, seen, out)
  if #cids == 0 then return end
  local uids = redis.call('HMGET', nk(n, 'c'), unpack(cids))
  for _, uid in ipairs(uids) do
    if uid and uid ~= '' and not seen[uid] then seen[uid] = true; out[#out + 1] = uid end
  end
end

if op == 'heartbeat' then
  -- ARGV[4] node, ARGV[5..] info field/value pairs. Returns {known, transitions}: known is 0 when the
  -- node's data is gone (Redis lost it, or the node was reaped after a stall) and the node must register
  -- everything again; transitions are those of the dead nodes this call reaped.
  local n = ARGV[4]
  local known = redis.call('EXISTS', nk(n, 'i'))
  if known == 1 then
    redis.call('ZADD', NODES, now, n)
    redis.call('HSET', nk(n, 'i'), unpack(ARGV, 5))
  end
  for _, dead in ipairs(redis.call('ZRANGEBYSCORE', NODES, '-inf', '(' .. (now - ttl))) do bury(dead) end
  return {known, reap(REAP_BUDGET, {})}
elseif op == 'register' then
  local n = ARGV[4]
  redis.call('HSET', nk(n, 'i'), unpack(ARGV, 5))
  redis.call('ZADD', NODES, now, n)
  return 1
elseif op == 'drop' then
  -- returns the transitions of the node's counts
  return drop(ARGV[4], {})
elseif op == 'count' then
  -- ARGV[4] node, ARGV[5..] deltas; returns the transitions
  return count(ARGV[4], 5, {})
elseif op == 'is_online' then
  local cid = ARGV[4]
  local n = string.sub(cid, 1, 16)
  if is_live(n) and redis.call('HEXISTS', nk(n, 'c'), cid) == 1 then return 1 end
  return 0
elseif op == 'uid_of' then
  local cid = ARGV[4]
  local n = string.sub(cid, 1, 16)
  if not is_live(n) then return false end
  local uid = redis.call('HGET', nk(n, 'c'), cid)
  if uid == '' then return false end
  return uid
elseif op == 'uid_cids' then
  -- per uid in ARGV[4..]: the list of its client ids
  local nodes, out = live(), {}
  for i = 4, #ARGV do
    local cids = {}
    for _, n in ipairs(nodes) do
      for _, cid in ipairs(redis.call('SMEMBERS', ukey(n, ARGV[i]))) do cids[#cids + 1] = cid end
    end
    out[#out + 1] = cids
  end
  return out
elseif op == 'group_cids' then
  local nodes, out = live(), {}
  for i = 4, #ARGV do
    local cids = {}
    for _, n in ipairs(nodes) do
      for _, cid in ipairs(members(n, ARGV[i])) do cids[#cids + 1] = cid end
    end
    out[#out + 1] = cids
  end
  return out
elseif op == 'group_counts' then
  local nodes, out = live(), {}
  for i = 4, #ARGV do
    local count = 0
    for _, n in ipairs(nodes) do
      if ARGV[i] == '' then count = count + redis.call('HLEN', nk(n, 'c'))
      else count = count + redis.call('SCARD', gkey(n, ARGV[i])) end
    end
    out[#out + 1] = count
  end
  return out
elseif op == 'group_sessions' then
  -- flat list: client id, session JSON or false, ...
  local out = {}
  for _, n in ipairs(live()) do
    local cids = members(n, ARGV[4])
    if #cids > 0 then
      local sessions = redis.call('HMGET', nk(n, 's'), unpack(cids))
      for j, cid in ipairs(cids) do out[#out + 1] = cid; out[#out + 1] = sessions[j] end
    end
  end
  return out
elseif op == 'group_uids' then
  local seen, out = {}, {}
  for _, n in ipairs(live()) do uids_of(n, members(n, ARGV[4]), seen, out) end
  return out
elseif op == 'all_uids' then
  local seen, out = {}, {}
  for _, n in ipairs(live()) do
    for _, uid in ipairs(redis.call('SMEMBERS', nk(n, 'uids'))) do
      if not seen[uid] then seen[uid] = true; out[#out + 1] = uid end
    end
  end
  return out
elseif op == 'all_groups' then
  local seen, out = {}, {}
  for _, n in ipairs(live()) do
    for _, group in ipairs(redis.call('SMEMBERS', nk(n, 'groups'))) do
      if not seen[group] then seen[group] = true; out[#out + 1] = group end
    end
  end
  return out
elseif op == 'all_group_members' then
  -- flat list: group, {client ids} or {uids} (ARGV[4] == 'uids'), ...
  local nodes, groups, index = live(), {}, {}
  for _, n in ipairs(nodes) do
    for _, group in ipairs(redis.call('SMEMBERS', nk(n, 'groups'))) do
      if not index[group] then index[group] = {seen = {}, list = {}}; groups[#groups + 1] = group end
      local entry = index[group]
      local cids = redis.call('SMEMBERS', gkey(n, group))
      if ARGV[4] == 'uids' then uids_of(n, cids, entry.seen, entry.list)
      else for _, cid in ipairs(cids) do entry.list[#entry.list + 1] = cid end end
    end
  end
  local out = {}
  for _, group in ipairs(groups) do out[#out + 1] = group; out[#out + 1] = index[group].list end
  return out
elseif op == 'admit' then
  -- ARGV[4] seconds an admission counts; then per connection asking in: uid, client id, cap. A verdict
  -- each, "ok" (the client id now counts toward the cap) or "full", in one atomic step: concurrent
  -- connects of one uid on any number of servers cannot all pass a check made before any of them wrote.
  local hold, verdicts = tonumber(ARGV[4]), {}
  for i = 5, #ARGV, 3 do
    local uid, cid, cap = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
    local admitted = P .. 'a:' .. redis.sha1hex(uid)
    redis.call('ZREMRANGEBYSCORE', admitted, '-inf', now)
    local seen, n = {}, 0
    for _, member in ipairs(redis.call('ZRANGE', admitted, 0, -1)) do seen[member] = true; n = n + 1 end
    for _, node in ipairs(live()) do
      for _, member in ipairs(redis.call('SMEMBERS', ukey(node, uid))) do
        if not seen[member] then seen[member] = true; n = n + 1 end
      end
    end
    if n >= cap then
      verdicts[#verdicts + 1] = 'full'
    else
      redis.call('ZADD', admitted, now + hold, cid)
      redis.call('EXPIRE', admitted, math.ceil(hold) + 1)
      verdicts[#verdicts + 1] = 'ok'
    end
  end
  return verdicts
elseif op == 'revoke' then
  -- ARGV[4] when (unix seconds, the revoker's clock, as tokens are dated), [5] seconds a revocation is
  -- kept (a token issued before it has expired by then), [6..] keys. Revocations are few: the hash is
  -- pruned here and read whole by every hub that starts.
  local when, keep = tonumber(ARGV[4]), tonumber(ARGV[5])
  local all = redis.call('HGETALL', REVOKED)
  for i = 1, #all, 2 do
    if tonumber(all[i + 1]) < when - keep then redis.call('HDEL', REVOKED, all[i]) end
  end
  for i = 6, #ARGV do redis.call('HSET', REVOKED, ARGV[i], ARGV[4]) end
  return #ARGV - 5
elseif op == 'revocations' then
  return redis.call('HGETALL', REVOKED)
elseif op == 'node_alive' then
  if is_live(ARGV[4]) then return 1 end
  return 0
elseif op == 'nodes' then
  -- flat list: node, seconds since its heartbeat, {info field/value pairs}, ... (delivered and dropped
  -- are as of the last heartbeat)
  local out = {}
  for _, entry in ipairs(redis.call('ZRANGE', NODES, 0, -1, 'WITHSCORES')) do out[#out + 1] = entry end
  local result = {}
  for i = 1, #out, 2 do
    result[#result + 1] = out[i]
    result[#result + 1] = tostring(now - tonumber(out[i + 1]))
    local info = redis.call('HGETALL', nk(out[i], 'i'))
    info[#info + 1] = 'clients'  -- live, not as of the last heartbeat
    info[#info + 1] = tostring(redis.call('HLEN', nk(out[i], 'c')))
    result[#result + 1] = info
  end
  return result
end
return redis.error_reply('unknown pushapp presence operation ' .. tostring(op))
