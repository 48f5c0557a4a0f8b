-- Capture one failed job into the dead-letter queue, exactly once, with every index and count.
-- KEYS[1] job hash   KEYS[2] queue's failed zset
-- ARGV[1] key layout   ARGV[2] queue name   ARGV[3] job id   ARGV[4] fingerprint   ARGV[5] normalised reason
-- ARGV[6] now (ms)   ARGV[7] searchable fields by job name (JSON)   ARGV[8] search tokens of the reason (space-separated)
-- Returns the entry id, or false when the job is not in the failed set or its entry was deleted.
local queue, job_id, fp = ARGV[2], ARGV[3], ARGV[4]
local finished = redis.call('ZSCORE', KEYS[2], job_id)
if not finished then
  return false
end
local failed_at = redis.call('HGET', KEYS[1], 'finishedOn') or finished
local source = queue .. ':' .. job_id .. ':' .. failed_at
local existing = redis.call('HGET', L.sources, source)
if existing == 'deleted' then
  return false
end
if existing then
  return existing
end
local job = redis.call('HMGET', KEYS[1], 'name', 'data', 'opts', 'failedReason', 'stacktrace',
  'atm', 'timestamp', 'processedOn')
local name = job[1] or ''
local data = job[2] or '{}'
local reason = job[4] or ''
local id = tostring(redis.call('INCR', L.seq))

-- Payload fields the catalogue declares searchable: strings and lists of strings, lower-cased (ASCII).
local indexed = {}
local spec = cjson.decode(ARGV[7])[name]
if spec and #spec > 0 then
  local ok, doc = pcall(cjson.decode, data)
  if ok and type(doc) == 'table' then
    for _, field in ipairs(spec) do
      local value = doc[field]
      local values = type(value) == 'table' and value or {value}
      for i = 1, math.min(#values, 50) do
        local v = values[i]
        if type(v) == 'string' and #v > 0 and #v <= 128 then
          local key = field .. ':' .. string.lower(v)
          if not indexed[key] then
            indexed[key] = true
            indexed[#indexed + 1] = key
            redis.call('ZADD', ix('f', key), failed_at, id)
          end
        end
      end
    end
  end
end

local meta = cjson.encode({queue, job_id, name, job[6] or '0', job[7] or '0', job[8] or '0', failed_at, ARGV[6], fp})
redis.call('HSET', L.entry .. id, 'meta', meta, 'data', data, 'opts', job[3] or '{}', 'reason', reason,
  'stack', job[5] or '[]', 'replays', '0:never')
if #indexed > 0 then
  redis.call('HSET', L.entry .. id, 'fields', table.concat(indexed, '\n'))
end
redis.call('HSET', L.sources, source, id)
redis.call('ZADD', L.byTime, failed_at, id)
redis.call('ZADD', ix('queue', queue), failed_at, id)
redis.call('ZADD', ix('name', name), failed_at, id)
redis.call('ZADD', ix('fp', fp), failed_at, id)
bump('queue', queue, 1)
bump('name', name, 1)
bump('fp', fp, 1)
bump('status', 'never', 1)
bump_hour(failed_at, 1)
local known = redis.call('HGET', L.jobIds, job_id)
redis.call('HSET', L.jobIds, job_id, known and (known .. ' ' .. id) or id)
if redis.call('HSETNX', L.fp .. fp, 'pattern', ARGV[5]) == 1 then
  redis.call('HSET', L.fp .. fp, 'sample', string.sub(reason, 1, 500), 'queue', queue, 'tokens', ARGV[8])
  for _, token in ipairs(split(ARGV[8], ' ')) do
    redis.call('SADD', L.tok .. token, fp)
  end
end
redis.call('INCR', L.version)
return id
