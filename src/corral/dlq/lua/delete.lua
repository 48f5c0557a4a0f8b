-- Delete entries with every index membership and count; their sources become tombstones so no sweep re-captures them.
-- ARGV[1] key layout   ARGV[2..] entry ids
-- Returns the deleted entries as {id, queue, job id, ...}.
local deleted = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local e = redis.call('HMGET', L.entry .. id, 'meta', 'replays', 'fields', 'release')
  if e[1] then
    local m = cjson.decode(e[1])
    local queue, job_id, name, score, fp = m[Q], m[JOB], m[NAME], m[FAILED], m[FP]
    local replays, status = replay_state(e[2])
    redis.call('ZREM', L.byTime, id)
    redis.call('ZREM', ix('queue', queue), id)
    redis.call('ZREM', ix('name', name), id)
    redis.call('ZREM', ix('fp', fp), id)
    if status ~= 'never' then
      redis.call('ZREM', ix('status', status), id)
    end
    if replays > 0 then
      redis.call('ZREM', L.replayed, id)
      redis.call('ZREM', ix('replays', tostring(replays)), id)
    end
    for _, key in ipairs(split(e[3], '\n')) do
      if string.sub(key, 1, 1) == '~' then
        redis.call('ZREM', ix('w', string.sub(key, 2)), id)
      else
        redis.call('ZREM', ix('f', key), id)
      end
    end
    if e[4] then
      redis.call('ZREM', ix('release', e[4]), id)
      bump('release', e[4], -1)
    end
    bump('queue', queue, -1)
    bump('name', name, -1)
    bump('fp', fp, -1)
    bump('status', status, -1)
    bump_hour(score, -1)
    if redis.call('EXISTS', ix('fp', fp)) == 0 then
      local tokens = redis.call('HGET', L.fp .. fp, 'tokens')
      for _, token in ipairs(split(tokens, ' ')) do
        redis.call('SREM', L.tok .. token, fp)
        if redis.call('EXISTS', L.tok .. token) == 0 then
          redis.call('ZREM', L.tokNames, token)
        end
      end
      redis.call('DEL', L.fp .. fp, L.fprel .. fp)
      redis.call('ZREM', L.fpNames, fp)
    end
    local ids = redis.call('HGET', L.jobIds, job_id)
    if ids then
      local kept = {}
      for _, other in ipairs(split(ids, ' ')) do
        if other ~= id then
          kept[#kept + 1] = other
        end
      end
      if #kept > 0 then
        redis.call('HSET', L.jobIds, job_id, table.concat(kept, ' '))
      else
        redis.call('HDEL', L.jobIds, job_id)
      end
    end
    redis.call('HSET', L.sources, queue .. ':' .. job_id .. ':' .. score, 'deleted')
    redis.call('DEL', L.entry .. id)
    deleted[#deleted + 1] = id
    deleted[#deleted + 1] = queue
    deleted[#deleted + 1] = job_id
  end
end
if #deleted > 0 then
  redis.call('INCR', L.version)
end
return deleted
