-- pushapp history: per stream a hash (epoch, offset, last version) and a list of its last pushes, on the
-- Redis shard of the stream's layer group, and a hash of the offsets each uid acknowledged.
-- Keys: <P>h:<sha1(stream)>:m, :l and :a. Entries are "<unix seconds>|<entry>". Per shard: the idempotency
-- keys <P>i:<sha1(key)>, and the pushes sent with ack_within: <P>h:dl (a sorted set of
-- "<offset>|<epoch>|<stream>" by deadline, in ms) and <P>h:dl:d (their entries).
-- ARGV[1] op, ARGV[2] key prefix P.
local op, P = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1])
local now_ms = now * 1000 + math.floor(tonumber(t[2]) / 1000)

local function keys(stream)
  local base = P .. 'h:' .. redis.sha1hex(stream)
  return base .. ':m', base .. ':l', base .. ':a'
end

-- Claim the idempotency key ``key`` for ``ttl`` seconds: false when it was claimed already, but by the
-- same ``token`` (a retried claim whose answer was lost; '' never matches).
local function claim(key, ttl, token)
  local k = P .. 'i:' .. redis.sha1hex(key)
  if redis.call('SET', k, token, 'NX', 'EX', ttl) then
    return true
  end
  return token ~= '' and redis.call('GET', k) == token
end

-- The stream's epoch, made from ``candidate`` when the stream does not exist (new, expired, or Redis
-- lost it): its offsets start again from 0.
local function ensure(m, l, ttl, candidate)
  local epoch = redis.call('HGET', m, 'e')
  if not epoch then
    epoch = candidate
    redis.call('HSET', m, 'e', epoch, 'o', 0)
    redis.call('DEL', l, string.sub(m, 1, -2) .. 'a')  -- acknowledgements were of the old offsets
    redis.call('EXPIRE', m, ttl)
  end
  return epoch
end

