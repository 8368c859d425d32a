-- pushapp history: per stream a hash (epoch, offset) and a list of its last pushes, on the Redis shard
-- of the stream's layer group. Keys: <P>h:<sha1(stream)>:m and :l. Entries are "<unix seconds>|<entry>".
-- ARGV[1] op, ARGV[2] key prefix P.
local op, P = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1])

local function keys(stream)
  local base = P .. 'h:' .. redis.sha1hex(stream)
  return base .. ':m', base .. ':l'
end

-- The stream's epoch, made from ``candidate`` when the stream does not exist (new, expired, or Redis
-- lost it): its offsets start again from 0.
local function ensure(m, l, ttl, candidate)
  local epoch = redis.call('HGET', m, 'e')
  if not epoch then
    epoch = candidate
    redis.call('HSET', m, 'e', epoch, 'o', 0)
    redis.call('DEL', l)
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
  -- [8] the channel to PUBLISH to ('' = do not publish), [9] the serialized layer message,
  -- [10] its offset marker (msgpack uint64), [11] its epoch marker (msgpack fixstr of 16 chars).
  local m, l = keys(ARGV[3])
  local size, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
  local epoch = ensure(m, l, ttl, ARGV[6])
  local offset = redis.call('HINCRBY', m, 'o', 1)
  redis.call('RPUSH', l, now .. '|' .. ARGV[7])
  redis.call('LTRIM', l, -size, -1)
  redis.call('EXPIRE', m, ttl)
  redis.call('EXPIRE', l, ttl)
  if ARGV[8] ~= '' then
    local message = splice(ARGV[9], ARGV[10], '\207' .. be64(offset))
    message = splice(message, ARGV[11], '\176' .. epoch)
    redis.call('PUBLISH', ARGV[8], message)
  end
  return {offset, epoch}
elseif op == 'read' then
  -- ARGV[3..] groups of 6: stream, size, ttl, epoch candidate, asked epoch ('' = no replay), asked offset.
  -- Per stream: {epoch, offset, status, entries...}; status 0 = not asked, 1 = replayed, 2 = not possible.
  local out = {}
  for i = 3, #ARGV, 6 do
    local m, l = keys(ARGV[i])
    local ttl = tonumber(ARGV[i + 2])
    local epoch = ensure(m, l, ttl, ARGV[i + 3])
    local offset = tonumber(redis.call('HGET', m, 'o'))
    local result = {epoch, offset, 0}
    if ARGV[i + 4] ~= '' then
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