local function be64(n)
  local out = {}
  for i = 8, 1, -1 do
    out[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(out)
end

local function splice(message, marker, value)
  local at = string.find(message, marker, 1, true)
  return string.sub(message, 1, at - 1) .. value .. string.sub(message, at + #marker)
end

if op == 'append' then
  -- ARGV[3] stream, [4] size, [5] ttl, [6] epoch candidate (16 chars), [7] entry,
  -- [8] idempotency key ('' = none), [9] its ttl, [10] version ('' = none), [11] ack_within in ms
  -- ('' = none; a uid stream), [12] the channel to PUBLISH to ('' = do not publish), [13] the serialized
  -- layer message, [14] its offset marker (msgpack uint64), [15] its epoch marker (msgpack fixstr of 16).
  -- Answers {offset, epoch, 0}; {0, '', 1}: the key was claimed already; {0, '', 2}: a stale version.
  if ARGV[8] ~= '' and not claim(ARGV[8], tonumber(ARGV[9]), '') then
    return {0, '', 1}
  end
  local m, l = keys(ARGV[3])
  if ARGV[10] ~= '' then
    local last = redis.call('HGET', m, 'v')
    if last and tonumber(ARGV[10]) <= tonumber(last) then
      return {0, '', 2}
    end
  end
  local size, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
  local epoch = ensure(m, l, ttl, ARGV[6])
  local offset = redis.call('HINCRBY', m, 'o', 1)
  if ARGV[10] ~= '' then
    redis.call('HSET', m, 'v', ARGV[10])
  end
  redis.call('RPUSH', l, now .. '|' .. ARGV[7])
  redis.call('LTRIM', l, -size, -1)
  redis.call('EXPIRE', m, ttl)
  redis.call('EXPIRE', l, ttl)
  if ARGV[11] ~= '' then
    local member = offset .. '|' .. epoch .. '|' .. ARGV[3]
    redis.call('ZADD', P .. 'h:dl', now_ms + tonumber(ARGV[11]), member)
    redis.call('HSET', P .. 'h:dl:d', member, ARGV[7])
  end
  if ARGV[12] ~= '' then
    local message = splice(ARGV[13], ARGV[14], '\207' .. be64(offset))
    message = splice(message, ARGV[15], '\176' .. epoch)
    redis.call('PUBLISH', ARGV[12], message)
  end
  return {offset, epoch, 0}
elseif op == 'once' then
  -- ARGV[3] idempotency key, [4] its ttl, [5] the claim's token, [6..] channel, message, channel,
  -- message, ...: publish them only if the key was not claimed yet. Answers 1, or 0 (claimed already:
  -- nothing published).
  if not claim(ARGV[3], tonumber(ARGV[4]), ARGV[5]) then
    return 0
  end
  for i = 6, #ARGV, 2 do
    redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
  end
  return 1
elseif op == 'ack' then
  -- ARGV[3] stream, [4] uid, [5] offset, [6] ttl: the uid's highest acknowledged offset of the stream.
  -- Answers 1, or 0 when the offset is beyond the stream's head (nothing recorded).
  local m, _, a = keys(ARGV[3])
  local offset = tonumber(ARGV[5])
  local head = tonumber(redis.call('HGET', m, 'o') or '0')
  if offset > head then
    return 0
  end
  local acked = tonumber(redis.call('HGET', a, ARGV[4]) or '0')
  if offset > acked then
    redis.call('HSET', a, ARGV[4], offset)
  end
  redis.call('EXPIRE', a, tonumber(ARGV[6]))
  return 1
elseif op == 'acked' then
  -- ARGV[3] stream, [4] uid: the highest offset acknowledged, or false.
  local _, _, a = keys(ARGV[3])
  return redis.call('HGET', a, ARGV[4])
elseif op == 'due' then
  -- ARGV[3] the most to claim. Claims (removes) the deadlines that passed; answers, of those whose push
  -- no connection of the uid acknowledged, {stream, offset, entry} each.
  local dl = P .. 'h:dl'
  local out = {}
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', dl, '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[3]))) do
    redis.call('ZREM', dl, member)
    local entry = redis.call('HGET', dl .. ':d', member)
    redis.call('HDEL', dl .. ':d', member)
    local offset, epoch, stream = string.match(member, '^(%d+)|([^|]*)|(.*)$')
    local m, _, a = keys(stream)
    local acked = 0
    if redis.call('HGET', m, 'e') == epoch then
      acked = tonumber(redis.call('HGET', a, string.sub(stream, 5)) or '0')
    end
    if entry and tonumber(offset) > acked then
      out[#out + 1] = {stream, offset, entry}
    end
  end
  return out
elseif op == 'read' then
  -- ARGV[3..] groups of 6: stream, size, ttl, epoch candidate, asked epoch ('' = no replay, '*' = the last
  -- push only), asked offset.
  -- Per stream: {epoch, offset, status, entries...}; status 0 = not asked, 1 = replayed, 2 = not possible.
  local out = {}
  for i = 3, #ARGV, 6 do
    local m, l = keys(ARGV[i])
    local ttl = tonumber(ARGV[i + 2])
    local epoch = ensure(m, l, ttl, ARGV[i + 3])
    local offset = tonumber(redis.call('HGET', m, 'o'))
    local result = {epoch, offset, 0}
    if ARGV[i + 4] == '*' then
      result[3] = 1
      local entry = offset > 0 and redis.call('LINDEX', l, -1)
      local at = entry and tonumber(string.match(entry, '^(%d+)|'))
      if at and now - at <= ttl then
        result[4] = string.sub(entry, string.find(entry, '|', 1, true) + 1)
      end
    elseif ARGV[i + 4] ~= '' then
      local since = tonumber(ARGV[i + 5])
      result[3] = 2
      if ARGV[i + 4] == epoch and since and since <= offset then
        local count = offset - since
        local entries = count > 0 and redis.call('LRANGE', l, -count, -1) or {}
        local ok = #entries == count
        if ok and count > 0 then
          local at = tonumber(string.match(entries[1], '^(%d+)|'))
          ok = at ~= nil and now - at <= ttl
        end
        if ok then
          result[3] = 1
          for _, entry in ipairs(entries) do
            result[#result + 1] = string.sub(entry, string.find(entry, '|', 1, true) + 1)
          end
        end
      end
    end
    out[#out + 1] = result
  end
  return out
end
return redis.error_reply('unknown pushapp history operation ' .. tostring(op))
